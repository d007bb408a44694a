#!/usr/bin/env bash
# Set up bodylens on a fresh machine: a virtual environment with the CPU build of torch, the
# package and its test tools, then the one-off model caches (Anny builds ~1 GB in ~100 s once).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
# torch first and exactly: any looser request would pull the CUDA build (several GB).
.venv/bin/python -m pip install -q "torch==2.13.0"
# The segformer extra (transformers) lets the tests cover the user-supplied SegFormer backend.
.venv/bin/python -m pip install -q -e ".[dev,segformer]"
.venv/bin/bodylens warmup
