"""What ``register_audio_models`` and ``register_video_features`` register: the sound of a video (``vgen dub``).

``register("name", factory, description=...)`` in ``register_audio_models``;
``factory(weights=None, config=None, device="cpu", **options) -> AudioModel``: ``weights`` a model folder (None: the
plugin's shipped weights, or random weights of preset ``config``). The dub stage (vgen.dub) reads the video, asks the
model for its sound (``generate``), muxes it beside the copied video stream and records ``settings()`` and the sha256
of ``weight_files()`` in the sidecar, so ``vgen dub --from SIDECAR`` makes the same samples again.

``register_video_features``: ``factory(device="cpu", **options) -> VideoFeatures``, the per-frame features an audio
model conditions on (a model's config names its extractor, so several models share one).

A complete model (a beep at every cut; no weights)::

    import numpy as np

    from vgen.hookspecs import hookimpl


    class Beeps:
        sample_rate = 16000

        def __init__(self, weights=None, config=None, device="cpu"):
            pass

        def settings(self, steps=None, guidance=None):
            return {"tone_hz": 440}

        def weight_files(self):
            return []

        def generate(self, frames, fps, seconds, prompt="", seed=0, context=None, steps=None, guidance=None):
            wave = np.zeros((1, int(round(seconds * self.sample_rate))), np.float32)
            change = np.abs(np.diff(frames.astype(np.float32), axis=0)).mean(axis=(1, 2, 3)) > 20
            for f in np.flatnonzero(change) + 1:
                start = int(f / fps * self.sample_rate)
                t = np.arange(1600) / self.sample_rate
                wave[0, start:start + 1600] = 0.3 * np.sin(2 * np.pi * 440 * t)[: wave.shape[1] - start]
            if context is not None:
                wave[0, : len(context)] = context[: wave.shape[1]]
            return wave


    @hookimpl
    def register_audio_models(register):
        register("beeps", Beeps, description="a 440 Hz beep at every cut")
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class AudioModel(Protocol):
    """Makes the soundtrack of a video."""

    sample_rate: int  # of what ``generate`` returns

    def generate(self, frames: np.ndarray, fps: float, seconds: float, prompt: str = "", seed: int = 0,
                 context: np.ndarray | None = None, steps: int | None = None,
                 guidance: float | None = None) -> np.ndarray:
        """float32 (channels, round(seconds * sample_rate)) in [-1, 1] for uint8 (T, H, W, 3) ``frames`` at ``fps``.

        ``context``: float32 (samples,) sound at ``sample_rate`` that the result starts with, unchanged (``--extend``);
        the rest continues it. The same arguments give the same samples (on the same device)."""
        ...

    def settings(self, steps: int | None = None, guidance: float | None = None) -> dict:
        """The sampling settings ``generate`` uses with these arguments (recorded in the sidecar)."""
        ...

    def weight_files(self) -> list[Path]:
        """The files the weights were loaded from (their sha256 goes into the sidecar); [] for random weights."""
        ...


@runtime_checkable
class VideoFeatures(Protocol):
    """Per-frame features of a video: ``extractor(frames) -> float32 tensor (T, dim)`` for uint8 (T, H, W, 3)."""

    dim: int

    def __call__(self, frames: np.ndarray): ...
