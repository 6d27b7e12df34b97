"""Moved to vgen.flow.image (temporary re-export while the tree moves over)."""

from vgen.flow.image import *  # noqa: F401,F403
