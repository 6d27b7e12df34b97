"""Moved to vgen.flow.loop (temporary re-export while the tree moves over)."""

from vgen.flow.loop import *  # noqa: F401,F403
