"""``vgen eval dub`` judges a video's sound by what is on screen, and fails what it should: the sound of another clip
and the right sound three frames late."""

import json

import numpy as np
import pytest
from vgen_plugins.shapes.dub_eval import score_dub
from vgen_plugins.shapes.world import render, render_audio, sample_scene

from vgen.cli import main
from vgen.io.video import write_video

FPS, RATE = 8.0, 16000


@pytest.fixture(scope="module")
def bouncing():
    """Eight generator clips with a bouncing object: (frames, sound)."""
    scenes, i = [], 0
    while len(scenes) < 8:
        scene = sample_scene((7, i))
        i += 1
        if any(o.motion == "bouncing" for o in scene.objects):
            scenes.append(scene)
    return [(render(s), render_audio(s, seed=k)) for k, s in enumerate(scenes)]


def _passes(frames, audio):
    r = score_dub(frames, audio, RATE, FPS)
    return bool(r["pitch"] and r["sync"])


def test_the_true_sound_passes_and_wrong_sound_fails(bouncing):
    assert all(_passes(f, a) for f, a in bouncing)
    others = [_passes(f, bouncing[(k + 1) % len(bouncing)][1]) for k, (f, _) in enumerate(bouncing)]
    shift = int(3 / FPS * RATE)
    late = [_passes(f, np.concatenate([np.zeros(shift, np.float32), a[:-shift]])) for f, a in bouncing]
    early = [_passes(f, np.concatenate([a[shift:], np.zeros(shift, np.float32)])) for f, a in bouncing]
    assert sum(others) <= 1 and not any(late) and not any(early)


def test_silence_stray_clicks_and_no_sound():
    scenes = (sample_scene((3, i)) for i in range(100))
    scene = next(s for s in scenes if not any(o.motion == "bouncing" for o in s.objects))
    frames, audio = render(scene), render_audio(scene)
    r = score_dub(frames, audio, RATE, FPS)
    assert r["pitch"] and r["silent"] and r["sync"] is None
    audio = audio.copy()
    audio[8000:8320] += np.random.default_rng(0).uniform(-0.35, 0.35, 320).astype(np.float32)
    assert score_dub(frames, audio, RATE, FPS)["silent"] is False
    assert score_dub(frames, None, RATE, FPS)["pitch"] is False


def test_eval_dub_command_through_mp4(bouncing, tmp_path, capsys):
    for k, (frames, audio) in enumerate(bouncing[:3]):
        write_video(tmp_path / f"{k}.mp4", frames, FPS, audio=audio)
    write_video(tmp_path / "late.mp4", bouncing[3][0], FPS, audio=np.roll(bouncing[3][1], 6000))
    assert main(["eval", "dub", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "dub_eval.json").read_text())
    assert report["summary"]["n"] == 4 and report["summary"]["sync"] == 0.75
    assert capsys.readouterr().out.split()[:4] == ["videos", "4", "pitch", "100.0"]
