"""What the VAE's scaling factor does to DiT training: the shipped shapes VAE at HunyuanVideo's 0.476986 (latents of
std ~0.33) against its fitted 1/std (unit variance), the same DiT recipe and data, a short run each.

    python benchmarks/latent_scale.py                    # 1000 clips, 300 steps x 32 clips: ~15 min on 2 CPU cores
    python benchmarks/latent_scale.py --clips 64 --steps 5

Prints, per scale and noise level t, the relative error of the DiT's clean-latent estimate x0 = x_t - t * v
(scale-free, so the two runs compare) and how much the prompt changes the prediction (cond vs empty prompt).
Seen on 2 CPU cores (1000 clips, 300 steps): at t = 0.3 / 0.5 / 0.7 the x0 error was 0.165 / 0.407 / 0.771 with 0.477
and 0.039 / 0.107 / 0.282 fitted; the prompt's effect at t = 0.9 was 0.035 and 0.147.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

VAE = Path(__file__).resolve().parents[1] / "plugins" / "shapes_model" / "weights" / "vae"


def vgen(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "vgen", "-q", *args], check=True, stdout=subprocess.DEVNULL)


def pipeline_with_scale(scale: float, out: Path) -> Path:
    from vgen_plugins.shapes_model.pipeline import ShapesPipeline

    pipe = ShapesPipeline.with_vae(VAE)
    pipe.vae.config.scaling_factor = scale
    return pipe.save(out)


def probe(run: Path, cache: Path, n: int = 48) -> tuple[float, list[tuple[float, float, float]]]:
    """(std of the latents, [(t, x0 rel. error, cond vs uncond)]) on the first ``n`` cached clips."""
    from vgen_plugins.shapes_model.pipeline import ShapesPipeline

    from vgen.train.data import LatentCache

    pipe, c = ShapesPipeline.load(run / "final"), LatentCache(cache)
    entries = c.entries[:n]
    x0 = torch.stack([c.latents(e).float() for e in entries])
    text = {k: torch.cat([c.text(e)[k] for e in entries]) for k in ("input_ids", "attention_mask")}
    null = {k: v.expand(len(entries), -1) for k, v in c.text(None).items()}
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(1))
    rows = []
    for t in (0.3, 0.5, 0.7, 0.9):
        xt, ts = t * noise + (1 - t) * x0, torch.full((len(entries),), t * 1000)
        with torch.no_grad():
            v, v_null = pipe.denoise(xt, ts, text), pipe.denoise(xt, ts, null)
        err = float((xt - t * v - x0).pow(2).sum() / x0.pow(2).sum())
        rows.append((t, err, float((v - v_null).norm() / v.norm())))
    return float(x0.std()), rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=1000)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--batch", type=int, default=32)
    args = ap.parse_args()
    fitted = json.loads((VAE / "config.json").read_text())["scaling_factor"]
    stages = json.dumps([{"name": "c", "steps": args.steps, "buckets": [[17, 64, 64]],
                          "tokens_per_batch": 80 * args.batch, "max_batch": args.batch}])
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        vgen("datasets", "shapes", "--num", str(args.clips), "--out", str(tmp / "data"), "--seed", "3",
             "--caption-form", "mixed")
        print("| scaling factor | latent std | t | x0 rel. error | cond vs uncond |\n| --- | --- | --- | --- | --- |")
        for scale in (0.476986, fitted):
            weights = pipeline_with_scale(scale, tmp / f"vae-{scale}")
            cache, run = tmp / f"cache-{scale}", tmp / f"run-{scale}"
            common = ["--recipe", "shapes-default", "--weights", str(weights), "--set", "data_workers=2"]
            vgen("train", "cache", *common, "--data", str(tmp / "data"), "--out", str(cache))
            vgen("train", "run", *common, "--cache", str(cache), "--out", str(run), "--set", "compile=false",
                 "--set", "warmup_steps=30", "--set", "ema_decay=0", "--set", f"stages={stages}")
            std, rows = probe(run, cache)
            for t, err, dep in rows:
                print(f"| {scale:g} | {std:.2f} | {t} | {err:.3f} | {dep:.3f} |")


if __name__ == "__main__":
    main()
