#!/usr/bin/env bash
# Issue 29's measure of a dub model: `vgen dub` + `vgen eval dub` on three sets of videos it was not trained on
#   gen17   N generator clips, 17 frames, no sound (vgen datasets shapes --seed 21)
#   gen65   N generator clips, 65 frames: four times the training length, dubbed in overlapping windows (seed 22)
#   samples N videos the default model made (vgen sample; any folder of MP4s: SAMPLES=DIR, else made here)
# Usage: scripts/dub_eval_sets.sh OUT [N] [WEIGHTS]    (WEIGHTS: a dub model folder; default: the shipped one)
#   SETS="gen17 gen65 samples"  which sets; each set's scores land in OUT/<set>/dub_eval.json, a table on stdout.
set -euo pipefail
out=${1:?out dir}; num=${2:-200}; weights=${3:-}
command -v vgen >/dev/null || vgen() { python3 -m vgen "$@"; }
mkdir -p "$out/src"
for set in ${SETS:-gen17 gen65 samples}; do
  src="$out/src/$set"
  case "$set" in
    gen17) [ -d "$src" ] || vgen datasets shapes --num "$num" --seed 21 --out "$src" >/dev/null ;;
    gen65) [ -d "$src" ] || vgen datasets shapes --num "$num" --seed 22 --frames 65 --out "$src" >/dev/null ;;
    samples)
      if [ -n "${SAMPLES:-}" ]; then src=$SAMPLES
      elif [ ! -d "$src" ]; then
        python3 -c "from vgen_plugins.shapes.prompts import random_prompts
print('\\n'.join(random_prompts($num, seed=23, omit_size=0.3, omit_background=0.3)))" > "$out/src/prompts.txt"
        vgen -q sample --prompts "$out/src/prompts.txt" --out "$src" >/dev/null
      fi ;;
    *) echo "unknown set $set (gen17, gen65, samples)" >&2; exit 2 ;;
  esac
  videos=$(find "$src/" -name '*.mp4' | sort | head -n "$num")
  # shellcheck disable=SC2086
  vgen dub $videos --out "$out/$set" ${weights:+--weights "$weights"} --replace >/dev/null
  vgen eval dub "$out/$set" --json "$out/$set/dub_eval.json" >/dev/null
done
python3 - "$out" ${SETS:-gen17 gen65 samples} <<'EOF'
import json, pathlib, sys
out = pathlib.Path(sys.argv[1])
print("| set | videos | pitch % | sync % (videos with a bounce) | silent % (videos without) |")
print("| --- | --- | --- | --- | --- |")
for name in sys.argv[2:]:
    s = json.loads((out / name / "dub_eval.json").read_text())["summary"]
    print(f"| {name} | {s['n']} | {100 * s['pitch']:.1f} | {100 * s['sync']:.1f} ({s['n_sync']}) "
          f"| {100 * s['silent']:.1f} ({s['n_silent']}) |")
EOF
