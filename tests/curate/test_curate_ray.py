"""`--engine ray` (a local Ray with 2 CPUs) writes the same manifest as the local engine."""

import pytest
from curate_data import FPS, H, W

from vgen.cli import main
from vgen.curate.synthetic import Scene, write_scenes

ray = pytest.importorskip("ray")


@pytest.mark.slow
def test_ray_engine_matches_local(tmp_path):
    inp = tmp_path / "in"
    inp.mkdir()
    for i in range(3):
        write_scenes(inp / f"v{i}.mp4", [Scene(2.0, "pan right", 10 + i), Scene(2.0, "zoom in", 20 + i, speed=0.1)],
                     FPS, W, H)
    (inp / "broken.mp4").write_bytes(b"not a video")
    flags = ["--min-duration", "1.5", "--min-side", "32"]
    assert main(["curate", str(inp), "--out", str(tmp_path / "local"), *flags]) == 0
    assert main(["curate", str(inp), "--out", str(tmp_path / "ray"), "--engine", "ray", "--workers", "2",
                 *flags]) == 0
    local = (tmp_path / "local" / "manifest.jsonl").read_text()
    assert local == (tmp_path / "ray" / "manifest.jsonl").read_text()
    assert len(local.splitlines()) == 7
    assert sorted(p.name for p in (tmp_path / "ray" / "clips").iterdir()) == sorted(
        p.name for p in (tmp_path / "local" / "clips").iterdir())
