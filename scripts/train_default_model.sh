#!/usr/bin/env bash
# Reproduce the default model (pipeline "shapes") from its recipes on one GPU, score it, and (with SHIP=1) write it
# into the package (plugins/shapes_model/weights, bf16, shards <= 14 MB).
#   data -> VAE (recipe shapes-default-vae) -> latent cache -> DiT + text encoder (recipe shapes-default) -> eval
# Usage: [SHIP=1] scripts/train_default_model.sh WORKDIR [NUM_CLIPS]
#        (vgen on PATH, or `. scripts/device_setup.sh` first; set VGEN_TRAIN_TIME_LIMIT_S to cap each training run)
# Seen on one H100 (2026-11-25): 16k clips in 26 s; VAE ~240 clips/s once decoded clips sit in RAM.
set -euo pipefail
work=${1:?work dir}; num=${2:-16000}
here=$(cd "$(dirname "$0")" && pwd)
command -v vgen >/dev/null || vgen() { python3 -m vgen "$@"; }
mkdir -p "$work"
stamp() { echo "[$(date +%T)] $*"; }
stamp "data";  vgen -q datasets shapes --num "$num" --out "$work/data" --seed 0 --caption-form mixed
stamp "vae";   vgen -q train run --recipe shapes-default-vae --data "$work/data" --out "$work/vae" --json
stamp "cache"; vgen -q train cache --recipe shapes-default --weights "$work/vae/final" --data "$work/data" --out "$work/cache"
stamp "dit";   vgen -q train run --recipe shapes-default --weights "$work/vae/final" --cache "$work/cache" --out "$work/dit" --json
stamp "eval";  "$here/eval_default_model.sh" "$work/dit/final-ema" "$work/eval" 200
if [ "${SHIP:-0}" = 1 ]; then
  stamp "ship"
  python3 -c "
import sys, torch
from vgen_plugins.shapes_model.pipeline import ShapesPipeline, WEIGHTS_DIR
ShapesPipeline.load(sys.argv[1]).save(WEIGHTS_DIR, dtype=torch.bfloat16)
print(WEIGHTS_DIR)" "$work/dit/final-ema"
fi
stamp "done"
