"""What a curation stage is, and the state stages share while one source video goes through them.

A stage is registered with ``register(name, factory, kind=..., description=...)`` from the ``register_curation_stages``
hook; ``factory(settings)`` returns a callable. The ``kind`` decides when it runs and what it gets:

- ``source``:  ``stage(src: SourceContext) -> None``; fills ``src.info`` or raises ``Rejected`` (the whole input).
- ``split``:   ``stage(src) -> list[Shot]``; the shots of the source (one splitter per recipe).
- ``cut``:     ``stage(src, shots) -> list[Span]``; clip candidates, spans with a ``reason`` are recorded as rejected.
- ``clip``:    ``stage(clip: ClipContext) -> None``; adds ``clip.scores`` / ``clip.labels``, may ``clip.reject()``.
  Every clip stage runs on every candidate (so the report has every score); every failing check is recorded in
  ``clip.reasons`` and the first is the headline ``clip.reason``.
- ``caption``: ``stage(clip) -> str | None``; runs on kept clips after their file is written (``clip.path``), so a
  VLM plugin can read the file or use ``clip.frames``.

A stage may also define ``check() -> None``, called once when the run's stages are built, to fail the run with a
``UserError`` before any work (a missing model folder, say); building a stage itself never fails on settings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vgen.errors import UserError

KINDS = ("source", "split", "cut", "clip", "caption")


class Rejected(Exception):
    """Raised by a source stage: the input cannot be used. ``status`` is "error" (unreadable) or "rejected"."""

    def __init__(self, reason: str, detail: str = "", status: str = "error"):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
        self.status = status


@dataclass
class SourceContext:
    path: Path  # the input file
    rel: str  # its path relative to the input folder (names outputs)
    settings: Any  # CurateSettings
    out_dir: Path
    info: dict = field(default_factory=dict)  # filled by probe: fps, width, height, frames, duration, codec, ...

    @property
    def fps(self) -> float:
        return self.info["fps"]


@dataclass
class Shot:
    start: int  # first frame
    end: int  # one past the last frame


@dataclass
class Span:
    start: int
    end: int
    shot: int  # index of the shot it came from
    reason: str | None = None  # set when the candidate is rejected by the cutter (e.g. "too_short")


@dataclass
class ClipContext:
    source: SourceContext
    index: int  # candidate number within the source (names the clip file)
    span: Span
    # analysis frames (T, h, w, 3) uint8 at analysis_width, one per source frame of the span; captioners get up to
    # 16 evenly spaced ones (the rest are dropped once the clip is scored, to bound memory)
    frames: np.ndarray
    times: np.ndarray  # presentation time (s) of each frame in the source
    scores: dict[str, float] = field(default_factory=dict)
    labels: dict[str, Any] = field(default_factory=dict)
    captions: dict[str, str] = field(default_factory=dict)
    reason: str | None = None  # the headline: the first of ``reasons``
    reasons: list[str] = field(default_factory=list)  # every failing check, in stage order
    path: Path | None = None  # the written clip file (kept clips, before captioning)
    cache: dict = field(default_factory=dict)  # shared intermediate results (optical flow ...)

    @property
    def settings(self):
        return self.source.settings

    @property
    def fps(self) -> float:
        return self.source.fps

    @property
    def start(self) -> float:
        return float(self.times[0])

    @property
    def end(self) -> float:
        return float(self.times[-1]) + 1.0 / self.fps

    @property
    def duration(self) -> float:
        return self.end - self.start

    def reject(self, reason: str) -> None:
        """Mark the clip rejected for ``reason``; the first reason stays the headline, every one is listed."""
        if self.reason is None:
            self.reason = reason
        if reason not in self.reasons:
            self.reasons.append(reason)

    def drop_leading(self, n: int) -> None:
        """Start the clip ``n`` frames later (used to start on the clearest frame)."""
        if n > 0:
            self.frames, self.times = self.frames[n:], self.times[n:]
            self.span = Span(self.span.start + n, self.span.end, self.span.shot, self.span.reason)
            self.cache.clear()


@dataclass
class Stages:
    source: list = field(default_factory=list)
    split: Any = None
    cut: Any = None
    clip: list = field(default_factory=list)
    caption: list = field(default_factory=list)  # (name, stage)


def build_stages(settings) -> Stages:
    """Instantiate the recipe's stages and captioners from the registry, checking kinds and order."""
    from vgen import registry

    stages = Stages()
    order = {kind: i for i, kind in enumerate(KINDS)}
    last = 0
    for name in settings.stages:
        backend = registry.get("curation_stage", name)
        kind = backend.meta.get("kind")
        if kind not in KINDS or kind == "caption":
            raise UserError(f"curation stage {name!r} has kind {kind!r}; in `stages` use source, split, cut or "
                            f"clip stages (captioners go in `captioners`)")
        if order[kind] < last:
            raise UserError(f"curation stage {name!r} ({kind}) must come before the {KINDS[last]} stages")
        last = order[kind]
        stage = backend.factory(settings)
        if kind in ("split", "cut"):
            if getattr(stages, kind) is not None:
                raise UserError(f"only one {kind} stage may run; got a second: {name!r}")
            setattr(stages, kind, stage)
        else:
            getattr(stages, kind).append((name, stage))
    if stages.split is None or stages.cut is None:
        raise UserError("curate stages need a split stage (e.g. 'shots') and a cut stage (e.g. 'cut')")
    for name in settings.captioners:
        backend = registry.get("curation_stage", name)
        if backend.meta.get("kind") != "caption":
            raise UserError(f"{name!r} is not a captioner (kind {backend.meta.get('kind')!r})")
        stages.caption.append((name, backend.factory(settings)))
    for _name, stage in [*stages.source, ("split", stages.split), ("cut", stages.cut), *stages.clip, *stages.caption]:
        if callable(getattr(stage, "check", None)):
            stage.check()
    return stages
