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


def load(pipeline: str, weights=None, **kwargs):
    """Load a registered pipeline family by name: ``pipe = vgen.load("hunyuan-video", weights="folder or org/name")``.

    ``weights``: a diffusers-layout folder or a Hugging Face hub id (the local HF cache first, vgen.io.hub); unset:
    the family's shipped weights, or random ones from ``config=``. The pipeline is callable:
    ``pipe("a prompt", num_inference_steps=20).save("x.mp4")`` (docs/python.md)."""
    from vgen.io.hub import resolve_weights
    from vgen.registry import get

    return get("pipeline", pipeline).factory(weights=resolve_weights(weights), **kwargs)


__all__ = ["__version__", "load"]
