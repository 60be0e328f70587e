//! The device side of the backend: context, stream, cuBLAS handle and the NVRTC-compiled
//! kernels, with one typed launch method per kernel.

use std::sync::Arc;

use cudarc::cublas::CudaBlas;
use cudarc::driver::{
	CudaContext, CudaFunction, CudaModule, CudaSlice, CudaStream, DevicePtr, DevicePtrMut,
	LaunchConfig, PushKernelArg,
};

use crate::adamw::AdamWStep;
use crate::error::CudaError;
use crate::kernels::{ELEMENTWISE_BLOCK, REDUCE_BLOCK};
use crate::nvrtc;

/// Blocks of the gradient-norm reduction: fixed, so the partial sums (and the norm) are the
/// same on every run.
pub const NORM_BLOCKS: u32 = 256;

/// Upper bound on the grid of element-wise kernels; their grid-stride loops cover the rest.
const MAX_ELEMENTWISE_BLOCKS: usize = 65_535;

/// Handles to every kernel of the compiled bundle.
struct Kernels {
	rmsnorm_forward: CudaFunction,
	rmsnorm_backward_input: CudaFunction,
	rmsnorm_backward_gain: CudaFunction,
	rope_apply: CudaFunction,
	causal_softmax_forward: CudaFunction,
	causal_softmax_backward: CudaFunction,
	swiglu_forward: CudaFunction,
	swiglu_backward: CudaFunction,
	cross_entropy_forward: CudaFunction,
	cross_entropy_backward: CudaFunction,
	embedding_forward: CudaFunction,
	embedding_backward: CudaFunction,
	adamw_update: CudaFunction,
	sq_norm_partial: CudaFunction,
	scale_inplace: CudaFunction,
	add_inplace: CudaFunction,
}

impl Kernels {
	fn load(module: &Arc<CudaModule>) -> Result<Self, CudaError> {
		let f = |name: &str| module.load_function(name);
		Ok(Self {
			rmsnorm_forward: f("rmsnorm_forward")?,
			rmsnorm_backward_input: f("rmsnorm_backward_input")?,
			rmsnorm_backward_gain: f("rmsnorm_backward_gain")?,
			rope_apply: f("rope_apply")?,
			causal_softmax_forward: f("causal_softmax_forward")?,
			causal_softmax_backward: f("causal_softmax_backward")?,
			swiglu_forward: f("swiglu_forward")?,
			swiglu_backward: f("swiglu_backward")?,
			cross_entropy_forward: f("cross_entropy_forward")?,
			cross_entropy_backward: f("cross_entropy_backward")?,
			embedding_forward: f("embedding_forward")?,
			embedding_backward: f("embedding_backward")?,
			adamw_update: f("adamw_update")?,
			sq_norm_partial: f("sq_norm_partial")?,
			scale_inplace: f("scale_inplace")?,
			add_inplace: f("add_inplace")?,
		})
	}
}

fn one_block_per_row(rows: usize) -> LaunchConfig {
	LaunchConfig {
		grid_dim: (rows as u32, 1, 1),
		block_dim: (REDUCE_BLOCK, 1, 1),
		shared_mem_bytes: 0,
	}
}

fn covering(n: usize) -> LaunchConfig {
	let blocks = n.div_ceil(ELEMENTWISE_BLOCK as usize).clamp(1, MAX_ELEMENTWISE_BLOCKS);
	LaunchConfig {
		grid_dim: (blocks as u32, 1, 1),
		block_dim: (ELEMENTWISE_BLOCK, 1, 1),
		shared_mem_bytes: 0,
	}
}

/// Queues `kernel` with the pointer arguments (each `mut buf` or `buf`, in kernel order)
/// followed by the scalar arguments. The stream-ordering guards of the buffers are held
/// until the launch is queued.
macro_rules! launch {
    ($dev:expr, $kernel:ident, $cfg:expr; $($ptr:tt)+) => {
        launch!(@collect $dev, $kernel, $cfg; []; $($ptr)+)
    };
    (@collect $dev:expr, $kernel:ident, $cfg:expr; [$($done:tt)*]; mut $buf:ident, $($rest:tt)+) => {
        launch!(@collect $dev, $kernel, $cfg; [$($done)* ($buf, device_ptr_mut)]; $($rest)+)
    };
    (@collect $dev:expr, $kernel:ident, $cfg:expr; [$($done:tt)*]; mut $buf:ident; $($scalar:expr),+) => {
        launch!(@emit $dev, $kernel, $cfg; [$($done)* ($buf, device_ptr_mut)]; $($scalar),+)
    };
    (@collect $dev:expr, $kernel:ident, $cfg:expr; [$($done:tt)*]; $buf:ident, $($rest:tt)+) => {
        launch!(@collect $dev, $kernel, $cfg; [$($done)* ($buf, device_ptr)]; $($rest)+)
    };
    (@collect $dev:expr, $kernel:ident, $cfg:expr; [$($done:tt)*]; $buf:ident; $($scalar:expr),+) => {
        launch!(@emit $dev, $kernel, $cfg; [$($done)* ($buf, device_ptr)]; $($scalar),+)
    };
    (@emit $dev:expr, $kernel:ident, $cfg:expr; [$(($buf:ident, $access:ident))*]; $($scalar:expr),+) => {{
        let dev: &Device = $dev;
        $(let $buf = $buf.$access(&dev.stream);)*
        let scalars = ($($scalar,)+);
        let mut builder = dev.stream.launch_builder(&dev.kernels.$kernel);
        $(builder.arg(&$buf.0);)*
        launch!(@scalars builder, scalars; $($scalar),+);
        // SAFETY: the argument list matches the kernel's signature in kernels/ and every
        // buffer covers the extent the launch shape touches (checked by the callers).
        unsafe { builder.launch($cfg) }?;
        Ok(())
    }};
    (@scalars $b:ident, $s:ident; $a:expr) => { $b.arg(&$s.0); };
    (@scalars $b:ident, $s:ident; $a:expr, $c:expr) => { $b.arg(&$s.0).arg(&$s.1); };
    (@scalars $b:ident, $s:ident; $a:expr, $c:expr, $d:expr) => { $b.arg(&$s.0).arg(&$s.1).arg(&$s.2); };
    (@scalars $b:ident, $s:ident; $a:expr, $c:expr, $d:expr, $e:expr, $f:expr) => {
        $b.arg(&$s.0).arg(&$s.1).arg(&$s.2).arg(&$s.3).arg(&$s.4);
    };
    (@scalars $b:ident, $s:ident; $a:expr, $c:expr, $d:expr, $e:expr, $f:expr, $g:expr, $h:expr, $i:expr) => {
        $b.arg(&$s.0).arg(&$s.1).arg(&$s.2).arg(&$s.3).arg(&$s.4).arg(&$s.5).arg(&$s.6).arg(&$s.7);
    };
}

fn int(v: usize) -> i32 {
	i32::try_from(v).expect("dimension exceeds i32")
}

/// A GPU with the kernels loaded.
pub struct Device {
	pub ctx: Arc<CudaContext>,
	pub stream: Arc<CudaStream>,
	pub blas: CudaBlas,
	kernels: Kernels,
}

impl Device {
	/// Opens device 0 and compiles the kernels for its architecture. Fails with a named
	/// error, not a panic, where the driver, a device or a library is missing.
	pub fn open() -> Result<Self, CudaError> {
		// SAFETY: only probe whether the shared libraries can be opened.
		if !unsafe { cudarc::driver::sys::is_culib_present() } {
			return Err(CudaError::NoDriver);
		}
		let count = CudaContext::device_count().map_err(|e| {
			if e.0 == cudarc::driver::sys::cudaError_enum::CUDA_ERROR_NO_DEVICE {
				CudaError::NoDevice
			} else {
				CudaError::Driver(e)
			}
		})?;
		if count == 0 {
			return Err(CudaError::NoDevice);
		}
		// SAFETY: as above.
		if !unsafe { cudarc::cublas::sys::is_culib_present() } {
			return Err(CudaError::MissingLibrary("libcublas"));
		}
		let ctx = CudaContext::new(0)?;
		let stream = ctx.default_stream();
		let blas = CudaBlas::new(stream.clone())?;
		let (major, minor) = ctx.compute_capability()?;
		let ptx = nvrtc::compile_bundle(&format!("compute_{major}{minor}"))?;
		let module = ctx.load_module(ptx)?;
		let kernels = Kernels::load(&module)?;
		Ok(Self { ctx, stream, blas, kernels })
	}

	// One argument per kernel parameter, in the kernel's order.
	#[allow(clippy::too_many_arguments)]
	pub fn rmsnorm_forward(
		&self,
		out: &mut impl DevicePtrMut<f32>,
		rstd: &mut impl DevicePtrMut<f32>,
		inp: &impl DevicePtr<f32>,
		gain: &impl DevicePtr<f32>,
		rows: usize,
		d: usize,
		eps: f32,
	) -> Result<(), CudaError> {
		launch!(self, rmsnorm_forward, one_block_per_row(rows);
            mut out, mut rstd, inp, gain; int(d), eps)
	}

	// One argument per kernel parameter, in the kernel's order.
	#[allow(clippy::too_many_arguments)]
	pub fn rmsnorm_backward_input(
		&self,
		dinp: &mut impl DevicePtrMut<f32>,
		dout: &impl DevicePtr<f32>,
		inp: &impl DevicePtr<f32>,
		gain: &impl DevicePtr<f32>,
		rstd: &impl DevicePtr<f32>,
		rows: usize,
		d: usize,
	) -> Result<(), CudaError> {
		launch!(self, rmsnorm_backward_input, one_block_per_row(rows);
            mut dinp, dout, inp, gain, rstd; int(d))
	}

	pub fn rmsnorm_backward_gain(
		&self,
		dgain: &mut impl DevicePtrMut<f32>,
		dout: &impl DevicePtr<f32>,
		inp: &impl DevicePtr<f32>,
		rstd: &impl DevicePtr<f32>,
		rows: usize,
		d: usize,
	) -> Result<(), CudaError> {
		launch!(self, rmsnorm_backward_gain, covering(d);
            mut dgain, dout, inp, rstd; int(rows), int(d))
	}

	#[allow(clippy::too_many_arguments)]
	pub fn rope_apply(
		&self,
		x: &mut impl DevicePtrMut<f32>,
		cos: &impl DevicePtr<f32>,
		sin: &impl DevicePtr<f32>,
		rows: usize,
		seq: usize,
		width: usize,
		half: usize,
		inverse: bool,
	) -> Result<(), CudaError> {
		launch!(self, rope_apply, covering(rows * width / 2);
            mut x, cos, sin; int(rows), int(seq), int(width), int(half), i32::from(inverse))
	}

	pub fn causal_softmax_forward(
		&self,
		probs: &mut impl DevicePtrMut<f32>,
		rows: usize,
		seq: usize,
	) -> Result<(), CudaError> {
		launch!(self, causal_softmax_forward, one_block_per_row(rows); mut probs; int(seq))
	}

	pub fn causal_softmax_backward(
		&self,
		grad: &mut impl DevicePtrMut<f32>,
		probs: &impl DevicePtr<f32>,
		rows: usize,
		seq: usize,
		scale: f32,
	) -> Result<(), CudaError> {
		launch!(self, causal_softmax_backward, one_block_per_row(rows);
            mut grad, probs; int(seq), scale)
	}

	pub fn swiglu_forward(
		&self,
		out: &mut impl DevicePtrMut<f32>,
		gate: &impl DevicePtr<f32>,
		up: &impl DevicePtr<f32>,
		n: usize,
	) -> Result<(), CudaError> {
		launch!(self, swiglu_forward, covering(n); mut out, gate, up; n as u64)
	}

	pub fn swiglu_backward(
		&self,
		dgate: &mut impl DevicePtrMut<f32>,
		dup: &mut impl DevicePtrMut<f32>,
		dout: &impl DevicePtr<f32>,
		gate: &impl DevicePtr<f32>,
		up: &impl DevicePtr<f32>,
		n: usize,
	) -> Result<(), CudaError> {
		launch!(self, swiglu_backward, covering(n); mut dgate, mut dup, dout, gate, up; n as u64)
	}

	pub fn cross_entropy_forward(
		&self,
		logits: &mut impl DevicePtrMut<f32>,
		losses: &mut impl DevicePtrMut<f32>,
		targets: &impl DevicePtr<u32>,
		rows: usize,
		vocab: usize,
	) -> Result<(), CudaError> {
		launch!(self, cross_entropy_forward, one_block_per_row(rows);
            mut logits, mut losses, targets; int(vocab))
	}

	pub fn cross_entropy_backward(
		&self,
		probs: &mut impl DevicePtrMut<f32>,
		targets: &impl DevicePtr<u32>,
		rows: usize,
		vocab: usize,
		inv_n: f32,
	) -> Result<(), CudaError> {
		launch!(self, cross_entropy_backward, covering(rows * vocab);
            mut probs, targets; int(rows), int(vocab), inv_n)
	}

	pub fn embedding_forward(
		&self,
		out: &mut impl DevicePtrMut<f32>,
		table: &impl DevicePtr<f32>,
		tokens: &impl DevicePtr<u32>,
		rows: usize,
		d: usize,
	) -> Result<(), CudaError> {
		launch!(self, embedding_forward, covering(rows * d); mut out, table, tokens; int(rows), int(d))
	}

	pub fn embedding_backward(
		&self,
		dtable: &mut impl DevicePtrMut<f32>,
		dout: &impl DevicePtr<f32>,
		tokens: &impl DevicePtr<u32>,
		rows: usize,
		d: usize,
	) -> Result<(), CudaError> {
		launch!(self, embedding_backward, covering(d); mut dtable, dout, tokens; int(rows), int(d))
	}

	pub fn adamw_update(
		&self,
		params: &mut impl DevicePtrMut<f32>,
		grads: &impl DevicePtr<f32>,
		m: &mut impl DevicePtrMut<f32>,
		v: &mut impl DevicePtrMut<f32>,
		n: usize,
		s: AdamWStep,
	) -> Result<(), CudaError> {
		launch!(self, adamw_update, covering(n);
            mut params, grads, mut m, mut v;
            n as u64, s.lr, s.beta1, s.beta2, s.eps, s.weight_decay, s.inv_bc1, s.inv_sqrt_bc2)
	}

	/// `NORM_BLOCKS` partial sums of squares of `x [n]` into `partial`.
	pub fn sq_norm_partial(
		&self,
		partial: &mut CudaSlice<f64>,
		x: &impl DevicePtr<f32>,
		n: usize,
	) -> Result<(), CudaError> {
		assert_eq!(partial.len(), NORM_BLOCKS as usize);
		let cfg = LaunchConfig {
			grid_dim: (NORM_BLOCKS, 1, 1),
			block_dim: (REDUCE_BLOCK, 1, 1),
			shared_mem_bytes: 0,
		};
		launch!(self, sq_norm_partial, cfg; mut partial, x; n as u64)
	}

	pub fn scale_inplace(
		&self,
		x: &mut impl DevicePtrMut<f32>,
		n: usize,
		s: f32,
	) -> Result<(), CudaError> {
		launch!(self, scale_inplace, covering(n); mut x; n as u64, s)
	}

	pub fn add_inplace(
		&self,
		acc: &mut impl DevicePtrMut<f32>,
		other: &impl DevicePtr<f32>,
		n: usize,
	) -> Result<(), CudaError> {
		// Pointer arguments come first in the kernel, the count last.
		launch!(self, add_inplace, covering(n); mut acc, other; n as u64)
	}
}
