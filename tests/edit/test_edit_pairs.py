"""The shapes world's edit pairs (every kind, exactly the issue's instruction forms) and `vgen eval edits`, which
passes a perfect edit and fails an unchanged video and an edit that moves what it should leave alone."""

import json
import shutil
from dataclasses import replace

import numpy as np
import pytest

from vgen.cli import main


@pytest.mark.parametrize("kind", ["colour", "shape", "size", "motion", "background", "remove", "add"])
def test_pairs_of_every_kind(kind):
    from vgen_plugins.shapes.edit_pairs import make_pair, parse_instruction
    from vgen_plugins.shapes.world import centres

    for i in range(20):
        pair = make_pair(3, i, kind)
        assert pair.kind == kind and parse_instruction(pair.instruction)[0] == kind
        source, target = pair.captions()
        assert source != target
        for a, b in pair.kept:
            obj_a, obj_b = pair.source.objects[a], pair.target.objects[b]
            assert np.allclose(centres(obj_a, 17, 64), centres(obj_b, 17, 64))
        n = len(pair.source.objects)
        assert {"remove": n == 2, "add": n == 1}.get(kind, True)
        if kind in ("colour", "shape", "size", "background"):
            assert len(pair.kept) == n
    assert make_pair(3, 5).instruction == make_pair(3, 5).instruction  # (seed, index) fixes the pair


def test_instruction_forms():
    from vgen_plugins.shapes.edit_pairs import parse_instruction

    good = {"make the red circle blue": "colour", "turn the red circle into a square": "shape",
            "make the red circle large": "size", "make the red circle move up": "motion",
            "make the red circle bounce": "motion", "make the red circle stand still": "motion",
            "change the background to gray": "background", "remove the red circle": "remove",
            "add a small green square moving left": "add", "Add a large white triangle standing still.": "add"}
    for text, kind in good.items():
        assert parse_instruction(text)[0] == kind, text
    for bad in ("make the red circle purple", "paint it blue", "add a green square moving left",
                "make the red circle move diagonally", "change the background to white"):
        assert parse_instruction(bad) is None, bad


def _edited(folder, cases, name, pick):
    """A folder of 'edits' made by copying a clip of each pair (``pick``: "source" or "target")."""
    folder.mkdir()
    for line in (cases / "manifest.jsonl").read_text().splitlines():
        rec = json.loads(line)
        clip = cases / (rec["labels"]["source"] if pick == "source" else rec["path"])
        stem = f"{rec['labels']['index']:03d}"
        shutil.copy(clip, folder / f"{stem}.mp4")
        (folder / f"{stem}.json").write_text(json.dumps({"video": f"{stem}.mp4", "method": name,
                                                         "source": str(cases / rec["labels"]["source"]),
                                                         "timings": {"edit": 1.0}}))


def test_eval_edits_passes_perfect_edits_and_fails_unchanged_ones(tmp_path, capsys):
    cases = tmp_path / "cases"
    assert main(["-q", "datasets", "shapes-edits", "--num", "14", "--out", str(cases), "--seed", "1"]) == 0
    jobs = [json.loads(line) for line in (cases / "prompt_jobs.jsonl").read_text().splitlines()]
    assert len(jobs) == 14 and all(j["source_prompt"] != j["target_prompt"] for j in jobs)
    _edited(tmp_path / "perfect", cases, "perfect", "target")
    _edited(tmp_path / "unchanged", cases, "unchanged", "source")
    assert main(["eval", "edits", str(tmp_path / "perfect"), str(tmp_path / "unchanged"), "--cases", str(cases),
                 "--json", str(tmp_path / "scores.json")]) == 0
    summary = json.loads((tmp_path / "scores.json").read_text())["summary"]
    assert summary["perfect"]["all"] == {"n": 14, "success": 1.0, "preserved": 1.0, "seconds": 1.0}
    assert summary["unchanged"]["all"]["success"] == 0.0
    assert "perfect" in capsys.readouterr().out


def test_an_edit_that_moves_a_kept_object_is_not_preserved():
    from vgen_plugins.shapes.edit_data import pair_record
    from vgen_plugins.shapes.edit_eval import score_edit
    from vgen_plugins.shapes.edit_pairs import make_pair
    from vgen_plugins.shapes.world import render

    pair = make_pair(0, 2, "colour")
    labels = pair_record(0, 0, 8.0, 64, 17, pair)["labels"]
    assert score_edit(render(pair.target), render(pair.source), labels)["preserved"]
    for dx, ok in ((1.0, True), (4.0, False)):
        moved = replace(pair.target, objects=[replace(o, x=o.x + dx if o.motion in ("up", "down", "still", "bouncing")
                                                      else o.x, y=o.y + (dx if o.motion in ("left", "right") else 0))
                                              for o in pair.target.objects])
        result = score_edit(render(moved), render(pair.source), labels)
        assert result["success"] and result["preserved"] == ok, (dx, result["distances"])
