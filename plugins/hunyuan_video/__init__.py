"""HunyuanVideo (arXiv 2412.03603): LLM + CLIP text encoders, causal 3D VAE, 13B dual/single-stream DiT.

``vgen.load("hunyuan-video", weights=DIR)`` reads a diffusers-layout folder; ``config="tiny"`` builds random tiny
weights; ``vgen convert hunyuan-original`` (commands.py) turns Tencent's original checkpoint into that layout.
Heavy modules (and typer) are imported inside the factories and hooks so that ``vgen`` starts fast.
"""

from vgen.hookspecs import hookimpl


def _pipeline(**kwargs):
    from vgen_plugins.hunyuan_video.pipeline import build

    return build(**kwargs)


@hookimpl
def register_pipelines(register):
    register("hunyuan-video", _pipeline,
             description="HunyuanVideo text-to-video (diffusers folder via weights=DIR; config='tiny' for tests)")


@hookimpl
def register_commands(app):
    from vgen_plugins.hunyuan_video.commands import register

    register(app)
