#!/usr/bin/env bash
# Installs NVRTC (the CUDA runtime compiler, no GPU needed) from the PyPI wheel
# `nvidia-cuda-nvrtc` into ${CACHE_DIR:-$HOME/.cache/sparseloco-chain}/nvrtc and prints the
# directory holding libnvrtc.so*. Idempotent: a second run only prints the directory.
#
# Use:  NVRTC_LIB_DIR="$(scripts/setup-nvrtc.sh)" cargo test -p training-cuda
set -euo pipefail

# 13.0.x matches the CUDA 13 / 580-series driver of the GPU machines and cudarc's `cuda-13000`.
NVRTC_VERSION="${NVRTC_VERSION:-13.0.*}"
CACHE_DIR="${CACHE_DIR:-$HOME/.cache/sparseloco-chain}"
TARGET="$CACHE_DIR/nvrtc"

find_lib_dir() {
    local lib
    lib="$(find "$TARGET" -name 'libnvrtc.so*' ! -name '*builtins*' -print -quit 2>/dev/null || true)"
    [[ -n "$lib" ]] && dirname "$lib"
}

if dir="$(find_lib_dir)"; then
    echo "$dir"
    exit 0
fi

mkdir -p "$TARGET"
python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --no-deps \
    --target "$TARGET" "nvidia-cuda-nvrtc==$NVRTC_VERSION" >&2

if ! dir="$(find_lib_dir)"; then
    echo "setup-nvrtc: libnvrtc.so* not found under $TARGET after install" >&2
    exit 1
fi
echo "$dir"
