#!/usr/bin/env bash
# Train the default model on a GPU machine that is reached only through short commands (each at most ~10 minutes,
# the machine kept between them): the first call starts train_default_model.sh in its own session, every call
# (the first too) watches it for SECONDS and copies what is finished into OUT_DIR, so nothing is lost if the
# machine goes away between calls.
#   . maintainers/gpu-host/device_setup.sh; maintainers/gpu-host/remote_train_default_model.sh SECONDS OUT_DIR
# Env: WORK (default /tmp/w), NUM (clips, 16000), TL (time limit of each training run, s: 1150 by default, so the
# whole chain fits one 30-minute machine), VAE (default: the VAE in the repo; VAE= trains it first), FROM and
# EVAL_N, DIT_ARGS, FINE_ARGS, FINE_RECIPE, DATA_ARGS, FIT_STEPS, GROW (see train_default_model.sh: FROM=plugins/shapes_model/weights continues the shipped model).
# OUT_DIR gets: w.log, {vae,dit}_metrics.jsonl, dit_loss.png, scores.json, and once each vae_final.tar (the VAE,
# without the untrained DiT) and ship.tar.a? (the bf16 weights for plugins/shapes_model/weights, <= 15 MB parts).
set -u
secs=${1:?seconds to watch}; out=${2:?out dir}
work=${WORK:-/tmp/w}; here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$work" "$out"
running() { pgrep -f "[t]rain_default_model.sh $work" >/dev/null; }  # [t]: never matches this script's own line
if ! running && [ ! -f "$work/done" ]; then
  VGEN_TRAIN_TIME_LIMIT_S=${TL:-1150} SHIP=1 SHIP_TO="$work/ship" VAE=${VAE-$here/../../plugins/shapes_model/weights/vae} \
    FROM=${FROM:-} FINE_RECIPE=${FINE_RECIPE:-} DATA_ARGS=${DATA_ARGS:-} EVAL_N=${EVAL_N:-200} DIT_ARGS=${DIT_ARGS:-} FINE_ARGS=${FINE_ARGS:-} DATA_SEED=${DATA_SEED:-0} FIT_STEPS=${FIT_STEPS:-} GROW=${GROW:-} \
    setsid nohup bash -c "'$here/../../scripts/train_default_model.sh' '$work' ${NUM:-16000} && touch '$work/done'" \
    >> "$work.log" 2>&1 < /dev/null &
  sleep 2
fi
end=$((SECONDS + secs))
while [ $SECONDS -lt $end ] && running; do sleep 5; done
cp "$work.log" "$out/w.log"
for s in vae dit fine/dit; do
  [ -f "$work/$s/metrics.jsonl" ] && cp "$work/$s/metrics.jsonl" "$out/${s//\//_}_metrics.jsonl"
  [ -f "$work/$s/loss.png" ] && cp "$work/$s/loss.png" "$out/${s//\//_}_loss.png"
done
[ -f "$work/eval/scores.json" ] && cp "$work/eval/scores.json" "$out/"
for s in dit fine/dit; do  # DIT_ARGS / FINE_ARGS="--set profile_steps=5" (summary, top ops, trace)
  [ -d "$work/$s/profile" ] && cp "$work/$s/profile/summary.json" "$work/$s/profile/top_ops"*.txt "$out/"
done
if [ -d "$work/vae/final" ] && [ ! -f "$work/vae_sent" ]; then
  tar -cf "$out/vae_final.tar" -C "$work/vae" --exclude=final/transformer final && touch "$work/vae_sent"
fi
if [ -d "$work/ship" ] && [ ! -f "$work/ship_sent" ]; then
  tar -cf - -C "$work" ship | split -b 15M - "$out/ship.tar." && touch "$work/ship_sent"
fi
tail -c 2000 "$work.log"
if running; then echo "still running"; elif [ -f "$work/done" ]; then echo "done"; else echo "stopped (see w.log)"; fi
