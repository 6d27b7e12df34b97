#!/usr/bin/env bash
# Fit the shipped VAE's decoder again in several variants (the encoder, so the latents and the DiT, unchanged) and
# score each: the VAE round trip of 300 generator clips (the cap it sets) and the full model on the test prompts
# and a validation set, all on this machine (one GPU: ~15 min for two variants).
#   scripts/decoder_variants.sh WORK NAME="--set k=v ..." [NAME="..."]
# e.g. scripts/decoder_variants.sh /tmp/dec shipped=SHIPPED long="" edge="--set gradient_weight=1"
# (SHIPPED: the shipped weights as they are, scored the same way for a paired comparison).
# EVAL_ARGS="--batch-size 100" passes flags to the scoring's `vgen sample`; VAL=0 skips the validation set.
# Each variant trains with recipe ${RECIPE:-shapes-default-decoder2} from ${FROM:-plugins/shapes_model/weights} and writes
# WORK/NAME/{metrics.jsonl, ship (the bf16 pipeline folder), roundtrip.json, test.json, val.json}. Steps already
# done are skipped, so a rerun after an interruption carries on.
set -euo pipefail
work=${1:?work dir}; shift
here=$(cd "$(dirname "$0")" && pwd); weights=${FROM:-$here/../plugins/shapes_model/weights}
command -v vgen >/dev/null || vgen() { python3 -m vgen "$@"; }
stamp() { echo "[$(date +%T)] $*"; }
mkdir -p "$work"
[ -f "$work/data/manifest.jsonl" ] || { stamp data; vgen -q datasets shapes --num "${NUM:-16000}" --out "$work/data" --seed "${DATA_SEED:-10}"; }
[ -f "$work/rt_src/manifest.jsonl" ] || vgen -q datasets shapes --num 300 --out "$work/rt_src" --seed 991 --two-object-fraction 0.5
device=cpu; python3 -c "import torch, sys; sys.exit(not torch.cuda.is_available())" && device=cuda
for spec in "$@"; do
  name=${spec%%=*}; sets=${spec#*=}; run=$work/$name
  mkdir -p "$run"
  if [ "$sets" = SHIPPED ]; then [ -e "$run/ship" ] || ln -s "$(cd "$weights" && pwd)" "$run/ship"; fi
  # shellcheck disable=SC2086  # $sets is a list of flags
  [ -e "$run/ship" ] || [ -d "$run/final" ] || { stamp "train $name $sets"; vgen -q train run --recipe "${RECIPE:-shapes-default-decoder2}" --weights "$weights" --data "$work/data" --out "$run" --resume auto --json $sets > "$run.result.json"; }
  [ -e "$run/ship" ] || python3 "$here/save_bf16.py" "$run/final" "$run/ship"
  [ -f "$run/roundtrip.json" ] || { stamp "round trip $name"; python3 "$here/vae_roundtrip.py" "$run/ship" "$work/rt_src" "$run/rt" --device "$device" >/dev/null; vgen -q eval shapes "$run/rt" --json "$run/roundtrip.json" >/dev/null; }
  [ -f "$run/test.json" ] || { stamp "test $name"; "$here/eval_default_model.sh" "$run/ship" "$run/test" 200 ${EVAL_ARGS:-} >/dev/null; cp "$run/test/scores.json" "$run/test.json"; }
  [ "${VAL:-1}" = 0 ] || [ -f "$run/val.json" ] || { stamp "val $name"; PROMPT_SEED=4242 NOISE=each "$here/eval_default_model.sh" "$run/ship" "$run/val" "${VAL_N:-600}" ${EVAL_ARGS:-} >/dev/null; cp "$run/val/scores.json" "$run/val.json"; }
done
stamp done
