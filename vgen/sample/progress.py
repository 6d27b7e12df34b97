"""Moved to vgen.flow.progress (temporary re-export while the tree moves over)."""

from vgen.flow.progress import *  # noqa: F401,F403
