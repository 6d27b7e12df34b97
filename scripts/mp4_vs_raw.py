"""How much of a shapes score the MP4 costs: regenerate scored videos from their sidecars and score the decoded frames
as they leave the VAE (raw), beside what the report says of the H.264/yuv420p MP4 that `vgen sample` wrote.

    python scripts/mp4_vs_raw.py OUT/scores.json [--only shape|all|N]

OUT/scores.json is what `vgen eval shapes` (or scripts/eval_default_model.sh) wrote; `--only shape` (the default)
takes the videos whose shape was wrong, `all` every video, N the first N. Each is sampled again exactly as its
sidecar says (`vgen sample --from`'s settings, on this machine), so only the encoding differs from the report.
Prints one line per video (the objects' fill ratios raw / MP4) and the count of right shapes each way.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from vgen_plugins.shapes.score import score_video

from vgen.flow.loop import generate
from vgen.sample import run


def fills(result: dict) -> list[float | None]:
    return [m["found"]["fill"] if m["found"] else None for m in result["matches"]]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("scores", type=Path)
    ap.add_argument("--only", default="shape", help="shape (videos with a wrong shape), all, or a number N")
    args = ap.parse_args()
    videos = json.loads(args.scores.read_text())["videos"]
    if args.only == "shape":
        videos = [v for v in videos if not v["shape"]]
    elif args.only != "all":
        videos = videos[: int(args.only)]
    pipes: dict = {}  # one pipeline per weights folder: a report's videos share theirs
    right = {"raw": 0, "mp4": 0}
    for v in videos:
        s, (spec,), _ = run.replay(Path(v["video"]).with_suffix(".json"))
        if s.weights not in pipes:
            pipes[s.weights] = run.load_pipeline(s)
        pipe, device, dtype = pipes[s.weights]
        res = generate(pipe, [spec.prompt], negative=spec.negative, seed=spec.seeds, progress=False, device=device,
                       dtype=dtype, **run.generate_options(s))
        raw = score_video(res.uint8[0], spec.prompt)
        right["raw"] += raw["shape"]
        right["mp4"] += v["shape"]
        print(f"{spec.prompt}: shape raw {raw['shape']} mp4 {v['shape']}; fill raw {fills(raw)} mp4 {fills(v)}",
              flush=True)
    print(f"shape right in {right['raw']} of {len(videos)} videos raw, {right['mp4']} through the MP4")


if __name__ == "__main__":
    main()
