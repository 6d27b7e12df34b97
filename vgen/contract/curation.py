"""What ``register_curation_stages`` registers: one stage of one of five kinds (vgen/curate/stages.py runs them).

``register(name, factory, kind=KIND, description=...)``; ``factory(settings) -> stage``, ``settings`` being the run's
``CurateSettings`` (a stage reads its thresholds there). ``kind`` decides when the stage runs and what it gets; the
context types (``SourceContext``, ``Shot``, ``Span``, ``ClipContext``, ``Rejected``) live in ``vgen.curate.stages``.

A recipe's ``stages`` list holds source, split, cut and clip stages in that order (one split and one cut stage);
``captioners`` holds caption stages.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:  # named in annotations only: the contract does not import the curate stage
    from vgen.curate.stages import ClipContext, Shot, SourceContext, Span


@runtime_checkable
class SourceStage(Protocol):
    """kind ``source``: fills ``src.info`` or raises ``vgen.curate.stages.Rejected`` (the whole input goes)."""

    def __call__(self, src: SourceContext) -> None: ...


@runtime_checkable
class SplitStage(Protocol):
    """kind ``split``: the shots of the source (frame ranges)."""

    def __call__(self, src: SourceContext) -> list[Shot]: ...


@runtime_checkable
class CutStage(Protocol):
    """kind ``cut``: clip candidates from the shots; a span with a ``reason`` is recorded as rejected."""

    def __call__(self, src: SourceContext, shots: list[Shot]) -> list[Span]: ...


@runtime_checkable
class ClipStage(Protocol):
    """kind ``clip``: adds ``clip.scores`` / ``clip.labels`` and may ``clip.reject(reason)``.

    Every clip stage runs on every candidate (the report has every score); every failing check is recorded in
    ``clip.reasons``, the first one is the headline ``reason``.
    """

    def __call__(self, clip: ClipContext) -> None: ...


@runtime_checkable
class CaptionStage(Protocol):
    """kind ``caption``: a caption for a kept clip (or None), after its file is written (``clip.path``)."""

    def __call__(self, clip: ClipContext) -> str | None: ...


@runtime_checkable
class CurationStage(Protocol):
    """Any of the five kinds (``PROTOCOLS["curation_stage"]``); ``STAGE_PROTOCOLS[kind]`` is the exact one."""

    def __call__(self, *args: Any) -> Any: ...


# meta ``kind`` -> the Protocol its stage implements
STAGE_PROTOCOLS: dict[str, type] = {
    "source": SourceStage,
    "split": SplitStage,
    "cut": CutStage,
    "clip": ClipStage,
    "caption": CaptionStage,
}

CurationStageFactory = Callable[..., Any]  # factory(settings: CurateSettings) -> the Protocol of its kind
