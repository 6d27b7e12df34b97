"""Moved to vgen.flow.schedules (temporary re-export while the tree moves over)."""

from vgen.flow.schedules import *  # noqa: F401,F403
