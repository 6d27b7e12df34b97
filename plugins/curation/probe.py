"""Probe a source with PyAV (no decoding beyond one frame): duration, fps, size, codec, audio, keyframe times.

Unreadable inputs raise ``Rejected`` with a short reason: ``empty_file``, ``not_a_video`` (FFmpeg cannot open it),
``no_video_stream`` (audio only), ``still_image`` (an image, possibly under a video name), ``corrupt`` (opens but
no frame decodes).
"""

from __future__ import annotations

from vgen.curate.clipio import VIDEO_MAGIC, sniff
from vgen.curate.stages import Rejected, SourceContext

IMAGE_CODECS = {"mjpeg", "png", "bmp", "gif", "webp", "tiff", "jpeg2000", "ppm", "pgm"}
# the containers FFmpeg reports, by file extension
CONTAINER_OF = {".mp4": "mov", ".m4v": "mov", ".mov": "mov", ".mkv": "matroska", ".webm": "matroska", ".avi": "avi",
                ".ts": "mpegts", ".mpg": "mpeg", ".mpeg": "mpeg", ".flv": "flv", ".wmv": "asf"}


class Probe:
    def __init__(self, settings):
        self.settings = settings

    def __call__(self, src: SourceContext) -> None:
        import av

        path = src.path
        if path.stat().st_size == 0:
            raise Rejected("empty_file", "0 bytes")
        try:
            container = av.open(str(path))
        except (av.error.FFmpegError, OSError, ValueError) as exc:
            kind = sniff(path)
            if kind in VIDEO_MAGIC:  # looks like a video container but FFmpeg cannot parse it: damaged
                raise Rejected("corrupt", f"{kind} file FFmpeg cannot open ({_short(exc)})") from None
            raise Rejected("not_a_video", f"{kind} data, FFmpeg cannot open it ({_short(exc)})") from None
        with container:
            if not container.streams.video:
                kinds = ",".join(sorted({s.type for s in container.streams})) or "no streams"
                raise Rejected("no_video_stream", f"streams: {kinds}")
            stream = container.streams.video[0]
            codec = stream.codec_context.name
            fmt = container.format.name
            fps = float(stream.average_rate or stream.guessed_rate or 0)
            if fps <= 0:
                raise Rejected("corrupt", "no frame rate")
            keyframes, last_pts, packets = [], None, 0
            try:
                for packet in container.demux(stream):
                    if packet.pts is None:
                        continue
                    packets += 1
                    t = float(packet.pts * stream.time_base)
                    last_pts = t if last_pts is None else max(last_pts, t)
                    if packet.is_keyframe:
                        keyframes.append(t)
            except (av.error.FFmpegError, ValueError) as exc:
                raise Rejected("corrupt", f"demuxing failed ({_short(exc)})") from None
            if packets == 0:
                raise Rejected("corrupt", "no video packets")
            if fmt == "image2" or fmt.endswith("_pipe") or (codec in IMAGE_CODECS and packets <= 1):
                raise Rejected("still_image", f"{codec} image in a {src.path.suffix or 'nameless'} file")
            start = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
            width, height = stream.codec_context.width, stream.codec_context.height
        _check_decodes(path)
        expected = CONTAINER_OF.get(path.suffix.lower())
        src.info.update(
            fps=fps, width=width, height=height, codec=codec, container=fmt, packets=packets,
            start_time=start, duration=(last_pts - start) + 1 / fps, keyframes=sorted(keyframes),
            audio=_has_audio(path),
            misnamed=bool(expected) and expected not in fmt.split(","),
        )


def _check_decodes(path) -> None:
    import av

    try:
        with av.open(str(path)) as container:
            for _ in container.decode(video=0):
                return
    except (av.error.FFmpegError, ValueError) as exc:
        raise Rejected("corrupt", f"cannot decode ({_short(exc)})") from None
    raise Rejected("corrupt", "no frame decodes")


def _has_audio(path) -> bool:
    import av

    with av.open(str(path)) as container:
        return bool(container.streams.audio)


def _short(exc: Exception) -> str:
    return str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
