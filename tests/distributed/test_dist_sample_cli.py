"""``torchrun --nproc-per-node 2 -m vgen sample ... --parallel cfg|ulysses`` (gloo, tiny HunyuanVideo) writes the
video a single process writes: true CFG on, so the cfg run splits cond/uncond and the ulysses run the tokens."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

ARGS = ["a red ball", "--pipeline", "hunyuan-video", "--config", "tiny", "--steps", "2", "--frames", "5",
        "--height", "32", "--width", "48", "--guidance", "3", "--seed", "1", "--device", "cpu", "--dtype", "fp32",
        "--json"]


def _run(cmd, cwd):
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180, cwd=cwd,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def _frames(folder):
    from vgen.io.video import read_video

    return np.asarray(read_video(next(folder.glob("*.mp4")), audio=False).frames, dtype=np.int16)


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("single")
    _run([sys.executable, "-m", "vgen", "sample", *ARGS, "--out", "single"], tmp)
    return _frames(tmp / "single")


@pytest.mark.parametrize("mode", ["cfg", "ulysses"])
def test_torchrun_sample_parallel_equals_single_process(tmp_path, mode, single):
    out = _run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m", "vgen",
                "sample", *ARGS, "--out", mode, "--parallel", mode], tmp_path)
    assert len([line for line in out.splitlines() if line.startswith("{")]) == 1  # rank 0 alone reports and writes
    parallel = _frames(tmp_path / mode)
    assert single.shape == parallel.shape and single.std() > 1
    assert np.abs(single - parallel).max() <= 1  # same video (up to a rounding flip of the uint8 conversion)
    sidecar = json.loads(next((tmp_path / mode).glob("*.json")).read_text())
    assert sidecar["model_calls"] == 2 and sidecar["guidance"] == 3.0
