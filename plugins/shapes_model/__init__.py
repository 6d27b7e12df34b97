"""The default model (pipeline ``shapes``): small HunyuanVideo VAE + MMDiT trained on the shapes world, shipped
with the package so that ``vgen sample "a red circle moving right"`` works out of the box."""

from vgen.hookspecs import hookimpl


def _pipeline(**kwargs):
    from vgen_plugins.shapes_model.pipeline import build

    return build(**kwargs)


@hookimpl
def register_pipelines(register):
    register("shapes", _pipeline, default=True,
             description="the default model: 64x64x17 shapes-world videos from a small HunyuanVideo VAE + MMDiT")
