import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture
def toy_registered():
    """Register the toy pipeline under the name "toy" for the CLI (in-process)."""
    import sample_toy

    from vgen import plugins, registry

    plugins.load_plugins()
    table = registry.backends()["pipeline"]
    table["toy"] = registry.Backend("pipeline", "toy", sample_toy.factory, "tests", {"description": "test pipeline"})
    yield sample_toy
    table.pop("toy", None)
