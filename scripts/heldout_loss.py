"""Flow-matching loss of a DiT on latent caches, at the same timesteps and noise for every cache: a cache of clips
the model trained on against one of new clips says whether it learnt the world or memorised its clips.

    python scripts/heldout_loss.py WEIGHTS CACHE [CACHE ...] [--clips 256] [--batch 32]

Each clip is scored at 8 timesteps (the logit-normal's octiles, as in training with logit_mean 0, logit_std 1,
shift 1), noise drawn from a generator keyed by the clip's position in its cache, captions as cached (none dropped).
Prints one row per cache: mean loss and its standard error over clips.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import torch

T_GRID = torch.sigmoid(torch.distributions.Normal(0.0, 1.0).icdf(torch.arange(1, 9) / 9.0))


def cache_loss(pipe, folder: Path, clips: int, batch: int) -> list[float]:
    from vgen.pipeline import cat_text
    from vgen.train import objectives
    from vgen.train.data import LatentCache, generator

    cache = LatentCache(folder)
    entries = cache.entries[:clips]
    per_clip = []
    for start in range(0, len(entries), batch):
        chunk = entries[start:start + batch]
        x0 = torch.stack([cache.latents(e) for e in chunk]).float()
        text = cat_text([cache.text(e) for e in chunk])
        noise = torch.stack([torch.randn(x0.shape[1:], generator=generator("heldout", start + i))
                             for i in range(len(chunk))])
        losses = torch.zeros(len(chunk))
        for t in T_GRID:
            ts = torch.full((len(chunk),), float(t))
            x_t, timestep, target = objectives.flow_matching_inputs(x0, ts, noise)
            with torch.no_grad():
                pred = pipe.denoise(x_t, timestep, text)
            losses += objectives.per_sample_mse(pred.float(), target) / len(T_GRID)
        per_clip += losses.tolist()
    return per_clip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("weights", type=Path)
    ap.add_argument("caches", type=Path, nargs="+")
    ap.add_argument("--clips", type=int, default=256)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--pipeline", default="shapes")
    args = ap.parse_args()

    import vgen

    pipe = vgen.load(args.pipeline, weights=args.weights)
    print(f"\nflow-matching loss of {args.weights} (8 timesteps a clip, same noise in every cache)\n")
    print("| cache | clips | mean loss | std. error |\n| --- | --- | --- | --- |")
    for folder in args.caches:
        values = cache_loss(pipe, folder, args.clips, args.batch)
        sem = statistics.stdev(values) / len(values) ** 0.5 if len(values) > 1 else float("nan")
        print(f"| {folder} | {len(values)} | {statistics.fmean(values):.5f} | {sem:.5f} |")


if __name__ == "__main__":
    main()
