"""Curation throughput on this machine: clips/s and video-seconds/s of `vgen curate`, printed as a table.

Sources are synthetic H.264 videos (vgen.curate.synthetic: pans, tilts, zooms, handheld, static, blurred and text
scenes with hard cuts). Every configuration runs the full default stage list into a fresh output folder.

    python benchmarks/curate_throughput.py                      # 8 sources of 30 s at 320x180, 24 fps
    python benchmarks/curate_throughput.py --size 640x360 --workers 1 2 --engines local ray
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

KINDS = ["pan left", "pan right", "tilt up", "tilt down", "zoom in", "zoom out", "handheld shot", "static shot"]


def make_sources(folder: Path, n: int, seconds: float, width: int, height: int, fps: float) -> float:
    import numpy as np

    from vgen.curate.synthetic import Scene, write_scenes

    rng = np.random.default_rng(0)
    total = 0.0
    for i in range(n):
        scenes, t = [], 0.0
        while t < seconds - 1e-6:
            d = min(float(rng.uniform(4.5, 8.0)), seconds - t)
            kind = KINDS[rng.integers(len(KINDS))]
            scenes.append(Scene(d, kind, seed=i * 100 + len(scenes), speed=0.1 if "zoom" in kind else 0.2,
                                blur=2.5 if rng.random() < 0.1 else 0.0,
                                text="Breaking news" if rng.random() < 0.1 else None))
            t += d
        write_scenes(folder / f"src{i:03d}.mp4", scenes, fps, width, height)
        total += t
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sources", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=30.0, help="length of each source")
    ap.add_argument("--size", default="320x180")
    ap.add_argument("--fps", type=float, default=24.0)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--engines", nargs="+", default=["local"], choices=["local", "ray"])
    args = ap.parse_args()
    width, height = (int(v) for v in args.size.split("x"))

    from vgen.curate.run import curate
    from vgen.settings import load_section

    root = Path(tempfile.mkdtemp(prefix="vgen-curate-bench-"))
    try:
        inp = root / "in"
        inp.mkdir()
        t0 = time.time()
        video_s = make_sources(inp, args.sources, args.seconds, width, height, args.fps)
        print(f"made {args.sources} sources, {video_s:.0f} s of {width}x{height} @ {args.fps:g} fps "
              f"in {time.time() - t0:.1f} s")
        rows = []
        for engine in args.engines:
            for workers in args.workers:
                out = root / f"out-{engine}-{workers}"
                settings = load_section("curate", None, {"engine": engine, "workers": workers,
                                                         "min_side": min(width, height)})
                t0 = time.time()
                result = curate(inp, out, settings)
                dt = time.time() - t0
                clips = sum(r.status != "error" for r in result.records)
                kept = sum(r.status == "kept" for r in result.records)
                rows.append((engine, workers, args.sources, f"{video_s:.0f}", clips, kept, f"{dt:.1f}",
                             f"{clips / dt:.2f}", f"{video_s / dt:.1f}"))
        header = ("engine", "workers", "sources", "video s", "clips", "kept", "wall s", "clips/s", "video-s/s")
        widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
        for row in [header, *rows]:
            print("  ".join(str(c).rjust(w) for c, w in zip(row, widths, strict=True)))
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
