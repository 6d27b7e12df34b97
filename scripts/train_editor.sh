#!/usr/bin/env bash
# Train the instruction editor (pipeline shapes-edit, editor shapes-instruct) from the default model on one GPU and
# write it beside the default model (plugins/shapes_edit/weights/editor.safetensors, bf16) with SHIP=1.
#   1. NUM edit pairs of the shapes world (seed SEED, default 0; the eval cases use other seeds), rendered in memory
#      and encoded into a latent cache (plugins/shapes_edit/pairs_cache.py: no video files, no PyAV needed);
#   2. vgen train run --recipe shapes-edit (RECIPE=shapes-edit-cpu on a CPU): LoRA on the default DiT, the
#      zero-initialised source input and the instruction words' new vocabulary rows, t shifted to high noise;
#   3. the LoRA file in bf16 -> WORK/editor.safetensors (and with SHIP=1 into the package, or SHIP_TO=FILE);
#   4. EVAL_N > 0: the editor on EVAL_N held-out pairs of seed EVAL_SEED (2000: neither trained on nor eval cases),
#      rendered in memory, at each EVAL_STRENGTHS x EVAL_GUIDANCES; the best is stored in the editor file (its
#      sampling defaults) and run on pairs of seed 1000 (`vgen eval edits`' cases) -> WORK/eval.json
#      (plugins/shapes_edit/quick_eval.py); then SHIP=1 copies the file into the package;
#   5. COPY_TO=DIR: editor.safetensors, eval.json, metrics.jsonl and recipe.json copied there (a device's $OUT).
# Usage: [SHIP=1] [SEED=N] [RECIPE=shapes-edit-cpu] [CONFIG=tiny] [TRAIN_ARGS="--set lr=1e-3"] [EVAL_N=200]
#        [COPY_TO=DIR]
#        scripts/train_editor.sh WORK [NUM]
#        CONFIG=tiny: random tiny weights (a CPU dry run of this script); VGEN_TRAIN_TIME_LIMIT_S caps training,
#        DEADLINE=EPOCH_SECONDS sets it to what is left when training starts (one fixed budget for cache + training).
set -euo pipefail
work=${1:?work dir}; num=${2:-16000}
command -v vgen >/dev/null || vgen() { python3 -m vgen "$@"; }
stamp() { echo "[$(date +%T)] $*"; }
copy_out() {
  [ -n "${COPY_TO:-}" ] || return 0
  mkdir -p "$COPY_TO"
  for f in editor.safetensors eval.json run/metrics.jsonl run/recipe.json; do
    if [ -f "$work/$f" ]; then cp "$work/$f" "$COPY_TO/"; fi
  done
}
mkdir -p "$work"
if [ ! -d "$work/cache" ]; then
  stamp "cache of $num pairs"
  python3 -c "
import sys, torch
from vgen_plugins.shapes_edit.pairs_cache import write_edit_cache
from vgen_plugins.shapes_edit.pipeline import build
dev = 'cuda' if torch.cuda.is_available() else 'cpu'
pipe = build(config=sys.argv[3] or 'untrained', device=dev)
print(write_edit_cache(pipe, sys.argv[1], int(sys.argv[2]), seed=int(sys.argv[4]), device=dev, batch=256))
" "$work/cache" "$num" "${CONFIG:-}" "${SEED:-0}"
fi
stamp "train"
[ -n "${DEADLINE:-}" ] && export VGEN_TRAIN_TIME_LIMIT_S=$(( DEADLINE - $(date +%s) ))
extra=()
[ -n "${CONFIG:-}" ] && extra=(--set "config=\"$CONFIG\"")
[ -f "$work/run/lora.safetensors" ] || vgen -q train run --recipe "${RECIPE:-shapes-edit}" --cache "$work/cache" \
  --out "$work/run" --json "${extra[@]}" ${TRAIN_ARGS:-}
stamp "editor weights"
python3 -c "
import sys, torch
from safetensors.torch import load_file, save_file
state = {k: v.to(torch.bfloat16).contiguous() for k, v in load_file(sys.argv[1]).items()}
save_file(state, sys.argv[2], metadata={'format': 'pt', 'vgen_pipeline': 'shapes-edit'})
print(sys.argv[2])
" "$work/run/lora.safetensors" "$work/editor.safetensors"
copy_out  # the weights come back even if the eval below runs out of time
if [ "${EVAL_N:-0}" -gt 0 ]; then
  stamp "sampling settings on $EVAL_N pairs of seed ${EVAL_SEED:-2000}, the best on the eval cases' seed 1000"
  python3 -m vgen_plugins.shapes_edit.quick_eval --weights "$work/editor.safetensors" ${CONFIG:+--config "$CONFIG"} \
    --num "$EVAL_N" --seed "${EVAL_SEED:-2000}" --test-seed 1000 --write-defaults --workers "${EVAL_WORKERS:-8}" \
    --strength "${EVAL_STRENGTHS:-0.9,0.95,1.0}" --guidance "${EVAL_GUIDANCES:-3,5}" --steps "${EVAL_STEPS:-10}" \
    --json "$work/eval.json"
fi
if [ "${SHIP:-0}" = 1 ]; then
  cp "$work/editor.safetensors" "${SHIP_TO:-plugins/shapes_edit/weights/editor.safetensors}.tmp"
  mv "${SHIP_TO:-plugins/shapes_edit/weights/editor.safetensors}.tmp" "${SHIP_TO:-plugins/shapes_edit/weights/editor.safetensors}"
fi
copy_out
stamp "done"
