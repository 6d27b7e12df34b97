import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).parents[1] / "sample"))  # the toy pipeline of the sampler tests


@pytest.fixture
def toy_registered():
    """The sampler tests' toy pipeline as "toy" (a plain VideoPipeline: no PipelineBase, so no split) and as
    "toy-base" on PipelineBase (the contract's default: no split), for the CLI in-process."""
    import sample_toy

    from vgen import plugins, registry
    from vgen.pipeline import PipelineBase

    class BasePipeline(sample_toy.ToyPipeline, PipelineBase):
        name = "toy-base"

    def base_factory(**kwargs):
        pipe = sample_toy.factory(**kwargs)
        pipe.__class__ = BasePipeline
        return pipe

    plugins.load_plugins()
    table = registry.backends()["pipeline"]
    for name, factory in (("toy", sample_toy.factory), ("toy-base", base_factory)):
        table[name] = registry.Backend("pipeline", name, factory, "tests", {"description": "test pipeline"})
    yield sample_toy
    table.pop("toy", None)
    table.pop("toy-base", None)
