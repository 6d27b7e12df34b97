#!/usr/bin/env bash
# Score a shapes model on prompts drawn from the grammar (seeds unlike any used in training):
#   scripts/eval_default_model.sh WEIGHTS OUT [NUM_PROMPTS] [extra `vgen sample` flags, e.g. --guidance 5]
# PROMPT_SEED=N draws another prompt set (the default, 20261125, is the reported test set: tune on another one)
set -euo pipefail
weights=${1:?weights}; out=${2:?out}; num=${3:-200}; shift 3 || true
command -v vgen >/dev/null || vgen() { python3 -m vgen "$@"; }
mkdir -p "$out"
python3 -c "
from vgen_plugins.shapes.prompts import random_prompts
print('\n'.join(random_prompts($num, seed=${PROMPT_SEED:-20261125}, omit_size=0.3, omit_background=0.3)))" > "$out/prompts.txt"
vgen -q sample --prompts "$out/prompts.txt" --weights "$weights" --seed 777 --out "$out/videos" "$@" > /dev/null
vgen eval shapes "$out/videos" --json "$out/scores.json"
