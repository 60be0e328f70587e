#!/usr/bin/env bash
# The GPU check in one command, for a machine with an NVIDIA GPU and nothing installed but the
# driver (`make gpu-check` calls it):
#   setup   the toolchain, NVRTC and cuBLAS (PyPI wheels, CUDA 13, no toolkit), the corpus;
#           a release build of the worker, the node and the CUDA test binaries
#   check   every CUDA test on the real device (a test that skips fails the check);
#           `bench speed` on the GPU and on the CPU (tokens/s, MFU against the GPU's FP32
#           peak); `bench compress --device cuda` (the fused error-feedback + top-k kernel's
#           bandwidth against a device-to-device copy, and the wire bytes against the CPU's);
#           a devnet with every worker on the GPU, settling 3 rounds
# and prints one table. The check phase is timed against its 8-minute budget; setup and the
# build are not (a cold build takes minutes even on many cores).
set -euo pipefail
cd "$(dirname "$0")/.."

CACHE_DIR="${CACHE_DIR:-$HOME/.cache/sparseloco-chain}"
export CACHE_DIR
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CACHE_DIR/target}"
export WASM_BUILD_WORKSPACE_HINT="$PWD"
OUT="${GPU_CHECK_OUT:-$CACHE_DIR/gpu-check}"
BUDGET_S=480

fail() { echo "gpu-check: $*" >&2; exit 1; }

command -v nvidia-smi >/dev/null || fail "no nvidia-smi: this machine has no NVIDIA driver"
GPU_NAME="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
[[ -n "$GPU_NAME" ]] || fail "the driver reports no GPU"
echo "gpu-check: $GPU_NAME" >&2

# --- setup (untimed) -----------------------------------------------------------------------
bash scripts/setup-toolchain.sh >&2
set -a; . "$CACHE_DIR/toolchain.env"; set +a
NVRTC_LIB_DIR="$(bash scripts/setup-nvrtc.sh)"
export NVRTC_LIB_DIR
CUBLAS_DIR="$CACHE_DIR/cublas"
if ! find "$CUBLAS_DIR" -name 'libcublas.so*' -print -quit 2>/dev/null | grep -q .; then
    mkdir -p "$CUBLAS_DIR"
    python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
        --no-deps --target "$CUBLAS_DIR" "nvidia-cublas==${CUBLAS_VERSION:-13.0.*}" >&2
fi
CUBLAS_LIB="$(dirname "$(find "$CUBLAS_DIR" -name 'libcublas.so*' -print -quit)")"
export LD_LIBRARY_PATH="$CUBLAS_LIB:$NVRTC_LIB_DIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
bash scripts/fetch-corpus.sh >/dev/null
CUDA_TESTS=(--test backend --test sparseloco_gpu --test nvrtc)
cargo build --release --workspace --locked --bins >&2
cargo test --release --workspace --locked --no-run "${CUDA_TESTS[@]}" >&2
BIN="$CARGO_TARGET_DIR/release"
mkdir -p "$OUT"

# --- check (timed) -------------------------------------------------------------------------
start=$(date +%s)
export SKIPPED_TESTS_LOG="$OUT/skipped.log"
: > "$SKIPPED_TESTS_LOG"
cargo test --release --workspace --locked "${CUDA_TESTS[@]}" 2>&1 | tee "$OUT/tests.log" >&2
[[ ! -s "$SKIPPED_TESTS_LOG" ]] || fail "CUDA tests skipped on a GPU machine: $(cat "$SKIPPED_TESTS_LOG")"
tests="$(awk '/^test result:/ { p += $4; f += $6 } END { printf "%d passed, %d failed", p, f }' "$OUT/tests.log")"

"$BIN/offchain-gpu" bench speed --device cuda --model small --batch 16 --steps 20 > "$OUT/speed-cuda.txt"
"$BIN/offchain-gpu" bench speed --device cpu --model small --batch 16 --steps 3 > "$OUT/speed-cpu.txt"
tok() { sed -n 's/^train: \([0-9.]*\) tokens\/s.*/\1/p' "$1"; }
gflops="$(sed -n 's/^linear layers: \([0-9.]*\) GFLOP\/s.*/\1/p' "$OUT/speed-cuda.txt")"
# FP32 (non-tensor-core) peak by product: the backend's matmuls are cuBLAS SGEMM.
case "$GPU_NAME" in
    *H200*|*H100*SXM*|*H100\ 80GB\ HBM3*) peak=67000 ;;
    *H100*) peak=51000 ;;
    *A100*) peak=19500 ;;
    *L40S*) peak=91600 ;;
    *) peak="" ;;
esac
mfu="unknown peak"
[[ -n "$peak" ]] && mfu="$(awk -v g="$gflops" -v p="$peak" 'BEGIN { printf "%.1f%% of %.1f TFLOP/s FP32", 100 * g / p, p / 1000 }')"

"$BIN/offchain-gpu" bench compress --device cuda --dim 1024 --layers 8 --vocab 32000 --peers 8 \
    > "$OUT/compress.txt"
fused="$(sed -n 's/^fused error feedback + top-k: \(.*\)$/\1/p' "$OUT/compress.txt")"
wire="$(sed -n 's/.*wire bytes \([A-Za-z]*\).*/\1/p' "$OUT/compress.txt")"

"$BIN/offchain-gpu" devnet --device cuda --node-bin "$BIN/node" --miners 2 --validators 1 \
    --rounds 3 --out "$OUT/devnet" > "$OUT/devnet.txt" 2>&1 || { tail -20 "$OUT/devnet.txt" >&2; fail "the devnet failed"; }
settled="$(sed -n 's/^devnet: done after \([0-9]*\) settled rounds.*/\1/p' "$OUT/devnet.txt")"
elapsed=$(( $(date +%s) - start ))

printf '\n| %-34s | %s |\n|---|---|\n' "GPU check" "$GPU_NAME"
printf '| %-34s | %s |\n' \
    "CUDA tests" "$tests" \
    "train small, GPU (tokens/s)" "$(tok "$OUT/speed-cuda.txt")" \
    "train small, CPU (tokens/s)" "$(tok "$OUT/speed-cpu.txt")" \
    "linear-layer GFLOP/s on the GPU" "$gflops" \
    "MFU" "$mfu" \
    "fused EF + top-k vs copy" "${fused:-n/a}" \
    "compressed bytes vs the CPU's" "${wire:-n/a}" \
    "devnet on the GPU: settled rounds" "${settled:-0}" \
    "check time (budget ${BUDGET_S} s)" "${elapsed} s"
(( elapsed <= BUDGET_S )) || fail "the check took ${elapsed} s, over its ${BUDGET_S} s budget"
[[ "$wire" == identical ]] || fail "the GPU's compressed bytes differ from the CPU's"
(( ${settled:-0} >= 3 )) || fail "the GPU devnet settled ${settled:-0} of 3 rounds"
