"""vgen: a plugin-based toolkit for text-to-video generation (curate, train, sample, export)."""

import os
from importlib.metadata import PackageNotFoundError, version

# Same seed, same settings, same machine -> the same bits (`vgen sample --from`): without this, MKL may take other
# code paths for differently aligned buffers and round the last bit differently. Effective when vgen is imported
# before torch loads MKL (the `vgen` command); a user's own setting wins.
os.environ.setdefault("MKL_CBWR", "AUTO,STRICT")

try:
    __version__ = version("vgen")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+source"


def load(pipeline: str, weights=None, *, compile: bool = False, fp8: bool = False, **kwargs):  # noqa: A002
    """Load a registered pipeline family by name: ``pipe = vgen.load("hunyuan-video", weights="folder or org/name")``.

    ``weights``: a diffusers-layout folder or a Hugging Face hub id (the local HF cache first, vgen.io.hub); unset:
    the family's shipped weights, or random ones from ``config=``. The pipeline is callable:
    ``pipe("a prompt", num_inference_steps=20).save("x.mp4")`` (docs/python.md). ``fp8`` / ``compile``: the DiT's
    block Linear layers in FP8, then its blocks compiled, as ``vgen sample --fp8 --compile`` (docs/speed.md); step
    caching is a call option: ``pipe("a prompt", step_cache=0.1)``."""
    from vgen.io.hub import resolve_weights
    from vgen.registry import get

    pipe = get("pipeline", pipeline).factory(weights=resolve_weights(weights), **kwargs)
    if fp8:
        from vgen.compile import dit_module
        from vgen.nn.fp8 import to_fp8

        to_fp8(dit_module(pipe))
    if compile:
        from vgen.compile import compile_dit

        compile_dit(pipe)
    return pipe


__all__ = ["__version__", "load"]
