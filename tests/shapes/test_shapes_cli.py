"""`vgen datasets shapes` and `vgen eval shapes` end to end, through the real MP4 (H.264 + AAC) encode and decode."""

import json
import shutil

import numpy as np
import pytest
from vgen_plugins.shapes.evaluate import evaluate
from vgen_plugins.shapes.score import score_video
from vgen_plugins.shapes.world import Scene, render, sample_scene

from vgen.cli import main
from vgen.io.manifest import read_manifest, write_manifest
from vgen.io.video import read_video

NUM = 100


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("shapes") / "ds"
    assert main(["-q", "datasets", "shapes", "--num", str(NUM), "--out", str(out), "--audio", "--workers", "2",
                 "--seed", "4"]) == 0
    return out


def test_manifest_is_what_train_reads(dataset):
    records = read_manifest(dataset / "manifest.jsonl")
    assert sorted(r.labels["index"] for r in records) == list(range(NUM))
    for r in records[:10]:
        assert r.status == "kept" and r.audio and (r.fps, r.width, r.height, r.frames) == (8.0, 64, 64, 17)
        assert r.resolve(dataset / "manifest.jsonl").is_file()
        scene = Scene.from_labels(r.labels)
        assert scene == sample_scene((4, r.labels["index"]))  # clip i depends only on (seed, i)
        assert r.caption.startswith("a ") and r.captions["minimal"] in r.caption.replace("small ", "").replace(
            "large ", "")
        assert {"colour", "shape", "size", "motion"} <= set(r.labels["objects"][0])
    clip = read_video(records[0].resolve(dataset / "manifest.jsonl"))
    assert clip.frames.shape == (17, 64, 64, 3) and clip.sample_rate == 16000 and clip.audio is not None
    # the coded frames are close to the rendered ones (mean abs error of a few levels)
    assert np.abs(clip.frames.astype(int) - render(Scene.from_labels(records[0].labels))).mean() < 4


def test_scorer_passes_generator_clips_and_fails_wrong_prompts(dataset):
    records = read_manifest(dataset / "manifest.jsonl")
    right, pitch, clicks, swapped_wrong = 0, 0, 0, 0
    for r in records:
        clip = read_video(r.resolve(dataset / "manifest.jsonl"))
        result = score_video(clip.frames, r.caption, audio=clip.audio, sample_rate=clip.sample_rate, fps=clip.fps)
        right += result["all_correct"]
        pitch += result["sound"]["pitch"]
        clicks += result["sound"]["clicks"]
        # the same clip against its caption with the first object's colour swapped for an unused one
        first = r.labels["objects"][0]["colour"]
        used = {o["colour"] for o in r.labels["objects"]}
        other = next(c for c in ("red", "green", "blue", "yellow") if c not in used)
        wrong = r.caption.replace(f" {first} ", f" {other} ", 1)
        bad = score_video(clip.frames, wrong, audio=clip.audio, sample_rate=clip.sample_rate, fps=clip.fps)
        swapped_wrong += (not bad["all_correct"]) and (not bad["colour"]) and (not bad["sound"]["pitch"])
    assert right >= 0.99 * NUM
    assert pitch >= 0.99 * NUM and clicks >= 0.99 * NUM
    assert swapped_wrong == NUM


def test_rerun_is_resumable_and_deterministic(dataset, tmp_path):
    out = tmp_path / "copy"
    shutil.copytree(dataset, out)
    manifest = out / "manifest.jsonl"
    records = read_manifest(manifest)
    lines = manifest.read_text().splitlines(keepends=True)
    manifest.write_text("".join(lines[:-3]) + lines[-3][:20])  # lose two records and half a line (a crash)
    gone = [records[-1], records[-2], records[-3]]
    kept_file = out / records[0].path
    mtime = kept_file.stat().st_mtime_ns
    (out / gone[0].path).unlink()
    assert main(["-q", "datasets", "shapes", "--num", str(NUM), "--out", str(out), "--audio", "--workers", "1",
                 "--seed", "4"]) == 0
    again = read_manifest(manifest)
    assert sorted(r.labels["index"] for r in again) == list(range(NUM))
    assert kept_file.stat().st_mtime_ns == mtime  # finished clips are not redone
    for g in gone:  # the redone clips are the same scenes and the same pixels
        new = next(r for r in again if r.labels["index"] == g.labels["index"])
        assert new.labels == g.labels and new.caption == g.caption
        a = read_video(dataset / g.path, audio=False).frames
        b = read_video(out / new.path, audio=False).frames
        np.testing.assert_array_equal(a, b)


def test_other_settings_into_the_same_folder_are_refused(dataset, tmp_path, capsys):
    out = tmp_path / "copy"
    shutil.copytree(dataset, out)
    rc = main(["datasets", "shapes", "--num", "5", "--out", str(out), "--seed", "5", "--audio"])
    assert rc == 2 and "seed" in capsys.readouterr().err
    assert main(["datasets", "shapes", "--num", "5", "--out", str(tmp_path / "x"), "--frames", "16"]) == 2
    assert main(["datasets", "shapes", "--num", "5", "--out", str(tmp_path / "y"), "--size", "63"]) == 2


def test_eval_reads_sidecars_and_writes_json(dataset, tmp_path, capsys):
    folder = tmp_path / "samples"
    folder.mkdir()
    records = read_manifest(dataset / "manifest.jsonl")
    ones = [r for r in records if len(r.labels["objects"]) == 1][:3]
    twos = [r for r in records if len(r.labels["objects"]) == 2][:3]
    for i, r in enumerate(ones + twos):  # as `vgen sample` writes them: video + <video>.json with the prompt
        shutil.copy(dataset / r.path, folder / f"s{i}.mp4")
        prompt = r.caption if i != 0 else r.caption.replace(r.labels["objects"][0]["shape"], "hexagon")
        if i == 1:  # a wrong motion: scored as wrong
            motion = r.labels["objects"][0]["motion"]
            prompt = r.captions["full"].replace(
                "standing still" if motion == "still" else ("bouncing" if motion == "bouncing" else f"moving {motion}"),
                "moving left" if motion != "left" else "moving right")
        (folder / f"s{i}.json").write_text(json.dumps({"prompt": prompt, "seed": i}))
    shutil.copy(dataset / records[0].path, folder / "orphan.mp4")
    out = tmp_path / "scores.json"
    assert main(["eval", "shapes", str(folder), "--json", str(out)]) == 0
    captured = capsys.readouterr()
    assert "1 object" in captured.out and "2 objects" in captured.out and "all-correct" in captured.out
    assert "without a prompt" in captured.err and "non-grammar" in captured.err
    report = json.loads(out.read_text())
    assert report["summary"]["1 object"]["n"] == 2 and report["summary"]["2 objects"]["n"] == 3
    assert report["summary"]["1 object"]["all_correct"] == 0.5  # s1 has the wrong motion
    assert report["summary"]["1 object"]["motion"] == 0.5
    assert report["summary"]["2 objects"]["all_correct"] == 1.0
    assert report["summary"]["all"]["pitch"] == 1.0
    # generator clips are scored from the manifest's captions
    gen = tmp_path / "generated"
    (gen / "clips").mkdir(parents=True)
    for r in records[:4]:
        shutil.copy(dataset / r.path, gen / r.path)
    write_manifest(gen / "manifest.jsonl", records[:4])
    report = evaluate(gen)
    assert report["summary"]["all"]["n"] == 4 and report["summary"]["all"]["all_correct"] == 1.0


def test_eval_errors_are_one_line(tmp_path, capsys):
    assert main(["eval", "shapes", str(tmp_path / "missing")]) == 2
    assert main(["eval", "shapes", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("error:") == 2 and "Traceback" not in err


def test_bad_shape_weights_are_one_line(tmp_path, capsys):
    assert main(["datasets", "shapes", "--num", "2", "--out", str(tmp_path / "d"), "--shape-weights", "hexagon=2"]) == 2
    err = capsys.readouterr().err
    assert err.count("error:") == 1 and "hexagon" in err and "Traceback" not in err


def test_shape_weights_are_recorded_with_the_data_set(tmp_path):
    out = tmp_path / "tri"
    assert main(["datasets", "shapes", "--num", "6", "--out", str(out), "--shape-weights", "triangle=50",
                 "--workers", "1"]) == 0
    assert json.loads((out / "shapes.json").read_text())["shape_weights"] == "triangle=50"
    shapes = [o["shape"] for r in read_manifest(out / "manifest.jsonl") for o in r.labels["objects"]]
    assert shapes.count("triangle") >= len(shapes) - 1, shapes
    assert main(["datasets", "shapes", "--num", "6", "--out", str(out)]) == 2  # other weights: refused
