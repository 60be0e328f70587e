#!/usr/bin/env bash
# Regenerates the pallets' weights.rs with the standard benchmark CLI, on this machine:
#
#   bash scripts/bench-weights.sh            (STEPS=20 REPEAT=10 by default)
#
# 1. installs `frame-omni-bencher` (the version of this polkadot-sdk release) under the cache;
# 2. builds the runtime's wasm with `runtime-benchmarks` in its own target directory (the
#    feature changes the FRAME crates' features: sharing the build's target would rebuild
#    them both ways);
# 3. runs every benchmark of pallet-training and pallet-governance in that wasm and writes
#    pallets/<name>/src/weights.rs from scripts/weights-template.hbs.
#
# The benchmarks also run as unit tests in `make test`; this script is for whoever changes a
# call or a hook (and then commits the new weights). It takes about 20 minutes warm; the
# first run compiles the bencher and the runtime (about an hour on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE_DIR=${CACHE_DIR:-$HOME/.cache/sparseloco-chain}
bash scripts/setup-toolchain.sh >/dev/null
set -a
# shellcheck disable=SC1091 # written by setup-toolchain.sh
. "$CACHE_DIR/toolchain.env"
set +a

version=0.28.0 # polkadot-sdk stable2609: sc-cli 0.63, frame-benchmarking-cli 64
bencher=$CACHE_DIR/bencher/bin/frame-omni-bencher
if ! "$bencher" --version 2>/dev/null | grep -q "$version"; then
	# Its storage benchmark's test runtime is a wasm this script never runs: skip building it
	# (and keep the wasm builder from looking for it in this workspace).
	env -u WASM_BUILD_WORKSPACE_HINT SKIP_WASM_BUILD=1 \
		cargo install frame-omni-bencher --version "$version" --locked \
		--root "$CACHE_DIR/bencher" --target-dir "$CACHE_DIR/bencher-target"
fi

export CARGO_TARGET_DIR=$CACHE_DIR/target-bench
export WASM_BUILD_WORKSPACE_HINT=$PWD
cargo build --release --locked -p training-runtime --features runtime-benchmarks
wasm=$CARGO_TARGET_DIR/release/wbuild/training-runtime/training_runtime.compact.wasm

for pallet in training governance; do
	"$bencher" v1 benchmark pallet \
		--runtime "$wasm" \
		--genesis-builder-preset development \
		--pallet "pallet_$pallet" --extrinsic '*' \
		--steps "${STEPS:-20}" --repeat "${REPEAT:-10}" \
		--template scripts/weights-template.hbs \
		--output "pallets/$pallet/src/weights.rs"
done
echo "wrote pallets/training/src/weights.rs and pallets/governance/src/weights.rs"
