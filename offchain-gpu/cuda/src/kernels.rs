//! The CUDA C sources of `kernels/`, embedded at build time. Every file is compiled after
//! the shared prelude `kernels/common.cuh` (NVRTC gets the concatenated text, no include
//! paths); the backend compiles all files as one program.

/// The shared device helpers (block reductions, grid-stride indices).
pub const PRELUDE: &str = include_str!("../../../kernels/common.cuh");

/// One `.cu` file and the `extern "C"` kernels it defines.
#[derive(Clone, Copy, Debug)]
pub struct KernelFile {
	pub name: &'static str,
	pub source: &'static str,
	pub kernels: &'static [&'static str],
}

macro_rules! kernel_file {
    ($name:literal, [$($kernel:literal),+ $(,)?]) => {
        KernelFile {
            name: $name,
            source: include_str!(concat!("../../../kernels/", $name)),
            kernels: &[$($kernel),+],
        }
    };
}

/// Every kernel file, in a fixed order.
pub const FILES: &[KernelFile] = &[
	kernel_file!("adamw.cu", ["adamw_update"]),
	kernel_file!("cross_entropy.cu", ["cross_entropy_forward", "cross_entropy_backward"]),
	kernel_file!("elementwise.cu", ["scale_inplace", "add_inplace"]),
	kernel_file!("embedding.cu", ["embedding_forward", "embedding_backward"]),
	kernel_file!(
		"rmsnorm.cu",
		["rmsnorm_forward", "rmsnorm_backward_input", "rmsnorm_backward_gain"]
	),
	kernel_file!("rope.cu", ["rope_apply"]),
	kernel_file!("softmax.cu", ["causal_softmax_forward", "causal_softmax_backward"]),
	kernel_file!(
		"sparseloco.cu",
		[
			"sl_first_non_finite",
			"sl_ef_topk",
			"sl_quant_stats",
			"sl_quant_encode",
			"sl_peer_sq_norms",
			"sl_scatter_mean_step",
		]
	),
	kernel_file!("sq_norm.cu", ["sq_norm_partial"]),
	kernel_file!("swiglu.cu", ["swiglu_forward", "swiglu_backward"]),
];

/// Threads per block for the kernels with block reductions (a power of two, at most the
/// prelude's `MAX_BLOCK`).
pub const REDUCE_BLOCK: u32 = 256;

/// Threads per block for element-wise and per-column kernels.
pub const ELEMENTWISE_BLOCK: u32 = 256;

impl KernelFile {
	/// The text NVRTC compiles for this file alone: prelude, then the file.
	pub fn program(&self) -> String {
		format!("{PRELUDE}\n{}", self.source)
	}
}

/// The single program the backend compiles: the prelude and then every file.
pub fn bundle() -> String {
	let mut text = String::from(PRELUDE);
	for file in FILES {
		text.push('\n');
		text.push_str(file.source);
	}
	text
}

/// Names of every kernel across all files.
pub fn all_kernels() -> impl Iterator<Item = &'static str> {
	FILES.iter().flat_map(|f| f.kernels.iter().copied())
}
