//! The SparseLoCo path on the simulated device with a chosen block size, from host buffers:
//! the same launch sequence as on a GPU ([`super::gpu::SparseLocoGpu`]), with the kernels on
//! the host simulator. Tests compare this with the `sparseloco` CPU path; `block` is the
//! threads per block (a power of two up to 1024; the GPU uses [`super::gpu::BLOCK`]).

use sparseloco::aggregate::AggregateReport;
use sparseloco::{Plan, SparseGradient};

use super::gpu::SparseLocoGpu;
use super::{check_compress_args, Compressed, SparseLocoGpuError};

/// Compression of `e` (updated in place) with `delta`. Errors as
/// `sparseloco::compress_in_place`: a non-finite delta or a bad length or beta changes
/// nothing; `NonFiniteTable(t)` leaves tensor t's residual without the kept values removed.
pub fn compress(
	plan: &Plan,
	beta: f32,
	e: &mut [f32],
	delta: &[f32],
	block: u32,
) -> Result<Compressed, SparseLocoGpuError> {
	let dev = SparseLocoGpu::sim_with_block(block)?;
	check_compress_args(plan, beta, [e.len(), delta.len()])?;
	let mut gp = dev.prepare(plan)?;
	dev.compress_host(plan, &mut gp, beta, e, delta)
}

/// Squared norms `[peers x tensors]` of the peers' kept values (negative: non-finite table).
pub fn peer_sq_norms(
	plan: &Plan,
	peers: &[SparseGradient],
	block: u32,
) -> Result<Vec<f64>, SparseLocoGpuError> {
	let dev = SparseLocoGpu::sim_with_block(block)?;
	let gp = dev.prepare(plan)?;
	dev.peer_sq_norms(plan, &gp, peers)
}

/// Aggregation of `peers` into `theta` (`theta -= lr * g`), every peer clipped to the
/// per-tensor lower-median norm, as `sparseloco::aggregate`. `theta` is untouched on error.
pub fn aggregate(
	plan: &Plan,
	peers: &[SparseGradient],
	theta: &mut [f32],
	lr: f32,
	block: u32,
) -> Result<AggregateReport, SparseLocoGpuError> {
	let dev = SparseLocoGpu::sim_with_block(block)?;
	let gp = dev.prepare(plan)?;
	let mut theta_dev = dev.upload(theta)?;
	let report = dev.aggregate(plan, &gp, peers, &mut theta_dev, lr)?;
	theta.copy_from_slice(&dev.download(&theta_dev)?);
	Ok(report)
}

/// The scatter-mean and SGD step alone, with given clip factors `[peers x tensors]`.
pub fn scatter_mean_step(
	plan: &Plan,
	peers: &[SparseGradient],
	factors: &[f32],
	theta: &mut [f32],
	lr: f32,
	block: u32,
) -> Result<(), SparseLocoGpuError> {
	let dev = SparseLocoGpu::sim_with_block(block)?;
	let gp = dev.prepare(plan)?;
	if theta.len() != plan.len() {
		return Err(
			sparseloco::AggregateError::Length { expected: plan.len(), got: theta.len() }.into()
		);
	}
	let mut theta_dev = dev.upload(theta)?;
	dev.scatter_mean_step(plan, &gp, peers, factors, &mut theta_dev, lr)?;
	theta.copy_from_slice(&dev.download(&theta_dev)?);
	Ok(())
}
