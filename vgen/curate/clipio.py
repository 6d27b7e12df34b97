"""Reading a source for analysis and writing clips: one streaming decode at analysis size, stream copy when the cut
points sit on keyframes, else a re-encode through vgen.io.video, and small JPEG thumbnails."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from vgen.io.atomic import atomic_path

COPY_CODECS = {"h264", "hevc", "av1", "mpeg4"}  # codecs an MP4 can hold as they are
COPY_CONTAINERS = ("mov", "mp4")


def analysis_size(width: int, height: int, target: int) -> tuple[int, int]:
    """At most ``target`` wide (never upscaled), aspect kept, even sizes."""
    if width <= target:
        return width - width % 2, height - height % 2
    h = max(2, int(round(height * target / width / 2)) * 2)
    return target - target % 2, h


def iter_frames(path: Path, width: int, height: int) -> Iterator[tuple[float, np.ndarray]]:
    """(time in seconds, RGB uint8 frame at width x height) for every decodable frame, in order.

    A decoding error part-way ends the stream (the frames before it are still used).
    """
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        fps = float(stream.average_rate or stream.guessed_rate or 25)
        i = 0
        try:
            for frame in container.decode(stream):
                t = float(frame.pts * stream.time_base) if frame.pts is not None else i / fps
                yield t, frame.to_ndarray(format="rgb24", width=width, height=height, interpolation="AREA")
                i += 1
        except (av.error.FFmpegError, ValueError):
            return


def can_stream_copy(info: dict, start: float, end: float) -> bool:
    """True when [start, end) begins on a keyframe and ends on the next GOP's keyframe or at the end of the video."""
    if info.get("codec") not in COPY_CODECS or not any(c in info.get("container", "") for c in COPY_CONTAINERS):
        return False
    tol = 0.5 / info["fps"]
    keys = np.asarray(info.get("keyframes", []))
    if not len(keys) or np.abs(keys - start).min() > tol:
        return False
    at_end = end >= info["start_time"] + info["duration"] - tol
    return bool(at_end or np.abs(keys - end).min() <= tol)


def stream_copy(src: Path, dst: Path, start: float, end: float) -> int:
    """Copy the video (and audio) packets of [start, end) into an MP4 without re-encoding; returns video packets."""
    import av

    with av.open(str(src)) as inp, atomic_path(dst, suffix=".mp4") as tmp, av.open(str(tmp), "w", format="mp4") as out:
        vin = inp.streams.video[0]
        streams = [vin] + list(inp.streams.audio[:1])
        outs = {s.index: out.add_stream_from_template(s) for s in streams}
        offsets = {s.index: int(round(start / s.time_base)) for s in streams}
        copied = 0
        for packet in inp.demux(streams):
            if packet.dts is None or packet.pts is None:
                continue
            t = float(packet.pts * packet.time_base)
            if t < start - 1e-6 or t >= end - 1e-6:
                continue
            stream = packet.stream
            packet.pts -= offsets[stream.index]
            packet.dts -= offsets[stream.index]
            packet.stream = outs[stream.index]
            out.mux(packet)
            copied += stream is vin
    return copied


def reencode(src: Path, dst: Path, start: float, end: float, crf: int, preset: str) -> int:
    """Decode [start, end) at full size (with audio) and write it as H.264 (+AAC); returns frames written."""
    from vgen.io.video import read_video, write_video

    video = read_video(src, start=start, end=end, audio=True)
    write_video(dst, video.frames, video.fps, audio=video.audio, sample_rate=video.sample_rate or 16000, crf=crf,
                preset=preset)
    return len(video.frames)


def write_thumb(path: Path, frame: np.ndarray, width: int) -> None:
    from PIL import Image

    img = Image.fromarray(frame)
    if img.width > width:
        img = img.resize((width, max(1, round(img.height * width / img.width))), Image.Resampling.BILINEAR)
    with atomic_path(path, suffix=".jpg") as tmp:
        img.save(tmp, format="JPEG", quality=85)
