"""DiT step time and parity: torch eager vs AOTInductor vs onnxruntime (CUDA provider when present).

    python benchmarks/export_dit.py                      # mid-size HunyuanVideo-style DiT on the GPU (fp16)
    python benchmarks/export_dit.py --preset tiny        # the tiny config; what a CPU can check in a minute
    python benchmarks/export_dit.py --json out.json --engine-timeout 300   # one-shot GPU run: rows kept as they come

Eager is timed first and its row printed; then each engine is exported through the same path as ``vgen export``
(capture from the pipeline, parity gate at two sizes), loaded, run on the same random step inputs, and its row printed
at once: ms per DiT forward, speed-up, max abs / relative error against eager, export seconds. Each engine runs in a
child process (``--in-process`` to opt out), so one that crashes in native code or hangs past ``--engine-timeout``
costs only its own row, which then says why; ``--json`` is rewritten after every row.
"""

from __future__ import annotations

import argparse
import contextlib
import faulthandler
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

import torch

# mid: 1536 wide (12 heads x 128, the 13B's head layout and RoPE split), 4 dual + 8 single blocks, 16 latent channels
MID = {"preset": "tiny",
       "transformer": {"in_channels": 16, "out_channels": 16, "num_attention_heads": 12, "attention_head_dim": 128,
                       "num_layers": 4, "num_single_layers": 8, "num_refiner_layers": 2, "mlp_ratio": 4.0,
                       "text_embed_dim": 1024, "pooled_projection_dim": 32, "rope_axes_dim": [16, 56, 56]},
       "vae": {"latent_channels": 16},
       "text_encoder": {"hidden_size": 1024, "intermediate_size": 2048, "num_attention_heads": 8,
                        "num_key_value_heads": 4}}
SIZES = {  # (latent frames, latent height, latent width, text tokens): 8x32x48 latents = 3072 video tokens
    "mid": [{"batch": 1, "frames": 8, "height": 32, "width": 48, "text_len": 128},
            {"batch": 2, "frames": 4, "height": 16, "width": 24, "text_len": 77}],
    "tiny": [{"batch": 1, "frames": 2, "height": 4, "width": 6, "text_len": 8},
             {"batch": 2, "frames": 3, "height": 6, "width": 4, "text_len": 13}],
}
COLUMNS = "| engine | runs on | ms / step | speed-up | max abs err | max rel err | export s | error |"


def say(message: str) -> None:
    """Progress on stderr, flushed (so a log cut short still tells how far the run got)."""
    print(f"[export_dit {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def timed(fn, inputs, device, warmup: int, iters: int) -> tuple[float, torch.Tensor]:
    with torch.no_grad():
        for _ in range(warmup):
            out = fn(inputs)
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(iters):
            out = fn(inputs)
        if device.type == "cuda":
            torch.cuda.synchronize()
    return (time.perf_counter() - start) / iters * 1000, out


def one_line(exc: BaseException) -> str:
    """The innermost cause's type and first line (exporter errors wrap the useful one in pages of advice)."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    text = next((line.strip() for line in str(exc).splitlines() if line.strip()), "")
    return f"{type(exc).__name__}: {text}"[:300]


def setup(args) -> dict:
    """The DiT part at the benchmark's dtype on its device, and the step inputs (the same in every process)."""
    from vgen_plugins.hunyuan_video.pipeline import build

    from vgen.export.capture import pipeline_parts
    from vgen.export.parts import DTYPES

    device = torch.device(args.device)
    torch.manual_seed(0)
    pipe = build(config=MID if args.preset == "mid" else "tiny", device=device)
    part = pipeline_parts(pipe, ["dit"], device=device)[0]
    part.cast(DTYPES[args.dtype]).module.to(device).eval()
    shapes = SIZES[args.preset]
    inputs = part.make_inputs(shapes[0], device=device, generator=torch.Generator().manual_seed(1))
    return {"pipe": pipe, "part": part, "device": device, "shapes": shapes, "inputs": inputs,
            "params": sum(p.numel() for p in pipe.transformer.parameters())}


def bench_engine(engine: str, ctx: dict, args, want: torch.Tensor) -> dict:
    """Export -> load -> time one engine; a row (``error`` None) or an exception."""
    from vgen.engines.formats import exporter
    from vgen.export.exporting import export_parts
    from vgen.export.parity import errors

    device, part = ctx["device"], ctx["part"]
    # onnx23: opset 23, where attention is one ONNX Attention node (opset 18 spells out matmul/softmax/matmul)
    fmt, options = ("onnx", {"opset": 23}) if engine == "onnx23" else (engine, {})
    start = time.perf_counter()
    manifest = export_parts([part], fmt, args.out / engine, dtype=args.dtype, device=device, shapes=ctx["shapes"],
                            tolerance=1e9, **options)  # the table reports the error; do not stop here
    export_s = time.perf_counter() - start
    say(f"{engine}: exported in {export_s:.0f} s; loading and timing {args.iters} steps ...")
    runner = exporter(fmt).runtime(args.out / engine, manifest["parts"]["dit"], device)
    ms, got = timed(runner, ctx["inputs"], device, 2, args.iters)
    max_abs, max_rel = errors(got, want)
    return {"engine": engine, "runs_on": runner.provider, "ms_per_step": ms, "max_abs_err": max_abs,
            "max_rel_err": max_rel, "export_s": export_s, "error": None}


def failed(engine: str, error: str) -> dict:
    return {"engine": engine, "runs_on": None, "ms_per_step": None, "max_abs_err": None, "max_rel_err": None,
            "export_s": None, "error": error}


def run_child(args) -> int:
    """One engine in this process; its row goes to ``args.child_out`` (the parent prints it)."""
    ctx = setup(args)
    with torch.no_grad():
        want = ctx["part"].module(*ctx["inputs"])
    try:
        row = bench_engine(args.engines, ctx, args, want)
    except Exception as exc:
        traceback.print_exc()
        row = failed(args.engines, one_line(exc))
    Path(args.child_out).write_text(json.dumps(row))
    return 0 if row["error"] is None else 1


def run_isolated(engine: str, args) -> dict:
    """``engine`` in a child process: a native crash or a hang past the timeout becomes this row's error."""
    result = args.out / f".{engine}-row.json"
    result.unlink(missing_ok=True)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--engines", engine, "--child-out", str(result),
           "--preset", args.preset, "--device", args.device, "--dtype", args.dtype, "--iters", str(args.iters),
           "--out", str(args.out)]
    # stdout/stderr inherited: its progress and any stack dump land in this log; its own session, so that a timeout
    # also ends what it started (compiler processes, compile workers)
    child = subprocess.Popen(cmd, start_new_session=True)
    try:
        rc = child.wait(timeout=args.engine_timeout)
    except subprocess.TimeoutExpired:
        child.send_signal(signal.SIGTERM)  # its faulthandler prints where it was stuck
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        return failed(engine, f"timed out after {args.engine_timeout:.0f} s (its Python stack is printed above)")
    finally:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.pid, signal.SIGKILL)  # whatever of its group is left (also on Ctrl-C here)
    if result.is_file():
        return json.loads(result.read_text())
    how = f"killed by {signal.Signals(-rc).name}" if rc < 0 else f"exited with code {rc}"
    return failed(engine, f"engine process {how} without a result (its stack, if any, is printed above)")


def table_row(row: dict, eager_ms: float) -> str:
    if row["error"]:
        return f"| {row['engine']} | - | - | - | - | - | - | {row['error'].replace('|', '/')} |"
    export_s = "-" if row["export_s"] is None else f"{row['export_s']:.0f}"
    return (f"| {row['engine']} | {row['runs_on']} | {row['ms_per_step']:.2f} | {eager_ms / row['ms_per_step']:.2f}x "
            f"| {row['max_abs_err']:.2e} | {row['max_rel_err']:.2e} | {export_s} | |")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", choices=["mid", "tiny"], default=None, help="default: mid on CUDA, tiny on CPU")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--dtype", choices=["fp32", "fp16"], default=None, help="default: fp16 on CUDA, fp32 on CPU")
    ap.add_argument("--engines", default="eager,aoti,onnx",
                    help="eager is always timed first; onnx23 is onnx at opset 23")
    ap.add_argument("--iters", type=int, default=None)
    ap.add_argument("--out", type=Path, default=None, help="keep the engine directories here")
    ap.add_argument("--json", type=Path, default=None, help="write the rows here (rewritten after each engine)")
    ap.add_argument("--engine-timeout", type=float, default=None, help="seconds per engine (build, export, load, timing)")
    ap.add_argument("--in-process", action="store_true", help="run the engines in this process (no isolation)")
    ap.add_argument("--child-out", default=None, help=argparse.SUPPRESS)  # internal: one engine, row to this file
    args = ap.parse_args()

    faulthandler.enable()  # a native crash (segfault, abort) leaves the Python stack on stderr
    faulthandler.register(signal.SIGTERM, chain=True)  # and so does a kill at a timeout
    cuda = torch.device(args.device).type == "cuda"
    args.preset = args.preset or ("mid" if cuda else "tiny")
    args.dtype = args.dtype or ("fp16" if cuda else "fp32")
    args.iters = args.iters or (20 if cuda else 5)
    args.out = args.out or Path(tempfile.mkdtemp(prefix="vgen-export-bench-"))
    args.out.mkdir(parents=True, exist_ok=True)  # the children's rows are written there
    if args.child_out:
        sys.exit(run_child(args))

    engines = [e.strip() for e in args.engines.split(",") if e.strip() and e.strip() != "eager"]
    say(f"building the {args.preset} DiT on {args.device} ({args.dtype}) ...")
    ctx = setup(args)
    device, dims = ctx["device"], ctx["shapes"][0]
    eager_ms, want = timed(lambda x: ctx["part"].module(*x), ctx["inputs"], device, 2, args.iters)
    name = torch.cuda.get_device_name(device) if cuda else f"CPU ({torch.get_num_threads()} threads)"
    report = {"device": name, "torch": torch.__version__,
              "config": {"preset": args.preset, "parameters": ctx["params"], "dtype": args.dtype,
                         "latents": [dims["batch"], ctx["pipe"].latent_channels, dims["frames"], dims["height"],
                                     dims["width"]], "text_len": dims["text_len"], "iters": args.iters},
              "rows": []}
    print(f"\nDiT step, {args.preset} config ({ctx['params'] / 1e6:.2f}M parameters), {args.dtype}, device: {name}")
    print(f"latents {'x'.join(map(str, report['config']['latents']))}, {dims['text_len']} text tokens; "
          f"torch {torch.__version__}\n")
    print(COLUMNS)
    print("| --- " * (COLUMNS.count("|") - 1) + "|")

    def record(row: dict) -> None:
        """Print the row now and rewrite the JSON: whatever comes later, this row is kept."""
        report["rows"].append({**row, "speedup": eager_ms / row["ms_per_step"] if row["ms_per_step"] else None})
        print(table_row(row, eager_ms), flush=True)
        if args.json:
            from vgen.io.atomic import write_text

            write_text(args.json, json.dumps(report, indent=2))

    record({"engine": "torch eager", "runs_on": device.type, "ms_per_step": eager_ms, "max_abs_err": 0.0,
            "max_rel_err": 0.0, "export_s": None, "error": None})
    for engine in engines:
        say(f"{engine}: exporting ...")
        if args.in_process:
            try:
                row = bench_engine(engine, ctx, args, want)
            except Exception as exc:
                traceback.print_exc()
                row = failed(engine, one_line(exc))
        else:
            row = run_isolated(engine, args)
        record(row)
    print(f"\nengine directories: {args.out}", flush=True)


if __name__ == "__main__":
    main()
