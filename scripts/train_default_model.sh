#!/usr/bin/env bash
# Reproduce the default model (pipeline "shapes") from its recipes on one GPU, score it, and (with SHIP=1) write it
# into the package (plugins/shapes_model/weights, bf16, shards <= 14 MB).
#   data -> VAE (recipe shapes-default-vae) -> latent cache -> DiT + text encoder (recipe shapes-default) -> eval
# Usage: [SHIP=1 [SHIP_TO=DIR]] [VAE=DIR] scripts/train_default_model.sh WORKDIR [NUM_CLIPS]
#        VAE=plugins/shapes_model/weights/vae skips step 1 with the VAE it trained (in the repo: 33.1 dB held-out PSNR)
#        FROM=plugins/shapes_model/weights continues training the shipped model (DiT and text encoder start from it);
#        DIT_ARGS="--set lr=2e-4 --set warmup_steps=100" passes extra flags to the DiT's `vgen train run`;
#        PATCH=1 (with FROM) first changes the DiT's spatial patch size, its weights adapted (finer tokens);
#        DATA_SEED=N draws other clips (a continued run sees new two-object combinations)
#        (vgen on PATH, or `. scripts/device_setup.sh` first; set VGEN_TRAIN_TIME_LIMIT_S to cap each training run)
# Seen on one H100 (2026-11-25): 16k clips in 26 s; VAE ~240 clips/s once decoded clips sit in RAM.
set -euo pipefail
work=${1:?work dir}; num=${2:-16000}
here=$(cd "$(dirname "$0")" && pwd)
command -v vgen >/dev/null || vgen() { python3 -m vgen "$@"; }
mkdir -p "$work"
stamp() { echo "[$(date +%T)] $*"; }
# Each step is skipped once its result exists and training runs resume from their last checkpoint, so rerunning
# the script after an interruption carries on where it stopped.
[ -f "$work/data/manifest.jsonl" ] || { stamp "data"; vgen -q datasets shapes --num "$num" --out "$work/data" --seed "${DATA_SEED:-0}" --caption-form mixed; }
# $work/vae/final is the pipeline step 2 starts from: step 1's result, a VAE folder made into one, or FROM
if [ ! -d "$work/vae/final" ] && [ -n "${FROM:-}" ]; then  # a whole trained pipeline: continue from it
  stamp "start from $FROM"
  mkdir -p "$work/vae"
  if [ -n "${PATCH:-}" ]; then
    python3 -c "
import sys
from vgen_plugins.shapes_model.pipeline import ShapesPipeline
print(ShapesPipeline.load(sys.argv[1]).repatched(int(sys.argv[3])).save(sys.argv[2]))" "$FROM" "$work/vae/final" "$PATCH"
  else
    cp -r "$FROM" "$work/vae/final"
  fi
fi
if [ ! -d "$work/vae/final" ] && [ -n "${VAE:-}" ]; then  # step 1 done already: start from that VAE
  stamp "vae from $VAE"
  python3 -c "
import sys
from vgen_plugins.shapes_model.pipeline import ShapesPipeline
print(ShapesPipeline.with_vae(sys.argv[1]).save(sys.argv[2]))" "$VAE" "$work/vae/final"
fi
[ -d "$work/vae/final" ] || { stamp "vae"; vgen -q train run --recipe shapes-default-vae --data "$work/data" --out "$work/vae" --resume auto --json; }
[ -d "$work/cache" ] || { stamp "cache"; vgen -q train cache --recipe shapes-default --weights "$work/vae/final" --data "$work/data" --out "$work/cache"; }
[ -d "$work/dit/final-ema" ] || { stamp "dit"; vgen -q train run --recipe shapes-default --weights "$work/vae/final" --cache "$work/cache" --out "$work/dit" --resume auto --json ${DIT_ARGS:-}; }
if [ "${SHIP:-0}" = 1 ]; then
  stamp "ship"
  python3 -c "
import sys, torch
from vgen_plugins.shapes_model.pipeline import ShapesPipeline, WEIGHTS_DIR
out = sys.argv[2] or WEIGHTS_DIR
ShapesPipeline.load(sys.argv[1]).save(out, dtype=torch.bfloat16)
print(out)" "$work/dit/final-ema" "${SHIP_TO:-}"
fi
[ -f "$work/eval/scores.json" ] || { stamp "eval"; "$here/eval_default_model.sh" "$work/dit/final-ema" "$work/eval" "${EVAL_N:-200}"; }
stamp "done"
