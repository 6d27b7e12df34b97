#!/usr/bin/env bash
# Make vgen importable on a GPU machine that already has torch (and no network): install the carried wheels
# (.whl/: PyAV, pydantic(-settings), diffusers ...) into /tmp/site and link vgen's packages there, so the machine's
# own torch stays. Source it: `. scripts/device_setup.sh`.
set -e
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
root=$(pwd)
ln -sfn "$root/vgen" /tmp/site/vgen
ln -sfn "$root/plugins" /tmp/site/vgen_plugins
ln -sfn "$root/export" /tmp/site/vgen_export
ln -sfn "$root/recipes" /tmp/site/vgen_recipes
export PYTHONPATH=/tmp/site PYTHONUNBUFFERED=1
vgen() { python3 -m vgen "$@"; }
set +e
