"""MovieGen (arXiv 2410.13720): temporal autoencoder (TAE), LLaMa-style DiT with cross-attention, UL2 + ByT5 +
MetaCLIP text encoders; the first open implementation that trains and samples it.

``vgen.load("moviegen", weights=DIR)`` reads the folder layout of pipeline.py (config="tiny" | "shapes" | "30b" for
random weights); ``vgen convert inflate-tae`` (convert.py) makes a TAE from a diffusers image autoencoder. Heavy
modules (and typer) are imported inside the factories and hooks so that ``vgen`` starts fast.
"""

from vgen.hookspecs import hookimpl


def _pipeline(**kwargs):
    from vgen_plugins.moviegen.pipeline import build

    return build(**kwargs)


def _shapes(**kwargs):
    from vgen_plugins.moviegen.pipeline import build_shapes

    return build_shapes(**kwargs)


@hookimpl
def register_pipelines(register):
    register("moviegen", _pipeline,
             description="MovieGen text-to-video: TAE + LLaMa-style DiT + UL2/ByT5/MetaCLIP (weights=DIR; "
                         "config='tiny' | 'shapes' | '30b')")
    register("moviegen-shapes", _shapes,
             description="MovieGen at small size for the shapes world (64x64x17): shipped weights when the "
                         "package has them, weights=DIR from scripts/train_moviegen_shapes.sh, config='shapes'")


@hookimpl
def register_commands(app):
    from vgen_plugins.moviegen.convert import register

    register(app)
