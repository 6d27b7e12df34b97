#!/usr/bin/env bash
# Reproduce the default model (pipeline "shapes") from its recipes on one GPU, then copy it into the package.
#   data -> VAE (recipe shapes-default-vae) -> latent cache -> DiT + text encoder (recipe shapes-default)
# Usage: scripts/train_default_model.sh WORKDIR [NUM_CLIPS]     (vgen on PATH, or `. scripts/device_setup.sh` first)
set -euo pipefail
work=${1:?work dir}; num=${2:-16000}
command -v vgen >/dev/null || vgen() { python3 -m vgen "$@"; }
mkdir -p "$work"
stamp() { echo "[$(date +%T)] $*"; }
stamp "data";  vgen -q datasets shapes --num "$num" --out "$work/data" --seed 0 --caption-form mixed
stamp "vae";   vgen -q train run --recipe shapes-default-vae --data "$work/data" --out "$work/vae" --json
stamp "cache"; vgen -q train cache --recipe shapes-default --weights "$work/vae/final" --data "$work/data" --out "$work/cache"
stamp "dit";   vgen -q train run --recipe shapes-default --weights "$work/vae/final" --cache "$work/cache" --out "$work/dit" --json
stamp "done"
