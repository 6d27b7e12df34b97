"""Seconds of sound the dub model makes per second of wall time (``vgen dub``'s generation: video features, windowed
DiT sampling with CFG, decoding), on this machine's CPU cores or one GPU.

    python benchmarks/dub_speed.py                          # shipped shapes-dub, 2 CPU threads, 8.5 s video
    python benchmarks/dub_speed.py --device cuda --seconds 34
    python benchmarks/dub_speed.py --config tiny --seconds 1 --repeat 1 --json   # smoke test

Each row: one warm-up call, then the best of ``--repeat`` calls on a 64 x 64 video at 8 fps.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch


def measure(model, seconds: float, repeat: int, fps: float = 8.0, size: int = 64) -> dict:
    frames = np.random.default_rng(0).integers(0, 255, (int(round(seconds * fps)), size, size, 3), dtype=np.uint8)
    model.generate(frames, fps, seconds, seed=0)  # warm-up
    times = []
    for i in range(repeat):
        if model.device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        model.generate(frames, fps, seconds, seed=i)
        if model.device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    best = min(times)
    return {"seconds_of_audio": seconds, "wall_s": round(best, 3), "audio_s_per_s": round(seconds / best, 2)}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="shapes-dub")
    ap.add_argument("--weights", default=None)
    ap.add_argument("--config", default=None, help="random weights of a preset (e.g. tiny) instead of the shipped ones")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=2, help="CPU threads (torch.set_num_threads)")
    ap.add_argument("--seconds", type=float, nargs="+", default=[2.125, 8.5])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    from vgen import registry

    torch.set_num_threads(args.threads)
    model = registry.get("audio_model", args.model).factory(weights=args.weights, config=args.config,
                                                            device=args.device)
    rows = [measure(model, s, args.repeat) for s in args.seconds]
    device = torch.cuda.get_device_name() if args.device.startswith("cuda") else f"CPU, {args.threads} threads"
    result = {"model": args.model, "config": args.config, "device": device, "settings": model.settings(),
              "rows": rows}
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{args.model} on {device} ({model.settings()['steps']} midpoint steps, CFG "
              f"{model.settings()['guidance']:g})")
        for r in rows:
            print(f"  {r['seconds_of_audio']:6.2f} s of audio in {r['wall_s']:7.3f} s: {r['audio_s_per_s']:7.2f} x")
    return result


if __name__ == "__main__":
    main()
