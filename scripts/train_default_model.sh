#!/usr/bin/env bash
# Reproduce the default model (pipeline "shapes") from its recipes on one GPU, score it, and (with SHIP=1) write it
# into the package (plugins/shapes_model/weights, bf16, shards <= 14 MB).
#   data -> VAE (recipe shapes-default-vae) -> latent cache -> coarse DiT + text encoder, patch 2 (recipe
#   shapes-default) -> the DiT repatched to 1, new clips (recipe shapes-default-fine) -> eval
# Usage: [SHIP=1 [SHIP_TO=DIR]] [VAE=DIR] scripts/train_default_model.sh WORKDIR [NUM_CLIPS]
#        VAE=plugins/shapes_model/weights/vae skips step 1 with the VAE it trained (in the repo: 33.1 dB held-out PSNR)
#        FROM=plugins/shapes_model/weights skips the coarse steps: the fine step continues that model (repatched to 1
#        first if it is not patch 1 already);
#        DIT_ARGS / FINE_ARGS="--set lr=2e-4 --set warmup_steps=100" pass extra flags to the coarse / fine
#        `vgen train run`; DATA_SEED=N draws other clips (the coarse step's; the fine step's are DATA_SEED + 1);
#        DATA_ARGS="--two-object-fraction 0.65" passes flags to `vgen datasets shapes`;
#        FINE_RECIPE=shapes-default-more runs step 4 (FROM=plugins/shapes_model/weights: the shipped patch-1 model
#        on more new clips, at batch 512) in place of step 3; FINE_RECIPE=shapes-default-long with step 4's model,
#        DATA_SEED=2, DATA_ARGS="--two-object-fraction 0.6" and NUM_CLIPS=32000 runs step 5
#        GROW=D,S adds D dual- and S single-stream DiT blocks (identity at start) to the fine step's starting model;
#        FIT_STEPS=1 (with VGEN_TRAIN_TIME_LIMIT_S) measures clips/s first and sets the fine step's steps to what the
#        limit allows, so that its learning rate anneals (FINE_RECIPE=shapes-default-anneal, step 6);
#        VAE_RECIPE=shapes-vae4 trains step 1's VAE from that recipe (4x spatial compression, DiT at patch 2), and
#        PATCH=2 keeps the fine step at that patch (default 1: the coarse DiT is repatched to 1);
#        EVAL_N=0 skips the scoring at the end (EVAL_N=200 by default: scripts/eval_default_model.sh)
#        (vgen on PATH; set VGEN_TRAIN_TIME_LIMIT_S to cap each training run)
# Seen on one H100 (2026-11-25): 16k clips in 26 s; VAE ~240 clips/s once decoded clips sit in RAM. On one H200
# (2026-12-01): cache of 16k clips 2.4 min; fine step 2000 x 256 clips in 4.3 min (~2,000 clips/s).
set -euo pipefail
work=${1:?work dir}; num=${2:-16000}
here=$(cd "$(dirname "$0")" && pwd)
command -v vgen >/dev/null || vgen() { python3 -m vgen "$@"; }
mkdir -p "$work"
stamp() { echo "[$(date +%T)] $*"; }
# Each step is skipped once its result exists and training runs resume from their last checkpoint, so rerunning
# the script after an interruption carries on where it stopped.
data() { [ -f "$1/manifest.jsonl" ] || { stamp "data $1"; vgen -q datasets shapes --num "$num" --out "$1" --seed "$2" --caption-form mixed ${DATA_ARGS:-}; }; }
if [ -z "${FROM:-}" ]; then
  data "$work/data" "${DATA_SEED:-0}"
  # $work/vae/final is the pipeline step 2 starts from: step 1's result, or a VAE folder made into one
  if [ ! -d "$work/vae/final" ] && [ -n "${VAE:-}" ]; then  # step 1 done already: start from that VAE
    stamp "vae from $VAE"
    python3 -c "
import sys
from vgen_plugins.shapes_model.pipeline import COARSE, ShapesPipeline
print(ShapesPipeline.with_vae(sys.argv[1], config=COARSE).save(sys.argv[2]))" "$VAE" "$work/vae/final"
  fi
  [ -d "$work/vae/final" ] || { stamp "vae"; vgen -q train run --recipe "${VAE_RECIPE:-shapes-default-vae}" --data "$work/data" --out "$work/vae" --resume auto --json; }
  [ -d "$work/cache" ] || { stamp "cache"; vgen -q train cache --recipe shapes-default --weights "$work/vae/final" --data "$work/data" --out "$work/cache"; }
  [ -d "$work/dit/final-ema" ] || { stamp "dit"; vgen -q train run --recipe shapes-default --weights "$work/vae/final" --cache "$work/cache" --out "$work/dit" --resume auto --json ${DIT_ARGS:-}; }
fi
# the fine step: the coarse DiT (or FROM) at patch 1, trained on new clips
fine=$work/fine
data "$fine/data" "$(( ${DATA_SEED:-0} + 1 ))"
if [ ! -d "$fine/start" ]; then
  stamp "repatch ${FROM:-$work/dit/final-ema} to ${PATCH:-1}"
  python3 -c "
import sys
from vgen_plugins.shapes_model.pipeline import ShapesPipeline
dual, single = (int(n) for n in (sys.argv[3] or '0,0').split(','))
pipe = ShapesPipeline.load(sys.argv[1]).repatched(int(sys.argv[4]))
print((pipe.grown(dual, single) if dual + single else pipe).save(sys.argv[2]))" "${FROM:-$work/dit/final-ema}" "$fine/start" "${GROW:-}" "${PATCH:-1}"
fi
[ -d "$fine/cache" ] || { stamp "fine cache"; vgen -q train cache --recipe "${FINE_RECIPE:-shapes-default-fine}" --weights "$fine/start" --data "$fine/data" --out "$fine/cache"; }
fit=()  # the measured steps (FIT_STEPS), as one argument: JSON has glob characters
fine_run() { vgen -q train run --recipe "${FINE_RECIPE:-shapes-default-fine}" --weights "$fine/start" --cache "$fine/cache" --out "$fine/dit" --resume auto --json ${FINE_ARGS:-} "${fit[@]}" "$@"; }
if [ -n "${FIT_STEPS:-}" ] && [ ! -d "$fine/dit/final-ema" ] && [ ! -f "$fine/stages.json" ]; then
  # FIT_STEPS=1: 60 steps measure clips/s on this machine; the run then resumes with its stage's steps set to what
  # VGEN_TRAIN_TIME_LIMIT_S allows (less 90 s for compiling again, 5% spare), so its cosine schedule ends in time
  stamp "fine dit: 60 steps to measure"
  fine_run --stop-at 60 --set log_every=20 >/dev/null
  python3 "$here/fit_steps.py" "$fine/dit" "${VGEN_TRAIN_TIME_LIMIT_S:?FIT_STEPS needs VGEN_TRAIN_TIME_LIMIT_S}" > "$fine/stages.json.tmp"
  mv "$fine/stages.json.tmp" "$fine/stages.json"
fi
[ -f "$fine/stages.json" ] && fit=(--set "stages=$(cat "$fine/stages.json")")
[ -d "$fine/dit/final-ema" ] || { stamp "fine dit"; fine_run; }
if [ "${SHIP:-0}" = 1 ]; then
  stamp "ship"
  python3 -c "
import sys, torch
from vgen_plugins.shapes_model.pipeline import ShapesPipeline, WEIGHTS_DIR
from pathlib import Path
from vgen.io.outputs import mark
out = sys.argv[2] or WEIGHTS_DIR
if Path(out).is_dir():
    mark(out, 'ship')  # replacing the shipped weights is this step's purpose (vgen never replaces unmarked folders)
ShapesPipeline.load(sys.argv[1]).save(out, dtype=torch.bfloat16)
print(out)" "$fine/dit/final-ema" "${SHIP_TO:-}"
fi
[ "${EVAL_N:-200}" = 0 ] || [ -f "$work/eval/scores.json" ] || { stamp "eval"; "$here/eval_default_model.sh" "$fine/dit/final-ema" "$work/eval" "${EVAL_N:-200}"; }
stamp "done"
