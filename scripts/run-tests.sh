#!/usr/bin/env bash
# The test step of `make test`: every test `cargo test FLAGS` runs, with the end-to-end
# binaries of `tests/` (the system-tests package) in parallel lanes.
#
# Those binaries spend their time waiting for blocks: a devnet with nine workers keeps the
# 2-core machine about 12 % busy (load average 0.24), so running three at a time costs each
# nothing and cuts the wall time to about a third. Everything else (unit tests, the other
# crates' integration tests, doc tests) is CPU-bound and runs first, alone.
#
# Usage: scripts/run-tests.sh CARGO_FLAGS...        (make test: --release --workspace --locked)
# TEST_LANES=1 runs the end-to-end binaries one after another, as plain `cargo test` does.
set -uo pipefail
cd "$(dirname "$0")/.."
flags=("$@")
lanes=${TEST_LANES:-3}

# Seconds each slow end-to-end binary took (docs/benchmarks.md); a binary not listed counts
# as 60. Only the balance of the lanes depends on these.
declare -A secs=(
	[devnet]=403 [devnet_checkpoints]=368 [upgrade]=420 [devnet_validators]=338
	[devnet_consensus]=310 [node_restart]=291 [devnet_hostile]=258 [devnet_whale]=220
	[devnet_sim]=190 [worker_cli]=122 [network]=385
)

# Integration test targets: `<package>/tests/<name>.rs` beside a Cargo.toml.
files=$(git ls-files -- '*/tests/*.rs' 2>/dev/null || find . -path '*/tests/*.rs' -not -path './target/*')
quick=()
system=()
for f in $files; do
	f=${f#./}
	[ -f "$(dirname "$(dirname "$f")")/Cargo.toml" ] || continue
	name=$(basename "$f" .rs)
	case "$f" in
	tests/tests/*) system+=("$name") ;;
	*) quick+=(--test "$name") ;;
	esac
done

# Everything is compiled once, before anything runs.
cargo test "${flags[@]}" --no-run || exit 1

# Unit tests, the other crates' integration tests, doc tests: CPU-bound, alone.
status=0
cargo test "${flags[@]}" --no-fail-fast --lib --bins "${quick[@]}" || status=1
cargo test "${flags[@]}" --doc || status=1

# The end-to-end binaries, longest first, each into the lane with the least work so far.
sorted=$(for t in "${system[@]}"; do echo "${secs[$t]:-60} $t"; done | sort -rn | awk '{print $2}')
declare -a load lane_args
for ((i = 0; i < lanes; i++)); do load[i]=0; lane_args[i]=""; done
for t in $sorted; do
	best=0
	for ((i = 1; i < lanes; i++)); do
		((load[i] < load[best])) && best=$i
	done
	load[best]=$((load[best] + ${secs[$t]:-60}))
	lane_args[best]+=" --test $t"
done

logs=$(mktemp -d)
pids=()
for ((i = 0; i < lanes; i++)); do
	[ -n "${lane_args[i]}" ] || continue
	echo "lane $i (about ${load[i]} s):${lane_args[i]}"
	# shellcheck disable=SC2086 # the lane's `--test NAME` words split on purpose
	(cargo test "${flags[@]}" --no-fail-fast ${lane_args[i]} > "$logs/$i.log" 2>&1) &
	pids[i]=$!
done
# Each lane's output, whole, in lane order (one lane's lines never interleave another's).
for i in "${!pids[@]}"; do
	wait "${pids[i]}" || status=1
	echo "== lane $i:${lane_args[i]}"
	cat "$logs/$i.log"
done
rm -rf "$logs"
exit $status
