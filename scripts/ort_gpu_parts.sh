#!/usr/bin/env bash
# onnxruntime-gpu on a GPU machine that takes at most 64 MiB per call (working tree included) and has no network:
# split the wheel into parts here, carry one part per call while the machine stays warm, install it there.
#   here:  scripts/ort_gpu_parts.sh split          -> .ort1 ... .ort6 (git-ignored), each part < 44 MiB
#   there: scripts/ort_gpu_parts.sh collect N      (in the call that carries .ortN; parts wait in /tmp/ort-parts)
#   there: scripts/ort_gpu_parts.sh install        -> /tmp/ort; then export PYTHONPATH=/tmp/ort:$PYTHONPATH
# benchmarks/export_dit.py then finds onnxruntime's CUDA provider (`vgen doctor` lists it).
set -euo pipefail
version=${ORT_VERSION:-1.31.1}; parts=${ORT_PARTS:-6}
case "${1:-}" in
  split)
    tmp=$(mktemp -d)
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
      --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 -d "$tmp" "onnxruntime-gpu==$version"
    wheel=$(ls "$tmp"/*.whl)
    size=$(stat -c %s "$wheel"); per=$(( (size + parts - 1) / parts ))
    for i in $(seq 1 "$parts"); do
      rm -rf ".ort$i"; mkdir ".ort$i"
      grep -qx "/.ort$i/" .git/info/exclude 2>/dev/null || echo "/.ort$i/" >> .git/info/exclude
    done
    split -b "$per" -d -a 1 "$wheel" "$tmp/part"
    for i in $(seq 1 "$parts"); do mv "$tmp/part$((i - 1))" ".ort$i/$(basename "$wheel").part$i"; done
    rm -rf "$tmp"; du -sh .ort*;;
  collect)
    n=${2:?part number}; mkdir -p /tmp/ort-parts; cp ".ort$n"/*.part"$n" /tmp/ort-parts/; ls -la /tmp/ort-parts;;
  install)
    cd /tmp/ort-parts; first=$(ls *.part1); wheel=${first%.part1}
    [ "$(ls *.part* | wc -l)" = "$parts" ] || { echo "have $(ls *.part* | wc -l) of $parts parts" >&2; exit 2; }
    for i in $(seq 1 "$parts"); do cat "$wheel.part$i"; done > "/tmp/$wheel"
    python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/ort "/tmp/$wheel"
    PYTHONPATH=/tmp/ort python3 -c "import onnxruntime as o; print(o.__version__, o.get_available_providers())";;
  *) echo "usage: $0 split | collect N | install" >&2; exit 2;;
esac
