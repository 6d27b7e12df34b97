#!/usr/bin/env bash
# Train the shapes dub model (plugins/audio: spectral audio autoencoder, then audio DiT) from its recipes on one GPU,
# checking the autoencoder's round trip before the DiT starts and the whole model at the end (scripts/dub_check.py).
# Usage: scripts/train_dub.sh WORKDIR [NUM_CLIPS]
#   FORMAT=npz        clips as arrays (a GPU machine without PyAV); default mp4
#   AE_SECONDS / DIT_SECONDS  each step's time budget (time_limit_s: its LR schedule anneals within it)
#   AE_ARGS / DIT_ARGS        extra `vgen train run` flags, e.g. --set stages='[{"steps": 4, "max_batch": 4}]'
#   CHECK_N=100       held-out clips scored (autoencoder round trip, then the model; 0: none); 65-frame clips: N/4
#   AE_MIN_PITCH=0.95 the round trip's pitch share below which the DiT is not trained (exit 3: fix the autoencoder)
#   OUT=DIR           copies the DiT's EMA folder (bf16 weights + config) and the scores (score.json) there
#   SHIP=DIR          copies the DiT's EMA folder there (plugins/audio/weights/shapes-dub to ship it)
#   INIT=DIR          a trained dub model folder: no autoencoder step, its DiT trained further on new clips (SEED)
#   SEED=11           the training clips' seed (a model trained further needs clips it has not seen)
# The GPU run (docs/dub.md; about 7 min on one H100): FORMAT=npz OUT=$OUT scripts/train_dub.sh /tmp/dub 8000
# Further training of a model: INIT=plugins/audio/weights/shapes-dub SEED=61 DIT_ARGS="--set lr=3e-4" ...
set -euo pipefail
work=${1:?work dir}; num=${2:-8000}
here=$(cd "$(dirname "$0")" && pwd)
command -v vgen >/dev/null || vgen() { python3 -m vgen "$@"; }
stamp() { echo "[$(date +%T)] $*"; }
fmt=${FORMAT:-mp4}; check=${CHECK_N:-100}
mkdir -p "$work"
stamp "data: $num clips with sound ($fmt)"
vgen datasets shapes --audio --num "$num" --out "$work/data" --seed "${SEED:-11}" --format "$fmt"
if [ "$check" -gt 0 ]; then
  vgen datasets shapes --audio --num "$check" --out "$work/heldout" --seed 12 --format npz
  vgen datasets shapes --audio --num "$(( (check + 3) / 4 ))" --out "$work/heldout65" --seed 13 --frames 65 \
    --format npz
fi
if [ -n "${INIT:-}" ]; then
  ae=$INIT
else
  ae=$work/ae/final
  stamp "step 1: audio autoencoder (PCA fit, then fine-tuned)"
  vgen train run --recipe shapes-dub-ae --data "$work/data" --out "$work/ae" \
    --set time_limit_s="${AE_SECONDS:-45}" ${AE_ARGS:-}
  if [ "$check" -gt 0 ]; then
    stamp "check: the autoencoder's round trip of held-out sound"
    python3 "$here/dub_check.py" "$work/ae/final" "$work/heldout" --limit "$check" --ae-only --out "$work/ae.json"
    python3 - "$work/ae.json" "${AE_MIN_PITCH:-0.95}" <<'EOF' || exit 3
import json, sys
pitch = json.load(open(sys.argv[1]))["autoencoder"]["pitch"]
sys.exit(f"autoencoder round trip pitch {pitch:.0%} < {float(sys.argv[2]):.0%}: not training the DiT"
         if pitch < float(sys.argv[2]) else 0)
EOF
  fi
fi
stamp "step 2: audio DiT"
vgen train run --recipe shapes-dub-dit --data "$work/data" --weights "$ae" --out "$work/dit" \
  --set time_limit_s="${DIT_SECONDS:-210}" ${DIT_ARGS:-}
if [ "$check" -gt 0 ]; then
  stamp "check: held-out clips (17 and 65 frames)"
  python3 "$here/dub_check.py" "$work/dit/final-ema" "$work/heldout" --limit "$check" --out "$work/dub17.json"
  python3 "$here/dub_check.py" "$work/dit/final-ema" "$work/heldout65" --limit "$check" --out "$work/dub65.json"
fi
if [ -n "${OUT:-}" ]; then
  mkdir -p "$OUT/shapes-dub"
  cp "$work/dit/final-ema/config.json" "$work/dit/final-ema/model.safetensors" "$OUT/shapes-dub/"
  if [ -f "$work/ae/metrics.jsonl" ]; then cp "$work/ae/metrics.jsonl" "$OUT/ae-metrics.jsonl"; fi
  cp "$work/dit/metrics.jsonl" "$OUT/dit-metrics.jsonl"
  python3 - "$work" "$OUT/score.json" <<'EOF'
import json, pathlib, sys
work = pathlib.Path(sys.argv[1])
scores = {name: json.loads((work / f"{name}.json").read_text())
          for name in ("ae", "dub17", "dub65") if (work / f"{name}.json").is_file()}
pathlib.Path(sys.argv[2]).write_text(json.dumps(scores, indent=2) + "\n")
print(json.dumps(scores))
EOF
  stamp "weights and scores in $OUT"
fi
if [ -n "${SHIP:-}" ]; then
  mkdir -p "$SHIP" && cp "$work/dit/final-ema/config.json" "$work/dit/final-ema/model.safetensors" "$SHIP/"
  stamp "shipped to $SHIP"
fi
stamp done
