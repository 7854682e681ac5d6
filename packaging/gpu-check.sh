#!/usr/bin/env bash
# The GPU benchmark (engine/benchmark/gpu.py) on a Linux CUDA machine that has JAX and
# PyTorch but neither TensorFlow nor Keras, and no package index.
#
#   1. Where pip reaches the package index, in this checkout:
#        packaging/gpu-check.sh download        Keras, KerasCV and the three small packages
#                                               that machine lacks, as Python 3.12 wheels in .whl/
#   2. Copy the checkout (with .whl/) there and, in its root:
#        packaging/gpu-check.sh run [options]   installs the wheels into /tmp/site, then runs
#                                               python -m engine.benchmark.gpu [options]
#      e.g. `run` alone for the full table (512x512, 50 steps, batch 1 and 3, every backend,
#      float32 and mixed precision, plus the lever rows), or `run --size 128 --steps 2`
#      for a one-minute smoke test first.
set -euo pipefail
cd "$(dirname "$0")/.."

# keras-cv's own requirements (tensorflow-datasets, keras-core, kagglehub) are left out on
# purpose: the engine loads KerasCV's Stable Diffusion modules without its package __init__.
WHEELS=(keras==3.15.1 keras-cv==0.9.0 namex==0.1.0 optree platformdirs)
PYTHON=${PYTHON:-python3}

case "${1:-}" in
  download)
    platforms=()
    for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 \
             manylinux2014_x86_64 manylinux1_x86_64; do
      platforms+=(--platform "$p")
    done
    "$PYTHON" -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
      --implementation cp "${platforms[@]}" -d .whl "${WHEELS[@]}"
    ls -l .whl
    ;;
  run)
    shift
    "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
      --target /tmp/site .whl/*.whl
    export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true
    exec "$PYTHON" -m engine.benchmark.gpu "$@"
    ;;
  *)
    sed -n '2,13p' "$0"
    exit 2
    ;;
esac
