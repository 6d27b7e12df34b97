"""`vgen curate` end to end on a folder of real MP4s: filters with the right reasons, camera-motion labels, broken
inputs recorded, clips, captions, duplicates, buckets, report, and a rerun that skips finished inputs."""

import json
from pathlib import Path

import pytest
from curate_data import FPS, H, W, write_broken_files

from vgen.cli import main
from vgen.curate.synthetic import Scene, write_scenes
from vgen.io.manifest import read_manifest
from vgen.io.video import read_video

SEC = 4.6
FILTERS = [  # (scene, expected status or reason)
    (Scene(SEC, "pan right", 1), "kept"),
    (Scene(SEC, "pan left", 2, blur=2.0), "blurry"),
    (Scene(SEC, "static shot", 3), "static"),
    (Scene(SEC, "pan right", 4, text="Subtitle 2024 news"), "text"),
    (Scene(SEC, "pan left", 5, gain=0.08), "too_dark"),
    (Scene(SEC, "shaky", 6), "too_shaky"),
    (Scene(SEC, "zoom out", 7, speed=0.12), "kept"),
]
MOTIONS = ["pan left", "pan right", "tilt up", "tilt down", "zoom in", "zoom out", "handheld shot"]


def _motion_scenes(seed0, speed):
    return [Scene(SEC, m, seed0 + i, speed=0.5 * speed if "zoom" in m else speed) for i, m in enumerate(MOTIONS)]


@pytest.fixture(scope="module")
def curated(tmp_path_factory):
    root = tmp_path_factory.mktemp("curate")
    inp, out = root / "in", root / "out"
    (inp / "sub").mkdir(parents=True)
    write_scenes(inp / "filters.mp4", [s for s, _ in FILTERS], FPS, W, H)
    (inp / "filters.txt").write_text("A colourful test pattern.\n")
    write_scenes(inp / "motions_a.mp4", _motion_scenes(10, 0.25), FPS, W, H)
    write_scenes(inp / "sub" / "motions_b.mp4", _motion_scenes(20, 0.2), FPS, W, H)
    write_scenes(inp / "zz_dup.mp4", [Scene(SEC, "zoom in", 14, speed=0.125)], FPS, W, H)  # = motions_a's zoom in
    write_scenes(inp / "misnamed.mp4", [Scene(SEC, "tilt down", 40)], FPS, W, H)
    (inp / "misnamed.mp4").rename(inp / "misnamed.avi")  # MP4 data under an .avi name
    broken = write_broken_files(inp)
    args = ["curate", str(inp), "--out", str(out), "--min-duration", "3", "--min-side", "32"]
    rc = main(args)
    records = read_manifest(out / "manifest.jsonl")
    return {"root": root, "inp": inp, "out": out, "rc": rc, "records": records, "broken": broken, "args": args}


def _by_input(records, name):
    return [r for r in records if r.labels.get("input") == name]


def test_exit_zero_and_summary(curated, capsys):
    assert curated["rc"] == 0
    summary = json.loads((curated["out"] / "summary.json").read_text())
    assert summary["inputs"] == 10 and summary["error"] == 5
    assert summary["kept"] >= 12


def test_broken_files_recorded_with_reason(curated):
    for name, reason in curated["broken"].items():
        recs = _by_input(curated["records"], name)
        assert len(recs) == 1, name
        assert recs[0].status == "error" and recs[0].reason == reason, (name, recs[0].reason, recs[0].labels)
        assert recs[0].labels["detail"]


def test_filters_reject_with_right_reason(curated):
    recs = sorted(_by_input(curated["records"], "filters.mp4"), key=lambda r: r.start)
    assert len(recs) == len(FILTERS)
    for rec, (_scene, expected) in zip(recs, FILTERS, strict=True):
        got = rec.status if rec.status == "kept" else rec.reason
        assert got == expected, (rec.start, got, expected, rec.scores)
    for rec in recs:  # every clip has every score, kept or not
        assert {"sharpness", "motion", "brightness", "text", "jitter", "pan_x", "zoom"} <= set(rec.scores)


def test_camera_motion_labels(curated):
    right = total = 0
    for name in ("motions_a.mp4", "sub/motions_b.mp4"):
        recs = sorted(_by_input(curated["records"], name), key=lambda r: r.start)
        assert len(recs) == len(MOTIONS)
        for rec, truth in zip(recs, MOTIONS, strict=True):
            assert rec.labels["shot"] == MOTIONS.index(truth)
            if truth != "handheld shot":
                total += 1
                right += rec.labels["camera_motion"] == truth
            else:
                assert rec.labels["camera_motion"] == "handheld shot", rec.scores
    assert total == 12 and right / total >= 0.9, right
    static = [r for r in _by_input(curated["records"], "filters.mp4") if r.reason == "static"]
    assert static[0].labels["camera_motion"] == "static shot"


def test_clips_written_and_decodable(curated):
    out = curated["out"]
    kept = [r for r in curated["records"] if r.status == "kept"]
    for rec in kept:
        video = read_video(rec.resolve(out / "manifest.jsonl"), audio=False)
        assert abs(len(video.frames) - rec.frames) <= 1, (rec.path, len(video.frames), rec.frames)
        assert video.frames.shape[1:3] == (H, W)
        assert 3.0 <= rec.end - rec.start <= 16.0
        assert rec.labels["cut"] in ("copy", "reencode")
        assert (out / rec.labels["thumb"]).is_file()
        assert rec.labels["bucket"] == "64p 3:2 " + ("4-6s" if rec.end - rec.start >= 4 else "<4s")
    rejected = [r for r in curated["records"] if r.status == "rejected"]
    assert all(r.reason for r in rejected) and all((out / r.labels["thumb"]).is_file() for r in rejected
                                                   if "thumb" in r.labels)


def test_captions(curated):
    recs = [r for r in _by_input(curated["records"], "filters.mp4") if r.status == "kept"]
    assert recs[0].caption == "pan right. A colourful test pattern."
    assert recs[0].captions["sidecar"] == "A colourful test pattern."
    other = [r for r in _by_input(curated["records"], "motions_a.mp4") if r.status == "kept"][0]
    assert other.caption.startswith("pan left, evenly lit") and other.caption.endswith("seconds")


def test_duplicate_and_misnamed(curated):
    dup = _by_input(curated["records"], "zz_dup.mp4")
    assert len(dup) == 1 and dup[0].reason == "duplicate", dup[0].scores
    assert dup[0].labels["duplicate_of"].startswith("clips/motions_a.")
    assert sum(r.reason == "duplicate" for r in curated["records"]) == 1
    mis = _by_input(curated["records"], "misnamed.avi")
    assert mis[0].status == "kept" and "mov" in mis[0].labels["misnamed"]
    assert mis[0].labels["camera_motion"] == "tilt down"


def test_report_and_buckets(curated):
    out = curated["out"]
    html = (out / "report.html").read_text()
    assert html.count("<svg") >= 6 and "sharpness" in html and "too_shaky" in html
    assert html.count("<img") >= 20
    buckets = json.loads((out / "summary.json").read_text())["buckets"]
    kept = sum(r.status == "kept" for r in curated["records"])
    assert sum(n for row in buckets.values() for n in row.values()) == kept


def test_rerun_skips_finished_inputs(curated, capsys):
    before = (curated["out"] / "manifest.jsonl").read_text()
    capsys.readouterr()
    assert main(curated["args"]) == 0
    err = capsys.readouterr().err
    assert "10 already done, 0 to run" in err
    assert (curated["out"] / "manifest.jsonl").read_text() == before


def test_user_mistakes_one_line(tmp_path, capsys):
    assert main(["curate", str(tmp_path / "missing"), "--out", str(tmp_path / "o")]) == 2
    assert "input folder not found" in capsys.readouterr().err
    recipe = tmp_path / "r.toml"
    recipe.write_text('[curate]\nstages = ["probe", "shots", "cut", "nope"]\n')
    (tmp_path / "in").mkdir()
    assert main(["curate", str(tmp_path / "in"), "--out", str(tmp_path / "o"), "--recipe", str(recipe)]) == 2
    err = capsys.readouterr().err
    assert "unknown curation stage 'nope'" in err and len(err.strip().splitlines()) == 1


def test_outputs_paths_are_relative(curated):
    kept = [r for r in curated["records"] if r.status == "kept"]
    assert all(not Path(r.path).is_absolute() for r in kept)
