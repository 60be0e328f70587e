//! Compile check of every kernel with NVRTC, without a GPU.
//!
//! Needs `NVRTC_LIB_DIR`, the directory holding `libnvrtc.so*`, as printed by
//! `scripts/setup-nvrtc.sh` (PyPI wheel `nvidia-cuda-nvrtc` 13.0.x). Without it the tests
//! print a "skipped: ..." line and are counted as skipped by CI (see `common::skip`).

mod common;

use std::path::Path;

use training_cuda::kernels::{self, FILES};
use training_cuda::nvrtc::{self, CHECK_ARCH, NVRTC_LIB_DIR_VAR};

fn nvrtc_available() -> bool {
	if std::env::var_os(NVRTC_LIB_DIR_VAR).is_none() {
		common::skip(&format!(
			"{NVRTC_LIB_DIR_VAR} is not set (run scripts/setup-nvrtc.sh and export its output)"
		));
		return false;
	}
	nvrtc::ensure_nvrtc().expect("NVRTC from NVRTC_LIB_DIR");
	true
}

/// Each kernel's `.entry` in the PTX proves it was compiled with C linkage and not dropped.
fn assert_defines(ptx: &str, file: &str, kernel: &str) {
	assert!(
		ptx.contains(&format!(".entry {kernel}(")),
		"{file}: PTX has no entry for kernel {kernel}"
	);
}

#[test]
fn every_kernel_file_compiles_alone() {
	if !nvrtc_available() {
		return;
	}
	let (major, minor) = nvrtc::version().unwrap();
	eprintln!("NVRTC {major}.{minor}, --gpu-architecture={CHECK_ARCH}");
	for file in FILES {
		let ptx = nvrtc::compile_file(file, CHECK_ARCH).unwrap_or_else(|e| panic!("{e}")).to_src();
		for kernel in file.kernels {
			assert_defines(&ptx, file.name, kernel);
		}
		eprintln!("compiled {}: {} kernels", file.name, file.kernels.len());
	}
}

#[test]
fn the_bundle_the_backend_loads_compiles_for_several_architectures() {
	if !nvrtc_available() {
		return;
	}
	for arch in [CHECK_ARCH, "compute_90"] {
		let ptx = nvrtc::compile_bundle(arch).unwrap_or_else(|e| panic!("{arch}: {e}")).to_src();
		for kernel in kernels::all_kernels() {
			assert_defines(&ptx, "bundle", kernel);
		}
	}
}

#[test]
fn a_broken_kernel_is_reported_with_the_compiler_log() {
	if !nvrtc_available() {
		return;
	}
	let err = nvrtc::compile(
		"broken.cu",
		"extern \"C\" __global__ void k() { undeclared = 1; }",
		CHECK_ARCH,
	)
	.unwrap_err()
	.to_string();
	assert!(err.contains("broken.cu") && err.contains("undeclared"), "{err}");
}

/// Runs without NVRTC: every `.cu` file in kernels/ is listed in [`FILES`] (so the backend
/// and this test cover it) and every listed kernel is defined in its file.
#[test]
fn kernel_list_matches_the_kernels_directory() {
	let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../kernels");
	let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
		.unwrap()
		.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
		.filter(|name| name.ends_with(".cu"))
		.collect();
	on_disk.sort();
	let listed: Vec<&str> = FILES.iter().map(|f| f.name).collect();
	assert_eq!(on_disk, listed);
	for file in FILES {
		for kernel in file.kernels {
			assert!(
				file.source.contains(&format!("__global__ void {kernel}(")),
				"{} does not define {kernel}",
				file.name
			);
		}
	}
}
