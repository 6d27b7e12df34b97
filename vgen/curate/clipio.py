"""Reading a source for analysis and writing clips: one streaming decode at analysis size, stream copy when the cut
points sit on keyframes, else a re-encode through vgen.io.video, and small JPEG thumbnails."""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
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


VIDEO_MAGIC = ("mp4/mov", "matroska/webm", "avi", "mpeg-ts", "flv", "mpeg-ps")


def sniff(path) -> str:
    """What the first bytes of ``path`` look like (for the reason of a file FFmpeg cannot open)."""
    with open(path, "rb") as f:
        head = f.read(512)
    if head[4:8] in (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip"):
        return "mp4/mov"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "matroska/webm"
    if head.startswith(b"RIFF") and head[8:12] == b"AVI ":
        return "avi"
    if len(head) > 188 and head[0] == 0x47 and head[188] == 0x47:
        return "mpeg-ts"
    if head.startswith(b"FLV"):
        return "flv"
    if head.startswith(b"\x00\x00\x01\xba"):
        return "mpeg-ps"
    if head.startswith(b"\x89PNG") or head.startswith(b"\xff\xd8\xff"):
        return "image"
    try:
        head.decode("utf-8")
        return "text"
    except UnicodeDecodeError:
        return "binary"


def looks_like_video(path: Path) -> bool:
    """True when the first bytes of ``path`` are a video container's."""
    try:
        return sniff(path) in VIDEO_MAGIC
    except OSError:
        return False


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


def reencode_spans(src: Path, jobs: list[tuple[int, int, Path]], crf: int, preset: str) -> list[int]:
    """Re-encode frame ranges ``[start, end)`` of ``src`` into H.264 (+AAC) MP4s ``dst`` in one sequential decode.

    Frames are counted in decode order, the same indexing the analysis pass used, so cut points do not depend on
    container timestamps (which some AVI/TS files get wrong). Returns the frames written per job.
    """
    import av

    from vgen.io.video import _read_audio, h264_encoder

    jobs = sorted(jobs)
    written = [0] * len(jobs)
    if not jobs:
        return written
    with av.open(str(src)) as container:
        vin = container.streams.video[0]
        vin.thread_type = "AUTO"
        fps = Fraction(vin.average_rate or vin.guessed_rate or 25).limit_denominator(1001)
        has_audio = bool(container.streams.audio)
        j, out, stream, tmp_ctx, audio = 0, None, None, None, None
        try:
            for i, frame in enumerate(container.decode(vin)):
                while j < len(jobs) and i >= jobs[j][1]:
                    _close(out, stream, audio, tmp_ctx)
                    out = None
                    j += 1
                if j >= len(jobs):
                    break
                start, end, dst = jobs[j]
                if i < start:
                    continue
                if out is None:
                    tmp_ctx = atomic_path(dst, suffix=".mp4")
                    tmp = tmp_ctx.__enter__()
                    out = av.open(str(tmp), "w", format="mp4")
                    stream = out.add_stream(h264_encoder() or "h264", rate=fps)
                    stream.width, stream.height = frame.width - frame.width % 2, frame.height - frame.height % 2
                    stream.pix_fmt = "yuv420p"
                    stream.options = {"crf": str(crf), "preset": preset}
                    t0 = float(frame.pts * vin.time_base) if frame.pts is not None else i / float(fps)
                    # every stream must exist before the first packet is muxed: read this clip's audio now
                    audio = _read_audio(src, t0, t0 + (end - start) / float(fps)) if has_audio else (None, None)
                    if audio[0] is not None and audio[0].shape[1] > 0:
                        astream = out.add_stream("aac", rate=audio[1])
                        astream.layout = "mono" if audio[0].shape[0] == 1 else "stereo"
                        audio = (astream, audio[0][:2], audio[1])
                    else:
                        audio = None
                rgb = frame.to_ndarray(format="rgb24")[: stream.height, : stream.width]
                out.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
                written[j] += 1
        except BaseException:
            if out is not None:
                out.close()
                tmp_ctx.__exit__(RuntimeError, RuntimeError("aborted"), None)
            raise
        if out is not None:
            _close(out, stream, audio, tmp_ctx)
    return written


def _close(out, stream, audio, tmp_ctx) -> None:
    """Flush the video encoder, encode the clip's audio, and move the file into place."""
    from vgen.io.video import _encode_audio

    if out is None:
        return
    out.mux(stream.encode())
    if audio is not None:
        _encode_audio(out, *audio)
    out.close()
    tmp_ctx.__exit__(None, None, None)


def write_thumb(path: Path, frame: np.ndarray, width: int) -> None:
    from PIL import Image

    img = Image.fromarray(frame)
    if img.width > width:
        img = img.resize((width, max(1, round(img.height * width / img.width))), Image.Resampling.BILINEAR)
    with atomic_path(path, suffix=".jpg") as tmp:
        img.save(tmp, format="JPEG", quality=85)
