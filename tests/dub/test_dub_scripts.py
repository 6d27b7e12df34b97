"""scripts/dub_check.py scores a model's autoencoder round trip alone (--ae-only) and writes its summary (--out), and
scripts/train_dub.sh (the GPU run) trains both steps, stops before the DiT when the round trip is below its floor, and
leaves the weights and scores in OUT (a tiny dry run; slow: opt in with -m slow)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from vgen_plugins.audio.model import DubModel

from vgen.cli import main

ROOT = Path(__file__).resolve().parents[2]
TINY = ["--set", 'config="tiny"', "--set", 'stages=[{"steps":2,"max_batch":2}]']


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    root = tmp_path_factory.mktemp("clips")
    assert main(["datasets", "shapes", "--audio", "--num", "3", "--size", "32", "--out", str(root), "--format", "npz",
                 "--workers", "1"]) == 0
    return root


def test_dub_check_ae_only_writes_the_round_trip_score(clips, tmp_path):
    model = DubModel.build(config="tiny").save(tmp_path / "m")
    res = subprocess.run([sys.executable, str(ROOT / "scripts" / "dub_check.py"), str(model), str(clips), "--limit",
                          "2", "--ae-only", "--device", "cpu", "--out", str(tmp_path / "s.json")],
                         capture_output=True, text=True, check=True)
    summary = json.loads((tmp_path / "s.json").read_text())
    assert json.loads(res.stdout) == summary and summary["clips"] == 2 and "dubbed" not in summary
    assert summary["autoencoder"]["n"] == 2  # an untrained tiny model: scored, not passing
    assert summary["autoencoder"]["pitch"] == 0.0


@pytest.mark.slow
@pytest.mark.parametrize("floor", ["0", "0.95"])
def test_train_dub_dry_run(tmp_path, floor):
    env = {"FORMAT": "npz", "CHECK_N": "2", "AE_MIN_PITCH": floor, "AE_ARGS": " ".join(TINY),
           "DIT_ARGS": TINY[2] + " " + TINY[3], "OUT": str(tmp_path / "out"), "OMP_NUM_THREADS": "1"}
    res = subprocess.run(["bash", str(ROOT / "scripts" / "train_dub.sh"), str(tmp_path / "w"), "4"],
                         env={**os.environ, **env}, capture_output=True, text=True)
    if floor == "0.95":  # the untrained round trip is below it: exit 3, no DiT trained
        assert res.returncode == 3 and "not training the DiT" in res.stderr
        assert not (tmp_path / "w" / "dit").exists()
        return
    assert res.returncode == 0, res.stderr[-2000:]
    scores = json.loads((tmp_path / "out" / "score.json").read_text())
    assert set(scores) == {"ae", "dub17", "dub65"} and scores["dub17"]["clips"] == 2
    assert (tmp_path / "out" / "shapes-dub" / "model.safetensors").is_file()


def test_train_dub_init_trains_a_model_further_on_new_clips(tmp_path):
    """INIT=DIR: no autoencoder step; the DiT of DIR trained on clips of SEED, the autoencoder kept as it was."""
    init = DubModel.build(config="tiny").save(tmp_path / "init")
    env = {"FORMAT": "npz", "CHECK_N": "0", "INIT": str(init), "SEED": "7", "DIT_ARGS": TINY[2] + " " + TINY[3],
           "OUT": str(tmp_path / "out"), "OMP_NUM_THREADS": "1"}
    res = subprocess.run(["bash", str(ROOT / "scripts" / "train_dub.sh"), str(tmp_path / "w"), "4"],
                         env={**os.environ, **env}, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-2000:]
    assert not (tmp_path / "w" / "ae").exists() and (tmp_path / "out" / "dit-metrics.jsonl").is_file()
    before, after = DubModel.load(init), DubModel.load(tmp_path / "out" / "shapes-dub")
    old, new = before.autoencoder.state_dict(), after.autoencoder.state_dict()  # saved in bf16
    assert all(torch.equal(old[k].bfloat16().float(), new[k].float()) for k in old)
    assert any(not torch.equal(a.bfloat16().float(), b.float())
               for a, b in zip(before.dit.state_dict().values(), after.dit.state_dict().values(), strict=True))


def test_dub_eval_sets_scores_each_set_and_prints_a_table(tmp_path):
    model = DubModel.build(config="tiny").save(tmp_path / "m")
    samples = tmp_path / "videos"
    assert main(["datasets", "shapes", "--num", "2", "--seed", "5", "--out", str(samples), "--workers", "1"]) == 0
    env = {**os.environ, "SETS": "gen17 samples", "SAMPLES": str(samples), "OMP_NUM_THREADS": "1"}
    res = subprocess.run(["bash", str(ROOT / "scripts" / "dub_eval_sets.sh"), str(tmp_path / "out"), "2", str(model)],
                         env=env, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-2000:]
    for name in ("gen17", "samples"):
        summary = json.loads((tmp_path / "out" / name / "dub_eval.json").read_text())["summary"]
        assert summary["n"] == 2 and f"| {name} | 2 |" in res.stdout
    assert len(list((tmp_path / "out" / "gen17").glob("*.mp4"))) == 2
