"""``torchrun --nproc-per-node 2 -m vgen sample ... --parallel cfg|ulysses --batch-size 2`` (gloo, tiny HunyuanVideo)
writes the videos a single process writes: every rank runs the stage's one job loop (batches included), true CFG
on, so the cfg run splits cond/uncond and the ulysses run the tokens."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

ARGS = ["a red ball", "a blue cube", "--pipeline", "hunyuan-video", "--config", "tiny", "--steps", "2", "--frames",
        "5", "--height", "32", "--width", "48", "--guidance", "3", "--seed", "1", "--batch-size", "2", "--device",
        "cpu", "--dtype", "fp32", "--json"]
VIDEOS = ["000-a-red-ball-seed1", "001-a-blue-cube-seed1"]


def _run(cmd, cwd):
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180, cwd=cwd,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def _frames(folder):
    from vgen.io.video import read_video

    return [np.asarray(read_video(folder / f"{name}.mp4", audio=False).frames, dtype=np.int16) for name in VIDEOS]


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("single")
    _run([sys.executable, "-m", "vgen", "sample", *ARGS, "--out", "single"], tmp)
    return _frames(tmp / "single")


@pytest.mark.parametrize("mode", ["cfg", "ulysses"])
def test_torchrun_sample_parallel_equals_single_process(tmp_path, mode, single):
    out = _run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m", "vgen",
                "sample", *ARGS, "--out", mode, "--parallel", mode], tmp_path)
    # rank 0 alone reports and writes: one line per video
    assert [json.loads(line)["prompt"] for line in out.splitlines() if line.startswith("{")] == ARGS[:2]
    assert sorted(p.name for p in (tmp_path / mode).iterdir()) == sorted(f"{v}.{e}" for v in VIDEOS
                                                                         for e in ("json", "mp4"))
    for alone, parallel in zip(single, _frames(tmp_path / mode), strict=True):
        assert alone.shape == parallel.shape and alone.std() > 1
        assert np.abs(alone - parallel).max() <= 1  # same video (up to a rounding flip of the uint8 conversion)
    assert not np.array_equal(*single)
    sidecar = json.loads((tmp_path / mode / f"{VIDEOS[1]}.json").read_text())
    assert sidecar["model_calls"] == 2 and sidecar["guidance"] == 3.0 and sidecar["batch"] == 2
