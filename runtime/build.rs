//! Builds the runtime's wasm blobs (skipped with `SKIP_WASM_BUILD=1`, e.g. for `cargo check`):
//!
//! - `training_runtime.compact.compressed.wasm`, the runtime the node embeds;
//! - `training_runtime_upgrade.compact.compressed.wasm`, the same runtime with the
//!   `upgrade-test` feature (`spec_version` one higher), to rehearse and test upgrades with.
//!
//! Both come out of the one wasm workspace under `target/<profile>/wbuild/`, so the second
//! reuses every compiled dependency and costs one more compile of this crate only. Only the
//! first reaches the node: its `wasm_binary.rs` is the file `lib.rs` includes. A build with
//! `runtime-benchmarks` (for the benchmark CLI) makes the first one only.

fn main() {
	#[cfg(feature = "std")]
	{
		substrate_wasm_builder::WasmBuilder::build_using_defaults();
		// The benchmarking build (`scripts/bench-weights.sh`) needs only the first blob.
		#[cfg(not(feature = "runtime-benchmarks"))]
		substrate_wasm_builder::WasmBuilder::init_with_defaults()
			.enable_feature("upgrade-test")
			.set_file_name("training_runtime_upgrade")
			.build();
	}
}
