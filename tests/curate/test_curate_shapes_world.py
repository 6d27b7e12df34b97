"""Shapes-world clips through curate: one shot each, a moving object over a still, plain background is a static
camera, and crisp flat-colour frames are not blurry."""

import json

from vgen.cli import main


def test_shapes_world_clips(tmp_path):
    from vgen_plugins.shapes.dataset import ShapesSettings, make_clip

    src = tmp_path / "gen"
    settings = ShapesSettings(two_object_fraction=0.0)
    records = [make_clip(i, settings, str(src)) for i in range(16)]
    inputs = tmp_path / "in"
    inputs.mkdir()
    chosen = [r for r in records if r["labels"]["objects"][0]["motion"] != "bouncing"][:8]
    for r in chosen:
        (inputs / r["path"].split("/")[-1]).write_bytes((src / r["path"]).read_bytes())
    out = tmp_path / "out"
    assert main(["-q", "curate", str(inputs), "--out", str(out), "--min-duration", "1.5", "--min-side", "32"]) == 0
    rows = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert {r["labels"]["input"] for r in rows} == {p.name for p in inputs.iterdir()}
    assert all(r["labels"].get("shot", 0) == 0 for r in rows)  # no cut inside a single-shot clip
    assert all(r["reason"] for r in rows if r["status"] != "kept")
    static = [r["labels"].get("camera_motion") == "static shot" for r in rows]
    assert sum(static) >= 0.75 * len(rows), [(r["labels"]["input"], r["labels"].get("camera_motion")) for r in rows]
    blurry = [r for r in rows if r["reason"] == "blurry"]
    assert len(blurry) <= len(rows) // 4, [(r["labels"]["input"], r["scores"]["sharpness"]) for r in blurry]
