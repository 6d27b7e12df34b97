#!/usr/bin/env bash
# Anneal the shipped DiT again in several variants at once on one GPU (the VAE frozen, so the shipped decoder still
# fits) and score each, and the shipped weights, the same way on this machine.
#   TL=SECONDS scripts/dit_variants.sh WORK NAME="--set k=v ..." [NAME="..."] [NAME=SHIPPED]
# e.g. TL=600 scripts/dit_variants.sh /tmp/dv shipped=SHIPPED shift3="--set shift=3" wide="--set logit_std=1.6"
# The clips: NUM (16000) new ones, seed DATA_SEED (11), drawn with DATA_ARGS (vgen datasets shapes flags). The
# variants train together with recipe RECIPE (shapes-default-anneal3) from FROM (plugins/shapes_model/weights):
# 60 steps measure clips/s with all of them running, then each resumes with its steps set to what TL allows (so
# its cosine schedule ends). Scores: the 200 test prompts (noise seed 777 for all, the reported protocol) and VAL
# (600) validation prompts (PROMPT_SEED 4242, a noise seed each), sampled BATCH (50) at a time.
# Writes WORK/NAME/{metrics.jsonl, ship (bf16 pipeline folder), test.json, val.json}. Finished steps are skipped,
# so a rerun after an interruption carries on.
set -euo pipefail
work=${1:?work dir}; shift
here=$(cd "$(dirname "$0")" && pwd); weights=${FROM:-$here/../plugins/shapes_model/weights}
recipe=${RECIPE:-shapes-default-anneal3}
command -v vgen >/dev/null || vgen() { python3 -m vgen "$@"; }
stamp() { echo "[$(date +%T)] $*"; }
mkdir -p "$work"
# shellcheck disable=SC2086  # DATA_ARGS is a list of flags
[ -f "$work/data/manifest.jsonl" ] || { stamp data; vgen -q datasets shapes --num "${NUM:-16000}" --out "$work/data" --seed "${DATA_SEED:-11}" --caption-form mixed ${DATA_ARGS:-}; }
[ -d "$work/cache" ] || { stamp cache; vgen -q train cache --recipe "$recipe" --weights "$weights" --data "$work/data" --out "$work/cache"; }
names=(); trained=()
for spec in "$@"; do
  name=${spec%%=*}; names+=("$name"); mkdir -p "$work/$name"
  if [ "${spec#*=}" = SHIPPED ]; then
    [ -e "$work/$name/ship" ] || ln -s "$(cd "$weights" && pwd)" "$work/$name/ship"
  else
    trained+=("$spec")
  fi
done
train() {  # NAME SETS [more flags]: one variant's run, its output in WORK/NAME.log
  local name=$1 sets=$2; shift 2
  local fit=(); [ -f "$work/$name/stages.json" ] && fit=(--set "stages=$(cat "$work/$name/stages.json")")
  # shellcheck disable=SC2086  # $sets is a list of flags
  vgen -q train run --recipe "$recipe" --weights "$weights" --cache "$work/cache" --out "$work/$name" --resume auto \
    --json --set data_workers=$(($(nproc) / ${#trained[@]})) $sets "${fit[@]}" "$@" >> "$work/$name.log" 2>&1
}
together() {  # run train with the same extra flags for every variant still to train, all at once
  local pids=() spec
  for spec in "${trained[@]}"; do
    [ -d "$work/${spec%%=*}/final-ema" ] || { train "${spec%%=*}" "${spec#*=}" "$@" & pids+=($!); }
  done
  for pid in "${pids[@]}"; do wait "$pid"; done
}
missing=0; for spec in "${trained[@]}"; do [ -f "$work/${spec%%=*}/stages.json" ] || missing=1; done
if [ ${#trained[@]} -gt 0 ] && [ $missing = 1 ]; then
  stamp "measure ${trained[*]}"
  together --stop-at 60 --set log_every=20
  for spec in "${trained[@]}"; do
    python3 "$here/fit_steps.py" "$work/${spec%%=*}" "${TL:?TL: seconds each variant may train}" > "$work/${spec%%=*}/stages.json"
  done
fi
[ ${#trained[@]} -gt 0 ] && { stamp "train ${trained[*]}"; VGEN_TRAIN_TIME_LIMIT_S=$TL together; }
# all weights first, then all test scores, then all validation scores: what a short device call brings back first
for name in "${names[@]}"; do
  [ -e "$work/$name/ship" ] || python3 "$here/save_bf16.py" "$work/$name/final-ema" "$work/$name/ship"
done
score() {  # FILE NUM [env assignments]: every model's scores on one prompt set
  local file=$1 num=$2 name; shift 2
  for name in "${names[@]}"; do
    [ -f "$work/$name/$file.json" ] && continue
    stamp "$file $name"
    env "$@" "$here/eval_default_model.sh" "$work/$name/ship" "$work/$name/$file" "$num" --batch-size "${BATCH:-50}" >/dev/null
    cp "$work/$name/$file/scores.json" "$work/$name/$file.json"
  done
}
score test "${TEST:-200}"
score val "${VAL:-600}" PROMPT_SEED=4242 NOISE=each
stamp done
