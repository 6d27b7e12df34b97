"""Score a dub model on shapes-world clips without PyAV (clips as arrays, ``vgen datasets shapes --format npz``):
the model's sound for each clip's frames, and the autoencoder's round trip of the clip's own sound (the ceiling the
DiT can reach), judged as ``vgen eval dub`` judges (plugins/shapes/dub_eval.py). The real measure is
``vgen dub`` + ``vgen eval dub`` on MP4s; this one runs where there is no codec (a GPU machine).

    python scripts/dub_check.py MODEL_DIR DATA_DIR [--limit 100] [--device cuda] [--ae-only] [--out SCORE.json]

``--ae-only`` scores the round trip alone (an autoencoder run's folder, before its DiT is trained).
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from vgen_plugins.audio.model import DubModel
from vgen_plugins.shapes.dub_eval import score_dub, summarise


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("data")
    ap.add_argument("--limit", type=int, default=100)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--ae-only", action="store_true", help="score the autoencoder's round trip only")
    ap.add_argument("--out", help="also write the summary (JSON) to this file")
    args = ap.parse_args()
    model = DubModel.load(args.model, args.device)
    clips = sorted(Path(args.data, "clips").glob("*.npz"))[: args.limit]
    dubbed, ceiling, started = [], [], time.perf_counter()
    for i, path in enumerate(clips):
        with np.load(path) as d:
            frames, audio, fps = d["frames"], d["audio"], float(d["fps"])
        if not args.ae_only:
            wave = model.generate(frames, fps, len(frames) / fps, seed=i)[0]
            dubbed.append(score_dub(frames, wave, model.sample_rate, fps))
        hop = model.autoencoder.config.hop
        z = model.encode(torch.from_numpy(audio[: len(audio) // hop * hop])[None, None])
        ceiling.append(score_dub(frames, model.decode(z)[0, 0].float().cpu().numpy(), model.sample_rate, fps))
    summary = {"clips": len(clips), "seconds": round(time.perf_counter() - started, 1),
               "autoencoder": summarise(ceiling), **({} if args.ae_only else {"dubbed": summarise(dubbed)})}
    print(json.dumps(summary))
    if args.out:
        Path(args.out).write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
