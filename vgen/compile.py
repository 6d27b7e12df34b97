"""``vgen sample --compile`` / ``vgen.load(..., compile=True)``: torch.compile of the pipeline's DiT, with the
compiled kernels cached on disk so that a second run does not pay the compile again.

What is compiled: the DiT's repeated blocks (regional compilation, the compiled step benchmarks/hunyuan_dit.py
measures): the model's own ``compile_repeated_blocks`` when it has one, else each block of the DiT's own ModuleLists;
a DiT with neither is compiled whole. Why regional: every block of a kind is one graph (compiled once, not once per
block), compiling takes seconds per block kind rather than minutes per model, and the step cache's split
(vgen.flow.stepcache) runs the very same compiled blocks.

The cache: inductor's FX-graph cache and AOT-autograd cache (both on by default in torch >= 2.4) live in
``cache_dir()``: ``VGEN_COMPILE_CACHE``, else ``TORCHINDUCTOR_CACHE_DIR`` when set, else ``<vgen cache_dir>/compile``
(``~/.cache/vgen/compile``). A later run with the same model, shapes and torch loads the compiled kernels from there
(dynamo still traces the Python, a few seconds); ``CompileClock`` reports the seconds spent compiling and the cache's
hits and misses, which the sidecar records apart from the sampling time.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import torch

from vgen.errors import UserError


def cache_dir() -> Path:
    """Where compiled kernels are kept between runs."""
    for name in ("VGEN_COMPILE_CACHE", "TORCHINDUCTOR_CACHE_DIR"):
        if os.environ.get(name):
            return Path(os.environ[name]).expanduser()
    from vgen.settings import VgenSettings, resolve

    return Path(resolve(VgenSettings).cache_dir).expanduser() / "compile"


def dit_module(pipe) -> torch.nn.Module:
    """The DiT proper: the module the step-cache split cuts (without a text encoder the denoiser may run first),
    else the pipeline's ``transformer``."""
    split = getattr(pipe, "denoiser_split", None)
    if split is not None:
        try:
            return split().module
        except (UserError, AttributeError):  # no split (the contract default), or a stand-in without one
            pass
    return pipe.transformer


def compile_dit(pipe, **options) -> str:
    """Compile the pipeline's DiT in place (``options`` go to torch.compile); returns how: "blocks" (regional) or
    "whole". The kernels are cached in ``cache_dir()``."""
    folder = cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"compile cache folder {folder}: {exc.strerror} (set VGEN_COMPILE_CACHE)") from None
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(folder)  # read by inductor when it first compiles
    dit = dit_module(pipe)
    if callable(getattr(dit, "compile_repeated_blocks", None)):
        dit.compile_repeated_blocks(**options)
        return "blocks"
    lists = [m for m in dit.children() if isinstance(m, torch.nn.ModuleList) and len(m)]
    for block in (b for blocks in lists for b in blocks):
        block.compile(**options)
    if lists:
        return "blocks"
    dit.compile(**options)
    return "whole"


class CompileClock:
    """Seconds torch spent compiling and the compile cache's hits and misses since it was made (read from dynamo's
    counters; zero when nothing was compiled: dynamo is not even imported then)."""

    def __init__(self):
        self.start = self._read()

    @staticmethod
    def _read() -> tuple[float, int, int]:
        if "torch._dynamo" not in sys.modules:  # importing it costs seconds of start-up: only read what exists
            return 0.0, 0, 0
        from torch._dynamo.utils import calculate_time_spent, counters

        inductor = counters["inductor"]
        return (calculate_time_spent().get("total_wall_time", 0.0), int(inductor["fxgraph_cache_hit"]),
                int(inductor["fxgraph_cache_miss"]))

    def read(self) -> dict:
        """{"seconds", "cache_hits", "cache_misses"} since the clock was made."""
        now = self._read()
        seconds, hits, misses = (b - a for a, b in zip(self.start, now, strict=True))
        return {"seconds": round(seconds, 4), "cache_hits": hits, "cache_misses": misses}
