#!/usr/bin/env bash
# Train the moviegen-shapes model (MovieGen at small size on the shapes world) from its recipes on one GPU, save it
# in bf16 (shards <= 12 MB) and score it on sampled arrays (no codec needed: vgen.flow.loop.generate + the shapes
# scorer on the frames; the reported scores are the CPU eval of the saved weights, scripts/eval_default_model.sh).
#   data (npz clips) -> TAE (recipe moviegen-shapes-tae) -> latent cache -> DiT (recipe moviegen-shapes-dit)
# Usage: scripts/train_moviegen_shapes.sh WORKDIR SAVE_DIR [NUM_CLIPS]
#   TAE_S / DIT_S: time limits (s) of the two training runs (default 150 / 210); EVAL_N prompts scored (default 200; 0: none)
#   FIT=1: each run first makes a few steps (TAE: its image stage and 60 clip steps; DiT: 60) to measure clips/s,
#   then resumes with its last stage's steps set to what TAE_S / DIT_S allow (90%), so its cosine schedule ends in time
#   (TAE_AT / DIT_AT / FIT_LOG: the measuring steps and log interval; TAE_RECIPE / DIT_RECIPE: other recipes)
set -euo pipefail
work=${1:?work dir}; save=${2:?save dir}; num=${3:-12000}
command -v vgen >/dev/null || vgen() { python3 -m vgen "$@"; }
stamp() { echo "[$(date +%T)] $*"; }
mkdir -p "$work"
[ -f "$work/data/manifest.jsonl" ] || { stamp "data"; vgen -q datasets shapes --num "$num" --out "$work/data" \
  --seed 0 --caption-form mixed --format npz; }
fit() {  # RUN_DIR LIMIT_S: the stages with the last one's steps what LIMIT_S allows at the measured clips/s
  python3 - "$1" "$2" <<'PY'
import json, sys
from pathlib import Path
run, limit = Path(sys.argv[1]), float(sys.argv[2])
last = [r for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines()) if "samples_per_s" in r][-1]
stages = json.loads((run / "recipe.json").read_text())["stages"]
done = max(0, last["step"] - sum(st["steps"] for st in stages[:-1]))  # steps made in the last stage
stages[-1]["steps"] = done + max(1, int(0.9 * limit * last["samples_per_s"] / last["samples"]))
print(f"{run.name}: {last['samples_per_s']:.0f} clips/s: last stage {stages[-1]['steps']} steps", file=sys.stderr)
print(json.dumps(stages, separators=(",", ":")))
PY
}
train() {  # RUN_DIR LIMIT_S MEASURE_STEPS train-run-args...
  local out=$1 limit=$2 at=$3; shift 3
  if [ "${FIT:-0}" = 1 ]; then
    [ -d "$out/checkpoints" ] || VGEN_TRAIN_TIME_LIMIT_S=$limit vgen -q train run "$@" --out "$out" --stop-at "$at" \
      --set "log_every=${FIT_LOG:-20}" >/dev/null
    [ -d "$out/final" ] && return  # the time limit came first
    [ -f "$out.stages.json" ] || fit "$out" "$limit" > "$out.stages.json"
    VGEN_TRAIN_TIME_LIMIT_S=$limit vgen -q train run "$@" --out "$out" --resume auto --set "stages=$(cat "$out.stages.json")" --json
  else
    VGEN_TRAIN_TIME_LIMIT_S=$limit vgen -q train run "$@" --out "$out" --json
  fi
}
[ -d "$work/tae/final" ] || { stamp "tae"; train "$work/tae" "${TAE_S:-150}" "${TAE_AT:-360}" --recipe "${TAE_RECIPE:-moviegen-shapes-tae}" \
  --data "$work/data"; }
[ -d "$work/cache" ] || { stamp "cache"; vgen -q train cache --recipe "${DIT_RECIPE:-moviegen-shapes-dit}" --weights "$work/tae/final" \
  --data "$work/data" --out "$work/cache"; }
[ -d "$work/dit/final-ema" ] || { stamp "dit"; train "$work/dit" "${DIT_S:-210}" "${DIT_AT:-60}" --recipe "${DIT_RECIPE:-moviegen-shapes-dit}" \
  --weights "$work/tae/final" --cache "$work/cache"; }
[ -f "$save/model_index.json" ] || { stamp "save"; python3 -c "
import sys, torch
from vgen_plugins.moviegen.pipeline import MovieGenPipeline
print(MovieGenPipeline.load(sys.argv[1]).save(sys.argv[2], max_shard_size='12MB', dtype=torch.bfloat16))" \
  "$work/dit/final-ema" "$save"; }
[ "${EVAL_N:-200}" -gt 0 ] || exit 0  # EVAL_N=0: no scoring here
stamp "score"
python3 - "$save" "${EVAL_N:-200}" <<'PY'
import json, sys, time

import torch
from vgen_plugins.moviegen.pipeline import build_shapes
from vgen_plugins.shapes.evaluate import summarise
from vgen_plugins.shapes.prompts import random_prompts
from vgen_plugins.shapes.score import score_video

from vgen.flow.loop import generate

device = "cuda" if torch.cuda.is_available() else "cpu"
pipe = build_shapes(weights=sys.argv[1]).to(device)
prompts = random_prompts(int(sys.argv[2]), seed=20261125, omit_size=0.3, omit_background=0.3)
start, results = time.perf_counter(), []
for i in range(0, len(prompts), 50):
    res = generate(pipe, prompts[i:i + 50], seed=777, progress=False, device=device, schedule=pipe.defaults["schedule"],
                   sampler=pipe.defaults["sampler"], guidance=pipe.defaults["guidance"])
    results += [score_video(v, p) for v, p in zip(res.uint8, prompts[i:i + 50], strict=True)]
print(json.dumps({"device": device, "seconds": round(time.perf_counter() - start, 1), **summarise(results)}))
PY
