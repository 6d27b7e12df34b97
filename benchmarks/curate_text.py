"""Text-overlay detection against ground truth: precision and recall of the ``text`` filter on rendered clips.

Positives: the synthetic scenes (vgen.curate.synthetic) of every camera motion with burnt-in text in five styles
(three outlined lines, one subtitle, a pale corner watermark, a large coloured title, a scrolling ticker band) and
random words. Negatives: the same scenes without text, half of them with facades of small dark windows in rows (text-like
boxes that move with the scene), some blurred or dark.
Clips are rendered at ``--size`` and downscaled to the analysis width (160 px) as ``vgen curate`` decodes them;
the filter decides with the default ``max_text``.

    python benchmarks/curate_text.py                 # 60 clips with text and 60 without, 320x180
    python benchmarks/curate_text.py --clips 100 --size 640x360 --detectors heuristic mser
"""

from __future__ import annotations

import argparse
import time

import numpy as np

MOTIONS = ["static shot", "pan left", "pan right", "tilt up", "zoom in", "zoom out", "handheld shot"]
WORDS = ["Breaking", "news", "LIVE", "Subscribe", "2024", "Chapter", "one", "weather", "update", "SALE", "www.site.com",
         "Episode", "12", "sports", "final", "score", "@channel"]


def clips(n: int, seed: int = 0):
    """(Scene, has_text) pairs: n with text, n without."""
    from vgen.curate.synthetic import TEXT_STYLES, Scene

    rng = np.random.default_rng(seed)
    out = []
    for i in range(2 * n):
        motion = MOTIONS[int(rng.integers(len(MOTIONS)))]
        has_text = i % 2 == 0
        extras = {}
        text = None
        if has_text:
            text = " ".join(rng.choice(WORDS, size=int(rng.integers(2, 5))))
            extras["text_style"] = TEXT_STYLES[(i // 2) % len(TEXT_STYLES)]
        else:
            extras["windows"] = bool(rng.random() < 0.5)  # hard negatives: rows of small dark boxes in the scene
        blur = 1.5 if rng.random() < 0.15 else 0.0
        gain = 0.5 if rng.random() < 0.15 else 1.0
        out.append((Scene(2.0, motion, seed * 1000 + i, speed=0.1 if "zoom" in motion else 0.2, text=text, blur=blur,
                          gain=gain, extras=extras), has_text))
    return out


def analysis_frames(scene, width: int, height: int, fps: float) -> np.ndarray:
    import cv2

    from vgen.curate.clipio import analysis_size
    from vgen.curate.synthetic import render_scene

    frames = render_scene(scene, fps, width, height)
    w, h = analysis_size(width, height, 160)
    return np.stack([cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA) for f in frames])


def text_score(frames: np.ndarray, fps: float, detector: str, settings) -> tuple[float, bool]:
    from vgen_plugins.curation.text import TextOverlay

    from vgen.curate.stages import ClipContext, SourceContext, Span

    src = SourceContext(None, "x.mp4", settings, None, info={"fps": fps})
    clip = ClipContext(src, 0, Span(0, len(frames), 0), frames, np.arange(len(frames)) / fps)
    TextOverlay(settings, method=detector)(clip)
    return clip.scores["text"], clip.reason == "text"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", type=int, default=60, help="clips with text (as many without)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--size", default="320x180")
    ap.add_argument("--fps", type=float, default=10.0)
    ap.add_argument("--detectors", nargs="+", default=["heuristic", "mser"])
    args = ap.parse_args()
    width, height = (int(v) for v in args.size.split("x"))

    from vgen.curate.settings import CurateSettings

    settings = CurateSettings()
    data = [(analysis_frames(s, width, height, args.fps), has, s.extras.get("text_style", "-"))
            for s, has in clips(args.clips, args.seed)]
    header = ("detector", "precision", "recall", "false pos", "missed", "missed styles", "ms/clip")
    rows = []
    for det in args.detectors:
        t0 = time.time()
        results = [(text_score(f, args.fps, det, settings)[1], has, style) for f, has, style in data]
        dt = (time.time() - t0) / len(data) * 1000
        tp = sum(p and h for p, h, _ in results)
        fp = sum(p and not h for p, h, _ in results)
        fn = [style for p, h, style in results if h and not p]
        rows.append((det, f"{tp / max(1, tp + fp):.3f}", f"{tp / max(1, tp + len(fn)):.3f}", fp, len(fn),
                     ", ".join(sorted(set(fn))) or "-", f"{dt:.0f}"))
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))


if __name__ == "__main__":
    main()
