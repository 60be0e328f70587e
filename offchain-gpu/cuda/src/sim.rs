//! The kernels of `kernels/*.cu` run on the host by the simulator (`kernels/sim/cuda_sim.h`,
//! built by `build.rs`), behind safe wrappers that check buffer lengths. Tests compare them
//! with training-model's CPU ops; the backend itself never uses them.
//!
//! Every wrapper takes the launch shape the GPU path would use (`block` threads per block,
//! a power of two up to 1024 for kernels with block reductions) so tests can vary it.

use std::os::raw::{c_int, c_uint};

use crate::adamw::AdamWStep;

pub(crate) mod ffi {
	use std::os::raw::{c_int, c_uint};

	type U64 = u64;

	extern "C" {
		pub fn sim_rmsnorm_forward(
			grid: c_uint,
			block: c_uint,
			out: *mut f32,
			rstd: *mut f32,
			inp: *const f32,
			gain: *const f32,
			d: c_int,
			eps: f32,
		);
		pub fn sim_rmsnorm_backward_input(
			grid: c_uint,
			block: c_uint,
			dinp: *mut f32,
			dout: *const f32,
			inp: *const f32,
			gain: *const f32,
			rstd: *const f32,
			d: c_int,
		);
		pub fn sim_rmsnorm_backward_gain(
			grid: c_uint,
			block: c_uint,
			dgain: *mut f32,
			dout: *const f32,
			inp: *const f32,
			rstd: *const f32,
			n: c_int,
			d: c_int,
		);
		pub fn sim_rope_apply(
			grid: c_uint,
			block: c_uint,
			x: *mut f32,
			cos: *const f32,
			sin: *const f32,
			rows: c_int,
			seq: c_int,
			width: c_int,
			half: c_int,
			inverse: c_int,
		);
		pub fn sim_causal_softmax_forward(grid: c_uint, block: c_uint, probs: *mut f32, seq: c_int);
		pub fn sim_causal_softmax_backward(
			grid: c_uint,
			block: c_uint,
			grad: *mut f32,
			probs: *const f32,
			seq: c_int,
			scale: f32,
		);
		pub fn sim_swiglu_forward(
			grid: c_uint,
			block: c_uint,
			out: *mut f32,
			gate: *const f32,
			up: *const f32,
			n: U64,
		);
		pub fn sim_swiglu_backward(
			grid: c_uint,
			block: c_uint,
			dgate: *mut f32,
			dup: *mut f32,
			dout: *const f32,
			gate: *const f32,
			up: *const f32,
			n: U64,
		);
		pub fn sim_cross_entropy_forward(
			grid: c_uint,
			block: c_uint,
			logits: *mut f32,
			losses: *mut f32,
			targets: *const u32,
			vocab: c_int,
		);
		pub fn sim_cross_entropy_backward(
			grid: c_uint,
			block: c_uint,
			probs: *mut f32,
			targets: *const u32,
			n: c_int,
			vocab: c_int,
			inv_n: f32,
		);
		pub fn sim_embedding_forward(
			grid: c_uint,
			block: c_uint,
			out: *mut f32,
			table: *const f32,
			tokens: *const u32,
			n: c_int,
			d: c_int,
		);
		pub fn sim_embedding_backward(
			grid: c_uint,
			block: c_uint,
			dtable: *mut f32,
			dout: *const f32,
			tokens: *const u32,
			n: c_int,
			d: c_int,
		);
		pub fn sim_adamw_update(
			grid: c_uint,
			block: c_uint,
			params: *mut f32,
			grads: *const f32,
			m: *mut f32,
			v: *mut f32,
			n: U64,
			lr: f32,
			beta1: f32,
			beta2: f32,
			eps: f32,
			weight_decay: f32,
			inv_bc1: f32,
			inv_sqrt_bc2: f32,
		);
		pub fn sim_sq_norm_partial(
			grid: c_uint,
			block: c_uint,
			partial: *mut f64,
			x: *const f32,
			n: U64,
		);
		pub fn sim_scale_inplace(grid: c_uint, block: c_uint, x: *mut f32, n: U64, s: f32);
		pub fn sim_add_inplace(
			grid: c_uint,
			block: c_uint,
			acc: *mut f32,
			other: *const f32,
			n: U64,
		);
	}
}

/// A launch shape: `grid` blocks of `block` threads.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
	pub grid: u32,
	pub block: u32,
}

impl Shape {
	pub fn new(grid: u32, block: u32) -> Self {
		assert!(grid > 0 && (1..=1024).contains(&block), "bad launch shape");
		Self { grid, block }
	}

	/// Block-reduction kernels need a power-of-two block.
	fn reducing(self) -> Self {
		assert!(self.block.is_power_of_two(), "reductions need a power-of-two block");
		self
	}
}

fn int(v: usize) -> c_int {
	c_int::try_from(v).expect("dimension exceeds i32")
}

fn rows(len: usize, width: usize) -> usize {
	assert!(width > 0 && len.is_multiple_of(width), "buffer is not a whole number of rows");
	len / width
}

/// RMSNorm forward over the rows of `inp [n, d]` (one block per row).
pub fn rmsnorm_forward(
	block: u32,
	out: &mut [f32],
	rstd: &mut [f32],
	inp: &[f32],
	gain: &[f32],
	eps: f32,
) {
	let d = gain.len();
	let n = rows(inp.len(), d);
	assert_eq!(out.len(), inp.len());
	assert_eq!(rstd.len(), n);
	let s = Shape::new(n as c_uint, block).reducing();
	// SAFETY: one block per row reads `d` values of its row and writes its row and rstd.
	unsafe {
		ffi::sim_rmsnorm_forward(
			s.grid,
			s.block,
			out.as_mut_ptr(),
			rstd.as_mut_ptr(),
			inp.as_ptr(),
			gain.as_ptr(),
			int(d),
			eps,
		)
	}
}

/// RMSNorm backward to the input (accumulates into `dinp`).
pub fn rmsnorm_backward_input(
	block: u32,
	dinp: &mut [f32],
	dout: &[f32],
	inp: &[f32],
	gain: &[f32],
	rstd: &[f32],
) {
	let d = gain.len();
	let n = rows(inp.len(), d);
	for len in [dinp.len(), dout.len()] {
		assert_eq!(len, inp.len());
	}
	assert_eq!(rstd.len(), n);
	let s = Shape::new(n as c_uint, block).reducing();
	// SAFETY: lengths checked above; one block per row.
	unsafe {
		ffi::sim_rmsnorm_backward_input(
			s.grid,
			s.block,
			dinp.as_mut_ptr(),
			dout.as_ptr(),
			inp.as_ptr(),
			gain.as_ptr(),
			rstd.as_ptr(),
			int(d),
		)
	}
}

/// RMSNorm backward to the gain (accumulates into `dgain`), one thread per column.
pub fn rmsnorm_backward_gain(
	block: u32,
	dgain: &mut [f32],
	dout: &[f32],
	inp: &[f32],
	rstd: &[f32],
) {
	let d = dgain.len();
	let n = rows(inp.len(), d);
	assert_eq!(dout.len(), inp.len());
	assert_eq!(rstd.len(), n);
	let s = Shape::new(d.div_ceil(block as usize) as c_uint, block);
	// SAFETY: lengths checked above; threads past `d` return at once.
	unsafe {
		ffi::sim_rmsnorm_backward_gain(
			s.grid,
			s.block,
			dgain.as_mut_ptr(),
			dout.as_ptr(),
			inp.as_ptr(),
			rstd.as_ptr(),
			int(n),
			int(d),
		)
	}
}

/// Rotary embedding in place on `x [rows, width]` with `[seq_len, half]` tables.
#[allow(clippy::too_many_arguments)]
pub fn rope_apply(
	shape: Shape,
	x: &mut [f32],
	cos: &[f32],
	sin: &[f32],
	seq: usize,
	width: usize,
	half: usize,
	inverse: bool,
) {
	let n = rows(x.len(), width);
	assert!(half > 0 && width.is_multiple_of(2 * half));
	assert_eq!(cos.len(), sin.len());
	assert!(seq * half <= cos.len(), "rope table too short");
	// SAFETY: the kernel reads table entries below seq * half and pairs inside `x`.
	unsafe {
		ffi::sim_rope_apply(
			shape.grid,
			shape.block,
			x.as_mut_ptr(),
			cos.as_ptr(),
			sin.as_ptr(),
			int(n),
			int(seq),
			int(width),
			int(half),
			c_int::from(inverse),
		)
	}
}

/// Causal softmax in place over rows of `seq` scores (one block per row).
pub fn causal_softmax_forward(block: u32, probs: &mut [f32], seq: usize) {
	let n = rows(probs.len(), seq);
	let s = Shape::new(n as c_uint, block).reducing();
	// SAFETY: one block per row of `seq` values.
	unsafe { ffi::sim_causal_softmax_forward(s.grid, s.block, probs.as_mut_ptr(), int(seq)) }
}

/// Causal softmax backward in place: `grad` goes from dP to dS.
pub fn causal_softmax_backward(
	block: u32,
	grad: &mut [f32],
	probs: &[f32],
	seq: usize,
	scale: f32,
) {
	let n = rows(probs.len(), seq);
	assert_eq!(grad.len(), probs.len());
	let s = Shape::new(n as c_uint, block).reducing();
	// SAFETY: one block per row of `seq` values in both buffers.
	unsafe {
		ffi::sim_causal_softmax_backward(
			s.grid,
			s.block,
			grad.as_mut_ptr(),
			probs.as_ptr(),
			int(seq),
			scale,
		)
	}
}

pub fn swiglu_forward(shape: Shape, out: &mut [f32], gate: &[f32], up: &[f32]) {
	assert_eq!(out.len(), gate.len());
	assert_eq!(out.len(), up.len());
	// SAFETY: all three buffers hold `n` values.
	unsafe {
		ffi::sim_swiglu_forward(
			shape.grid,
			shape.block,
			out.as_mut_ptr(),
			gate.as_ptr(),
			up.as_ptr(),
			out.len() as u64,
		)
	}
}

pub fn swiglu_backward(
	shape: Shape,
	dgate: &mut [f32],
	dup: &mut [f32],
	dout: &[f32],
	gate: &[f32],
	up: &[f32],
) {
	let n = dout.len();
	for len in [dgate.len(), dup.len(), gate.len(), up.len()] {
		assert_eq!(len, n);
	}
	// SAFETY: all five buffers hold `n` values.
	unsafe {
		ffi::sim_swiglu_backward(
			shape.grid,
			shape.block,
			dgate.as_mut_ptr(),
			dup.as_mut_ptr(),
			dout.as_ptr(),
			gate.as_ptr(),
			up.as_ptr(),
			n as u64,
		)
	}
}

/// Cross-entropy forward: logits become probabilities, `losses[row]` the row's NLL.
pub fn cross_entropy_forward(
	block: u32,
	logits: &mut [f32],
	losses: &mut [f32],
	targets: &[u32],
	vocab: usize,
) {
	let n = rows(logits.len(), vocab);
	assert_eq!(targets.len(), n);
	assert_eq!(losses.len(), n);
	assert!(targets.iter().all(|&t| (t as usize) < vocab), "target outside the vocabulary");
	let s = Shape::new(n as c_uint, block).reducing();
	// SAFETY: lengths and target range checked above.
	unsafe {
		ffi::sim_cross_entropy_forward(
			s.grid,
			s.block,
			logits.as_mut_ptr(),
			losses.as_mut_ptr(),
			targets.as_ptr(),
			int(vocab),
		)
	}
}

pub fn cross_entropy_backward(
	shape: Shape,
	probs: &mut [f32],
	targets: &[u32],
	vocab: usize,
	inv_n: f32,
) {
	let n = rows(probs.len(), vocab);
	assert_eq!(targets.len(), n);
	// SAFETY: `probs` holds `n * vocab` values and `targets` `n`.
	unsafe {
		ffi::sim_cross_entropy_backward(
			shape.grid,
			shape.block,
			probs.as_mut_ptr(),
			targets.as_ptr(),
			int(n),
			int(vocab),
			inv_n,
		)
	}
}

pub fn embedding_forward(shape: Shape, out: &mut [f32], table: &[f32], tokens: &[u32], d: usize) {
	let n = rows(out.len(), d);
	assert_eq!(tokens.len(), n);
	let vocab = rows(table.len(), d);
	assert!(tokens.iter().all(|&t| (t as usize) < vocab), "token outside the table");
	// SAFETY: lengths and token range checked above.
	unsafe {
		ffi::sim_embedding_forward(
			shape.grid,
			shape.block,
			out.as_mut_ptr(),
			table.as_ptr(),
			tokens.as_ptr(),
			int(n),
			int(d),
		)
	}
}

/// Embedding backward (accumulates into `dtable`), one thread per column.
pub fn embedding_backward(block: u32, dtable: &mut [f32], dout: &[f32], tokens: &[u32], d: usize) {
	let n = rows(dout.len(), d);
	assert_eq!(tokens.len(), n);
	let vocab = rows(dtable.len(), d);
	assert!(tokens.iter().all(|&t| (t as usize) < vocab), "token outside the table");
	let s = Shape::new(d.div_ceil(block as usize) as c_uint, block);
	// SAFETY: lengths and token range checked above.
	unsafe {
		ffi::sim_embedding_backward(
			s.grid,
			s.block,
			dtable.as_mut_ptr(),
			dout.as_ptr(),
			tokens.as_ptr(),
			int(n),
			int(d),
		)
	}
}

pub fn adamw_update(
	shape: Shape,
	params: &mut [f32],
	grads: &[f32],
	m: &mut [f32],
	v: &mut [f32],
	step: AdamWStep,
) {
	let n = params.len();
	for len in [grads.len(), m.len(), v.len()] {
		assert_eq!(len, n);
	}
	// SAFETY: all four buffers hold `n` values.
	unsafe {
		ffi::sim_adamw_update(
			shape.grid,
			shape.block,
			params.as_mut_ptr(),
			grads.as_ptr(),
			m.as_mut_ptr(),
			v.as_mut_ptr(),
			n as u64,
			step.lr,
			step.beta1,
			step.beta2,
			step.eps,
			step.weight_decay,
			step.inv_bc1,
			step.inv_sqrt_bc2,
		)
	}
}

/// Per-block partial sums of squares (f64), one per block of `shape`.
pub fn sq_norm_partial(shape: Shape, x: &[f32]) -> Vec<f64> {
	let s = shape.reducing();
	let mut partial = vec![0.0f64; s.grid as usize];
	// SAFETY: `partial` has one slot per block; `x` holds `n` values.
	unsafe {
		ffi::sim_sq_norm_partial(s.grid, s.block, partial.as_mut_ptr(), x.as_ptr(), x.len() as u64)
	};
	partial
}

pub fn scale_inplace(shape: Shape, x: &mut [f32], s: f32) {
	// SAFETY: `x` holds `n` values.
	unsafe { ffi::sim_scale_inplace(shape.grid, shape.block, x.as_mut_ptr(), x.len() as u64, s) }
}

pub fn add_inplace(shape: Shape, acc: &mut [f32], other: &[f32]) {
	assert_eq!(acc.len(), other.len());
	// SAFETY: both buffers hold `n` values.
	unsafe {
		ffi::sim_add_inplace(
			shape.grid,
			shape.block,
			acc.as_mut_ptr(),
			other.as_ptr(),
			acc.len() as u64,
		)
	}
}
