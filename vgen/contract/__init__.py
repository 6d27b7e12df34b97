"""The typed contract between vgen's stages and its plugins: one Protocol for each kind of thing a hook registers.

- ``register_pipelines``: ``VideoPipeline``; subclass ``PipelineBase``; ``DenoiserSplit`` for step caching (all in
  vgen.pipeline).
- ``register_samplers``: ``Sampler``; subclass ``FlowSampler``. ``register_schedules``: ``Schedule``, a function
  (vgen.contract.sampler).
- ``register_curation_stages``: ``SourceStage``, ``SplitStage``, ``CutStage``, ``ClipStage`` or ``CaptionStage`` by
  the ``kind`` meta key (vgen.contract.curation).
- ``register_exporters``: ``Exporter`` (subclass ``ExporterBase``) and the ``Runtime`` that runs what it writes
  (vgen.contract.export).
- ``register_audio_models``: ``AudioModel``; ``register_video_features``: ``VideoFeatures`` (vgen.contract.audio).
- ``register_training_targets``: ``TrainingTarget`` (vgen.contract.training).
- ``register_editors``: ``Editor``, given an ``EditRequest`` (vgen.contract.edit).

docs/plugins.md shows each with its factory's signature, the meta keys vgen reads and an example. Names resolve on
first use, so ``import vgen.contract`` stays light.
"""

from __future__ import annotations

import importlib

_WHERE = {
    "VideoPipeline": "vgen.pipeline",
    "PipelineBase": "vgen.pipeline",
    "TextEmbeds": "vgen.pipeline",
    "DenoiserSplit": "vgen.pipeline",
    "Sampler": "vgen.contract.sampler",
    "FlowSampler": "vgen.contract.sampler",
    "Schedule": "vgen.contract.sampler",
    "Velocity": "vgen.contract.sampler",
    "CurationStage": "vgen.contract.curation",
    "SourceStage": "vgen.contract.curation",
    "SplitStage": "vgen.contract.curation",
    "CutStage": "vgen.contract.curation",
    "ClipStage": "vgen.contract.curation",
    "CaptionStage": "vgen.contract.curation",
    "STAGE_PROTOCOLS": "vgen.contract.curation",
    "Exporter": "vgen.contract.export",
    "ExporterBase": "vgen.contract.export",
    "Runtime": "vgen.contract.export",
    "Editor": "vgen.contract.edit",
    "EditRequest": "vgen.contract.edit",
    "AudioModel": "vgen.contract.audio",
    "VideoFeatures": "vgen.contract.audio",
    "TrainingTarget": "vgen.contract.training",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_WHERE[name]), name)
    globals()[name] = value
    return value


def __dir__():
    return __all__
