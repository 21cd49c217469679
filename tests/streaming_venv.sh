#!/usr/bin/env bash
# The venv in which tests/streaming_check.py reads MDS back with mosaicml-streaming, whose pins
# (numpy<2.2, transformers<5, xxhash<4) clash with winnow's. torch is the CPU wheel; streaming
# is installed without torchvision, which only its vision datasets import (the check does not
# load them). Idempotent. Usage: bash tests/streaming_venv.sh [VENV]  (default .venv-streaming)
set -euo pipefail
VENV="${1:-.venv-streaming}"
[ -f "$VENV/.ready" ] && exit 0
python3 -m venv "$VENV"
"$VENV/bin/pip" install --quiet torch==2.13.0 'numpy<2.2' 'transformers>=4.21.3,<5' \
    'xxhash>=3,<4' pillow matplotlib zstd python-snappy tqdm catalogue Brotli
"$VENV/bin/pip" install --quiet --no-deps 'mosaicml-streaming>=0.13,<0.14'
touch "$VENV/.ready"
