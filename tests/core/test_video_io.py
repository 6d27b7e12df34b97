import numpy as np
import pytest

from vgen.errors import UserError
from vgen.io.video import read_audio, read_video, write_preview, write_video


def _moving_frames(t=17, h=48, w=64):
    yy, xx = np.mgrid[0:h, 0:w]
    frames = []
    for i in range(t):
        # smooth colour fields moving over time (4:2:0 chroma keeps these; per-pixel colour noise it would not)
        r = (np.sin((xx + 3 * i) / 14.0) * 0.5 + 0.5) * 200 + 20
        g = (np.cos((yy + 2 * i) / 12.0) * 0.5 + 0.5) * 200 + 20
        b = (np.sin((xx + yy + i) / 16.0) * 0.5 + 0.5) * 200 + 20
        frames.append(np.stack([r, g, b], -1))
    return np.stack(frames).astype(np.uint8)


def psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255.0**2 / max(mse, 1e-12))


def test_mp4_roundtrip_frames_fps_psnr(tmp_path):
    frames = _moving_frames()
    path = write_video(tmp_path / "clip.mp4", frames, fps=8)
    video = read_video(path)
    assert video.frames.shape == frames.shape
    assert video.fps == pytest.approx(8.0)
    assert psnr(video.frames, frames) >= 35
    assert video.audio is None
    assert not list(tmp_path.glob(".*tmp*")), "no temporary files left behind"


def test_float_frames_and_odd_fps(tmp_path):
    frames = _moving_frames(t=9).astype(np.float32) / 255.0
    video = read_video(write_video(tmp_path / "f.mp4", frames, fps=23.976))
    assert len(video.frames) == 9
    assert video.fps == pytest.approx(23.976, abs=1e-3)


def test_audio_sine_dominant_frequency(tmp_path):
    rate, tone = 16000, 440.0
    t = np.arange(rate * 2) / rate
    wave = 0.5 * np.sin(2 * np.pi * tone * t).astype(np.float32)
    path = write_video(tmp_path / "a.mp4", _moving_frames(t=16), fps=8, audio=wave, sample_rate=rate)
    audio, got_rate = read_audio(path)
    assert got_rate == rate
    mono = audio.mean(0)
    spectrum = np.abs(np.fft.rfft(mono * np.hanning(len(mono))))
    freq = np.fft.rfftfreq(len(mono), 1 / rate)[np.argmax(spectrum)]
    assert abs(freq - tone) <= 2


def test_preview_png_and_gif(tmp_path):
    from PIL import Image

    frames = _moving_frames(t=9)
    png = write_preview(tmp_path / "p.png", frames, max_frames=4)
    assert Image.open(png).size == (64 * 4, 48)
    gif = write_preview(tmp_path / "p.gif", frames)
    assert Image.open(gif).n_frames == 9


def test_corrupt_and_missing_video(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 100)
    with pytest.raises(UserError, match="bad.mp4"):
        read_video(bad)
    with pytest.raises(UserError, match="not found"):
        read_video(tmp_path / "missing.mp4")
