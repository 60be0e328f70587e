//! Named errors of the CUDA backend.

use cudarc::cublas::result::CublasError;
use cudarc::driver::DriverError;
use cudarc::nvrtc::result::NvrtcError;
use training_model::ModelError;

/// Why the CUDA backend could not start or a device call failed.
#[derive(Debug, thiserror::Error)]
pub enum CudaError {
	#[error(
		"the CUDA driver library libcuda.so could not be loaded (no NVIDIA driver on this machine?)"
	)]
	NoDriver,
	#[error("no CUDA device: the driver reports none")]
	NoDevice,
	#[error("CUDA library {0} could not be loaded (is it on LD_LIBRARY_PATH?)")]
	MissingLibrary(&'static str),
	#[error("could not load {path}: {reason}")]
	LoadLibrary { path: String, reason: String },
	#[error("there is no CUDA device {ordinal}: the driver reports {count} (numbered from 0)")]
	NoSuchDevice { ordinal: usize, count: usize },
	#[error(
		"simulated device: argument {arg} of {kernel} holds {len} elements, the launch touches {need}"
	)]
	Extent { kernel: &'static str, arg: usize, len: usize, need: usize },
	#[error("simulated device: {kernel} got token {token}, the table has {rows} rows")]
	TokenRange { kernel: &'static str, token: u32, rows: usize },
	#[error("CUDA driver call failed: {0}")]
	Driver(#[from] DriverError),
	#[error("cuBLAS call failed: {0}")]
	Cublas(#[from] CublasError),
	#[error("NVRTC call failed: {0}")]
	Nvrtc(#[from] NvrtcError),
	#[error("NVRTC could not compile {file}: {log}")]
	Compile { file: String, log: String },
	#[error(transparent)]
	Model(#[from] ModelError),
}
