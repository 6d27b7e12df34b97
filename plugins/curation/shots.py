"""Shot boundaries with PySceneDetect, and cutting shots into clips of the recipe's duration range.

The adaptive detector compares each frame's content change with its neighbours' (robust to camera motion), the
content detector thresholds the change itself (robust to slow scenes); with both, ``combine = "intersection"``
keeps the cuts they agree on within one frame (precision), ``"union"`` keeps either (recall).
"""

from __future__ import annotations

import math

from vgen.curate.stages import Rejected, Shot, SourceContext, Span


def detect_cuts(path, settings, width: int) -> tuple[list[int], int]:
    """Cut frames (the first frame of each new shot) of the video at ``path``, and the number of frames read."""
    from scenedetect import AdaptiveDetector, ContentDetector, SceneManager, open_video

    found: list[list[int]] = []
    frames = 0
    for name in settings.detectors:
        video = open_video(str(path), backend="pyav", suppress_output=True)  # keep FFmpeg quiet
        manager = SceneManager()
        manager.auto_downscale = False
        manager.downscale = max(1, int(width // settings.detect_width))
        if name == "adaptive":
            manager.add_detector(AdaptiveDetector(adaptive_threshold=settings.adaptive_threshold,
                                                  min_scene_len=settings.min_shot_frames))
        else:
            manager.add_detector(ContentDetector(threshold=settings.content_threshold,
                                                 min_scene_len=settings.min_shot_frames))
        frames = manager.detect_scenes(video)
        found.append([scene[0].frame_num for scene in manager.get_scene_list()][1:])
    return combine_cuts(found, settings.combine, settings.min_shot_frames), frames


def combine_cuts(found: list[list[int]], mode: str, min_gap: int) -> list[int]:
    if len(found) == 1:
        return sorted(found[0])
    if mode == "intersection":
        first, rest = found[0], found[1:]
        return sorted(c for c in first if all(any(abs(c - d) <= 1 for d in other) for other in rest))
    merged: list[int] = []
    for c in sorted(c for cuts in found for c in cuts):
        if not merged or c - merged[-1] >= min_gap:
            merged.append(c)
    return merged


class ShotSplitter:
    def __init__(self, settings):
        self.settings = settings

    def __call__(self, src: SourceContext) -> list[Shot]:
        try:
            cuts, total = detect_cuts(src.path, self.settings, src.info["width"])
        except Exception as exc:  # PySceneDetect wraps decoder failures in its own exceptions
            raise Rejected("corrupt", f"shot detection failed ({type(exc).__name__}: {exc})") from None
        if total <= 0:
            raise Rejected("corrupt", "no frames decoded")
        src.info["frames"] = total
        bounds = [0, *[c for c in cuts if 0 < c < total], total]
        src.info["cuts"] = bounds[1:-1]
        return [Shot(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a]


class Cutter:
    """Trim ``trim_frames`` next to each cut, reject shots shorter than ``min_duration``, and split shots longer
    than ``max_duration`` into equal pieces (each at least ``min_duration`` when ``max >= 2 * min``)."""

    def __init__(self, settings):
        self.settings = settings

    def __call__(self, src: SourceContext, shots: list[Shot]) -> list[Span]:
        s, fps, total = self.settings, src.fps, src.info["frames"]
        spans = []
        for i, shot in enumerate(shots):
            a = shot.start + (s.trim_frames if shot.start > 0 else 0)
            b = shot.end - (s.trim_frames if shot.end < total else 0)
            n = b - a
            if n <= 0 or n / fps < s.min_duration:
                spans.append(Span(shot.start, shot.end, i, reason="too_short"))
                continue
            pieces = max(1, math.ceil(n / max(1, math.floor(s.max_duration * fps + 1e-6))))
            edges = [a + round(k * n / pieces) for k in range(pieces + 1)]
            spans.extend(Span(lo, hi, i) for lo, hi in zip(edges[:-1], edges[1:], strict=True))
        return spans
