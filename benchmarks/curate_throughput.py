"""Curation throughput on this machine (clips/s and video-seconds/s of `vgen curate`), and how right it is.

Sources are synthetic H.264 videos (vgen.curate.synthetic: pans, tilts, zooms, handheld, static, moving objects over
a still camera, blurred and text scenes with hard cuts, some into strong handheld footage). Every configuration runs
the full default stage list into a fresh output folder. Against the ground truth of the first run it reports: cuts
found (+-1 frame) and false cuts, kept clips spanning a cut, moving scenes kept, static / blurred / text scenes
rejected with that reason among their reasons, and camera labels per class.

    python benchmarks/curate_throughput.py                      # 8 sources of 30 s at 320x180, 24 fps
    python benchmarks/curate_throughput.py --size 640x360 --workers 1 2 --engines local ray
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

KINDS = ["pan left", "pan right", "tilt up", "tilt down", "zoom in", "zoom out", "handheld shot", "static shot",
         "moving objects", "strong handheld"]


def make_sources(folder: Path, n: int, seconds: float, width: int, height: int, fps: float) -> tuple[float, dict]:
    """Writes the sources; returns their seconds and the truth: per source, the cut frames and each scene's
    (first frame, end frame, kind, expected reason or None)."""
    import numpy as np

    from vgen.curate.synthetic import Scene, write_scenes

    rng = np.random.default_rng(0)
    total, truth = 0.0, {}
    for i in range(n):
        scenes, expect, t = [], [], 0.0
        while t < seconds - 1e-6:
            d = float(rng.uniform(4.5, 8.0))
            d = seconds - t if seconds - t - d < 4.5 else d  # no scene shorter than a clip
            kind = KINDS[rng.integers(len(KINDS))]
            blur = 2.5 if rng.random() < 0.1 else 0.0
            text = "Breaking news tonight" if rng.random() < 0.1 and not blur else None  # crisp text over blur is sharp
            motion, extras, shake = kind, {}, 1.2 * width / 96 if kind == "handheld shot" else None
            if kind == "moving objects":
                motion, extras = "static shot", {"objects": int(rng.integers(1, 3)), "object_size": 0.08}
            elif kind == "strong handheld":
                motion, shake = "handheld shot", 1.6 * width / 96
            scenes.append(Scene(d, motion, seed=i * 100 + len(scenes), speed=0.1 if "zoom" in kind else 0.2,
                                blur=blur, text=text, extras=extras, shake=shake))
            expect.append((kind, "blurry" if blur else "text" if text else "static" if kind == "static shot" else None))
            t += d
        cuts = write_scenes(folder / f"src{i:03d}.mp4", scenes, fps, width, height)
        bounds = [0, *cuts, None]
        truth[f"src{i:03d}.mp4"] = {"cuts": cuts, "scenes": [(bounds[k], bounds[k + 1], *e)
                                                              for k, e in enumerate(expect)]}
        total += t
    return total, truth


def check(result, truth: dict, fps: float) -> list[str]:
    """Lines of correctness numbers for the closing note."""
    from collections import Counter

    found = missed = false = spans = 0
    moving = moving_kept = 0
    rejects: Counter = Counter()
    rejects_right: Counter = Counter()
    labels: dict[str, Counter] = {}
    cuts_found = result.summary.get("cuts", {})
    for name, t in truth.items():
        got = cuts_found.get(name, {}).get("frames", [])
        found += sum(any(abs(g - c) <= 1 for g in got) for c in t["cuts"])
        missed += sum(not any(abs(g - c) <= 1 for g in got) for c in t["cuts"])
        false += sum(not any(abs(g - c) <= 1 for c in t["cuts"]) for g in got)
        recs = [r for r in result.records if r.labels.get("input") == name and r.status != "error"]
        for r in recs:
            a, b = round(r.start * fps), round((r.end or 0) * fps)
            inside = [c for c in t["cuts"] if a < c < b]
            spans += r.status == "kept" and bool(inside)
        for start, end, kind, reason in t["scenes"]:
            mine = [r for r in recs if start <= round(r.start * fps) and (end is None or round(r.end * fps) <= end)]
            for r in mine:
                if reason is None and kind != "strong handheld":
                    moving += 1
                    moving_kept += r.status == "kept"
                    labels.setdefault(kind, Counter())[r.labels.get("camera_motion", "?")] += 1
                elif reason is not None:
                    rejects[reason] += 1
                    rejects_right[reason] += reason in (r.labels.get("reasons") or [])
                    if reason not in (r.labels.get("reasons") or []):
                        print("  wrong:", name, kind, reason, r.status, r.labels.get("reasons"), r.scores)
    lines = [f"cuts: {found}/{found + missed} found (+-1 frame), {false} false; kept clips spanning a cut: {spans}",
             f"moving scenes' clips kept: {moving_kept}/{moving}"]
    lines += [f"{reason} scenes' clips rejected with '{reason}' among the reasons: {rejects_right[reason]}/{n}"
              for reason, n in sorted(rejects.items())]
    for kind, c in sorted(labels.items()):
        want = "static shot" if kind == "moving objects" else kind
        lines.append(f"camera label of {kind}: {c[want]}/{sum(c.values())} '{want}'"
                     + (f" (others: {dict(c - Counter({want: c[want]}))})" if c[want] < sum(c.values()) else ""))
    return lines


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
        video_s, truth = make_sources(inp, args.sources, args.seconds, width, height, args.fps)
        print(f"made {args.sources} sources, {video_s:.0f} s of {width}x{height} @ {args.fps:g} fps "
              f"in {time.time() - t0:.1f} s")
        rows, notes = [], []
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
                if not notes:
                    notes = check(result, truth, args.fps)
                rows.append((engine, workers, args.sources, f"{video_s:.0f}", clips, kept, f"{dt:.1f}",
                             f"{clips / dt:.2f}", f"{video_s / dt:.1f}"))
        header = ("engine", "workers", "sources", "video s", "clips", "kept", "wall s", "clips/s", "video-s/s")
        widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
        for row in [header, *rows]:
            print("  ".join(str(c).rjust(w) for c, w in zip(row, widths, strict=True)))
        print("\n".join(notes))
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
