"""Builders for the curation test inputs: real MP4s with known cuts and content, and broken files."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vgen.curate.synthetic import Scene, write_scenes

FPS = 10
W, H = 96, 64


def write_audio_only(path: Path, seconds: float = 2.0) -> None:
    import av

    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("aac", rate=16000)
        stream.layout = "mono"
        t = np.arange(int(seconds * 16000)) / 16000
        wave = (0.3 * np.sin(2 * np.pi * 330 * t)).astype(np.float32)[None]
        pts = 0
        for i in range(0, wave.shape[1], 1024):
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(wave[:, i:i + 1024]), format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 16000, pts
            pts += frame.samples
            container.mux(stream.encode(frame))
        container.mux(stream.encode())


def write_broken_files(folder: Path) -> dict[str, str]:
    """Files that must each be recorded with a reason; returns name -> expected reason."""
    from PIL import Image

    (folder / "empty.mp4").write_bytes(b"")
    write_audio_only(folder / "audio_only.mp4")
    (folder / "notes.mp4").write_text("this is not a video, just text named like one\n" * 20)
    Image.fromarray(np.full((32, 48, 3), 120, np.uint8)).save(folder / "picture.mp4", format="PNG")
    good = folder / "_tmp_good.mp4"
    write_scenes(good, [Scene(1.0, "pan right", 5)], FPS, W, H)
    data = good.read_bytes()
    good.unlink()
    (folder / "truncated.mp4").write_bytes(data[: len(data) // 3])  # mdat cut, moov (at the end) lost
    return {"empty.mp4": "empty_file", "audio_only.mp4": "no_video_stream", "notes.mp4": "not_a_video",
            "picture.mp4": "still_image", "truncated.mp4": "corrupt"}


def scene_seconds(n_frames: int) -> float:
    return n_frames / FPS
