#!/usr/bin/env bash
# Train the shapes dub model (plugins/audio: audio autoencoder, then audio DiT) from its recipes on one GPU, and check
# it on held-out clips (scripts/dub_check.py). The shipped weights (plugins/audio/weights/shapes-dub) came from
#   FORMAT=npz AE_SECONDS=150 DIT_SECONDS=170 scripts/train_dub.sh WORK 6000
# Usage: scripts/train_dub.sh WORKDIR [NUM_CLIPS]
#   FORMAT=npz        clips as arrays (a GPU machine without PyAV); default mp4
#   AE_SECONDS / DIT_SECONDS  each step's time budget (time_limit_s: its LR schedule anneals within it)
#   AE_ARGS / DIT_ARGS        extra `vgen train run` flags, e.g. --set stages='[{"steps": 4, "max_batch": 4}]'
#   CHECK_N=100       held-out clips scored at the end (0: none); SHIP=DIR copies the DiT's EMA folder there
set -euo pipefail
work=${1:?work dir}; num=${2:-6000}
here=$(cd "$(dirname "$0")" && pwd)
command -v vgen >/dev/null || vgen() { python3 -m vgen "$@"; }
stamp() { echo "[$(date +%T)] $*"; }
fmt=${FORMAT:-mp4}
mkdir -p "$work"
stamp "data: $num clips with sound ($fmt)"
vgen datasets shapes --audio --num "$num" --out "$work/data" --seed 11 --format "$fmt"
stamp "step 1: audio autoencoder"
vgen train run --recipe shapes-dub-ae --data "$work/data" --out "$work/ae" \
  --set time_limit_s="${AE_SECONDS:-150}" ${AE_ARGS:-}
stamp "step 2: audio DiT"
vgen train run --recipe shapes-dub-dit --data "$work/data" --weights "$work/ae/final" --out "$work/dit" \
  --set time_limit_s="${DIT_SECONDS:-170}" ${DIT_ARGS:-}
if [ "${CHECK_N:-100}" -gt 0 ]; then
  stamp "check: held-out clips (17 and 65 frames)"
  vgen datasets shapes --audio --num "${CHECK_N:-100}" --out "$work/heldout" --seed 12 --format "$fmt"
  vgen datasets shapes --audio --num "$(( (${CHECK_N:-100} + 3) / 4 ))" --out "$work/heldout65" --seed 13 \
    --frames 65 --format "$fmt"
  if [ "$fmt" = npz ]; then
    python3 "$here/dub_check.py" "$work/dit/final-ema" "$work/heldout" --limit "${CHECK_N:-100}"
    python3 "$here/dub_check.py" "$work/dit/final-ema" "$work/heldout65" --limit "${CHECK_N:-100}"
  fi
fi
if [ -n "${SHIP:-}" ]; then
  mkdir -p "$SHIP" && cp "$work/dit/final-ema/config.json" "$work/dit/final-ema/model.safetensors" "$SHIP/"
  stamp "shipped to $SHIP"
fi
stamp done
