"""Moved to vgen.flow.guidance (temporary re-export while the tree moves over)."""

from vgen.flow.guidance import *  # noqa: F401,F403
