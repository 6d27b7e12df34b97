"""Print a run's stages with the last one's steps set to what a time limit allows, from the clips/s its metrics
measured (so that its cosine schedule ends in time): used by the FIT_STEPS runs of train_default_model.sh and
dit_variants.sh (whose variants measure while all of them run, so each one's share of the GPU is in its number).
    python3 scripts/fit_steps.py RUN_DIR LIMIT_S > stages.json  (then --set "stages=$(cat stages.json)")
The limit keeps 90 s for compiling again after the resume and 5% spare."""

import json
import sys
from pathlib import Path

run, limit = Path(sys.argv[1]), float(sys.argv[2])
last = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line][-1]
stages = json.loads((run / "recipe.json").read_text())["stages"]
stages[-1]["steps"] = last["step"] + int((limit - 90) * 0.95 * last["samples_per_s"] / last["samples"])
print(f"{run.name}: {last['samples_per_s']:.0f} clips/s measured: {stages[-1]['steps']} steps", file=sys.stderr)
print(json.dumps(stages, separators=(",", ":")))
