"""Every vgen hook. Each ``register_*`` hook receives a ``register(name, factory, override=False, **meta)`` callback.

``factory`` builds the backend when it is used (keep imports of heavy modules inside it so start-up stays fast); what
it builds implements the Protocol named in the hook's docstring (all in ``vgen.contract``). ``meta`` shows in
``vgen plugins`` (``description=`` is the one line printed there); the keys vgen itself reads are listed per hook in
docs/plugins.md. A name another plugin registered already is refused unless ``override=True``.
"""

import pluggy

hookspec = pluggy.HookspecMarker("vgen")
hookimpl = pluggy.HookimplMarker("vgen")


@hookspec
def register_samplers(register):
    """Register ODE/SDE solvers: ``factory(**options) -> vgen.contract.Sampler`` (vgen calls ``factory()``).

    Subclass ``vgen.contract.FlowSampler`` and write ``step``; ``velocity(x, sigma)`` gets ``sigma`` as a 0-d float32
    tensor. meta: ``description``.
    """


@hookspec
def register_schedules(register):
    """Register sigma schedules: ``factory() -> vgen.contract.Schedule``, a ``fn(steps, shift) -> sigmas`` (float32,
    ``steps + 1`` values from 1 to 0). meta: ``uses_shift`` (bool), ``description``."""


@hookspec
def register_pipelines(register):
    """Register model families: ``factory(weights=None, config=None, device="cpu", dtype=torch.float32, **options)
    -> vgen.contract.VideoPipeline`` (subclass ``vgen.contract.PipelineBase``). meta: ``description``."""


@hookspec
def register_curation_stages(register):
    """Register curation stages: ``factory(settings: CurateSettings) -> stage``, the Protocol of its ``kind``
    (``vgen.contract.SourceStage``, ``SplitStage``, ``CutStage``, ``ClipStage``, ``CaptionStage``).
    meta: ``kind`` (source | split | cut | clip | caption, required), ``description``."""


@hookspec
def register_exporters(register):
    """Register export formats: ``factory() -> vgen.contract.Exporter`` (subclass ``vgen.contract.ExporterBase``),
    which writes a pipeline's parts for ``vgen export NAME`` and loads them as a ``vgen.contract.Runtime`` for
    ``vgen sample --engine NAME``. meta: ``description``."""


@hookspec
def register_editors(register):
    """Register video edit methods: ``factory() -> vgen.contract.Editor``, which ``vgen edit`` hands a source
    video's latents and a ``vgen.contract.EditRequest``. meta: ``pipeline`` (the pipeline a trained editor's weights
    belong to), ``default_for`` (pipelines whose instructions it edits when no ``--method`` is given),
    ``description``."""


@hookspec
def register_audio_models(register):
    """Register sound-for-video models (``vgen dub``): ``factory(weights=None, config=None, device="cpu", **options)
    -> vgen.contract.AudioModel``. meta: ``default`` (bool: the model ``vgen dub`` uses without --model),
    ``description``."""


@hookspec
def register_video_features(register):
    """Register per-frame video feature extractors that audio models condition on: ``factory(device="cpu",
    **options) -> vgen.contract.VideoFeatures``. meta: ``description``."""


@hookspec
def register_training_targets(register):
    """Register training targets beyond the pipelines' "dit" and "vae" (``target = "NAME"`` in a [train] recipe):
    ``factory(settings, device) -> vgen.contract.TrainingTarget``, run by vgen.train's generic loop.
    meta: ``description``."""


@hookspec
def register_commands(app):
    """Add subcommands to the typer ``app`` (``vgen.cli.groups.group(app, name)`` gives a shared group)."""
