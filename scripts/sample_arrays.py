"""Default-model videos as arrays, for machines without PyAV: ``vgen sample``'s settings and sampling
(vgen.sample.run.load_settings / load_pipeline / generate_options, vgen.flow.loop.generate) on random grammar
prompts, saved as compressed npz files of ``per_file`` videos (uint8 frames, prompts, seeds). Write them as MP4s
elsewhere with vgen.io.video.write_video (what vgen sample does). Used to make dub test videos on a GPU machine.

    python scripts/sample_arrays.py OUT_DIR --num 200 --seed 31 [--device cuda] [--per-file 100]
"""

import argparse
import time
from pathlib import Path

import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--num", type=int, default=200)
    ap.add_argument("--seed", type=int, default=31)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--per-file", type=int, default=100)
    ap.add_argument("--batch", type=int, default=50)
    args = ap.parse_args()
    from vgen_plugins.shapes.prompts import random_prompts

    from vgen.flow.loop import generate
    from vgen.sample.run import generate_options, load_pipeline, load_settings

    s = load_settings(None, {"device": args.device})
    pipe, device, _ = load_pipeline(s)
    prompts = random_prompts(args.num, seed=args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    started, videos = time.perf_counter(), []
    for i in range(0, args.num, args.batch):
        seeds = list(range(i, min(i + args.batch, args.num)))
        res = generate(pipe, prompts[i:i + args.batch], seed=seeds, progress=False, device=device,
                       **generate_options(s))
        videos += list(res.uint8)
    for k in range(0, args.num, args.per_file):
        np.savez_compressed(out / f"samples_{k // args.per_file}.npz", frames=np.stack(videos[k:k + args.per_file]),
                            prompts=np.array(prompts[k:k + args.per_file]),
                            seeds=np.arange(k, min(k + args.per_file, args.num)),
                            fps=np.float32(s.fps or pipe.defaults.get("fps", 8)))
    print(f"{args.num} videos in {time.perf_counter() - started:.1f} s on {device}")


if __name__ == "__main__":
    main()
