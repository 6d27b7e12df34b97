"""Where `vgen train cache` spends its time on the default model's clips (64x64, 17 frames), printed as a table:
decoding alone (worker processes), the VAE encode alone (random pixels, by batch size) and the whole cache write
(by encode batch). The VAE is the default model's config with random weights: the same work as trained ones.

    python benchmarks/train_cache.py                                  # 512 clips, 2 workers, batches 8 32
    python benchmarks/train_cache.py --clips 2048 --workers 16 --batches 32 256
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", type=int, default=512)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batches", type=int, nargs="+", default=[8, 32])
    ap.add_argument("--recipe", default="shapes-default-anneal")
    args = ap.parse_args()

    from vgen.settings import load_section
    from vgen.train.data import assign_bucket, decode_clips, read_clips, write_cache
    from vgen.train.trainer import build_pipeline

    tmp = Path(tempfile.mkdtemp(prefix="vgen-cache-bench-"))
    subprocess.run([sys.executable, "-m", "vgen", "-q", "datasets", "shapes", "--num", str(args.clips), "--out",
                    str(tmp / "data"), "--seed", "0", "--caption-form", "mixed"], check=True, stdout=subprocess.DEVNULL)
    s = load_section("train", args.recipe, {"data": tmp / "data"})
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    pipe = build_pipeline(s, device, dtype)
    clips = read_clips(s.data)
    buckets = [tuple(b) for b in s.stages[0].buckets]
    pairs = [(c, buckets[assign_bucket(c, buckets)]) for c in clips]
    rows = []

    t0 = time.perf_counter()
    n = sum(1 for _ in decode_clips(pairs, args.workers))
    rows.append((f"decode only, {args.workers} worker processes", n / (time.perf_counter() - t0)))

    f, h, w = buckets[0]
    for b in args.batches:
        x = torch.rand(b, 3, f, h, w, device=device, dtype=dtype) * 2 - 1
        with torch.no_grad():
            pipe.encode_video(x)  # warm-up: cuDNN picks its algorithms
            sync(device)
            t0, reps = time.perf_counter(), max(1, 1024 // b) if device.type == "cuda" else 1
            for _ in range(reps):
                pipe.encode_video(x)
            sync(device)
        rows.append((f"VAE encode only, batch {b} ({dtype})", reps * b / (time.perf_counter() - t0)))

    for b in args.batches:
        t0 = time.perf_counter()
        done = write_cache(pipe, clips, s.stages, tmp / f"cache{b}", s.cache_shard_size, {}, device=device,
                           dtype=dtype, encode_batch=b, workers=args.workers)
        rows.append((f"whole cache write, encode batch {b}", done["samples"] / (time.perf_counter() - t0)))

    name = torch.cuda.get_device_name() if device.type == "cuda" else "CPU"
    print(f"\n`vgen train cache` parts, {len(clips)} clips of {f}x{h}x{w}, {name}, torch {torch.__version__}\n")
    print("| part | clips/s |\n| --- | --- |")
    for label, rate in rows:
        print(f"| {label} | {rate:,.0f} |")


if __name__ == "__main__":
    main()
