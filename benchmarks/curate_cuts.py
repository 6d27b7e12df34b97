"""Shot-detector precision and recall on synthetic cuts, per detector and per combination, printed as a table.

Each source chains scenes of every kind (pans, tilts, zooms, static, mild and strong handheld, fast pans) with hard
cuts at known frames; a cut counts as found within +-1 frame. Hard cases come first: a pan into strong handheld
footage (the missed-cut case), fast pans and zooms (false-cut bait). Every detector runs in one decode per source.

    python benchmarks/curate_cuts.py                  # 12 sources, 96x64 at 10 fps
    python benchmarks/curate_cuts.py --sources 30 --size 160x90
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
from pathlib import Path

import numpy as np

KINDS = ["pan left", "pan right", "tilt up", "tilt down", "zoom in", "zoom out", "static shot", "handheld shot",
         "strong handheld", "fast pan"]


def scene_for(kind: str, seed: int, rng):
    from vgen.curate.synthetic import Scene

    seconds = float(rng.uniform(1.5, 3.5))
    if kind == "strong handheld":
        return Scene(seconds, "handheld shot", seed, shake=float(rng.uniform(2.5, 4.0)))
    if kind == "fast pan":
        return Scene(seconds, str(rng.choice(["pan left", "pan right"])), seed, speed=float(rng.uniform(0.5, 0.8)))
    speed = float(rng.uniform(0.1, 0.25)) if "zoom" in kind else float(rng.uniform(0.15, 0.35))
    return Scene(seconds, kind, seed, speed=speed)


def make_sources(folder: Path, n: int, width: int, height: int, fps: float) -> list[tuple[Path, list[int]]]:
    from vgen.curate.synthetic import Scene, write_scenes

    rng = np.random.default_rng(0)
    out = []
    for v in range(n):
        if v == 0:  # the missed-cut case: a pan into strong handheld footage, and out of it
            scenes = [Scene(3.0, "pan right", 1, speed=0.4), Scene(3.0, "handheld shot", 2, shake=2.0),
                      Scene(3.0, "pan left", 3)]
        else:
            scenes = [scene_for(KINDS[int(rng.integers(len(KINDS)))], v * 50 + i, rng) for i in range(6)]
        path = folder / f"cuts{v:02d}.mp4"
        out.append((path, write_scenes(path, scenes, fps, width, height)))
    return out


def score(found: list[int], truth: list[int]) -> tuple[int, int, int]:
    tp = sum(1 for f in found if any(abs(f - c) <= 1 for c in truth))
    fn = sum(1 for c in truth if not any(abs(f - c) <= 1 for f in found))
    return tp, len(found) - tp, fn


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sources", type=int, default=12)
    ap.add_argument("--size", default="96x64")
    ap.add_argument("--fps", type=float, default=10.0)
    args = ap.parse_args()
    width, height = (int(v) for v in args.size.split("x"))

    from vgen_plugins.curation.shots import DETECTORS, combine_cuts, detect_cuts_each

    from vgen.curate.settings import CurateSettings

    settings = CurateSettings(detectors=list(DETECTORS))
    with tempfile.TemporaryDirectory(prefix="vgen-cuts-") as root:
        sources = make_sources(Path(root), args.sources, width, height, args.fps)
        runs = [(detect_cuts_each(path, settings)[0], truth) for path, truth in sources]
    configs = [((d,), "union") for d in DETECTORS]
    for k in (2, 3, 4):
        for combo in itertools.combinations(DETECTORS, k):
            configs += [(combo, "intersection"), (combo, "union")] + ([(combo, "majority")] if k > 2 else [])
    rows = []
    for combo, mode in configs:
        tp = fp = fn = 0
        first_ok = True
        for i, (each, truth) in enumerate(runs):
            found = combine_cuts([each[d] for d in combo], mode, settings.min_shot_frames)
            a, b, c = score(found, truth)
            tp, fp, fn = tp + a, fp + b, fn + c
            if i == 0:
                first_ok = b == 0 and c == 0
        p, r = tp / max(1, tp + fp), tp / max(1, tp + fn)
        rows.append(("+".join(combo), mode if len(combo) > 1 else "-", tp + fn, fp, fn, f"{p:.3f}", f"{r:.3f}",
                     f"{2 * p * r / max(p + r, 1e-9):.3f}", "yes" if first_ok else "no"))
    rows.sort(key=lambda r: -float(r[7]))
    header = ("detectors", "combine", "cuts", "false", "missed", "precision", "recall", "F1", "pan->handheld")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(str(c).rjust(w) for c, w in zip(row, widths, strict=True)))


if __name__ == "__main__":
    main()
