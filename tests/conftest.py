import os

os.environ.setdefault("MKL_CBWR", "AUTO,STRICT")  # before torch loads MKL: reproducible CPU math
# tests never load the plugins installed on this machine or named by the shell (a test names its own)
os.environ["VGEN_LOAD_PLUGINS"] = ""
os.environ.pop("VGEN_PLUGINS_DIR", None)

import pytest  # noqa: E402
import torch  # noqa: E402


def pytest_collection_modifyitems(config, items):
    """``gpu`` tests skip without CUDA (when selected with -m gpu)."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords or "multi_gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(autouse=True)
def _loud_console():
    """`vgen -q ...` in one test must not silence the progress lines another test reads."""
    from vgen import console

    console.state.quiet = False
