"""torchrun with 2 CPU processes (gloo): DDP and FSDP2 give the losses of one process with the same global batch;
FSDP2 checkpoints (torch.distributed.checkpoint, sharded) resume."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from vgen.train import trainer
from vgen.train.distributed import Dist
from vgen.train.settings import TrainSettings

HERE = Path(__file__).resolve().parent
RECIPE = {
    "pipeline": "tiny-train", "lr": 3e-3, "warmup_steps": 2, "grad_accum": 2, "ema_decay": 0.9,
    "caption_dropout": 0.3, "seed": 3,
    # per-bucket global batches 8 (images) and 4 (5 frames): even, so each process gets half
    "stages": [{"steps": 6, "buckets": [[1, 32, 32], [5, 32, 32]], "tokens_per_batch": 128}],
}


def losses(out: Path) -> dict[int, float]:
    return {r["step"]: r["loss"] for r in map(json.loads, (out / "metrics.jsonl").read_text().splitlines())
            if "loss" in r}


def torchrun(recipe: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "VGEN_PLUGINS_DIR": str(HERE / "plugin_dir"), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "-m", "vgen", "-q", "train", "run", "--recipe", str(recipe), "--out", str(out), *extra]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def _write_toml(path: Path, settings: dict) -> Path:
    """A [train] recipe file from a settings dict (stages as [[train.stages]] tables)."""
    lines = ["[train]"] + [f"{k} = {json.dumps(v)}" for k, v in settings.items() if k != "stages"]
    for stage in settings["stages"]:
        lines.append("[[train.stages]]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in stage.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def _recipe(tmp_path: Path, data: Path) -> Path:
    return _write_toml(tmp_path / "recipe.toml", {"data": str(data), "checkpoint_every": 3, **RECIPE})


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["ddp", "fsdp"])
def test_two_processes_match_one(mode, tiny_registry, dataset, tmp_path):
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        trainer.run(TrainSettings(**RECIPE, data=dataset, out=tmp_path / "single", checkpoint_every=0))
    finally:
        torch.set_num_threads(n)
    recipe = _recipe(tmp_path, dataset)
    out = tmp_path / mode
    if mode == "fsdp":  # stop at 4 and resume from the sharded checkpoint
        torchrun(recipe, out, "--distributed", "fsdp", "--stop-at", "4")
        assert (out / "checkpoints" / "step-0000004" / ".metadata").is_file()  # a DCP checkpoint
        torchrun(recipe, out, "--distributed", "fsdp", "--resume", "auto")
    else:
        torchrun(recipe, out, "--distributed", "ddp")
    a, b = losses(tmp_path / "single"), losses(out)
    assert sorted(b) == list(range(1, 7))
    for k in a:
        assert abs(a[k] - b[k]) <= 1e-5 * abs(a[k]), (k, a[k], b[k])
    from safetensors.torch import load_file

    wa = load_file(tmp_path / "single" / "final" / "transformer" / "diffusion_pytorch_model.safetensors")
    wb = load_file(out / "final" / "transformer" / "diffusion_pytorch_model.safetensors")
    diffs = {k: (wa[k] - wb[k]).abs().max().item() for k in wa}
    assert max(diffs.values()) < 1e-3, diffs


# Sequence parallel: 2 processes split each sample's tokens (Ulysses) and train on the same samples, which must give
# the losses of one process (one data-parallel group). The tiny hunyuan-video DiT (2 heads) from the latent cache.
SP_RECIPE = {"pipeline": "hunyuan-video", "config": "tiny", "lr": 3e-3, "warmup_steps": 1, "caption_dropout": 0.0,
             "grad_accum": 2, "seed": 5, "sequence_parallel": 2,
             "stages": [{"steps": 3, "buckets": [[1, 32, 32], [9, 32, 32]], "tokens_per_batch": 48}]}


def _sp_recipe(tmp_path: Path, cache: Path, **extra) -> Path:
    return _write_toml(tmp_path / "sp.toml", {**SP_RECIPE, "cache": str(cache), "checkpoint_every": 0, **extra})


def _single_sp_reference(hv_cache: Path, out: Path) -> dict[int, float]:
    settings = {**SP_RECIPE, "sequence_parallel": 1}
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        trainer.run(TrainSettings(**settings, cache=hv_cache, out=out, checkpoint_every=0))
    finally:
        torch.set_num_threads(n)
    return losses(out)


def _assert_same_losses(a: dict[int, float], b: dict[int, float], steps: int) -> None:
    assert sorted(b) == list(range(1, steps + 1))
    for k in a:
        assert abs(a[k] - b[k]) <= 1e-5 * abs(a[k]), (k, a[k], b[k])


def test_sequence_parallel_two_processes_match_one(hv_cache, tmp_path):
    reference = _single_sp_reference(hv_cache, tmp_path / "single")
    out = tmp_path / "sp"
    torchrun(_sp_recipe(tmp_path, hv_cache), out, "--distributed", "ddp")
    _assert_same_losses(reference, losses(out), 3)
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    single = [json.loads(line) for line in (tmp_path / "single" / "metrics.jsonl").read_text().splitlines()]
    assert [r["samples"] for r in records] == [r["samples"] for r in single]  # each sample counted once
    for r, q in zip(records, single, strict=True):  # gradients: plain data parallel, not S times it (Adam hides that)
        assert abs(r["grad_norm"] - q["grad_norm"]) <= 1e-5 * q["grad_norm"], (r, q)
    from safetensors.torch import load_file

    wa = load_file(tmp_path / "single" / "final" / "transformer" / "diffusion_pytorch_model.safetensors")
    wb = load_file(out / "final" / "transformer" / "diffusion_pytorch_model.safetensors")
    assert max((wa[k] - wb[k]).abs().max().item() for k in wa) < 1e-4


@pytest.mark.slow
def test_sequence_parallel_fsdp_checkpointed_resumes(hv_cache, tmp_path):
    """FSDP2 + activation checkpointing (recompute inside the Ulysses block), stopped at step 2 and resumed."""
    reference = _single_sp_reference(hv_cache, tmp_path / "single")
    recipe = _sp_recipe(tmp_path, hv_cache, activation_checkpointing=True)
    out = tmp_path / "sp"
    torchrun(recipe, out, "--distributed", "fsdp", "--stop-at", "2")
    torchrun(recipe, out, "--distributed", "fsdp", "--resume", "auto")
    _assert_same_losses(reference, losses(out), 3)


def test_sequence_parallel_refuses_a_dit_it_cannot_split(tiny_registry, dataset, tmp_path, monkeypatch):
    from vgen.errors import UserError

    monkeypatch.setenv("WORLD_SIZE", "3")
    with pytest.raises(UserError, match="must divide"):
        trainer.Trainer(TrainSettings(**RECIPE, data=dataset, out=tmp_path, sequence_parallel=2))
    with pytest.raises(UserError, match="target"):
        trainer.Trainer(TrainSettings(**RECIPE, data=dataset, out=tmp_path, sequence_parallel=2, target="vae"))
    # a pipeline that cannot split its denoiser (the tiny test pipeline keeps PipelineBase's default) says so
    # before training: two ranks of one sequence-parallel group, as distributed.init would make them
    monkeypatch.setattr(trainer.distributed, "init", lambda mode, sp: Dist(0, 2, 0, "ddp", sp=sp))
    with pytest.raises(UserError, match="pipeline tiny-train cannot split over a process group"):
        trainer.Trainer(TrainSettings(**RECIPE, data=dataset, out=tmp_path, sequence_parallel=2))
