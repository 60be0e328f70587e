//! Compiling the kernels with NVRTC (the CUDA run-time compiler: no toolkit, no GPU needed
//! to compile), and finding its shared library.

use std::path::Path;
use std::sync::{Mutex, OnceLock};

use cudarc::nvrtc::{self, CompileError, CompileOptions, Ptx};

use crate::error::CudaError;
use crate::kernels::{self, KernelFile};

/// Directory holding `libnvrtc.so*` (as printed by `scripts/setup-nvrtc.sh`). When set,
/// [`ensure_nvrtc`] loads NVRTC from there instead of searching `LD_LIBRARY_PATH`.
pub const NVRTC_LIB_DIR_VAR: &str = "NVRTC_LIB_DIR";

/// Virtual architecture for compile checks without a device (Ampere, the oldest GPUs the
/// CUDA 13 driver path is tested on). The backend compiles for its device instead.
pub const CHECK_ARCH: &str = "compute_80";

/// Libraries opened from an explicit directory, kept loaded for the life of the process.
static PRELOADED: OnceLock<Result<(), String>> = OnceLock::new();

/// Opens `libnvrtc-builtins` and `libnvrtc` from `dir` with their full paths. cudarc then
/// finds NVRTC by its soname (`libnvrtc.so.13`), which the dynamic loader resolves to the
/// already-loaded copy; and libnvrtc's own `dlopen` of its builtins resolves the same way.
/// Only the first call's directory takes effect.
pub fn preload_from(dir: &Path) -> Result<(), CudaError> {
	let result = PRELOADED.get_or_init(|| {
		for name in ["libnvrtc-builtins.so.13.0", "libnvrtc.so.13"] {
			let path = dir.join(name);
			// SAFETY: loading NVRTC runs only its ordinary library initializers.
			let lib = unsafe { libloading::Library::new(&path) }
				.map_err(|e| format!("{}: {e}", path.display()))?;
			// Keep it loaded: cudarc holds raw symbols from it for the whole process.
			std::mem::forget(lib);
		}
		Ok(())
	});
	result
		.clone()
		.map_err(|reason| CudaError::LoadLibrary { path: dir.display().to_string(), reason })
}

/// Makes NVRTC loadable: from `$NVRTC_LIB_DIR` when set, else by the usual library search.
pub fn ensure_nvrtc() -> Result<(), CudaError> {
	if let Some(dir) = std::env::var_os(NVRTC_LIB_DIR_VAR) {
		preload_from(Path::new(&dir))?;
	}
	// SAFETY: only probes whether the library can be opened.
	if unsafe { nvrtc::sys::is_culib_present() } {
		Ok(())
	} else {
		Err(CudaError::MissingLibrary("libnvrtc"))
	}
}

/// Compiles `source` (named `file` in messages) to PTX for the virtual architecture `arch`
/// (e.g. `compute_90`). Keeps IEEE division and square root (NVRTC's defaults), so results
/// stay close to the CPU reference.
pub fn compile(file: &str, source: &str, arch: &str) -> Result<Ptx, CudaError> {
	ensure_nvrtc()?;
	let opts = CompileOptions {
		name: Some(file.to_string()),
		options: vec![format!("--gpu-architecture={arch}"), "--std=c++17".into()],
		..Default::default()
	};
	nvrtc::compile_ptx_with_opts(source, opts).map_err(|e| CudaError::Compile {
		file: file.to_string(),
		log: match e {
			CompileError::CompileError { log, .. } => log.to_string_lossy().into_owned(),
			other => other.to_string(),
		},
	})
}

/// Compiles one kernel file (with the prelude) on its own.
pub fn compile_file(file: &KernelFile, arch: &str) -> Result<Ptx, CudaError> {
	compile(file.name, &file.program(), arch)
}

/// Compiles every kernel file as the single program the backend loads. Compiled once per
/// architecture and process: a validator opens a backend every round.
pub fn compile_bundle(arch: &str) -> Result<Ptx, CudaError> {
	static COMPILED: Mutex<Vec<(String, Ptx)>> = Mutex::new(Vec::new());
	let mut cache = COMPILED.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
	if let Some((_, ptx)) = cache.iter().find(|(a, _)| a == arch) {
		return Ok(ptx.clone());
	}
	let ptx = compile("kernels.cu", &kernels::bundle(), arch)?;
	cache.push((arch.to_owned(), ptx.clone()));
	Ok(ptx)
}

/// NVRTC's version as `(major, minor)`.
pub fn version() -> Result<(i32, i32), CudaError> {
	ensure_nvrtc()?;
	let mut major = 0;
	let mut minor = 0;
	// SAFETY: writes two integers through valid pointers.
	unsafe { nvrtc::sys::nvrtcVersion(&mut major, &mut minor) }.result()?;
	Ok((major, minor))
}
