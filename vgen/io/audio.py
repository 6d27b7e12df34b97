"""A new soundtrack for an existing video through PyAV: the video stream is copied packet for packet (never decoded
and re-encoded), the sound is encoded as AAC beside it. ``probe`` says what a file holds before anything is written."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vgen.errors import UserError
from vgen.io.atomic import atomic_path


@dataclass
class Probe:
    frames: int  # decodable video frames
    fps: float
    has_audio: bool

    @property
    def seconds(self) -> float:
        return self.frames / self.fps if self.fps else 0.0


def probe(path: str | Path) -> Probe:
    """Frames, rate and whether ``path`` has sound; a UserError (one line naming the file) when it is missing,
    unreadable, has no video stream or no frame."""
    import av

    path = Path(path)
    if not path.is_file():
        raise UserError(f"video file not found: {path}")
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise UserError(f"{path}: no video stream")
            stream = container.streams.video[0]
            fps = float(stream.average_rate or stream.guessed_rate or 0) or 0.0
            frames = sum(1 for _ in container.decode(stream))
            has_audio = bool(container.streams.audio)
    except UserError:
        raise
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise UserError(f"{path}: cannot read video: {exc}") from None
    if frames == 0:
        raise UserError(f"{path}: no video frames")
    if not fps > 0:
        raise UserError(f"{path}: unknown frame rate")
    return Probe(frames, fps, has_audio)


def mux_audio(video: str | Path, out: str | Path, wave: np.ndarray, sample_rate: int, bitrate: int = 96000) -> Path:
    """Write ``out``: the first video stream of ``video`` copied packet for packet, and ``wave`` (float (samples,) or
    (channels, samples) in [-1, 1]) as an AAC track. ``video``'s own sound is dropped. Atomic."""
    import av

    from vgen.io.video import _encode_audio

    wave = np.atleast_2d(np.asarray(wave, dtype=np.float32))
    out = Path(out)
    with atomic_path(out, suffix=out.suffix or ".mp4") as tmp:
        with av.open(str(video)) as src, av.open(str(tmp), mode="w") as dst:
            vin = src.streams.video[0]
            vout = dst.add_stream_from_template(vin)
            aout = dst.add_stream("aac", rate=sample_rate)
            aout.layout = "mono" if wave.shape[0] == 1 else "stereo"
            aout.bit_rate = bitrate
            for packet in src.demux(vin):
                if packet.dts is None:  # the demuxer's end-of-stream marker
                    continue
                packet.stream = vout
                dst.mux(packet)
            _encode_audio(dst, aout, wave, sample_rate)
    return out


def mono_at(wave: np.ndarray | None, rate: int | None, sample_rate: int) -> np.ndarray | None:
    """float32 mono (samples,) at ``sample_rate`` from (channels, samples) or (samples,) at ``rate`` (linear
    resampling; the same rate passes through unchanged)."""
    if wave is None:
        return None
    wave = np.asarray(wave, dtype=np.float32)
    mono = wave.mean(axis=0) if wave.ndim == 2 else wave
    if rate and rate != sample_rate and len(mono):
        n = int(round(len(mono) * sample_rate / rate))
        mono = np.interp(np.arange(n) * rate / sample_rate, np.arange(len(mono)), mono).astype(np.float32)
    return np.ascontiguousarray(mono, dtype=np.float32)


def video_packets(path: str | Path) -> list[tuple[bytes, int | None, int | None, bool]]:
    """(payload, pts, dts, keyframe) of every packet of the first video stream, in the time base of the stream."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return [(bytes(p), p.pts, p.dts, bool(p.is_keyframe)) for p in container.demux(stream) if p.dts is not None]
