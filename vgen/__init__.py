"""vgen: a plugin-based toolkit for text-to-video generation (curate, train, sample, edit, dub, export)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("vgen")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+source"


def load(pipeline: str, weights=None, **kwargs):
    """Load a registered pipeline family by name, e.g. ``vgen.load("hunyuan-video", weights="path/to/folder")``."""
    from vgen.registry import get

    return get("pipeline", pipeline).factory(weights=weights, **kwargs)


__all__ = ["__version__", "load"]
