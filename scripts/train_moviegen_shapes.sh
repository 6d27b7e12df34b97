#!/usr/bin/env bash
# Train the moviegen-shapes model (MovieGen at small size on the shapes world) from its recipes on one GPU, save it
# in bf16 (shards <= 12 MB) and score it on sampled arrays (no codec needed: vgen.flow.loop.generate + the shapes
# scorer on the frames; the reported scores are the CPU eval of the saved weights, scripts/eval_default_model.sh).
#   data (npz clips) -> TAE (recipe moviegen-shapes-tae) -> latent cache -> DiT (recipe moviegen-shapes-dit)
# Usage: scripts/train_moviegen_shapes.sh WORKDIR SAVE_DIR [NUM_CLIPS]
#   TAE_S / DIT_S: time limits (s) of the two training runs (default 150 / 210); EVAL_N prompts scored (default 200)
set -euo pipefail
work=${1:?work dir}; save=${2:?save dir}; num=${3:-12000}
command -v vgen >/dev/null || vgen() { python3 -m vgen "$@"; }
stamp() { echo "[$(date +%T)] $*"; }
mkdir -p "$work"
[ -f "$work/data/manifest.jsonl" ] || { stamp "data"; vgen -q datasets shapes --num "$num" --out "$work/data" \
  --seed 0 --caption-form mixed --format npz; }
[ -d "$work/tae/final" ] || { stamp "tae"; VGEN_TRAIN_TIME_LIMIT_S=${TAE_S:-150} vgen -q train run \
  --recipe moviegen-shapes-tae --data "$work/data" --out "$work/tae" --json; }
[ -d "$work/cache" ] || { stamp "cache"; vgen -q train cache --recipe moviegen-shapes-dit --weights "$work/tae/final" \
  --data "$work/data" --out "$work/cache"; }
[ -d "$work/dit/final-ema" ] || { stamp "dit"; VGEN_TRAIN_TIME_LIMIT_S=${DIT_S:-210} vgen -q train run \
  --recipe moviegen-shapes-dit --weights "$work/tae/final" --cache "$work/cache" --out "$work/dit" --json; }
stamp "save"
python3 -c "
import sys, torch
from vgen_plugins.moviegen.pipeline import MovieGenPipeline
print(MovieGenPipeline.load(sys.argv[1]).save(sys.argv[2], max_shard_size='12MB', dtype=torch.bfloat16))" \
  "$work/dit/final-ema" "$save"
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
