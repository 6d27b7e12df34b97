"""2-process gloo tests of vgen.distributed (sequence parallel DiT, CFG-parallel, VAE tiles over ranks) and of FSDP2
training (vgen.train.distributed). One spawn runs every check (dist_checks.py); each test asserts on its results."""

import json
import os
import sys
from pathlib import Path

import pytest
import torch.multiprocessing as mp

sys.path.insert(0, str(Path(__file__).parent))
WORLD = 2


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    import dist_checks

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    tmp = tmp_path_factory.mktemp("dist")
    mp.spawn(dist_checks.worker, args=(WORLD, str(tmp / "init"), str(tmp)), nprocs=WORLD, join=True)
    return [json.loads((tmp / f"rank{r}.json").read_text()) for r in range(WORLD)]


def _get(results, check):
    for r, per_rank in enumerate(results):
        if "error" in per_rank[check]:
            pytest.fail(f"rank {r}, {check}:\n{per_rank[check]['error']}")
    return [per_rank[check] for per_rank in results]


def test_ulysses_dit_equals_single_process(results):
    for res in _get(results, "ulysses_forward"):
        for case in ("masked_odd_tokens", "unmasked_even_tokens", "all_text_valid_mask"):
            assert res[case + "_scale"] > 0.1  # a real output, not zeros
            assert res[case] <= 1e-5, (case, res[case])
            assert res[case + "_after"] == 0.0  # leaving the context restores the plain model


def test_ulysses_gradients_sum_to_single_process(results):
    for res in _get(results, "ulysses_backward"):
        assert res["grad_scale"] > 1e-3
        assert res["grad_diff"] <= 1e-5 * max(1.0, res["grad_scale"]), res


def test_pipelines_split_their_denoiser_over_the_group(results):
    for res in _get(results, "pipeline_sequence_parallel"):
        for name in ("hunyuan_video", "shapes"):
            assert res[name + "_scale"] > 1e-3, res  # a real output, not zeros
            assert res[name] <= 1e-5, res


def test_cfg_parallel_equals_batched_cfg(results):
    for res in _get(results, "cfg_parallel"):
        assert res["local_batch"] == 1  # each rank ran one branch of the 2-sample CFG batch
        assert res["cfg_scale"] > 1e-3
        assert res["cfg_diff"] <= 1e-5, res


def test_vae_tiles_over_ranks_equal_single_process_tiled_decode(results):
    per_rank = _get(results, "vae_tiles")
    for res in per_rank:
        assert res["tiles"] >= 4 and res["vae_shape_ok"] == 1
        assert res["vae_diff"] <= 1e-6 and res["vae_diff_ctx"] <= 1e-6, res
    assert sum(res["local_tiles"] for res in per_rank) == per_rank[0]["tiles"]  # each tile decoded once


def test_fsdp2_training_losses_equal_single_process(results):
    for res in _get(results, "fsdp2_training"):
        assert res["fsdp_sharded"] == 1
        assert res["losses_ref"][0] > res["losses_ref"][-1]  # it trains
        assert res["fsdp_diff"] <= 1e-5, res
