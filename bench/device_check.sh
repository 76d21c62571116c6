#!/usr/bin/env bash
# Issue 33's first measurement on a GPU machine, as one call of the `device` tool: does
# deep_convnet train on Keras' JAX backend there, with RandomAffine and with Keras' three
# augmentation layers (one of which stalled there on 2026-12-04)? Each step has its own time
# limit, so that a hung one cannot take the lease; the logs go to $OUT. About 6 minutes at most.
#
#     bash bench/device_wheels.sh     # here, once: the wheels that machine lacks, into .whl/
#     device run, carry [".whl"]:  bash bench/device_check.sh
#
# It runs on a CPU too (the wheels are installed only under Python 3.12, as there); STEPS and
# LIMIT make it short: STEPS=3 LIMIT=120 bash bench/device_check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-/tmp/device_check}
steps=${STEPS:-400}  # batches of 128: about one epoch of the training split
limit=${LIMIT:-150}  # seconds for each training process
mkdir -p "$out"
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
if [ -d .whl ] && python3 -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))'; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH=$PYTHONPATH:/tmp/site
fi

step() {  # name, seconds, command...: its output in $OUT/name.log, and its exit status
    local name=$1 seconds=$2
    shift 2
    echo "== $name (at most $seconds s)"
    timeout "$seconds" "$@" 2>&1 | tee "$out/$name.log"
    echo "== $name: exit ${PIPESTATUS[0]}"
}

step devices 60 bash -c 'nvidia-smi -L; python3 -c "import jax, keras
print(\"jax\", jax.__version__, jax.devices(), \"keras\", keras.__version__)"'
step augmentation $((2 * limit + 30)) python3 bench/augmentation.py --backends jax \
    --steps "$steps" --rounds 1 --timeout "$limit"
