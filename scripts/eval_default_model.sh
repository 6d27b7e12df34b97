#!/usr/bin/env bash
# Score a shapes model on prompts drawn from the grammar (seeds unlike any used in training):
#   scripts/eval_default_model.sh WEIGHTS OUT [NUM_PROMPTS] [extra `vgen sample` flags, e.g. --guidance 5]
# PROMPT_SEED=N draws another prompt set (the default, 20261125, is the reported test set: tune on another one).
# Every prompt starts from the same noise (seed 777), so the 200 results share one draw; NOISE=each gives prompt i
# its own (seed 777 + i), which measures the model over noise draws too. NOISE_SEED=N starts from N instead of 777
# (NOISE=each NOISE_SEED=1777: another independent draw for every prompt).
# Two runs of one prompt set (other weights, flags or device): `vgen eval compare OUT1/scores.json OUT2/scores.json`.
set -euo pipefail
weights=${1:?weights}; out=${2:?out}; num=${3:-200}; shift $(($# < 3 ? $# : 3))
command -v vgen >/dev/null || vgen() { python3 -m vgen "$@"; }
mkdir -p "$out"
python3 -c "
from vgen_plugins.shapes.prompts import random_prompts
import json
prompts = random_prompts($num, seed=${PROMPT_SEED:-20261125}, omit_size=0.3, omit_background=0.3)
each, base = '${NOISE:-same}' == 'each', ${NOISE_SEED:-777}
print('\n'.join(json.dumps({'prompt': p, 'seed': base + i if each else base}) for i, p in enumerate(prompts)))" \
  > "$out/prompts.jsonl"
vgen -q sample --prompts "$out/prompts.jsonl" --weights "$weights" --out "$out/videos" "$@" > /dev/null
vgen eval shapes "$out/videos" --json "$out/scores.json"
