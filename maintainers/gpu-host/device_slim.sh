#!/usr/bin/env bash
# A GPU call sends the working tree (64 MiB a call, carried files included); the default model's weights are 35 MiB
# of it. Calls that need no weights in the repo (the training chain copies them to the machine's /tmp in its first
# call) can carry 2.5x more beside a 1 MiB tree: hide the weights here, make those calls, then show them again.
#   maintainers/gpu-host/device_slim.sh hide   -> plugins/shapes_model/weights moved to .slim/ (git-ignored); the tree is ~1 MiB
#   maintainers/gpu-host/device_slim.sh show   -> moved back (do this before any commit: git sees the weights as deleted)
# Seen 2026-12-01: a deleted tracked file does not travel, so onnxruntime-gpu went in 4 calls of 49 MiB, not 10.
set -euo pipefail
cd "$(dirname "$0")/../.."
w=plugins/shapes_model/weights
grep -qx "/.slim/" .git/info/exclude 2>/dev/null || echo "/.slim/" >> .git/info/exclude
case "${1:-}" in
  hide) [ -d "$w" ] || { echo "$w is not here (hidden already?)" >&2; exit 2; }
        mkdir -p .slim && mv "$w" .slim/weights
        echo "weights hidden; tree now $(git ls-files -z | xargs -0 du -cb 2>/dev/null | tail -1 | cut -f1) bytes;" \
             "run '$0 show' before committing";;
  show) [ -d .slim/weights ] || { echo "nothing hidden in .slim/" >&2; exit 2; }
        [ ! -e "$w" ] || { echo "$w exists already: not overwriting it" >&2; exit 2; }
        mv .slim/weights "$w" && git status --short -- "$w" && echo "weights back";;
  *) echo "usage: $0 hide | show" >&2; exit 2;;
esac
