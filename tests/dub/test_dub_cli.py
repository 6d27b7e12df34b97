"""``vgen dub`` end to end with the tiny random dub model: the video stream copied packet for packet, an AAC track,
the sidecar's provenance, --from replay, --extend keeps the old sound, sound refused without --replace, bad input."""

import json

import numpy as np
import pytest

from vgen.cli import main
from vgen.io.audio import probe, video_packets
from vgen.io.video import read_video, write_video

TINY = ["--config", "tiny"]


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("in")
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (17, 32, 32, 3), dtype=np.uint8)
    write_video(folder / "silent.mp4", frames, 8.0)
    t = np.arange(17000) / 16000  # sound for the first half only: --extend continues it
    write_video(folder / "half.mp4", frames, 8.0, audio=0.3 * np.sin(2 * np.pi * 440 * t))
    return folder


def test_dub_copies_the_video_stream_and_adds_sound(videos, tmp_path, capsys):
    out = tmp_path / "o"
    assert main(["dub", str(videos / "silent.mp4"), *TINY, "--seed", "3", "--prompt", "a click", "--out", str(out),
                 "--json"]) == 0
    line = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert line["video"] == str(out / "silent.mp4")
    assert video_packets(out / "silent.mp4") == video_packets(videos / "silent.mp4")  # payload, pts, dts, keyframes
    clip = read_video(out / "silent.mp4")
    assert clip.sample_rate == 16000 and clip.audio.shape[1] >= 34000 and np.abs(clip.audio).max() > 0
    side = json.loads((out / "silent.dub.json").read_text())
    assert (side["model"], side["seed"], side["prompt"], side["config"], side["mode"]) == \
        ("shapes-dub", 3, "a click", "tiny", "new")
    assert side["model_settings"]["sampler"] == "midpoint" and side["seconds"] == pytest.approx(17 / 8)


def test_from_sidecar_makes_the_same_samples(videos, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    assert main(["dub", str(videos / "silent.mp4"), *TINY, "--seed", "5", "--out", str(a)]) == 0
    assert main(["dub", "--from", str(a / "silent.dub.json"), "--out", str(b)]) == 0
    assert np.array_equal(read_video(a / "silent.mp4").audio, read_video(b / "silent.mp4").audio)
    assert main(["dub", str(videos / "silent.mp4"), *TINY, "--seed", "6", "--out", str(b)]) == 0
    assert not np.array_equal(read_video(a / "silent.mp4").audio, read_video(b / "silent.mp4").audio)


def test_sound_is_refused_unless_replace_and_extend_keeps_it(videos, tmp_path, capsys):
    out = tmp_path / "o"
    assert main(["dub", str(videos / "half.mp4"), *TINY, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "already has sound" in err[0] and not out.joinpath("half.mp4").exists()
    assert main(["dub", str(videos / "half.mp4"), *TINY, "--out", str(out), "--replace"]) == 0
    assert main(["dub", str(videos / "silent.mp4"), *TINY, "--out", str(out), "--extend"]) == 2
    assert main(["dub", str(videos / "half.mp4"), *TINY, "--out", str(tmp_path / "e"), "--extend"]) == 0
    side = json.loads((tmp_path / "e" / "half.dub.json").read_text())
    assert side["mode"] == "extend" and side["kept_seconds"] == pytest.approx(17000 / 16000, abs=0.07)
    before, after = read_video(videos / "half.mp4").audio[0], read_video(tmp_path / "e" / "half.mp4").audio[0]
    kept = 17000 - 2048  # AAC frames overlap: the last frame before the seam mixes in the new sound
    assert np.abs(after[:kept] - before[:kept]).max() < 0.05  # one more AAC round trip of the same samples
    assert np.abs(after[17000 + 2048:34000]).max() > 0  # and the rest is new sound


def test_extend_keeps_the_context_samples_exactly():
    from vgen_plugins.audio.model import DubModel

    model = DubModel.build(config="tiny")
    frames = np.zeros((33, 16, 16, 3), np.uint8)
    context = np.random.default_rng(1).uniform(-0.5, 0.5, 20000).astype(np.float32)
    wave = model.generate(frames, 8.0, 33 / 8, context=context, seed=1)
    assert wave.shape == (1, 66000) and np.array_equal(wave[0, :20000], context)


@pytest.mark.parametrize("case", ["missing", "garbage", "no-video", "unwritable"])
def test_bad_input_is_one_line_exit_2_and_nothing_written(videos, tmp_path, capsys, case):
    out = tmp_path / "o"
    target = videos / "silent.mp4"
    if case == "missing":
        target = tmp_path / "nothere.mp4"
    elif case == "garbage":
        target = tmp_path / "garbage.mp4"
        target.write_bytes(b"\x00not a video" * 10)
    elif case == "no-video":
        import av

        from vgen.io.video import _encode_audio

        target = tmp_path / "sound.mp4"
        with av.open(str(target), "w") as c:
            stream = c.add_stream("aac", rate=16000)
            stream.layout = "mono"
            _encode_audio(c, stream, np.zeros((1, 16000), np.float32), 16000)
    else:  # the output folder cannot be made: a file stands where its parent should be
        (tmp_path / "afile").write_text("x")
        out = tmp_path / "afile" / "o"
    assert main(["dub", str(target), str(videos / "silent.mp4"), *TINY, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:"), err
    assert not out.exists() or not list(out.glob("*"))


def test_zero_frames_and_probe(videos, tmp_path):
    info = probe(videos / "half.mp4")
    assert (info.frames, info.fps, info.has_audio) == (17, 8.0, True)


def test_sample_dub_makes_the_video_and_its_sound(tmp_path, monkeypatch):
    from vgen_plugins.audio.model import DubModel

    from vgen import registry

    monkeypatch.setattr(registry.get("audio_model", "shapes-dub"), "factory",
                        lambda **kw: DubModel.build(config="tiny"))
    out = tmp_path / "s"
    assert main(["sample", "a red circle bouncing", "--pipeline", "hunyuan-video", "--config", "tiny", "--steps", "2",
                 "--frames", "5", "--height", "32", "--width", "32", "--fps", "8", "--seed", "4", "--out", str(out),
                 "--dub"]) == 0
    (video,) = out.glob("*.mp4")
    clip = read_video(video)
    assert len(clip.frames) == 5 and clip.audio is not None and clip.sample_rate == 16000
    side = json.loads(video.with_name(video.stem + ".dub.json").read_text())
    assert (side["prompt"], side["seed"], side["mode"]) == ("a red circle bouncing", 4, "new")
    assert json.loads(video.with_suffix(".json").read_text())["prompt"] == "a red circle bouncing"  # sample's own
