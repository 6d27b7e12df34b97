"""``vgen sample`` end to end: outputs and sidecars, reproducibility, --from replay, bad input, HunyuanVideo tiny."""

import hashlib
import json

import numpy as np
import pytest

from vgen.cli import main
from vgen.io.video import read_video

TOY = ["--pipeline", "toy", "--steps", "2"]


def _frames(path):
    return read_video(path, audio=False).frames


def test_prompts_and_seeds_reuse_one_model(toy_registered, tmp_path, capsys, monkeypatch):
    built = []
    real = toy_registered.factory
    from vgen import registry

    registry.get("pipeline", "toy").factory = lambda **kw: built.append(kw) or real(**kw)
    prompts = tmp_path / "p.jsonl"
    prompts.write_text(json.dumps({"prompt": "a green cone", "seed": 7, "negative": "dark"}) + "\n")
    rc = main(["sample", "a red ball", "a blue cube", "--prompts", str(prompts), *TOY, "--seed", "1", "--seed", "2",
               "--guidance", "2", "--negative", "ugly", "--out", str(tmp_path / "o"), "--preview", "--json"])
    assert rc == 0
    assert len(built) == 1
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(d["prompt"], d["seed"]) for d in lines] == [("a red ball", 1), ("a red ball", 2), ("a blue cube", 1),
                                                         ("a blue cube", 2), ("a green cone", 7)]
    side = json.loads((tmp_path / "o" / "002-a-green-cone-seed7.json").read_text())
    for key in ("prompt", "negative", "seed", "steps", "sampler", "schedule", "shift", "guidance", "size", "frames",
                "fps", "pipeline", "weight_sha256", "vgen_version", "timings"):
        assert key in side, key
    assert side["negative"] == "dark" and side["guidance"] == 2.0 and side["size"] == [16, 16]
    assert {"encode_prompt", "denoise", "decode", "write", "load_pipeline"} <= set(side["timings"])
    video = _frames(tmp_path / "o" / side["video"])
    assert video.shape == (5, 16, 16, 3)
    assert (tmp_path / "o" / side["preview"]).is_file()


def test_same_seed_same_frames_and_from_replays_bit_for_bit(toy_registered, tmp_path):
    weights = toy_registered.factory().save(tmp_path / "w")
    args = ["-q", "sample", "a red ball", *TOY, "--weights", str(weights)]
    assert main([*args, "--seed", "5", "--out", str(tmp_path / "a")]) == 0
    assert main([*args, "--seed", "5", "--out", str(tmp_path / "b")]) == 0
    assert main([*args, "--seed", "6", "--out", str(tmp_path / "c")]) == 0
    a, b = tmp_path / "a" / "000-a-red-ball-seed5.mp4", tmp_path / "b" / "000-a-red-ball-seed5.mp4"
    assert np.array_equal(_frames(a), _frames(b))
    assert not np.array_equal(_frames(a), _frames(tmp_path / "c" / "000-a-red-ball-seed6.mp4"))
    side = json.loads(a.with_suffix(".json").read_text())
    digest = hashlib.sha256((weights / "model.safetensors").read_bytes()).hexdigest()
    assert side["weight_sha256"] == {"model.safetensors": digest}
    assert main(["sample", "--from", str(a.with_suffix(".json")), "--out", str(tmp_path / "r")]) == 0
    replay = tmp_path / "r" / "000-a-red-ball-seed5.mp4"
    assert np.array_equal(_frames(a), _frames(replay))
    assert replay.read_bytes() == a.read_bytes()


def _one_line_error(capsys, args, needle):
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and needle in err, err


def test_bad_input_one_line_errors(toy_registered, tmp_path, capsys):
    out = ["--out", str(tmp_path)]
    _one_line_error(capsys, ["sample", "x", *TOY, "--frames", "8", *out], "frame count must be 4k+1")
    _one_line_error(capsys, ["sample", "x", *TOY, "--width", "20", *out], "width must be a positive multiple of 8")
    _one_line_error(capsys, ["sample", "", *TOY, *out], "empty prompt")
    _one_line_error(capsys, ["sample", *TOY, *out], "no prompt given")
    _one_line_error(capsys, ["sample", "x", *TOY, "--sampler", "nope", *out], "unknown sampler 'nope'")
    _one_line_error(capsys, ["sample", "x", *TOY, "--schedule", "nope", *out], "unknown schedule 'nope'")
    _one_line_error(capsys, ["sample", "x", "--pipeline", "nope", *out], "unknown pipeline 'nope'")
    _one_line_error(capsys, ["sample", "x", *TOY, "--offload", "disk", *out], "offload")
    _one_line_error(capsys, ["sample", "x", *TOY, "--image", str(tmp_path / "no.png"), *out], "image file not found")
    _one_line_error(capsys, ["sample", "--from", str(tmp_path / "no.json")], "sidecar not found")
    assert main(["sample", "y" * 30, *TOY, *out]) == 0
    assert "prompt is 30 tokens, the text encoder takes 16: truncated" in capsys.readouterr().err


def test_default_pipeline_is_shapes_and_recipe_section(tmp_path, monkeypatch):
    from vgen.sample.run import load_settings

    assert load_settings().pipeline == "shapes" and load_settings().weights is None
    recipe = tmp_path / "r.toml"
    recipe.write_text('[sample]\npipeline = "toy"\nsteps = 7\nsampler = "flow-heun"\n')
    monkeypatch.setenv("VGEN_SAMPLE_STEPS", "9")
    s = load_settings(str(recipe), {"sampler": "flow-euler"})
    assert (s.pipeline, s.steps, s.sampler) == ("toy", 9, "flow-euler")


def test_image_to_video_cli(toy_registered, tmp_path):
    from PIL import Image

    Image.fromarray(np.full((20, 30, 3), 200, dtype=np.uint8)).save(tmp_path / "first.png")
    assert main(["-q", "sample", "a red ball", *TOY, "--image", str(tmp_path / "first.png"), "--out",
                 str(tmp_path)]) == 0
    side = json.loads((tmp_path / "000-a-red-ball-seed0.json").read_text())
    assert side["image_sha256"] == hashlib.sha256((tmp_path / "first.png").read_bytes()).hexdigest()


def test_hunyuan_video_tiny_end_to_end(tmp_path):
    pytest.importorskip("vgen_plugins.hunyuan_video.pipeline")
    args = ["-q", "sample", "a red ball", "--pipeline", "hunyuan-video", "--config", "tiny", "--steps", "2",
            "--frames", "5", "--height", "32", "--width", "32", "--guidance", "2", "--negative", "blurry",
            "--sampler", "flow-heun", "--attention", "math", "--offload", "sequential"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    side = json.loads((tmp_path / "a" / "000-a-red-ball-seed0.json").read_text())
    assert side["pipeline"] == "hunyuan-video" and side["shift"] == 17.0 and side["embedded_guidance"] == 6.0
    frames = _frames(tmp_path / "a" / side["video"])
    assert frames.shape == (5, 32, 32, 3)
    assert main(["-q", "sample", "--from", str(tmp_path / "a" / "000-a-red-ball-seed0.json"), "--out",
                 str(tmp_path / "b")]) == 0
    assert np.array_equal(frames, _frames(tmp_path / "b" / side["video"]))


def test_batch_size_denoises_together_with_each_videos_own_noise(toy_registered, tmp_path, capsys):
    """--batch-size N: N videos a model call, each the same as alone (its seed's noise; text padding masked)."""
    weights = toy_registered.factory().save(tmp_path / "w")
    prompts = tmp_path / "p.jsonl"
    prompts.write_text("".join(json.dumps(d) + "\n" for d in (
        {"prompt": "a red ball", "seed": 3}, {"prompt": "a blue cube on a long wooden table", "seed": 4},
        {"prompt": "a green cone", "seed": 5}, {"prompt": "a red ball", "seed": 6, "negative": "dark"})))
    args = ["-q", "sample", "--prompts", str(prompts), *TOY, "--weights", str(weights), "--guidance", "2"]
    assert main([*args, "--out", str(tmp_path / "one")]) == 0
    assert main([*args, "--out", str(tmp_path / "batched"), "--batch-size", "8"]) == 0
    names = sorted(p.name for p in (tmp_path / "one").glob("*.mp4"))
    assert names == sorted(p.name for p in (tmp_path / "batched").glob("*.mp4")) and len(names) == 4
    for name in names:
        alone, together = (_frames(tmp_path / d / name).astype(int) for d in ("one", "batched"))
        assert np.abs(alone - together).max() <= 2, name  # the same up to float rounding in another batch shape
    sides = [json.loads(p.read_text()) for p in (tmp_path / "batched").glob("*.json")]
    batch = {side["prompt"] + str(side["seed"]): side["batch"] for side in sides}
    # the other negative prompt starts its own batch
    assert batch == {"a red ball3": 3, "a blue cube on a long wooden table4": 3, "a green cone5": 3, "a red ball6": 1}
    distinct = [_frames(tmp_path / "batched" / n) for n in names]
    assert not np.array_equal(distinct[0], distinct[1])
    capsys.readouterr()
    assert main([*args, "--out", str(tmp_path / "bad"), "--batch-size", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "batch_size" in err, err
