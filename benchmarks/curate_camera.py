"""Camera-motion labels against ground truth: per-class precision and recall over HunyuanVideo's 14 classes.

The test set is rendered by the project (vgen.curate.camera_scenes): layered scenes at several depths filmed by a
virtual camera that pans (translates), tilts (turns), orbits, zooms (focal length or dolly), shakes or stays still,
with random speeds, lenses (55-75 degrees) and depths. Each clip is encoded to H.264 and decoded again (as
``vgen curate`` sees it) and labelled by the ``camera-motion`` stage at the default settings.

    python benchmarks/curate_camera.py                       # 10 clips per class, 128x80 at 10 fps
    python benchmarks/curate_camera.py --per-class 20 --seed 1 --size 160x90 --fps 24
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np


def label_clip(frames: np.ndarray, fps: float, settings) -> str:
    from vgen_plugins.curation.motion import CameraMotion

    from vgen.curate.stages import ClipContext, SourceContext, Span

    src = SourceContext(Path("clip.mp4"), "clip.mp4", settings, Path("."), info={"fps": fps})
    clip = ClipContext(src, 0, Span(0, len(frames), 0), frames, np.arange(len(frames)) / fps)
    CameraMotion(settings)(clip)
    return clip.labels["camera_motion"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--per-class", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--size", default="128x80")
    ap.add_argument("--fps", type=float, default=10.0)
    ap.add_argument("--no-encode", action="store_true", help="label the rendered frames without H.264")
    args = ap.parse_args()
    width, height = (int(v) for v in args.size.split("x"))

    from vgen.curate.camera_scenes import CLASSES, labelled_set, render_camera_scene
    from vgen.curate.settings import CurateSettings
    from vgen.io.video import read_video, write_video

    settings = CurateSettings()
    truth, guess = [], []
    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix="vgen-camera-") as root:
        for i, scene in enumerate(labelled_set(args.per_class, args.seed)):
            frames = render_camera_scene(scene, args.fps, width, height)
            if not args.no_encode:
                path = Path(root) / f"{i}.mp4"
                write_video(path, frames, args.fps, preset="veryfast")
                frames = read_video(path, audio=False).frames
            truth.append(scene.motion)
            guess.append(label_clip(frames, args.fps, settings))
    rows, worst = [], 1.0
    for c in CLASSES:
        tp = sum(t == c and g == c for t, g in zip(truth, guess, strict=True))
        p = tp / max(1, sum(g == c for g in guess))
        r = tp / max(1, sum(t == c for t in truth))
        worst = min(worst, p, r)
        wrong = Counter(g for t, g in zip(truth, guess, strict=True) if t == c and g != c)
        rows.append((c, sum(t == c for t in truth), f"{p:.2f}", f"{r:.2f}",
                     ", ".join(f"{k} {n}" for k, n in wrong.most_common()) or "-"))
    header = ("class", "clips", "precision", "recall", "mistaken for")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))
    accuracy = np.mean([t == g for t, g in zip(truth, guess, strict=True)])
    print(f"accuracy {accuracy:.3f} over {len(truth)} clips; lowest per-class precision or recall {worst:.2f}; "
          f"{time.time() - t0:.1f} s")


if __name__ == "__main__":
    main()
