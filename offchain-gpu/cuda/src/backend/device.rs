//! The device the backend runs on, with one typed launch method per kernel. Two
//! implementations sit behind it:
//!
//! - a GPU: context, stream, cuBLAS handle and the NVRTC-compiled kernels (cudarc);
//! - the simulated device: host memory, the same `kernels/*.cu` on the host simulator with
//!   the launch shapes the GPU gets, and gemm on the CPU with cuBLAS's semantics
//!   ([`super::host_gemm`]).
//!
//! The simulated device checks, before every launch, that each buffer covers what the
//! kernel touches for the given launch arguments, so the backend's buffer sizes, strides and
//! leading dimensions are tested in CI where no GPU exists.

use std::sync::Arc;

use cudarc::cublas::CudaBlas;
use cudarc::driver::{
	CudaContext, CudaFunction, CudaModule, CudaStream, DevicePtr, DevicePtrMut, LaunchConfig,
	PushKernelArg,
};

use super::mem::{Buf, Dst, Elem, Src};
use crate::adamw::AdamWStep;
use crate::error::CudaError;
use crate::kernels::{ELEMENTWISE_BLOCK, REDUCE_BLOCK};
use crate::nvrtc;
use crate::sim::ffi;

/// Blocks of the gradient-norm reduction: fixed, so the partial sums (and the norm) are the
/// same on every run.
pub const NORM_BLOCKS: u32 = 256;

/// Upper bound on the grid of element-wise kernels; their grid-stride loops cover the rest.
const MAX_ELEMENTWISE_BLOCKS: usize = 65_535;

/// Handles to every kernel of the compiled bundle.
pub(crate) struct Kernels {
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
	pub(crate) sl_first_non_finite: CudaFunction,
	pub(crate) sl_ef_topk: CudaFunction,
	pub(crate) sl_quant_stats: CudaFunction,
	pub(crate) sl_quant_encode: CudaFunction,
	pub(crate) sl_peer_sq_norms: CudaFunction,
	pub(crate) sl_scatter_mean_step: CudaFunction,
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
			sl_first_non_finite: f("sl_first_non_finite")?,
			sl_ef_topk: f("sl_ef_topk")?,
			sl_quant_stats: f("sl_quant_stats")?,
			sl_quant_encode: f("sl_quant_encode")?,
			sl_peer_sq_norms: f("sl_peer_sq_norms")?,
			sl_scatter_mean_step: f("sl_scatter_mean_step")?,
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
        let dev: &Gpu = $dev;
        $(let $buf = $buf.cuda().$access(&dev.stream);)*
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
pub struct Gpu {
	pub ctx: Arc<CudaContext>,
	pub stream: Arc<CudaStream>,
	pub blas: CudaBlas,
	pub(crate) kernels: Kernels,
}

/// Checks that the driver is loadable and GPU `ordinal` exists, and returns its name; opens
/// a context but compiles nothing (what `--device auto` asks before choosing the GPU).
pub fn probe(ordinal: usize) -> Result<String, CudaError> {
	driver_has(ordinal)?;
	Ok(CudaContext::new(ordinal)?.name()?)
}

/// The driver loads and reports device `ordinal`.
fn driver_has(ordinal: usize) -> Result<(), CudaError> {
	// SAFETY: only probes whether the shared library can be opened.
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
	if count <= 0 {
		return Err(CudaError::NoDevice);
	}
	if ordinal >= count as usize {
		return Err(CudaError::NoSuchDevice { ordinal, count: count as usize });
	}
	Ok(())
}

impl Gpu {
	/// Opens device `ordinal` and compiles the kernels for its architecture. Fails with a
	/// named error, not a panic, where the driver, the device or a library is missing.
	fn open(ordinal: usize) -> Result<Self, CudaError> {
		driver_has(ordinal)?;
		// SAFETY: only probes whether the shared library can be opened.
		if !unsafe { cudarc::cublas::sys::is_culib_present() } {
			return Err(CudaError::MissingLibrary("libcublas"));
		}
		let ctx = CudaContext::new(ordinal)?;
		let stream = ctx.default_stream();
		let blas = CudaBlas::new(stream.clone())?;
		let (major, minor) = ctx.compute_capability()?;
		let ptx = nvrtc::compile_bundle(&format!("compute_{major}{minor}"))?;
		let module = ctx.load_module(ptx)?;
		let kernels = Kernels::load(&module)?;
		Ok(Self { ctx, stream, blas, kernels })
	}
}

/// Which device a [`Device`] drives.
pub(crate) enum Imp {
	Gpu(Box<Gpu>),
	Sim,
}

/// The device of one backend: a GPU or the simulated device.
pub struct Device {
	pub(crate) imp: Imp,
}

/// The simulated device's check that a buffer covers what a launch touches.
pub(crate) fn covers(kernel: &'static str, extents: &[(usize, usize)]) -> Result<(), CudaError> {
	match extents.iter().position(|&(len, need)| len < need) {
		Some(arg) => {
			Err(CudaError::Extent { kernel, arg, len: extents[arg].0, need: extents[arg].1 })
		}
		None => Ok(()),
	}
}

/// Grid and block of a launch, as the simulator takes them.
fn dims(cfg: LaunchConfig) -> (u32, u32) {
	(cfg.grid_dim.0, cfg.block_dim.0)
}

impl Device {
	/// Opens GPU `ordinal` (see [`Gpu::open`]).
	pub fn gpu(ordinal: usize) -> Result<Self, CudaError> {
		Ok(Self { imp: Imp::Gpu(Box::new(Gpu::open(ordinal)?)) })
	}

	/// The simulated device: always available, slow.
	pub fn sim() -> Self {
		Self { imp: Imp::Sim }
	}

	/// The device's name, for logs.
	pub fn name(&self) -> Result<String, CudaError> {
		match &self.imp {
			Imp::Gpu(g) => Ok(g.ctx.name()?),
			Imp::Sim => Ok("simulated device (host)".to_owned()),
		}
	}

	pub fn alloc_zeros<T: Elem>(&self, len: usize) -> Result<Buf<T>, CudaError> {
		Ok(match &self.imp {
			Imp::Gpu(g) => Buf::Cuda(g.stream.alloc_zeros(len)?),
			Imp::Sim => Buf::Host(vec![T::default(); len]),
		})
	}

	pub fn upload<T: Elem>(&self, host: &[T]) -> Result<Buf<T>, CudaError> {
		Ok(match &self.imp {
			Imp::Gpu(g) => Buf::Cuda(g.stream.clone_htod(host)?),
			Imp::Sim => Buf::Host(host.to_vec()),
		})
	}

	/// Copies `host` into the start of `dst`.
	pub fn write<T: Elem>(&self, host: &[T], dst: &mut impl Dst<T>) -> Result<(), CudaError> {
		let mut dst = dst.dst();
		covers("write", &[(dst.len(), host.len())])?;
		match &self.imp {
			Imp::Gpu(g) => g.stream.memcpy_htod(host, &mut dst.cuda().slice_mut(..host.len()))?,
			Imp::Sim => dst.host()[..host.len()].copy_from_slice(host),
		}
		Ok(())
	}

	pub fn read<T: Elem>(&self, src: &impl Src<T>) -> Result<Vec<T>, CudaError> {
		let src = src.src();
		Ok(match &self.imp {
			Imp::Gpu(g) => g.stream.clone_dtoh(src.cuda())?,
			Imp::Sim => src.host().to_vec(),
		})
	}

	pub fn zero<T: Elem>(&self, dst: &mut impl Dst<T>) -> Result<(), CudaError> {
		let mut dst = dst.dst();
		match &self.imp {
			Imp::Gpu(g) => g.stream.memset_zeros(dst.cuda())?,
			Imp::Sim => dst.host().fill(T::default()),
		}
		Ok(())
	}

	/// Waits for everything queued (the simulated device runs each launch to completion).
	pub fn synchronize(&self) -> Result<(), CudaError> {
		if let Imp::Gpu(g) = &self.imp {
			g.stream.synchronize()?;
		}
		Ok(())
	}

	/// The GPU, or `None` on the simulated device.
	pub(crate) fn gpu_or_sim(&self) -> Option<&Gpu> {
		match &self.imp {
			Imp::Gpu(g) => Some(g),
			Imp::Sim => None,
		}
	}

	// One argument per kernel parameter, in the kernel's order.
	#[allow(clippy::too_many_arguments)]
	pub fn rmsnorm_forward(
		&self,
		out: &mut impl Dst<f32>,
		rstd: &mut impl Dst<f32>,
		inp: &impl Src<f32>,
		gain: &impl Src<f32>,
		rows: usize,
		d: usize,
		eps: f32,
	) -> Result<(), CudaError> {
		let cfg = one_block_per_row(rows);
		let (mut out, mut rstd, inp, gain) = (out.dst(), rstd.dst(), inp.src(), gain.src());
		let Some(g) = self.gpu_or_sim() else {
			let (n, nd) = (rows, rows * d);
			let ext = [(out.len(), nd), (rstd.len(), n), (inp.len(), nd), (gain.len(), d)];
			covers("rmsnorm_forward", &ext)?;
			let (grid, block) = dims(cfg);
			// SAFETY: every buffer covers what the launch touches (checked above).
			unsafe {
				ffi::sim_rmsnorm_forward(
					grid,
					block,
					out.host().as_mut_ptr(),
					rstd.host().as_mut_ptr(),
					inp.host().as_ptr(),
					gain.host().as_ptr(),
					int(d),
					eps,
				)
			};
			return Ok(());
		};
		launch!(g, rmsnorm_forward, cfg; mut out, mut rstd, inp, gain; int(d), eps)
	}

	// One argument per kernel parameter, in the kernel's order.
	#[allow(clippy::too_many_arguments)]
	pub fn rmsnorm_backward_input(
		&self,
		dinp: &mut impl Dst<f32>,
		dout: &impl Src<f32>,
		inp: &impl Src<f32>,
		gain: &impl Src<f32>,
		rstd: &impl Src<f32>,
		rows: usize,
		d: usize,
	) -> Result<(), CudaError> {
		let cfg = one_block_per_row(rows);
		let (mut dinp, dout, inp, gain, rstd) =
			(dinp.dst(), dout.src(), inp.src(), gain.src(), rstd.src());
		let Some(g) = self.gpu_or_sim() else {
			let nd = rows * d;
			let ext = [
				(dinp.len(), nd),
				(dout.len(), nd),
				(inp.len(), nd),
				(gain.len(), d),
				(rstd.len(), rows),
			];
			covers("rmsnorm_backward_input", &ext)?;
			let (grid, block) = dims(cfg);
			// SAFETY: every buffer covers what the launch touches (checked above).
			unsafe {
				ffi::sim_rmsnorm_backward_input(
					grid,
					block,
					dinp.host().as_mut_ptr(),
					dout.host().as_ptr(),
					inp.host().as_ptr(),
					gain.host().as_ptr(),
					rstd.host().as_ptr(),
					int(d),
				)
			};
			return Ok(());
		};
		launch!(g, rmsnorm_backward_input, cfg; mut dinp, dout, inp, gain, rstd; int(d))
	}

	pub fn rmsnorm_backward_gain(
		&self,
		dgain: &mut impl Dst<f32>,
		dout: &impl Src<f32>,
		inp: &impl Src<f32>,
		rstd: &impl Src<f32>,
		rows: usize,
		d: usize,
	) -> Result<(), CudaError> {
		let cfg = covering(d);
		let (mut dgain, dout, inp, rstd) = (dgain.dst(), dout.src(), inp.src(), rstd.src());
		let Some(g) = self.gpu_or_sim() else {
			let nd = rows * d;
			let ext = [(dgain.len(), d), (dout.len(), nd), (inp.len(), nd), (rstd.len(), rows)];
			covers("rmsnorm_backward_gain", &ext)?;
			let (grid, block) = dims(cfg);
			// SAFETY: every buffer covers what the launch touches (checked above).
			unsafe {
				ffi::sim_rmsnorm_backward_gain(
					grid,
					block,
					dgain.host().as_mut_ptr(),
					dout.host().as_ptr(),
					inp.host().as_ptr(),
					rstd.host().as_ptr(),
					int(rows),
					int(d),
				)
			};
			return Ok(());
		};
		launch!(g, rmsnorm_backward_gain, cfg; mut dgain, dout, inp, rstd; int(rows), int(d))
	}

	#[allow(clippy::too_many_arguments)]
	pub fn rope_apply(
		&self,
		x: &mut impl Dst<f32>,
		cos: &impl Src<f32>,
		sin: &impl Src<f32>,
		rows: usize,
		seq: usize,
		width: usize,
		half: usize,
		inverse: bool,
	) -> Result<(), CudaError> {
		let cfg = covering(rows * width / 2);
		let (mut x, cos, sin) = (x.dst(), cos.src(), sin.src());
		let Some(g) = self.gpu_or_sim() else {
			let table = rows.min(seq) * half;
			let ext = [(x.len(), rows * width), (cos.len(), table), (sin.len(), table)];
			covers("rope_apply", &ext)?;
			let (grid, block) = dims(cfg);
			// SAFETY: every buffer covers what the launch touches (checked above).
			unsafe {
				ffi::sim_rope_apply(
					grid,
					block,
					x.host().as_mut_ptr(),
					cos.host().as_ptr(),
					sin.host().as_ptr(),
					int(rows),
					int(seq),
					int(width),
					int(half),
					i32::from(inverse),
				)
			};
			return Ok(());
		};
		launch!(g, rope_apply, cfg;
            mut x, cos, sin; int(rows), int(seq), int(width), int(half), i32::from(inverse))
	}

	pub fn causal_softmax_forward(
		&self,
		probs: &mut impl Dst<f32>,
		rows: usize,
		seq: usize,
	) -> Result<(), CudaError> {
		let cfg = one_block_per_row(rows);
		let mut probs = probs.dst();
		let Some(g) = self.gpu_or_sim() else {
			covers("causal_softmax_forward", &[(probs.len(), rows * seq)])?;
			let (grid, block) = dims(cfg);
			// SAFETY: the buffer covers what the launch touches (checked above).
			unsafe {
				ffi::sim_causal_softmax_forward(grid, block, probs.host().as_mut_ptr(), int(seq))
			};
			return Ok(());
		};
		launch!(g, causal_softmax_forward, cfg; mut probs; int(seq))
	}

	pub fn causal_softmax_backward(
		&self,
		grad: &mut impl Dst<f32>,
		probs: &impl Src<f32>,
		rows: usize,
		seq: usize,
		scale: f32,
	) -> Result<(), CudaError> {
		let cfg = one_block_per_row(rows);
		let (mut grad, probs) = (grad.dst(), probs.src());
		let Some(g) = self.gpu_or_sim() else {
			let ext = [(grad.len(), rows * seq), (probs.len(), rows * seq)];
			covers("causal_softmax_backward", &ext)?;
			let (grid, block) = dims(cfg);
			// SAFETY: every buffer covers what the launch touches (checked above).
			unsafe {
				ffi::sim_causal_softmax_backward(
					grid,
					block,
					grad.host().as_mut_ptr(),
					probs.host().as_ptr(),
					int(seq),
					scale,
				)
			};
			return Ok(());
		};
		launch!(g, causal_softmax_backward, cfg; mut grad, probs; int(seq), scale)
	}

	pub fn swiglu_forward(
		&self,
		out: &mut impl Dst<f32>,
		gate: &impl Src<f32>,
		up: &impl Src<f32>,
		n: usize,
	) -> Result<(), CudaError> {
		let cfg = covering(n);
		let (mut out, gate, up) = (out.dst(), gate.src(), up.src());
		let Some(g) = self.gpu_or_sim() else {
			covers("swiglu_forward", &[(out.len(), n), (gate.len(), n), (up.len(), n)])?;
			let (grid, block) = dims(cfg);
			// SAFETY: every buffer covers what the launch touches (checked above).
			unsafe {
				ffi::sim_swiglu_forward(
					grid,
					block,
					out.host().as_mut_ptr(),
					gate.host().as_ptr(),
					up.host().as_ptr(),
					n as u64,
				)
			};
			return Ok(());
		};
		launch!(g, swiglu_forward, cfg; mut out, gate, up; n as u64)
	}

	pub fn swiglu_backward(
		&self,
		dgate: &mut impl Dst<f32>,
		dup: &mut impl Dst<f32>,
		dout: &impl Src<f32>,
		gate: &impl Src<f32>,
		up: &impl Src<f32>,
		n: usize,
	) -> Result<(), CudaError> {
		let cfg = covering(n);
		let (mut dgate, mut dup, dout, gate, up) =
			(dgate.dst(), dup.dst(), dout.src(), gate.src(), up.src());
		let Some(g) = self.gpu_or_sim() else {
			let lens = [dgate.len(), dup.len(), dout.len(), gate.len(), up.len()];
			covers("swiglu_backward", &lens.map(|len| (len, n)))?;
			let (grid, block) = dims(cfg);
			// SAFETY: every buffer covers what the launch touches (checked above).
			unsafe {
				ffi::sim_swiglu_backward(
					grid,
					block,
					dgate.host().as_mut_ptr(),
					dup.host().as_mut_ptr(),
					dout.host().as_ptr(),
					gate.host().as_ptr(),
					up.host().as_ptr(),
					n as u64,
				)
			};
			return Ok(());
		};
		launch!(g, swiglu_backward, cfg; mut dgate, mut dup, dout, gate, up; n as u64)
	}

	pub fn cross_entropy_forward(
		&self,
		logits: &mut impl Dst<f32>,
		losses: &mut impl Dst<f32>,
		targets: &impl Src<u32>,
		rows: usize,
		vocab: usize,
	) -> Result<(), CudaError> {
		let cfg = one_block_per_row(rows);
		let (mut logits, mut losses, targets) = (logits.dst(), losses.dst(), targets.src());
		let Some(g) = self.gpu_or_sim() else {
			let ext = [(logits.len(), rows * vocab), (losses.len(), rows), (targets.len(), rows)];
			covers("cross_entropy_forward", &ext)?;
			tokens_below("cross_entropy_forward", &targets.host()[..rows], vocab)?;
			let (grid, block) = dims(cfg);
			// SAFETY: every buffer covers what the launch touches, targets index in range.
			unsafe {
				ffi::sim_cross_entropy_forward(
					grid,
					block,
					logits.host().as_mut_ptr(),
					losses.host().as_mut_ptr(),
					targets.host().as_ptr(),
					int(vocab),
				)
			};
			return Ok(());
		};
		launch!(g, cross_entropy_forward, cfg; mut logits, mut losses, targets; int(vocab))
	}

	pub fn cross_entropy_backward(
		&self,
		probs: &mut impl Dst<f32>,
		targets: &impl Src<u32>,
		rows: usize,
		vocab: usize,
		inv_n: f32,
	) -> Result<(), CudaError> {
		let cfg = covering(rows * vocab);
		let (mut probs, targets) = (probs.dst(), targets.src());
		let Some(g) = self.gpu_or_sim() else {
			let ext = [(probs.len(), rows * vocab), (targets.len(), rows)];
			covers("cross_entropy_backward", &ext)?;
			tokens_below("cross_entropy_backward", &targets.host()[..rows], vocab)?;
			let (grid, block) = dims(cfg);
			// SAFETY: every buffer covers what the launch touches, targets index in range.
			unsafe {
				ffi::sim_cross_entropy_backward(
					grid,
					block,
					probs.host().as_mut_ptr(),
					targets.host().as_ptr(),
					int(rows),
					int(vocab),
					inv_n,
				)
			};
			return Ok(());
		};
		launch!(g, cross_entropy_backward, cfg;
            mut probs, targets; int(rows), int(vocab), inv_n)
	}

	pub fn embedding_forward(
		&self,
		out: &mut impl Dst<f32>,
		table: &impl Src<f32>,
		tokens: &impl Src<u32>,
		rows: usize,
		d: usize,
	) -> Result<(), CudaError> {
		let cfg = covering(rows * d);
		let (mut out, table, tokens) = (out.dst(), table.src(), tokens.src());
		let Some(g) = self.gpu_or_sim() else {
			covers("embedding_forward", &[(out.len(), rows * d), (tokens.len(), rows)])?;
			tokens_below("embedding_forward", &tokens.host()[..rows], table.len() / d.max(1))?;
			let (grid, block) = dims(cfg);
			// SAFETY: every buffer covers what the launch touches, tokens index table rows.
			unsafe {
				ffi::sim_embedding_forward(
					grid,
					block,
					out.host().as_mut_ptr(),
					table.host().as_ptr(),
					tokens.host().as_ptr(),
					int(rows),
					int(d),
				)
			};
			return Ok(());
		};
		launch!(g, embedding_forward, cfg; mut out, table, tokens; int(rows), int(d))
	}

	pub fn embedding_backward(
		&self,
		dtable: &mut impl Dst<f32>,
		dout: &impl Src<f32>,
		tokens: &impl Src<u32>,
		rows: usize,
		d: usize,
	) -> Result<(), CudaError> {
		let cfg = covering(d);
		let (mut dtable, dout, tokens) = (dtable.dst(), dout.src(), tokens.src());
		let Some(g) = self.gpu_or_sim() else {
			covers("embedding_backward", &[(dout.len(), rows * d), (tokens.len(), rows)])?;
			let table_rows = dtable.len() / d.max(1);
			tokens_below("embedding_backward", &tokens.host()[..rows], table_rows)?;
			let (grid, block) = dims(cfg);
			// SAFETY: every buffer covers what the launch touches, tokens index table rows.
			unsafe {
				ffi::sim_embedding_backward(
					grid,
					block,
					dtable.host().as_mut_ptr(),
					dout.host().as_ptr(),
					tokens.host().as_ptr(),
					int(rows),
					int(d),
				)
			};
			return Ok(());
		};
		launch!(g, embedding_backward, cfg; mut dtable, dout, tokens; int(rows), int(d))
	}

	pub fn adamw_update(
		&self,
		params: &mut impl Dst<f32>,
		grads: &impl Src<f32>,
		m: &mut impl Dst<f32>,
		v: &mut impl Dst<f32>,
		n: usize,
		s: AdamWStep,
	) -> Result<(), CudaError> {
		let cfg = covering(n);
		let (mut params, grads, mut m, mut v) = (params.dst(), grads.src(), m.dst(), v.dst());
		let Some(g) = self.gpu_or_sim() else {
			let lens = [params.len(), grads.len(), m.len(), v.len()];
			covers("adamw_update", &lens.map(|len| (len, n)))?;
			let (grid, block) = dims(cfg);
			// SAFETY: every buffer covers what the launch touches (checked above).
			unsafe {
				ffi::sim_adamw_update(
					grid,
					block,
					params.host().as_mut_ptr(),
					grads.host().as_ptr(),
					m.host().as_mut_ptr(),
					v.host().as_mut_ptr(),
					n as u64,
					s.lr,
					s.beta1,
					s.beta2,
					s.eps,
					s.weight_decay,
					s.inv_bc1,
					s.inv_sqrt_bc2,
				)
			};
			return Ok(());
		};
		launch!(g, adamw_update, cfg;
            mut params, grads, mut m, mut v;
            n as u64, s.lr, s.beta1, s.beta2, s.eps, s.weight_decay, s.inv_bc1, s.inv_sqrt_bc2)
	}

	/// `NORM_BLOCKS` partial sums of squares of `x [n]` into `partial`.
	pub fn sq_norm_partial(
		&self,
		partial: &mut Buf<f64>,
		x: &impl Src<f32>,
		n: usize,
	) -> Result<(), CudaError> {
		let cfg = LaunchConfig {
			grid_dim: (NORM_BLOCKS, 1, 1),
			block_dim: (REDUCE_BLOCK, 1, 1),
			shared_mem_bytes: 0,
		};
		let (mut partial, x) = (partial.dst(), x.src());
		let Some(g) = self.gpu_or_sim() else {
			covers("sq_norm_partial", &[(partial.len(), NORM_BLOCKS as usize), (x.len(), n)])?;
			let (grid, block) = dims(cfg);
			// SAFETY: every buffer covers what the launch touches (checked above).
			unsafe {
				ffi::sim_sq_norm_partial(
					grid,
					block,
					partial.host().as_mut_ptr(),
					x.host().as_ptr(),
					n as u64,
				)
			};
			return Ok(());
		};
		launch!(g, sq_norm_partial, cfg; mut partial, x; n as u64)
	}

	pub fn scale_inplace(&self, x: &mut impl Dst<f32>, n: usize, s: f32) -> Result<(), CudaError> {
		let cfg = covering(n);
		let mut x = x.dst();
		let Some(g) = self.gpu_or_sim() else {
			covers("scale_inplace", &[(x.len(), n)])?;
			let (grid, block) = dims(cfg);
			// SAFETY: the buffer covers what the launch touches (checked above).
			unsafe { ffi::sim_scale_inplace(grid, block, x.host().as_mut_ptr(), n as u64, s) };
			return Ok(());
		};
		launch!(g, scale_inplace, cfg; mut x; n as u64, s)
	}

	pub fn add_inplace(
		&self,
		acc: &mut impl Dst<f32>,
		other: &impl Src<f32>,
		n: usize,
	) -> Result<(), CudaError> {
		let cfg = covering(n);
		let (mut acc, other) = (acc.dst(), other.src());
		let Some(g) = self.gpu_or_sim() else {
			covers("add_inplace", &[(acc.len(), n), (other.len(), n)])?;
			let (grid, block) = dims(cfg);
			// SAFETY: every buffer covers what the launch touches (checked above).
			unsafe {
				ffi::sim_add_inplace(
					grid,
					block,
					acc.host().as_mut_ptr(),
					other.host().as_ptr(),
					n as u64,
				)
			};
			return Ok(());
		};
		// Pointer arguments come first in the kernel, the count last.
		launch!(g, add_inplace, cfg; mut acc, other; n as u64)
	}
}

/// The simulated device's check that every token id indexes a row of a `rows`-row table.
fn tokens_below(kernel: &'static str, tokens: &[u32], rows: usize) -> Result<(), CudaError> {
	match tokens.iter().find(|&&t| t as usize >= rows) {
		Some(&t) => Err(CudaError::TokenRange { kernel, token: t, rows }),
		None => Ok(()),
	}
}
