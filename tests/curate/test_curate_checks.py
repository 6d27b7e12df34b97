"""Issue 31, points 1-4 end to end: cuts per source in summary.json and the report, no kept clip across a cut,
every failing check listed, moving objects over a still camera kept, duplicates rejected before encoding, stale
temporary files removed, non-video files skipped, defaults in --help."""

import json

import pytest
from curate_data import FPS, H, W

from vgen.cli import main
from vgen.curate.synthetic import Scene, write_scenes
from vgen.io.manifest import read_manifest

SEC = 4.6
CHECKS = [  # (scene, expected status or reasons)
    (Scene(SEC, "static shot", 31, text="Subtitle 2024 news"), ["static", "text"]),  # text over a still camera
    (Scene(SEC, "static shot", 32, extras={"objects": 1, "object_size": 0.08, "object_speed": 0.2}), "kept"),
    (Scene(SEC, "static shot", 33), ["static"]),  # frozen
    (Scene(SEC, "pan right", 34, speed=0.004), ["static"]),  # near-still
    (Scene(SEC, "static shot", 35, extras={"objects": 2, "object_size": 0.1}), "kept"),
    (Scene(SEC, "pan left", 36, blur=2.0, gain=0.07), ["too_dark", "blurry"]),
]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("checks")
    inp, out = root / "in", root / "out"
    inp.mkdir()
    write_scenes(inp / "checks.mp4", [s for s, _ in CHECKS], FPS, W, H)
    cuts = write_scenes(inp / "handheld.mp4", [Scene(SEC, "pan right", 1, speed=0.4),
                                              Scene(SEC, "handheld shot", 2, shake=1.6)], FPS, W, H)
    # the same shot twice in one source (a repeated take), and a third time in another source
    again = Scene(SEC, "static shot", 50, extras={"objects": 1, "object_size": 0.1})
    write_scenes(inp / "repeat.mp4", [again, Scene(SEC, "zoom in", 51, speed=0.1), again], FPS, W, H)
    write_scenes(inp / "zz_again.mp4", [Scene(SEC, "zoom in", 51, speed=0.1)], FPS, W, H)
    write_scenes(inp / "clip.mp4", [Scene(SEC, "tilt up", 60)], FPS, W, H)
    (inp / "clip.mp4").rename(inp / "clip.video")  # an MP4 with an odd extension
    (inp / "notes.json").write_text('{"camera": "phone"}\n')
    (inp / "cover.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 64)
    (out / "clips").mkdir(parents=True)
    (out / ".curate" / "done").mkdir(parents=True)  # a killed curate's output: resumed, its temporaries removed
    stale = out / "clips" / ".checks.000.mp4.tmpab12cd.mp4"  # what a SIGKILLed encode leaves behind
    stale.write_bytes(b"partial")
    rc = main(["curate", str(inp), "--out", str(out), "--min-duration", "3", "--min-side", "32"])
    return {"rc": rc, "out": out, "stale": stale, "cuts": cuts, "records": read_manifest(out / "manifest.jsonl"),
            "summary": json.loads((out / "summary.json").read_text())}


def _by_input(records, name):
    return sorted((r for r in records if r.labels.get("input") == name), key=lambda r: r.start)


def test_every_failing_check_is_listed(run):
    assert run["rc"] == 0
    recs = _by_input(run["records"], "checks.mp4")
    assert len(recs) == len(CHECKS)
    for rec, (_scene, expected) in zip(recs, CHECKS, strict=True):
        if expected == "kept":
            assert rec.status == "kept", (rec.reason, rec.scores)
            assert rec.labels["camera_motion"] == "static shot"  # objects move, the camera does not
        else:
            assert rec.status == "rejected" and rec.reason == expected[0], (rec.reason, rec.scores)
            assert set(expected) <= set(rec.labels["reasons"]), (rec.labels["reasons"], rec.scores)
            assert rec.labels["reasons"][0] == rec.reason
    assert run["summary"]["all_reasons"]["text"] >= 1 and run["summary"]["reasons"].get("text", 0) == 0
    html = (run["out"] / "report.html").read_text()
    assert "static, text" in html and "failing" in html


def test_cuts_in_summary_and_report_and_no_clip_spans_a_cut(run):
    cuts = run["summary"]["cuts"]["handheld.mp4"]
    assert len(cuts["frames"]) == 1 and abs(cuts["frames"][0] - run["cuts"][0]) <= 1
    assert set(cuts["by_detector"]) == {"adaptive", "histogram"}
    assert abs(cuts["seconds"][0] - run["cuts"][0] / FPS) <= 0.11
    recs = _by_input(run["records"], "handheld.mp4")
    assert [r.status for r in recs] == ["kept", "kept"]
    cut_s = run["cuts"][0] / FPS
    assert all(r.end <= cut_s + 1e-6 or r.start >= cut_s - 1e-6 for r in recs)
    assert "Detected cuts" in (run["out"] / "report.html").read_text()


def test_duplicates_never_reach_clips(run):
    recs = _by_input(run["records"], "repeat.mp4")
    assert [r.status for r in recs] == ["kept", "kept", "rejected"]
    assert recs[2].reason == "duplicate" and recs[2].labels["duplicate_of"] == recs[0].path
    again = _by_input(run["records"], "zz_again.mp4")
    assert again[0].reason == "duplicate" and again[0].labels["duplicate_of"] == recs[1].path
    kept = {r.path for r in run["records"] if r.status == "kept"}
    assert {f"clips/{p.name}" for p in (run["out"] / "clips").iterdir()} == kept


def test_stale_temporaries_removed_and_only_videos_are_inputs(run):
    assert not run["stale"].exists()
    assert run["summary"]["skipped"] == ["cover.jpg", "notes.json"]
    assert run["summary"]["error"] == 0 and run["summary"]["inputs"] == 5
    assert _by_input(run["records"], "clip.video")[0].status == "kept"


def test_help_shows_every_default(capsys):
    assert main(["curate", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    for option, default in (("--min-side", "256"), ("--min-duration", "4.0"), ("--max-duration", "16.0"),
                            ("--workers", "1"), ("--engine", "local"), ("--detector", "combined")):
        assert option in text and f"[default: ({default})]" in text, option
    assert text.count("[default:") >= 8


def test_detector_flag(tmp_path, capsys):
    (tmp_path / "in").mkdir()
    assert main(["curate", str(tmp_path / "in"), "--out", str(tmp_path / "o"), "--detector", "adaptive,nope"]) == 2
    assert "--detector" in capsys.readouterr().err
    assert main(["curate", str(tmp_path / "in"), "--out", str(tmp_path / "o"), "--detector", "content,hash"]) == 0
