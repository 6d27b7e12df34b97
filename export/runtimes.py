"""Running exported artifacts inside the normal sampler loop: ``apply_engine(pipe, "onnx", "engines/tiny")``.

This module stays light (the plugin scan imports it at start-up); the work is in ``vgen_export.core.runtime``.
"""

from __future__ import annotations

ENGINES = ("torch", "onnx", "tensorrt", "aoti")


def apply_engine(pipe, engine: str, engine_dir=None, device=None):
    """Swap the parts exported in ``engine_dir`` (DiT, VAE decoder) into ``pipe``; ``"torch"`` changes nothing.

    A missing, corrupt or mismatched engine directory raises a one-line UserError naming the file.
    """
    from vgen_export.core.runtime import apply

    return apply(pipe, engine, engine_dir, device=device)
