"""The ``vgen sample`` stage: settings (``vgen.sample.settings``) and jobs -> MP4 + sidecar JSON (``vgen.sample.run``,
including ``--from`` replay and the parallel ranks of a torchrun launch).

The sampling itself lives in ``vgen.flow`` (shared with other stages); ``vgen.sample.generate(pipe, prompts, ...)``
and ``SampleResult`` are re-exported here for library users. Imports are lazy: the recipe loader imports
``vgen.sample.settings`` and must stay fast.
"""

from __future__ import annotations

__all__ = ["generate", "SampleResult"]


def __getattr__(name):
    if name in __all__:
        from vgen.flow import loop

        return getattr(loop, name)
    raise AttributeError(name)
