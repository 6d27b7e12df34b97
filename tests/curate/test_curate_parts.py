"""Smaller pieces: stream copy on keyframe-aligned cuts, the captioner hook for VLM plugins, cutting long shots,
camera-motion rules, buckets, perceptual hash."""

import json

import numpy as np
from curate_data import FPS, H, W
from vgen_plugins.curation.motion import camera_label
from vgen_plugins.curation.phash import hamming, phash
from vgen_plugins.curation.shots import Cutter

from vgen.cli import main
from vgen.curate.report import duration_bucket, resolution_bucket
from vgen.curate.settings import CurateSettings
from vgen.curate.stages import Shot, SourceContext
from vgen.curate.synthetic import Scene, render_scene, write_scenes
from vgen.io.manifest import read_manifest
from vgen.io.video import read_video

PLUGIN = '''
from vgen.hookspecs import hookimpl


class FrameCounter:
    """Stands in for a VLM: reads the written clip file and the frames it is given."""

    def __init__(self, settings):
        self.prefix = settings.stage_options.get("vlm-test", {}).get("prefix", "")

    def __call__(self, clip):
        from vgen.io.video import read_video

        video = read_video(clip.path, audio=False)
        return f"{self.prefix}{len(video.frames)} frames, {clip.frames.shape[2]} px wide"


@hookimpl
def register_curation_stages(register):
    register("vlm-test", FrameCounter, kind="caption", description="test captioner")
'''


def test_stream_copy_on_keyframes_and_vlm_hook(tmp_path, monkeypatch):
    inp = tmp_path / "in"
    inp.mkdir()
    # cuts at frames 30 and 60, keyframes every 10 frames: with no trimming every clip starts and ends on a keyframe
    cuts = write_scenes(inp / "gop.mp4", [Scene(3.0, "pan right", 1), Scene(3.0, "tilt up", 2),
                                          Scene(3.0, "pan left", 3)], FPS, W, H, gop=10)
    assert cuts == [30, 60]
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "vlm_test_plugin.py").write_text(PLUGIN)
    monkeypatch.setenv("VGEN_PLUGINS_DIR", str(plugins))
    from vgen import plugins as plugin_manager

    plugin_manager.reset()
    recipe = tmp_path / "copy.toml"
    recipe.write_text('[curate]\ntrim_frames = 0\nsharp_start_search = 0.0\nmin_duration = 2.0\nmin_side = 32\n'
                      'captioners = ["vlm-test", "template"]\n[curate.stage_options.vlm-test]\nprefix = "vlm: "\n')
    try:
        assert main(["curate", str(inp), "--out", str(tmp_path / "out"), "--recipe", str(recipe)]) == 0
    finally:
        plugin_manager.reset()
    records = read_manifest(tmp_path / "out" / "manifest.jsonl")
    assert [r.status for r in records] == ["kept"] * 3
    source = read_video(inp / "gop.mp4", audio=False).frames
    for rec, first in zip(records, [0, 30, 60], strict=True):
        assert rec.labels["cut"] == "copy"
        clip = read_video(rec.resolve(tmp_path / "out" / "manifest.jsonl"), audio=False).frames
        assert len(clip) == rec.frames == 30
        assert np.abs(clip.astype(int) - source[first:first + 30].astype(int)).max() == 0  # bit-exact: no re-encode
        assert rec.captions["vlm-test"] == f"vlm: 30 frames, {W} px wide"
        assert rec.caption.startswith(rec.labels["camera_motion"] + ". vlm: 30 frames")


def test_reencode_keeps_audio(tmp_path):
    inp = tmp_path / "in"
    inp.mkdir()
    write_scenes(inp / "a.mp4", [Scene(2.5, "pan right", 1), Scene(2.5, "pan left", 2)], FPS, W, H, audio=True)
    assert main(["curate", str(inp), "--out", str(tmp_path / "out"), "--min-duration", "1.5",
                 "--min-side", "32"]) == 0
    records = read_manifest(tmp_path / "out" / "manifest.jsonl")
    assert len(records) == 2 and all(r.status == "kept" and r.audio for r in records)
    for rec in records:
        assert rec.labels["cut"] == "reencode"
        video = read_video(rec.resolve(tmp_path / "out" / "manifest.jsonl"))
        assert len(video.frames) == rec.frames
        assert video.audio is not None and abs(video.audio.shape[1] / video.sample_rate - rec.frames / FPS) < 0.15


def test_cutter_trims_rejects_short_and_splits_long():
    s = CurateSettings(min_duration=4, max_duration=16, trim_frames=2)
    src = SourceContext(None, "x", s, None, info={"fps": 10.0, "frames": 500})
    spans = Cutter(s)(src, [Shot(0, 30), Shot(30, 200), Shot(200, 500)])
    assert spans[0].reason == "too_short"
    shot1 = [sp for sp in spans if sp.shot == 1]  # frames 32-198 (16.6 s) -> 2 pieces of 83 frames
    assert [(sp.start, sp.end) for sp in shot1] == [(32, 115), (115, 198)]
    shot2 = [sp for sp in spans if sp.shot == 2]  # frames 202-500 (29.8 s, last shot: no trim at the end) -> 2
    assert shot2[0].start == 202 and shot2[-1].end == 500 and len(shot2) == 2
    assert all(40 <= sp.end - sp.start <= 160 for sp in spans if sp.reason is None)


def test_camera_label_rules():
    label = lambda **kw: camera_label({"pan_x": 0, "pan_y": 0, "zoom": 0, "jitter": 0, **kw}, 0.02, 0.08)  # noqa: E731
    assert label() == "static shot"
    assert label(pan_x=0.2) == "pan left" and label(pan_x=-0.2) == "pan right"
    assert label(pan_y=0.2) == "tilt up" and label(pan_y=-0.2) == "tilt down"
    assert label(zoom=0.1) == "zoom in" and label(zoom=-0.1) == "zoom out"
    assert label(jitter=0.3, pan_x=0.05) == "handheld shot"


def test_buckets_and_phash():
    assert resolution_bucket(1920, 1080) == "1080p 16:9" and resolution_bucket(720, 1280) == "720p 9:16"
    assert duration_bucket(5.0, [4, 6, 8]) == "4-6s" and duration_bucket(9, [4, 6, 8]) == "8s+"
    a = render_scene(Scene(0.1, "static shot", 1), FPS, W, H)[0]
    b = render_scene(Scene(0.1, "static shot", 2), FPS, W, H)[0]
    noisy = np.clip(a.astype(int) + np.random.default_rng(0).integers(-6, 7, a.shape), 0, 255).astype(np.uint8)
    assert hamming(phash(a), phash(noisy)) <= 4
    assert hamming(phash(a), phash(b)) > 12


def test_summary_json_counts(tmp_path):
    inp = tmp_path / "in"
    inp.mkdir()
    (inp / "bad.mp4").write_bytes(b"\x00" * 100)
    assert main(["curate", str(inp), "--out", str(tmp_path / "out")]) == 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["error"] == 1 and summary["reasons"] == {"not_a_video": 1}
