"""Exact resume: a run stopped (or SIGKILLed) and resumed gives the same loss at every later step."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from vgen.train import trainer
from vgen.train.checkpoints import complete_checkpoints
from vgen.train.settings import TrainSettings

HERE = Path(__file__).resolve().parent

# two stages, grad accumulation, EMA, caption dropout, decoding from MP4/PNG: everything that carries state
RECIPE = {
    "pipeline": "tiny-train", "config": {"layers": 2}, "lr": 3e-3, "warmup_steps": 3, "grad_accum": 2,
    "ema_decay": 0.9, "caption_dropout": 0.3, "seed": 7,
    "stages": [{"name": "images+short", "steps": 12, "buckets": [[1, 32, 32], [5, 32, 32]], "tokens_per_batch": 96},
               {"name": "long", "steps": 8, "buckets": [[9, 32, 32]], "tokens_per_batch": 96}],
}


def losses(out: Path) -> dict[int, float]:
    return {r["step"]: r["loss"] for r in map(json.loads, (out / "metrics.jsonl").read_text().splitlines())
            if "loss" in r}


@pytest.fixture
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)  # the same float reduction order as the subprocesses (OMP_NUM_THREADS=1)
    yield
    torch.set_num_threads(n)


@pytest.mark.parametrize("keep_decoded", [False, True])
def test_stop_and_resume_is_exact(tiny_registry, dataset, tmp_path, one_thread, keep_decoded):
    full = TrainSettings(**RECIPE, data=dataset, out=tmp_path / "full", checkpoint_every=0, keep_decoded=keep_decoded)
    trainer.run(full)
    part = TrainSettings(**RECIPE, data=dataset, out=tmp_path / "part", checkpoint_every=5,
                         keep_decoded=keep_decoded)
    stopped = trainer.run(part, stop_at=9)
    assert stopped["steps"] == 9 and stopped["stopped"]
    assert [p.name for p in complete_checkpoints(tmp_path / "part")] == ["step-0000005", "step-0000009"]
    trainer.run(part, resume="auto")
    a, b = losses(tmp_path / "full"), losses(tmp_path / "part")
    assert sorted(a) == sorted(b) == list(range(1, 21))
    assert all(a[k] == b[k] for k in a), [(k, a[k], b[k]) for k in a if a[k] != b[k]]
    from safetensors.torch import load_file

    for name in ("final", "final-ema"):
        wa = load_file(tmp_path / "full" / name / "transformer" / "diffusion_pytorch_model.safetensors")
        wb = load_file(tmp_path / "part" / name / "transformer" / "diffusion_pytorch_model.safetensors")
        assert all(torch.equal(wa[k], wb[k]) for k in wa)
    state = json.loads((complete_checkpoints(tmp_path / "part")[-1] / "state.json").read_text())
    assert state["step"] == 20 and state["recipe"]["seed"] == 7 and len(state["positions"]) == 2


def _write_recipe(path: Path, data: Path, out: Path) -> Path:
    lines = ["[train]"]
    for key, value in {**RECIPE, "data": str(data), "out": str(out), "checkpoint_every": 5,
                       "stages": None, "config": None}.items():
        if value is not None:
            lines.append(f"{key} = {json.dumps(value)}")
    lines.append("config = { layers = 2 }")
    for stage in RECIPE["stages"]:
        lines.append("[[train.stages]]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in stage.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_sigkill_between_checkpoints_resumes_from_the_last_one(tiny_registry, dataset, tmp_path, one_thread):
    out = tmp_path / "killed"
    recipe = _write_recipe(tmp_path / "recipe.toml", dataset, out)
    env = {**os.environ, "VGEN_PLUGINS_DIR": str(HERE / "plugin_dir"), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "vgen", "-q", "train", "run", "--recipe", str(recipe)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    killed_at = None
    while time.time() < deadline and proc.poll() is None:
        done = losses(out) if (out / "metrics.jsonl").exists() else {}
        if done and max(done) >= 7:  # past the step-5 checkpoint, before the end
            proc.send_signal(signal.SIGKILL)
            killed_at = max(done)
            break
        time.sleep(0.05)
    proc.wait()
    assert killed_at is not None and killed_at < 20, proc.stderr.read().decode()[-2000:]
    last = complete_checkpoints(out)[-1]
    resumed = subprocess.run(cmd + ["--resume", "auto", "--json"], env=env, capture_output=True, text=True,
                             timeout=120)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert json.loads(resumed.stdout.strip().splitlines()[-1])["steps"] == 20
    ref = TrainSettings(**RECIPE, data=dataset, out=tmp_path / "ref", checkpoint_every=0)
    trainer.run(ref)
    a, b = losses(tmp_path / "ref"), losses(out)
    assert sorted(b) == list(range(1, 21)), f"killed at {killed_at}, resumed from {last.name}"
    assert all(a[k] == b[k] for k in a), [(k, a[k], b[k]) for k in a if a[k] != b[k]]


def test_time_limit_ends_the_run_with_final_weights(tiny_registry, dataset, tmp_path):
    s = TrainSettings(**RECIPE, data=dataset, out=tmp_path / "t", checkpoint_every=0, time_limit_s=1e-6)
    result = trainer.run(s)
    assert not result.get("stopped") and result["steps"] < s.total_steps
    assert (tmp_path / "t" / "final" / "model_index.json").is_file()
