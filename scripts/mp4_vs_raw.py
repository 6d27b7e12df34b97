"""How much of a shapes score the MP4 costs: regenerate scored videos from their sidecars and score the decoded frames
as they leave the VAE (raw) and after the H.264/yuv420p MP4 that `vgen sample` writes.

    python scripts/mp4_vs_raw.py OUT/scores.json [--only shape|all|N] [--weights DIR]

OUT/scores.json is what `vgen eval shapes` (or scripts/eval_default_model.sh) wrote; `--only shape` (the default)
takes the videos whose shape was wrong, `all` every video, N the first N. Each is sampled again with its sidecar's
prompt, seed and sampling settings (on the CPU, as vgen sample does there), so the MP4 column reproduces the report.
Prints one line per video (the objects' fill ratios raw / MP4) and the count of right shapes each way.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from vgen_plugins.shapes.score import score_video

import vgen
from vgen.io.video import read_video, write_video
from vgen.sample.loop import generate


def fills(result: dict) -> list[float | None]:
    return [m["found"]["fill"] if m["found"] else None for m in result["matches"]]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("scores", type=Path)
    ap.add_argument("--only", default="shape", help="shape (videos with a wrong shape), all, or a number N")
    ap.add_argument("--weights", default=None, help="weights to sample with (default: each sidecar's)")
    args = ap.parse_args()
    videos = json.loads(args.scores.read_text())["videos"]
    if args.only == "shape":
        videos = [v for v in videos if not v["shape"]]
    elif args.only != "all":
        videos = videos[: int(args.only)]
    pipes: dict[str, object] = {}
    right = {"raw": 0, "mp4": 0}
    with tempfile.TemporaryDirectory() as tmp:
        for i, v in enumerate(videos):
            side = json.loads(Path(v["video"]).with_suffix(".json").read_text())
            weights = args.weights or side["weights"]
            pipe = pipes.get(weights) or pipes.setdefault(weights, vgen.load(side["pipeline"], weights=weights))
            res = generate(pipe, side["prompt"], seed=side["seed"], steps=side["steps"], sampler=side["sampler"],
                           schedule=side["schedule"], shift=side["shift"], guidance=side["guidance"],
                           negative=side["negative"], frames=side["frames"], height=side["height"],
                           width=side["width"], progress=False)
            raw = res.uint8[0]
            mp4 = read_video(write_video(Path(tmp) / f"{i}.mp4", raw, side["fps"],
                                         crf=side.get("settings", {}).get("crf", 18))).frames
            scored = {"raw": score_video(raw, side["prompt"]), "mp4": score_video(mp4, side["prompt"])}
            for k in right:
                right[k] += scored[k]["shape"]
            print(f"{side['prompt']}: shape raw {scored['raw']['shape']} mp4 {scored['mp4']['shape']} "
                  f"(report {v['shape']}); fill raw {fills(scored['raw'])} mp4 {fills(scored['mp4'])}", flush=True)
    print(f"shape right in {right['raw']} of {len(videos)} videos raw, {right['mp4']} through the MP4")


if __name__ == "__main__":
    main()
