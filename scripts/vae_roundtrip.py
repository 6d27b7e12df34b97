"""The ceiling a VAE sets on the shapes scores: encode and decode generator clips (the posterior mean, as a DiT's
latents are), write them with their captions as prompt sidecars, and score them like generated videos.

    vgen datasets shapes --num 300 --out SRC --seed 991 --two-object-fraction 0.5
    python scripts/vae_roundtrip.py WEIGHTS SRC OUT
    vgen eval shapes OUT            # the same clips unchanged score ~100% (`vgen eval shapes SRC`)

WEIGHTS: a pipeline folder of ``--pipeline`` (default ``shapes``: plugins/shapes_model/weights; ``moviegen-shapes``
for the MovieGen TAE). Runs in fp32 on the CPU (300 clips in ~1 min on
2 idle cores; bf16 convolutions there are ~40x slower) or on a GPU with --device cuda.

``--sigma S`` asks where the DiT loses detail (SDEdit): each clip's latents are noised to S (the first sigma <= S of
the sampler's default schedule) and the DiT denoises them with the clip's caption and the sampler's defaults (Euler,
shift, guidance), so the layout stays the clip's and only the last steps of sampling are the model's.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

import vgen
from vgen.flow.renoise import denoise_from
from vgen.io.manifest import read_manifest
from vgen.io.video import read_video, write_video


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("weights")
    ap.add_argument("src", type=Path, help="a folder `vgen datasets shapes` wrote")
    ap.add_argument("out", type=Path)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--pipeline", default="shapes", help="the registered pipeline WEIGHTS belong to")
    ap.add_argument("--sigma", type=float, default=0.0, help="noise the latents to this sigma and let the DiT denoise")
    ap.add_argument("--seed", type=int, default=0, help="clip i's noise is drawn from seed + i")
    args = ap.parse_args()
    pipe = vgen.load(args.pipeline, weights=args.weights, device=args.device, dtype=torch.float32)
    args.out.mkdir(parents=True, exist_ok=True)
    manifest = args.src / "manifest.jsonl"
    records = read_manifest(manifest)
    with torch.no_grad():
        for i, rec in enumerate(records):
            path = rec.resolve(manifest)
            x = torch.from_numpy(read_video(path, audio=False).frames).to(args.device).float().div(127.5).sub(1)
            z = pipe.encode_video(x.permute(3, 0, 1, 2)[None])
            if args.sigma > 0:
                noise = torch.randn(z.shape[1:], generator=torch.Generator().manual_seed(args.seed + i))[None]
                z = denoise_from(pipe, z, [rec.caption], args.sigma, noise)
            frames = pipe.decode(z)[0]  # (3, T, H, W) in [0, 1]
            write_video(args.out / f"{path.stem}.mp4", frames.permute(1, 2, 3, 0).clamp(0, 1).cpu().numpy(), rec.fps)
            (args.out / f"{path.stem}.json").write_text(json.dumps({"prompt": rec.caption, "video": f"{path.stem}.mp4"}))
    print(f"{len(records)} clips through the VAE: {args.out}")


if __name__ == "__main__":
    main()
