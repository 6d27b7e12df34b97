"""Video and audio through PyAV: read into uint8 (T, H, W, 3) + fps + audio; write H.264/yuv420p MP4 (+AAC)."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from vgen.errors import UserError
from vgen.io.atomic import atomic_path


@dataclass
class Video:
    frames: np.ndarray  # uint8 (T, H, W, 3)
    fps: float
    audio: np.ndarray | None = None  # float32 (channels, samples) in [-1, 1]
    sample_rate: int | None = None

    @property
    def duration(self) -> float:
        return len(self.frames) / self.fps if self.fps else 0.0


def read_video(path: str | Path, start: float = 0.0, end: float | None = None, audio: bool = True,
               max_frames: int | None = None) -> Video:
    """Decode ``path`` (frames in [start, end) seconds). A missing or corrupt file is a UserError naming it."""
    import av

    path = Path(path)
    if not path.is_file():
        raise UserError(f"video file not found: {path}")
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise UserError(f"{path}: no video stream")
            stream = container.streams.video[0]
            if (stream.codec_context.width or 0) * (stream.codec_context.height or 0) > 320 * 240:
                stream.thread_type = "AUTO"  # frame threads pay off on large frames; tiny clips decode faster alone
            fps = float(stream.average_rate or stream.guessed_rate or 0) or 0.0
            if start > 0:
                container.seek(int(start / stream.time_base), stream=stream, backward=True, any_frame=False)
            frames = []
            for frame in container.decode(stream):
                t = float(frame.pts * stream.time_base) if frame.pts is not None else len(frames) / (fps or 1)
                if t < start - 1e-6:
                    continue
                if end is not None and t >= end - 1e-6:
                    break
                frames.append(frame.to_ndarray(format="rgb24"))
                if max_frames and len(frames) >= max_frames:
                    break
        if not frames:
            raise UserError(f"{path}: no decodable video frames")
        wave, rate = _read_audio(path, start, end) if audio else (None, None)
    except UserError:
        raise
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise UserError(f"{path}: cannot decode video: {exc}") from None
    return Video(np.stack(frames), fps, wave, rate)


def _read_audio(path: Path, start: float = 0.0, end: float | None = None):
    import av

    with av.open(str(path)) as container:
        if not container.streams.audio:
            return None, None
        stream = container.streams.audio[0]
        rate = stream.rate
        resampler = av.AudioResampler(format="fltp", layout=stream.layout.name, rate=rate)
        chunks = []
        for frame in container.decode(stream):
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray())
        for out in resampler.resample(None):
            chunks.append(out.to_ndarray())
    if not chunks:
        return None, None
    wave = np.concatenate(chunks, axis=1).astype(np.float32)
    s, e = int(start * rate), (int(end * rate) if end is not None else None)
    return wave[:, s:e], rate


def read_audio(path: str | Path) -> tuple[np.ndarray, int]:
    """The first audio track as float32 (channels, samples) and its sample rate."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"file not found: {path}")
    try:
        wave, rate = _read_audio(path)
    except Exception as exc:
        raise UserError(f"{path}: cannot decode audio: {exc}") from None
    if wave is None:
        raise UserError(f"{path}: no audio stream")
    return wave, rate


def write_video(path: str | Path, frames, fps: float, audio: np.ndarray | None = None, sample_rate: int = 16000,
                crf: int = 18, preset: str = "medium") -> Path:
    """Write uint8 (T, H, W, 3) frames (or float in [0, 1]) as H.264 yuv420p MP4, atomically.

    ``audio``: float waveform (samples,) or (channels, samples) in [-1, 1], muxed as AAC.
    H.264 in yuv420p needs even sizes; odd sizes are padded by one edge pixel.
    """
    import av

    frames = to_uint8(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise UserError(f"frames must be (T, H, W, 3), got {tuple(frames.shape)}")
    t, h, w, _ = frames.shape
    if h % 2 or w % 2:
        frames = np.pad(frames, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)), mode="edge")
    rate = Fraction(fps).limit_denominator(1001)
    path = Path(path)
    with atomic_path(path, suffix=path.suffix or ".mp4") as tmp:
        with _defined_heap(), av.open(str(tmp), mode="w") as container:
            stream = container.add_stream(h264_encoder() or "h264", rate=rate)
            stream.width, stream.height = frames.shape[2], frames.shape[1]
            stream.pix_fmt = "yuv420p"
            stream.options = {"crf": str(crf), "preset": preset}
            astream = None
            if audio is not None:
                astream = container.add_stream("aac", rate=sample_rate)
                wave = np.atleast_2d(np.asarray(audio, dtype=np.float32))
                astream.layout = "mono" if wave.shape[0] == 1 else "stereo"
            for frame in frames:
                for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
            if astream is not None:
                _encode_audio(container, astream, wave, sample_rate)
    return path


_M_PERTURB = -6  # glibc mallopt: malloc hands out memory filled with the byte's complement, free fills with it


@contextlib.contextmanager
def _defined_heap():
    """While encoding, fresh heap memory is zeros. FFmpeg/x264 read some heap bytes before writing them: the same
    frames encoded to different pixels (up to 13/255 on 32x32 clips, about one encode in six, depending on what the
    process had allocated before), which broke bit-for-bit reruns. Zeros give what a fresh process mostly gave
    before. No-op off glibc."""
    libc = _libc()
    if libc is None or not libc.mallopt(_M_PERTURB, 0xFF):
        yield
        return
    try:
        yield
    finally:
        libc.mallopt(_M_PERTURB, 0)


@functools.cache
def _libc():
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None


def _encode_audio(container, astream, wave: np.ndarray, sample_rate: int) -> None:
    import av

    wave = np.clip(wave, -1, 1).astype(np.float32)
    chunk = 1024
    pts = 0
    for i in range(0, wave.shape[1], chunk):
        part = np.ascontiguousarray(wave[:, i:i + chunk])
        frame = av.AudioFrame.from_ndarray(part, format="fltp", layout=astream.layout.name)
        frame.sample_rate = sample_rate
        frame.pts = pts
        pts += part.shape[1]
        for packet in astream.encode(frame):
            container.mux(packet)
    for packet in astream.encode():
        container.mux(packet)


def to_uint8(frames) -> np.ndarray:
    """Accept numpy/torch, uint8 or float in [0, 1]; return uint8 numpy."""
    if hasattr(frames, "detach"):
        frames = frames.detach().cpu().float().numpy() if frames.dtype.is_floating_point else frames.cpu().numpy()
    frames = np.asarray(frames)
    if frames.dtype != np.uint8:
        frames = (np.clip(frames, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    return frames


def h264_encoder() -> str | None:
    """The H.264 encoder PyAV's FFmpeg has, or None."""
    import av

    for name in ("libx264", "h264", "libopenh264"):
        if name in av.codecs_available:
            try:
                av.Codec(name, "w")
                return name
            except Exception:
                continue
    return None


def write_preview(path: str | Path, frames, columns: int | None = None, max_frames: int = 8) -> Path:
    """A preview of ``frames``: an animated GIF for ``.gif``, else a PNG strip of up to ``max_frames`` frames."""
    from PIL import Image

    frames = to_uint8(frames)
    path = Path(path)
    if path.suffix.lower() == ".gif":
        images = [Image.fromarray(f) for f in frames]
        with atomic_path(path) as tmp:
            images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], duration=125, loop=0)
        return path
    idx = np.linspace(0, len(frames) - 1, min(max_frames, len(frames))).round().astype(int)
    picked = frames[idx]
    columns = columns or len(picked)
    rows = -(-len(picked) // columns)
    t, h, w, c = picked.shape
    grid = np.zeros((rows * h, columns * w, 3), dtype=np.uint8)
    for i, f in enumerate(picked):
        r, col = divmod(i, columns)
        grid[r * h:(r + 1) * h, col * w:(col + 1) * w] = f
    with atomic_path(path, suffix=".png") as tmp:
        Image.fromarray(grid).save(tmp, format="PNG")
    return path
