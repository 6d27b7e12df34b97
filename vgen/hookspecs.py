"""Every vgen hook. Each register_* hook receives a ``register(name, factory, **meta)`` callback.

``factory`` builds the backend when it is used (keep imports of heavy modules inside it so start-up stays fast);
``meta`` is free-form and shows in ``vgen plugins`` (``description=`` is the one line printed there).
"""

import pluggy

hookspec = pluggy.HookspecMarker("vgen")
hookimpl = pluggy.HookimplMarker("vgen")


@hookspec
def register_text_encoders(register):
    """Register text encoders (LLM hidden states, CLIP pooled, T5/UL2, ByT5, ...)."""


@hookspec
def register_vaes(register):
    """Register video autoencoders."""


@hookspec
def register_dits(register):
    """Register denoising transformers."""


@hookspec
def register_samplers(register):
    """Register ODE/SDE solvers (flow Euler, Heun, multistep ...)."""


@hookspec
def register_schedules(register):
    """Register timestep/sigma schedules (shifted, linear-quadratic, linear ...)."""


@hookspec
def register_pipelines(register):
    """Register model families: which encoder + VAE + DiT go together, and how their weights load."""


@hookspec
def register_curation_stages(register):
    """Register curation stages: probes, splitters, filters, scorers, captioners."""


@hookspec
def register_audio_models(register):
    """Register video-to-audio models for ``vgen dub``."""


@hookspec
def register_exporters(register):
    """Register export formats (onnx, tensorrt, aoti) and the runtimes that run their artifacts."""


@hookspec
def register_commands(app):
    """Add subcommands to the typer ``app``."""
