"""`vgen eval compare`: two shapes-eval reports compared prompt by prompt, with an exact sign test."""

import json
from math import comb

import pytest
from vgen_plugins.shapes.compare import compare, sign_test_p

from vgen.cli import main


def _video(i, prompt, n_objects, right, shape=True):
    return {"video": f"/x/{i:03d}-{prompt.replace(' ', '-')}-seed777.mp4", "prompt": prompt, "n_objects": n_objects,
            "colour": True, "shape": shape, "size": True, "motion": right, "all_correct": right and shape}


def _report(path, videos):
    path.write_text(json.dumps({"folder": "/x", "summary": {}, "videos": videos}))
    return path


def test_sign_test_matches_the_binomial_tail():
    assert sign_test_p(0, 0) == 1.0
    assert sign_test_p(2, 8) == pytest.approx(2 * sum(comb(10, i) for i in range(3)) / 2**10)  # 0.109
    assert sign_test_p(8, 2) == sign_test_p(2, 8)
    assert sign_test_p(0, 10) == pytest.approx(2 / 1024)
    assert sign_test_p(5, 5) == 1.0  # capped: both tails overlap at the middle


def test_compare_counts_discordant_prompts_per_group(tmp_path):
    a_videos, b_videos = [], []
    for i in range(20):  # one-object prompts: A right on 0-14, B on 5-19 and wrong shape on 0
        p = f"a red circle moving right {i}"
        a_videos.append(_video(i, p, 1, i < 15))
        b_videos.append(_video(i, p, 1, i >= 5, shape=i != 0))
    for i in range(20, 30):  # two-object prompts: both right on all but A misses 20-22
        p = f"a red circle moving right and a blue square moving up {i}"
        a_videos.append(_video(i, p, 2, i > 22))
        b_videos.append(_video(i, p, 2, True))
    b_videos.append(_video(99, "a green square bouncing", 1, True))  # not in A: left out of the pairing
    result = compare(_report(tmp_path / "a.json", a_videos), _report(tmp_path / "b.json", b_videos))
    assert result["paired"] == 30 and result["only_in_a"] == 0 and result["only_in_b"] == 1
    one = result["groups"]["1 object"]["all_correct"]
    assert (one["only_a"], one["only_b"]) == (5, 5) and one["a"] == 0.75 and one["b"] == 0.75
    assert result["groups"]["1 object"]["shape"]["only_a"] == 1
    two = result["groups"]["2 objects"]["all_correct"]
    assert (two["only_a"], two["only_b"]) == (0, 3) and two["p"] == pytest.approx(0.25)
    whole = result["groups"]["all"]["all_correct"]
    assert (whole["only_a"], whole["only_b"]) == (5, 8) and whole["p"] == pytest.approx(sign_test_p(5, 8))


def test_cli_prints_the_table_and_writes_json(tmp_path, capsys):
    videos = [_video(i, f"a red circle moving right {i}", 1, True) for i in range(4)]
    worse = [dict(v, all_correct=False, motion=False) if i < 3 else v for i, v in enumerate(videos)]
    a, b = _report(tmp_path / "a.json", videos), _report(tmp_path / "b.json", worse)
    out = tmp_path / "cmp.json"
    assert main(["eval", "compare", str(a), str(b), "--json", str(out)]) == 0
    captured = capsys.readouterr().out
    assert "only A" in captured and "all-correct" in captured and "100.0" in captured and "25.0" in captured
    saved = json.loads(out.read_text())
    assert saved["groups"]["all"]["motion"]["only_a"] == 3 and saved["groups"]["all"]["motion"]["p"] == 0.25


def test_cli_errors_are_one_line(tmp_path, capsys):
    a = _report(tmp_path / "a.json", [_video(0, "a red circle moving right", 1, True)])
    b = _report(tmp_path / "b.json", [_video(1, "a blue square moving up", 1, True)])
    (tmp_path / "bad.json").write_text("{not json")
    for args, expect in (([str(a), str(tmp_path / "missing.json")], "no such report"),
                         ([str(a), str(tmp_path / "bad.json")], "not a `vgen eval shapes` report"),
                         ([str(a), str(b)], "share no video")):
        assert main(["eval", "compare", *args]) == 2
        err = capsys.readouterr().err.strip()
        assert expect in err and len(err.splitlines()) == 1 and "Traceback" not in err
