"""Moved to vgen.flow.offload (temporary re-export while the tree moves over)."""

from vgen.flow.offload import *  # noqa: F401,F403
