"""The MovieGen DiT over 2 gloo processes equals one process: sequence-parallel (Ulysses) forward and backward,
FSDP2 training with activation checkpointing."""

import json
import os
import sys
from pathlib import Path

import pytest
import torch.multiprocessing as mp

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    import mg_dist_checks

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    tmp = tmp_path_factory.mktemp("mgdist")
    mp.spawn(mg_dist_checks.worker, args=(2, str(tmp / "init"), str(tmp)), nprocs=2, join=True)
    out = [json.loads((tmp / f"rank{r}.json").read_text()) for r in range(2)]
    for per_rank in out:
        for name, value in per_rank.items():
            if "error" in value:
                pytest.fail(f"{name}:\n{value['error']}")
    return out


def test_sequence_parallel_forward_equals_one_process(results):
    for r in results:
        for frames in (1, 3):
            assert r["forward"][f"scale_{frames}"] > 0.1
            assert r["forward"][f"diff_{frames}"] < 1e-5 * r["forward"][f"scale_{frames}"] + 1e-6


def test_sequence_parallel_gradients_equal_one_process(results):
    for r in results:
        assert r["backward"]["grad_scale"] > 0
        assert r["backward"]["grad_diff"] < 1e-4 * r["backward"]["grad_scale"]


def test_fsdp2_training_equals_one_process(results):
    for r in results:
        assert r["fsdp2"]["sharded"] == 1 and r["fsdp2"]["last"] < r["fsdp2"]["first"]
        assert r["fsdp2"]["diff"] < 1e-5 * r["fsdp2"]["first"]
