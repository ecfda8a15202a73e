#!/usr/bin/env bash
# Fetch (here, with network) the wheels kernel_lab_device.sh installs on the GPU machine, which has none:
# labconsole's runtime dependencies that the device image (python 3.12, torch 2.11) does not ship.
#   bash kernels/rmsnorm/scripts/kernel_lab_wheels.sh     # -> kernels/rmsnorm/.whl (git-ignored; carry it)
# The device script checks the imports it needs first and names any still missing.
set -eu
DEST=$(dirname "$0")/../.whl
mkdir -p "$DEST"
PKGS="kernels==0.17.2 optuna<6 alembic colorlog sqlalchemy greenlet Mako rapidfuzz<4 gitpython gitdb smmap
  psutil nvidia-ml-py cryptography cffi pycparser textual<8.3 rich markdown-it-py mdurl platformdirs
  linkify-it-py uc-micro-py pygments typing_extensions pyyaml orjson<4"
for p in $PKGS; do
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d "$DEST" "$p"
done
ls "$DEST"
