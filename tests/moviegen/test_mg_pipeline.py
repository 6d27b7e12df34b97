"""The moviegen pipeline end to end on the tiny config: vgen sample (+ --from), vgen train (dit, LoRA, vae with the
outlier penalty), the saved folder loading back, vgen export onnx + --engine onnx, and --parallel ulysses."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

import vgen
from vgen.cli import main


def _frames(path):
    from vgen.io.video import read_video

    return np.asarray(read_video(path, audio=False).frames, dtype=np.int16)


def _sample(out, *args):
    assert main(["sample", "a red square moving right", "--pipeline", "moviegen", "--out", str(out), "--seed", "1",
                 *args]) == 0
    return sorted(out.glob("*.mp4"))[0]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Four 9-frame 32 px clips of a coloured square moving left or right, and one image."""
    from vgen.io.manifest import ClipRecord, write_manifest
    from vgen.io.video import write_video

    folder = tmp_path_factory.mktemp("mgdata")
    records = []
    for i, (colour, rgb) in enumerate([("red", (230, 25, 25)), ("blue", (40, 70, 240))] * 2 + [("red", (230, 25, 25))]):
        frames = 1 if i == 4 else 9
        video = np.zeros((frames, 32, 32, 3), dtype=np.uint8)
        for t in range(frames):
            x = 2 + 2 * t if i % 2 else 26 - 2 * t
            video[t, 12:20, x:x + 6] = rgb
        direction = "right" if i % 2 else "left"
        write_video(folder / f"c{i}.mp4", video, fps=16)
        records.append(ClipRecord(path=f"c{i}.mp4", fps=16, width=32, height=32, frames=frames,
                                  caption=f"a {colour} square moving {direction}"))
    write_manifest(folder / "manifest.jsonl", records)
    return folder / "manifest.jsonl"


def _train(tmp_path, data, **overrides):
    from vgen.train import trainer
    from vgen.train.settings import StageSettings, TrainSettings

    stage = StageSettings(steps=2, buckets=[(1, 32, 32), (9, 32, 32)], tokens_per_batch=256)
    s = TrainSettings(**{"pipeline": "moviegen", "config": "tiny", "data": data, "lr": 1e-3, "stages": [stage],
                         "checkpoint_every": 0, "data_workers": 1, "mixed_precision": "no", "out": tmp_path,
                         **overrides})
    return trainer.run(s)


def test_sample_and_rerun_from_the_sidecar(tmp_path):
    video = _sample(tmp_path / "a", "--config", "tiny")
    side = json.loads(video.with_suffix(".json").read_text())
    assert side["schedule"] == "linear-quadratic" and side["frames"] == 9 and side["model_calls"] == 2
    assert main(["sample", "--from", str(video.with_suffix(".json")), "--out", str(tmp_path / "b")]) == 0
    assert np.array_equal(_frames(video), _frames(sorted((tmp_path / "b").glob("*.mp4"))[0]))


def test_train_dit_lora_and_vae(tmp_path, data):
    result = _train(tmp_path / "dit", data, sigma_min=1e-5)
    pipe = vgen.load("moviegen", weights=result["final"])
    assert pipe.defaults["frames"] == 9 and set(pipe.encoders) == {"ul2", "byt5", "metaclip"}
    before = vgen.load("moviegen", config="tiny")
    x, text = torch.randn(1, 4, 3, 8, 8), pipe.encode_prompt(["a red square"])
    assert not torch.allclose(pipe.denoise(x, torch.tensor([500.0]), text),
                              before.denoise(x, torch.tensor([500.0]), text))
    lora = _train(tmp_path / "lora", data, weights=result["final"], config=None, lora_rank=2)["lora"]
    plain = _sample(tmp_path / "plain", "--weights", result["final"])
    with_lora = _sample(tmp_path / "lora-out", "--weights", result["final"], "--lora", lora, "--lora-scale", "50")
    assert not np.array_equal(_frames(plain), _frames(with_lora))
    vae = _train(tmp_path / "vae", data, target="vae", outlier_weight=1.0, holdout=1, fit_scaling_factor=True)
    log = [json.loads(line) for line in (tmp_path / "vae" / "metrics.jsonl").read_text().splitlines()]
    assert all("outlier" in r for r in log if "loss" in r) and vae["scaling_factor"] > 0
    assert vgen.load("moviegen", weights=vae["final"]).vae.config.scaling_factor == vae["scaling_factor"]


def test_export_onnx_and_sample_with_the_engine(tmp_path):
    pytest.importorskip("onnxruntime")
    assert main(["export", "onnx", "--pipeline", "moviegen", "--config", "tiny", "--parts", "dit",
                 "--out", str(tmp_path / "eng")]) == 0
    torch_video = _sample(tmp_path / "t", "--config", "tiny")
    onnx_video = _sample(tmp_path / "o", "--config", "tiny", "--engine", "onnx", "--engine-dir", str(tmp_path / "eng"))
    assert np.abs(_frames(torch_video) - _frames(onnx_video)).max() <= 1


def test_torchrun_ulysses_equals_one_process(tmp_path):
    args = ["a red ball", "--pipeline", "moviegen", "--config", "tiny", "--seed", "1", "--device", "cpu", "--json"]
    assert main(["sample", *args, "--out", str(tmp_path / "one")]) == 0
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "-m", "vgen",
                           "sample", *args, "--out", "two", "--parallel", "ulysses"], capture_output=True, text=True,
                          timeout=180, cwd=tmp_path, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    one, two = (_frames(sorted((tmp_path / d).glob("*.mp4"))[0]) for d in ("one", "two"))
    assert one.std() > 1 and np.abs(one - two).max() <= 1


def test_moviegen_shapes_without_weights_is_one_line(tmp_path, monkeypatch):
    from vgen_plugins.moviegen import pipeline

    monkeypatch.setattr(pipeline, "WEIGHTS_DIR", tmp_path)
    from vgen.errors import UserError

    with pytest.raises(UserError, match="train_moviegen_shapes.sh"):
        pipeline.build_shapes()
    pipe = pipeline.build_shapes(config="shapes")  # random weights of the shapes preset
    assert pipe.defaults["frames"] == 17 and pipe.temporal_compression == 8 and pipe.size_multiple == 8
    assert pipe.encoders["ul2"].tokenizer.tokenize("FPS-8 a red circle") == ["fps", "-", "8", "a", "red", "circle"]
