#!/usr/bin/env bash
# Issue 34's GPU measurements in one call on one H100 (about 8-9 minutes of wall time), most important first:
#   1. VAE decode, vgen vs diffusers (tiled as diffusers' docs run it, and untiled)      benchmarks/vae_decode.py
#   2. one 13B DiT step, bf16 vs FP8 linears (speed, relative error)                      benchmarks/fp8_dit.py
#   3. a whole 480x848x61 sample, vgen vs diffusers, STEPS steps (10) with the 50-step
#      total estimated from the measured per-step time (50 steps of both do not fit)    benchmarks/whole_sample.py
#   4. the same sample with vgen's fast modes (--fp8 --step-cache), 50 steps, vgen only
#   5. VAE decode with cudnn.benchmark; 6. FP8 step with the single blocks' proj_out through the FP8 layer;
#   7. 256x256x129 with the fast modes (the seed's headline); 8. --offload model under a 32 GB cap
# Each step gets what is left of BUDGET seconds (timeout) and is skipped, saying so, when too little is left; a
# failing step costs only its own table. Tables go to $OUT/<step>.md, everything printed to $OUT/suite.log.
#
# Run (the GPU host lacks diffusers and pydantic: carry .whl-bench = .whl-dub's wheels + diffusers 0.42.1):
#   export WHL=.whl-bench; . maintainers/gpu-host/device_setup.sh; bash benchmarks/gpu_speed_suite.sh
set -u
OUT=${OUT:-benchmarks/results/suite}
BUDGET=${BUDGET:-510}  # seconds for all steps (the call's limit is 600: set-up and copying back need the rest)
STEPS=${STEPS:-10}
mkdir -p "$OUT"
start=$(date +%s)
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 | tee -a "$OUT/suite.log"
python3 -c "import torch, diffusers; print('torch', torch.__version__, 'diffusers', diffusers.__version__)" \
  2>&1 | tee -a "$OUT/suite.log"

# step NAME MIN_SECONDS ARGS...: run python ARGS with what is left of the budget, table into $OUT/NAME.md
step() {
  local name=$1 need=$2
  shift 2
  local left=$((BUDGET - ($(date +%s) - start)))
  if [ "$left" -lt "$need" ]; then
    echo "== $name: skipped, ${left}s of the budget left (needs ~${need}s)" | tee -a "$OUT/suite.log"
    return
  fi
  echo "== $name ($(date -u +%H:%M:%S), ${left}s left): python3 $*" | tee -a "$OUT/suite.log"
  timeout --signal=INT --kill-after=10 "$left" python3 "$@" --out "$OUT/$name.md" 2>&1 | tee -a "$OUT/suite.log"
  echo "== $name: exit ${PIPESTATUS[0]} after $(( $(date +%s) - start ))s in all" | tee -a "$OUT/suite.log"
}

step vae_decode 60 benchmarks/vae_decode.py --modes tiled,untiled --warmup 1 --iters 1
step fp8_dit 90 benchmarks/fp8_dit.py --warmup 2 --iters 3
step whole_480p 120 benchmarks/whole_sample.py --preset 480p --steps "$STEPS" --estimate-steps 50
step whole_480p_fast 90 benchmarks/whole_sample.py --preset 480p --only vgen --fp8 --step-cache 0.1 --steps 50
step vae_decode_cudnn 30 benchmarks/vae_decode.py --modes tiled --warmup 1 --iters 1 --cudnn-benchmark --only vgen
step fp8_dit_concat 90 benchmarks/fp8_dit.py --warmup 2 --iters 3 --concat-proj-out
step whole_256_fast 60 benchmarks/whole_sample.py --preset 256 --only vgen --fp8 --step-cache 0.1 --steps 30
step whole_480p_cap32 90 benchmarks/whole_sample.py --preset 480p --only vgen --offload model --memory-cap-gb 32 \
  --steps 5 --estimate-steps 50
echo "== done in $(( $(date +%s) - start ))s" | tee -a "$OUT/suite.log"
