"""``vgen sample``: text (and image) to video with any registered pipeline.

``vgen.sample.generate(pipe, prompts, ...)`` is the library entry point (vgen/sample/loop.py);
``vgen.sample.run`` holds what the CLI calls (outputs, sidecars, ``--from`` replay);
``vgen.sample.schedules.sigmas(name, steps, shift)`` gives a sigma table. Imports are lazy: the recipe loader
imports ``vgen.sample.settings`` and must stay fast.
"""

from __future__ import annotations

__all__ = ["generate", "SampleResult"]


def __getattr__(name):
    if name in __all__:
        from vgen.sample import loop

        return getattr(loop, name)
    raise AttributeError(name)
