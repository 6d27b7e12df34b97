#!/usr/bin/env bash
# Make vgen importable on a GPU machine that already has torch (and no network): install the carried wheels
# (.whl/: PyAV, pydantic(-settings), diffusers ...) into /tmp/site and link vgen's packages there, so the machine's
# own torch stays. Source it: `. maintainers/gpu-host/device_setup.sh` (or `WHL=DIR . maintainers/gpu-host/device_setup.sh`). The wheels (38 MiB)
# no longer fit one call beside the tree (36 MiB of it the default model): `maintainers/gpu-host/device_parts.sh split wheels
# .whl/*.whl` here, then carry .wheels1 and .wheels2 in two calls (`maintainers/gpu-host/device_parts.sh collect wheels N`), the
# second ending with `maintainers/gpu-host/device_parts.sh unpack wheels /tmp/whl && WHL=/tmp/whl . maintainers/gpu-host/device_setup.sh`.
# Fill .whl/ (git-ignored) here first:
#   echo /.whl/ >> .git/info/exclude; for p in av==18.1.0 pydantic==2.14.4 pydantic-core==2.50.5 \
#     pydantic-settings==2.16.3 python-dotenv typing-inspection annotated-types diffusers==0.42.1; do
#     python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl $p; done
set -e
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site ${WHL:-.whl}/*.whl
root=$(pwd)
ln -sfn "$root/vgen" /tmp/site/vgen
ln -sfn "$root/plugins" /tmp/site/vgen_plugins
ln -sfn "$root/export" /tmp/site/vgen_export
ln -sfn "$root/recipes" /tmp/site/vgen_recipes
export PYTHONPATH=/tmp/site PYTHONUNBUFFERED=1
vgen() { python3 -m vgen "$@"; }
set +e
