//! Builds the host simulator of the CUDA kernels: kernels/sim/launchers.cpp compiles every
//! kernels/*.cu as C++17 against kernels/sim/cuda_sim.h. No CUDA toolkit is involved; the
//! GPU path compiles the same sources with NVRTC at run time.

use std::path::PathBuf;

fn main() {
	// Read at run time, not baked in with env!(): the compiled build script is shared by
	// clones of this repository that use the same target directory (CI's and a developer's).
	let manifest = std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
	let kernels = PathBuf::from(manifest).join("../../kernels");
	// A directory is scanned recursively for changes, sim/ included.
	println!("cargo:rerun-if-changed={}", kernels.display());
	cc::Build::new()
		.cpp(true)
		.std("c++17")
		.file(kernels.join("sim/launchers.cpp"))
		// No fused multiply-add: element-wise kernels must round like the Rust reference.
		.flag("-ffp-contract=off")
		.flag_if_supported("-fno-fast-math")
		.flag("-pthread")
		.warnings(true)
		.compile("cuda_sim");
	println!("cargo:rustc-link-lib=pthread");
}
