"""Moved to vgen.flow.renoise (temporary re-export while the tree moves over)."""

from vgen.flow.renoise import denoise_from, tail  # noqa: F401
