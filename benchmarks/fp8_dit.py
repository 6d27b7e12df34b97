"""One HunyuanVideo DiT step in bf16 vs the same model after ``vgen.nn.fp8.to_fp8`` (vgen sample --fp8): speed and
the output's relative error, one process, one device, the same weights and inputs.

Default: the 13B DiT (random weights built on the device) at a 16x60x106 latent (61 frames, 480x848) with 256 text
tokens. The bf16 model is timed and its output kept; its Linear layers are then converted in place (half their
memory) and the FP8 model is timed on the same inputs. Error = |fp8 - bf16| over the bf16 output (norm and max).
Random weights are not trained ones: the error says how the layers round, not what a viewer would see.

``--concat-proj-out`` runs the single-stream blocks' output projection through the layer's own forward (one matmul on
``concat(attention, mlp)``): vgen's block slices the weight instead (two matmuls, no concat), which a converted
layer can only serve by dequantizing, so that layer gets no FP8 speed without the flag.

    python benchmarks/fp8_dit.py                       # 13B, GPU
    python benchmarks/fp8_dit.py --compile             # torch.compile of the repeated blocks, both rows
    python benchmarks/fp8_dit.py --tiny                # CPU smoke run (torch's CPU _scaled_mm) in seconds
"""

from __future__ import annotations

import argparse
import sys
import time

import torch
import torch.nn.functional as F
from hunyuan_dit import make_inputs, model_config, tflop
from speed_common import DTYPES, on_device, pick_device, repeat, report, say, sync

COLUMNS = ["impl", "median s", "min s", "first s", "peak GiB", "x bf16 time", "TFLOP/s", "rel err (norm)",
           "rel err (max)", "FP8 layers"]
TINY = dict(layers=1, single_layers=1, refiner_layers=1, heads=2, head_dim=32, text_dim=32, pooled_dim=32, frames=2,
            height=8, width=8, text_tokens=8)


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name, default in (("layers", 20), ("single-layers", 40), ("refiner-layers", 2), ("heads", 24),
                          ("head-dim", 128), ("text-dim", 4096), ("pooled-dim", 768), ("channels", 16), ("batch", 1),
                          ("frames", 16), ("height", 60), ("width", 106), ("text-tokens", 256)):
        ap.add_argument(f"--{name}", type=int, default=default)
    ap.add_argument("--valid-tokens", type=int, default=None, help="real tokens per prompt (rest is padding)")
    ap.add_argument("--dtype", choices=sorted(DTYPES), default=None, help="default bf16 (fp32 with --tiny)")
    ap.add_argument("--device", default=None)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--iters", type=int, default=3)
    ap.add_argument("--compile", action="store_true", help="torch.compile the repeated blocks (both rows)")
    ap.add_argument("--no-fast-accum", action="store_true", help="FP8 matmuls accumulate at full precision")
    ap.add_argument("--concat-proj-out", action="store_true",
                    help="single-stream blocks call proj_out on concat(attn, mlp) (FP8 speed for that layer)")
    ap.add_argument("--tiny", action="store_true", help="a 1+1-block DiT of width 64: CPU, seconds")
    ap.add_argument("--out", help="append the table to this markdown file")
    a = ap.parse_args(argv)
    if a.tiny:
        for k, v in TINY.items():
            setattr(a, k, v)
    a.dtype = a.dtype or ("fp32" if a.tiny else "bf16")
    return a


def concat_proj_out() -> None:
    """SingleStreamBlock.forward with proj_out as one call on concat(attn, mlp) (the same math, one matmul)."""
    from vgen_plugins.hunyuan_video import transformer as T

    def forward(self, x, cond, rope, mask):
        shift, scale, gate = self.norm(cond)
        h = T.modulate(T.layer_norm(x), shift, scale)
        mlp = F.gelu(self.proj_mlp(h), approximate="tanh")
        return T.gated_add(x, gate, self.proj_out(torch.cat([self.attn(h, rope, mask), mlp], dim=-1)))

    T.SingleStreamBlock.forward = forward


def build(a, device, dtype):
    from vgen_plugins.hunyuan_video.transformer import HunyuanVideoTransformer3DModel

    model = on_device(lambda: HunyuanVideoTransformer3DModel(model_config(a)), device, dtype)
    torch.nn.init.normal_(model.proj_out.weight, std=0.02)  # it starts at zero: the output would be the bias alone
    return model


def timed(a, model, inputs, device) -> dict:
    if a.compile:
        model.compile_repeated_blocks(fullgraph=True)
    with torch.inference_mode():
        r = repeat(lambda: model(**inputs), device, a.warmup, a.iters)
    r["out"] = r["out"].float().cpu()
    return r


def main(argv=None) -> int:
    a = parse_args(argv)
    from vgen.nn.fp8 import fp8_supported, to_fp8

    device, dtype = pick_device(a.device), DTYPES[a.dtype]
    if not fp8_supported(device):
        print(f"fp8_dit: {device} has no row-wise FP8 matmul (torch._scaled_mm): nothing to measure",
              file=sys.stderr)
        return 2
    if a.concat_proj_out:
        concat_proj_out()
    say("fp8_dit", "building the DiT")
    model = build(a, device, dtype)
    params = sum(p.numel() for p in model.parameters())
    inputs = make_inputs(a, device, dtype)
    say("fp8_dit", f"bf16 step ({a.dtype})")
    base = timed(a, model, inputs, device)
    sync(device)
    start = time.perf_counter()
    converted = to_fp8(model, fast_accum=not a.no_fast_accum)
    sync(device)
    convert_s = time.perf_counter() - start
    if device.type == "cuda":
        torch.cuda.empty_cache()
    say("fp8_dit", f"FP8 step ({converted} layers converted in {convert_s:.1f} s)")
    fp8 = timed(a, model, inputs, device)
    flops = tflop(a, params)
    ref = base["out"]
    rel_norm = ((fp8["out"] - ref).norm() / ref.norm()).item()
    rel_max = ((fp8["out"] - ref).abs().max() / ref.abs().max()).item()
    total = sum(isinstance(m, torch.nn.Linear) for m in model.modules()) + converted
    rows = [[a.dtype, base["median"], base["min"], base["first"], base["peak"], 1.0, flops / base["median"],
             0.0, 0.0, f"0 / {total}"],
            ["fp8", fp8["median"], fp8["min"], fp8["first"], fp8["peak"], fp8["median"] / base["median"],
             flops / fp8["median"], rel_norm, rel_max, f"{converted} / {total}"]]
    valid = a.text_tokens if a.valid_tokens is None else a.valid_tokens
    title = (f"HunyuanVideo DiT step, bf16 vs FP8 linears{' (tiny config)' if a.tiny else ''}: {params:,} params "
             f"({a.layers} dual + {a.single_layers} single blocks, {a.heads}x{a.head_dim}), latent "
             f"{a.batch}x{a.channels}x{a.frames}x{a.height}x{a.width}, {a.text_tokens} text tokens ({valid} valid), "
             f"compile={a.compile}, fast_accum={not a.no_fast_accum}, concat_proj_out={a.concat_proj_out}; "
             f"conversion {convert_s:.1f} s; {a.iters} timed calls after {a.warmup} warm-up")
    report(title, device, COLUMNS, rows, a.out, __file__, argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
