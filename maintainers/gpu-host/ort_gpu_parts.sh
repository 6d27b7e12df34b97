#!/usr/bin/env bash
# onnxruntime-gpu on a GPU machine that takes at most 64 MiB per call (working tree included) and has no network:
# the wheel (255 MB) travels in parts, one per call while the machine stays warm (maintainers/gpu-host/device_parts.sh).
#   here:  maintainers/gpu-host/ort_gpu_parts.sh split          -> .ort1 ... .ortK (git-ignored; K printed, ~10 beside the tree)
#   there: maintainers/gpu-host/ort_gpu_parts.sh collect N      (in the call that carries .ortN)
#   there: maintainers/gpu-host/ort_gpu_parts.sh install        -> /tmp/ort; then export PYTHONPATH=/tmp/ort:$PYTHONPATH
# benchmarks/export_dit.py then finds onnxruntime's CUDA provider (`vgen doctor` lists it).
set -euo pipefail
version=${ORT_VERSION:-1.31.1}
parts="$(dirname "$0")/device_parts.sh"
case "${1:-}" in
  split)
    tmp=$(mktemp -d)
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
      --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 -d "$tmp" "onnxruntime-gpu==$version"
    "$parts" split ort "$tmp"/*.whl
    rm -rf "$tmp";;
  collect) "$parts" collect ort "${2:?part number}";;
  install)
    "$parts" unpack ort /tmp/ort-wheel > /dev/null
    python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/ort /tmp/ort-wheel/*.whl
    PYTHONPATH=/tmp/ort python3 -c "import onnxruntime as o; print(o.__version__, o.get_available_providers())";;
  *) echo "usage: $0 split | collect N | install" >&2; exit 2;;
esac
