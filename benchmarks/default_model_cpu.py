"""Wall time of the whole `vgen sample "a red circle moving right"` command (start-up included) on this CPU.

    python benchmarks/default_model_cpu.py [--weights DIR] [--runs 3] [--threads 2]

Without shipped weights (or --weights) it times the default model's architecture with random weights
(`--config default`): the same work, so the same time. Prints a table of each run and the median.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", help="a shapes model folder (default: the shipped weights, else random)")
    parser.add_argument("--prompt", default="a red circle moving right")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    from vgen_plugins.shapes_model.pipeline import WEIGHTS_DIR

    source = ["--weights", args.weights] if args.weights else (
        [] if (WEIGHTS_DIR / "model_index.json").is_file() else ["--config", "default"])
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(args.runs):
            out = Path(tmp) / f"run{run}"
            t0 = time.perf_counter()
            res = subprocess.run([sys.executable, "-m", "vgen", "sample", args.prompt, *source, "--device", "cpu",
                                  "--out", str(out), "--json"], env=env, capture_output=True, text=True)
            wall = time.perf_counter() - t0
            if res.returncode:
                sys.exit(res.stderr.strip())
            timings = json.loads(next(out.glob("*.json")).read_text())["timings"]
            rows.append((wall, timings))
    cpu = platform.processor() or platform.machine()
    print(f"vgen sample {args.prompt!r} ({' '.join(source) or 'shipped weights'}), 17x64x64, "
          f"{args.threads} threads, {os.cpu_count()} CPUs ({cpu})")
    print("| run | wall s (whole command) | load s | denoise s | s/step | decode s |")
    print("| --- | --- | --- | --- | --- | --- |")
    for i, (wall, t) in enumerate(rows):
        print(f"| {i} | {wall:.2f} | {t['load_pipeline']:.2f} | {t['denoise']:.2f} | {t['s_per_step']:.3f} | "
              f"{t['decode']:.2f} |")
    print(f"median wall: {statistics.median(w for w, _ in rows):.2f} s")


if __name__ == "__main__":
    main()
