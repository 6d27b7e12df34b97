#!/usr/bin/env bash
# Issue 34's GPU measurements, one call of about 8-9 minutes on one H100 per SUITE, most important first.
# SUITE=main (default):
#   1. VAE decode, vgen vs diffusers (tiled as diffusers' docs run it, and untiled)      benchmarks/vae_decode.py
#   2. one 13B DiT step, bf16 vs FP8 linears (speed, relative error)                      benchmarks/fp8_dit.py
#   3. a whole 480x848x61 sample, vgen vs diffusers, STEPS (10) steps, the 50-step total
#      estimated from the measured per-step time (50 steps of both do not fit one call)  benchmarks/whole_sample.py
#   4. the same sample with vgen's fast modes (--fp8 --step-cache 0.1), 50 steps, vgen only
#   5. VAE decode with cudnn.benchmark (vgen); 6. the FP8 step with the single-stream blocks' proj_out through
#      the FP8 layer (--concat-proj-out: what vgen's block would need to change for that layer's FP8 speed)
# SUITE=tiny: the same plumbing with tiny models on a CPU, in seconds.
# SUITE=large:
#   1. 720x1280x129, vgen bf16, 2 steps + decode, 50-step total estimated (issue 34 part 3, lossless)
#   2. 480p, 50 steps, vgen with every fast mode (--fp8 --compile --step-cache 0.1; compile seconds reported apart)
#   3. 256x256x129, 30 steps, every fast mode, twice (the second run is the warm one: the seed's "5 s in 12 s")
#   4. 720p with --fp8, 2 steps, 50 estimated; 5. VAE decode with channels_last_3d (both)
# SUITE=rest: what a second call must measure when only two fit (large's 720p, 256 and 480p-all rows, then memory's
#   two 32 GB-capped rows)
# SUITE=memory (issue 34 part 7): 480p, 5 steps (50 estimated) with --offload model under a 32 GB cap, vgen then
#   diffusers (enable_model_cpu_offload; accelerate is in .whl-bench), the same without the cap, and vgen with --fp8
# Each step gets what is left of BUDGET seconds (timeout) and is skipped, saying so, when too little is left; a
# failing step costs only its own table. Tables go to $OUT/<step>.md, everything printed to $OUT/suite.log.
#
# Run (the GPU host lacks diffusers and pydantic: carry .whl-bench = .whl-dub's wheels + diffusers 0.42.1,
# accelerate 1.16.0, psutil 7.2.2):
#   export WHL=.whl-bench; . maintainers/gpu-host/device_setup.sh; SUITE=main bash benchmarks/gpu_speed_suite.sh
set -u
OUT=${OUT:-benchmarks/results/suite}
SUITE=${SUITE:-main}
BUDGET=${BUDGET:-510}  # seconds for all steps (the call's limit is 600: set-up and copying back need the rest)
STEPS=${STEPS:-10}
mkdir -p "$OUT"
start=$(date +%s)
{ command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  python3 -c "import torch, diffusers; print('torch', torch.__version__, 'diffusers', diffusers.__version__)"
} 2>&1 | tee -a "$OUT/suite.log"

# step NAME MIN_SECONDS ARGS...: python3 ARGS --out $OUT/NAME.md with what is left of the budget
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

case "$SUITE" in
  main)
    step vae_decode 60 benchmarks/vae_decode.py --modes tiled,untiled --warmup 1 --iters 1
    step fp8_dit 90 benchmarks/fp8_dit.py --warmup 2 --iters 3
    step whole_480p 120 benchmarks/whole_sample.py --preset 480p --steps "$STEPS" --estimate-steps 50
    step whole_480p_fast 90 benchmarks/whole_sample.py --preset 480p --only vgen --fp8 --step-cache 0.1 --steps 50
    step vae_decode_cudnn 30 benchmarks/vae_decode.py --modes tiled --warmup 1 --iters 1 --cudnn-benchmark \
      --only vgen
    step fp8_dit_concat 90 benchmarks/fp8_dit.py --warmup 2 --iters 3 --concat-proj-out
    ;;
  large)
    step whole_720p 120 benchmarks/whole_sample.py --preset 720p --only vgen --steps 2 --estimate-steps 50
    step whole_480p_all 150 benchmarks/whole_sample.py --preset 480p --only vgen --fp8 --compile --step-cache 0.1 \
      --steps 50
    step whole_256_all 90 benchmarks/whole_sample.py --preset 256 --only vgen --fp8 --compile --step-cache 0.1 \
      --steps 30 --repeat 2
    step whole_720p_fp8 120 benchmarks/whole_sample.py --preset 720p --only vgen --fp8 --steps 2 \
      --estimate-steps 50
    step vae_decode_cl 40 benchmarks/vae_decode.py --modes tiled --warmup 1 --iters 1 --channels-last
    ;;
  rest)
    step whole_720p 120 benchmarks/whole_sample.py --preset 720p --only vgen --steps 2 --estimate-steps 50
    step whole_256_all 90 benchmarks/whole_sample.py --preset 256 --only vgen --fp8 --compile --step-cache 0.1 \
      --steps 30 --repeat 2
    step whole_480p_all 120 benchmarks/whole_sample.py --preset 480p --only vgen --fp8 --compile --step-cache 0.1 \
      --steps 50
    step vgen_480p_cap32 60 benchmarks/whole_sample.py --preset 480p --only vgen --offload model \
      --memory-cap-gb 32 --steps 5 --estimate-steps 50
    step diffusers_480p_cap32 60 benchmarks/whole_sample.py --preset 480p --only diffusers --offload model \
      --memory-cap-gb 32 --steps 5 --estimate-steps 50
    ;;
  memory)
    step vgen_480p_cap32 90 benchmarks/whole_sample.py --preset 480p --only vgen --offload model \
      --memory-cap-gb 32 --steps 5 --estimate-steps 50
    step diffusers_480p_cap32 90 benchmarks/whole_sample.py --preset 480p --only diffusers --offload model \
      --memory-cap-gb 32 --steps 5 --estimate-steps 50
    step vgen_480p_offload 90 benchmarks/whole_sample.py --preset 480p --only vgen --offload model --steps 5 \
      --estimate-steps 50
    step diffusers_480p_offload 90 benchmarks/whole_sample.py --preset 480p --only diffusers --offload model \
      --steps 5 --estimate-steps 50
    step vgen_480p_cap32_fp8 90 benchmarks/whole_sample.py --preset 480p --only vgen --offload model --fp8 \
      --memory-cap-gb 32 --steps 5 --estimate-steps 50
    ;;
  tiny)  # the plumbing on a CPU (tests/benchmarks), tiny models
    step vae_decode 10 benchmarks/vae_decode.py --tiny --modes tiled --warmup 0 --iters 1
    step fp8_dit 10 benchmarks/fp8_dit.py --tiny --warmup 0 --iters 1
    step whole_tiny 10 benchmarks/whole_sample.py --tiny
    step whole_tiny_fast 10 benchmarks/whole_sample.py --tiny --only vgen --fp8 --step-cache 0.1 --steps 4
    step never 100000 benchmarks/whole_sample.py --tiny
    ;;
  *) echo "SUITE must be main, large, rest, memory or tiny, got $SUITE" >&2; exit 2 ;;
esac
echo "== done in $(( $(date +%s) - start ))s" | tee -a "$OUT/suite.log"
