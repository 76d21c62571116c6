#!/usr/bin/env bash
# The wheels a GPU machine of the `device` tool lacks for bench/device_check.sh, at the versions of
# requirements-jax-gpu.lock, into .whl/ (git ignores it; the device call carries it). That image
# has Python 3.12, JAX, NumPy, SciPy, scikit-image, h5py, rich and absl-py, and no package
# registry (docs/backends.md). About 5 MB.
#
#     bash bench/device_wheels.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PACKAGES="keras namex optree pydantic pydantic-core annotated-types typing-inspection
    typing-extensions ruamel-yaml"
rm -rf .whl
for name in $PACKAGES; do
    pin=$(grep -m1 -i "^$name==" requirements-jax-gpu.lock) || {
        echo "bench/device_wheels.sh: $name is not in requirements-jax-gpu.lock" >&2
        exit 1
    }
    python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
        --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 -d .whl "$pin"
done
ls .whl
du -sh .whl
