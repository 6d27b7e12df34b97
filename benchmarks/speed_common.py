"""What the speed benchmarks share (vae_decode.py, fp8_dit.py, whole_sample.py): the device's name, a timer that
also reads the peak GPU memory, random weights built straight on the device, markdown tables, and ``--out``.

Not a vgen module: benchmarks import it as a sibling (``python benchmarks/x.py`` puts benchmarks/ on sys.path)."""

from __future__ import annotations

import contextlib
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def header(title: str, device: torch.device) -> str:
    """The lines every result starts with: what was run, on which device, with which torch."""
    extra = f", CUDA {torch.version.cuda}" if device.type == "cuda" else ""
    return f"{title}\ndevice: {device_name(device)}; torch {torch.__version__}{extra}"


def pick_device(name: str | None) -> torch.device:
    device = torch.device(name or ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    return device


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def gib(n_bytes: float) -> float:
    return n_bytes / 2**30


@contextlib.contextmanager
def measured(device: torch.device, into: dict, name: str):
    """Wall seconds of the block (device synchronised at both ends) into ``into[name]``, and the peak GPU memory
    allocated during it (GiB, everything resident included) into ``into[name + "_peak"]``."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    sync(device)
    start = time.perf_counter()
    yield
    sync(device)
    into[name] = into.get(name, 0.0) + time.perf_counter() - start
    peak = gib(torch.cuda.max_memory_allocated(device)) if device.type == "cuda" else float("nan")
    into[name + "_peak"] = max(into.get(name + "_peak", 0.0), peak) if peak == peak else peak


def repeat(fn, device: torch.device, warmup: int, iters: int) -> dict:
    """``fn()`` once (the first call: compile and cudnn autotuning included), ``warmup - 1`` more, then ``iters``
    timed calls: {"out", "first", "median", "min", "peak" GiB over all calls}."""
    stats: dict = {}
    with measured(device, stats, "first"):
        out = fn()
    for _ in range(max(warmup - 1, 0)):
        fn()
    times = []
    peak = stats["first_peak"]
    for _ in range(iters):
        one: dict = {}
        with measured(device, one, "t"):
            fn()
        times.append(one["t"])
        peak = max(peak, one["t_peak"]) if peak == peak else peak
    return dict(out=out, first=stats["first"], median=statistics.median(times) if times else stats["first"],
                min=min(times) if times else stats["first"], peak=peak)


@contextlib.contextmanager
def default_dtype(dtype: torch.dtype):
    """Modules built inside take ``dtype`` from the start (a 13B model built in fp32 first would not fit)."""
    before = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(before)


def on_device(build, device: torch.device, dtype: torch.dtype, seed: int = 0):
    """``build()`` with its parameters allocated and randomly initialised on ``device`` in ``dtype`` (no host copy,
    no fp32 detour), frozen for inference."""
    torch.manual_seed(seed)
    with default_dtype(dtype), torch.device(device):
        module = build()
    return module.eval().requires_grad_(False)


def table(columns: list[str], rows: list[list]) -> str:
    def cell(v):
        if isinstance(v, float):
            if v != v:
                return "-"
            return f"{v:.3g}" if abs(v) < 0.01 and v != 0 else f"{v:.2f}" if abs(v) < 1000 else f"{v:.0f}"
        return str(v)

    lines = ["| " + " | ".join(columns) + " |", "| " + " | ".join("---" for _ in columns) + " |"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def write_out(path: str | None, text: str, script: str, argv: list[str] | None) -> None:
    """Append ``text`` under the command line that made it (``benchmarks/<script> <argv>``; argv None: this process's)
    to the markdown file ``path``, atomically: a run cut short leaves the file as it was."""
    if not path:
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    old = path.read_text() if path.exists() else ""
    cmd = " ".join([f"benchmarks/{Path(script).name}", *(sys.argv[1:] if argv is None else argv)])
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    new = f"{old}{chr(10) if old else ''}## {stamp}: `python {cmd}`\n\n{text}\n"
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as f:
        f.write(new)
    os.replace(tmp, path)


def report(title: str, device: torch.device, columns: list[str], rows: list[list], out: str | None, script: str,
           argv: list[str] | None) -> str:
    """Print the result (title, device, table) and append it to ``out`` when given; returns the text."""
    text = header(title, device) + "\n\n" + table(columns, rows)
    print(text, flush=True)
    write_out(out, text, script, argv)
    return text


def say(tag: str, message: str) -> None:
    """Progress on stderr, flushed (a log cut short still says how far the run got)."""
    print(f"[{tag} {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)
