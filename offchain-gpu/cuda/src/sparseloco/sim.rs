//! The SparseLoCo kernels run on the host by the CUDA simulator, in the same launch sequence
//! as the GPU path ([`super::gpu`]), on host buffers. Tests compare this with the
//! `sparseloco` CPU path; `block` is the threads per block the GPU path would use.

use sparseloco::aggregate::AggregateReport;
use sparseloco::{AggregateError, CompressError, Plan, SparseGradient};

use super::{
	check_block, check_compress_args, check_peers, check_tables, clip_factors, tables_from,
	Compressed, Descriptors, PeerBuffers, SlTensor, SparseLocoGpuError,
};

mod ffi {
	use super::SlTensor;

	extern "C" {
		pub fn sim_sl_first_non_finite(
			grid: u32,
			block: u32,
			first: *mut u64,
			x: *const f32,
			n: u64,
		);
		pub fn sim_sl_ef_topk(
			grid: u32,
			block: u32,
			e: *mut f32,
			delta: *const f32,
			tensors: *const SlTensor,
			n_tensors: u32,
			edge: u32,
			k: u32,
			beta: f32,
			kept_rel: *mut u16,
			kept_val: *mut f32,
			kept_flat: *mut u32,
		);
		pub fn sim_sl_quant_stats(
			grid: u32,
			block: u32,
			stats: *mut f64,
			kept_val: *const f32,
			tensors: *const SlTensor,
		);
		pub fn sim_sl_quant_encode(
			grid: u32,
			block: u32,
			e: *mut f32,
			codes: *mut u8,
			tables: *mut f32,
			stats: *const f64,
			kept_val: *const f32,
			kept_flat: *const u32,
			tensors: *const SlTensor,
		);
		pub fn sim_sl_peer_sq_norms(
			grid: u32,
			block: u32,
			sq_norms: *mut f64,
			codes: *const u8,
			tables: *const f32,
			tensors: *const SlTensor,
			n_tensors: u32,
			code_bytes: u64,
		);
		pub fn sim_sl_scatter_mean_step(
			grid: u32,
			block: u32,
			theta: *mut f32,
			rel: *const u16,
			codes: *const u8,
			tables: *const f32,
			factors: *const f32,
			tensors: *const SlTensor,
			n_tensors: u32,
			edge: u32,
			k: u32,
			peers: u32,
			kept_total: u64,
			code_bytes: u64,
			lr: f32,
		);
	}
}

/// Blocks of the simulated non-finite scan (its result does not depend on the grid).
const SCAN_BLOCKS: u32 = 4;

/// Compression of `e` (updated in place) with `delta`, as [`super::gpu::SparseLocoGpu`]
/// runs it. Errors as `sparseloco::compress_in_place`: a non-finite delta or a bad length or
/// beta changes nothing; `NonFiniteTable(t)` leaves tensor t's residual without the kept
/// values removed.
pub fn compress(
	plan: &Plan,
	beta: f32,
	e: &mut [f32],
	delta: &[f32],
	block: u32,
) -> Result<Compressed, SparseLocoGpuError> {
	check_block(block)?;
	check_compress_args(plan, beta, [e.len(), delta.len()])?;
	let d = Descriptors::new(plan)?;
	let mut first = u64::MAX;
	// SAFETY: the scan reads `delta.len()` values and writes one u64.
	unsafe {
		ffi::sim_sl_first_non_finite(
			SCAN_BLOCKS,
			block,
			&mut first,
			delta.as_ptr(),
			delta.len() as u64,
		)
	};
	if first != u64::MAX {
		return Err(CompressError::NonFiniteDelta(first as usize).into());
	}

	let (mut rel, mut val, mut flat) = (vec![0u16; d.kept], vec![0f32; d.kept], vec![0u32; d.kept]);
	let mut stats = vec![0f64; 2 * d.tensors.len()];
	let mut codes = vec![0u8; d.code_bytes];
	let mut tables = vec![0f32; 4 * d.tensors.len()];
	let nt = d.n_tensors();
	// SAFETY: every buffer has the extent the descriptors (built from `plan`) address: e and
	// delta plan.len(), the kept lists d.kept, the codes d.code_bytes, stats and tables one
	// slot per tensor.
	unsafe {
		ffi::sim_sl_ef_topk(
			d.chunks,
			block,
			e.as_mut_ptr(),
			delta.as_ptr(),
			d.tensors.as_ptr(),
			nt,
			d.edge,
			d.k,
			beta,
			rel.as_mut_ptr(),
			val.as_mut_ptr(),
			flat.as_mut_ptr(),
		);
		ffi::sim_sl_quant_stats(nt, block, stats.as_mut_ptr(), val.as_ptr(), d.tensors.as_ptr());
		ffi::sim_sl_quant_encode(
			nt,
			block,
			e.as_mut_ptr(),
			codes.as_mut_ptr(),
			tables.as_mut_ptr(),
			stats.as_ptr(),
			val.as_ptr(),
			flat.as_ptr(),
			d.tensors.as_ptr(),
		);
	}
	let tables = tables_from(&tables);
	check_tables(&tables)?;
	Ok(Compressed { tables, rel_indices: rel, packed_codes: codes })
}

/// Squared norms `[peers x tensors]` of the peers' kept values (negative: non-finite table).
pub fn peer_sq_norms(
	plan: &Plan,
	peers: &[SparseGradient],
	block: u32,
) -> Result<Vec<f64>, SparseLocoGpuError> {
	check_block(block)?;
	check_peers(plan, peers)?;
	let d = Descriptors::new(plan)?;
	let bufs = PeerBuffers::new(plan, &d, peers);
	sq_norms(&d, &bufs, peers.len(), block)
}

fn sq_norms(
	d: &Descriptors,
	bufs: &PeerBuffers,
	peers: usize,
	block: u32,
) -> Result<Vec<f64>, SparseLocoGpuError> {
	let blocks = peers * d.tensors.len();
	let grid = u32::try_from(blocks).map_err(|_| SparseLocoGpuError::TooManyPeers(blocks))?;
	let mut out = vec![0f64; blocks];
	if grid > 0 {
		// SAFETY: one output per (peer, tensor); codes and tables are stacked per peer as
		// PeerBuffers lays them out for these descriptors.
		unsafe {
			ffi::sim_sl_peer_sq_norms(
				grid,
				block,
				out.as_mut_ptr(),
				bufs.codes.as_ptr(),
				bufs.tables.as_ptr(),
				d.tensors.as_ptr(),
				d.n_tensors(),
				d.code_bytes as u64,
			)
		};
	}
	Ok(out)
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
	check_block(block)?;
	check_peers(plan, peers)?;
	check_theta(plan, theta)?;
	let d = Descriptors::new(plan)?;
	let bufs = PeerBuffers::new(plan, &d, peers);
	let (factors, report) =
		clip_factors(d.tensors.len(), &sq_norms(&d, &bufs, peers.len(), block)?);
	scatter(&d, &bufs, &factors, peers.len(), theta, lr, block)?;
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
	check_block(block)?;
	check_peers(plan, peers)?;
	check_theta(plan, theta)?;
	let d = Descriptors::new(plan)?;
	assert_eq!(factors.len(), peers.len() * d.tensors.len(), "one factor per peer and tensor");
	scatter(&d, &PeerBuffers::new(plan, &d, peers), factors, peers.len(), theta, lr, block)
}

fn check_theta(plan: &Plan, theta: &[f32]) -> Result<(), AggregateError> {
	if theta.len() == plan.len() {
		Ok(())
	} else {
		Err(AggregateError::Length { expected: plan.len(), got: theta.len() })
	}
}

fn scatter(
	d: &Descriptors,
	bufs: &PeerBuffers,
	factors: &[f32],
	peers: usize,
	theta: &mut [f32],
	lr: f32,
	block: u32,
) -> Result<(), SparseLocoGpuError> {
	let n_peers = u32::try_from(peers).map_err(|_| SparseLocoGpuError::TooManyPeers(peers))?;
	// SAFETY: theta has plan.len() values; the peer buffers and factors are stacked per peer
	// for these descriptors; the host checked every index lies in its chunk.
	unsafe {
		ffi::sim_sl_scatter_mean_step(
			d.chunks,
			block,
			theta.as_mut_ptr(),
			bufs.rel.as_ptr(),
			bufs.codes.as_ptr(),
			bufs.tables.as_ptr(),
			factors.as_ptr(),
			d.tensors.as_ptr(),
			d.n_tensors(),
			d.edge,
			d.k,
			n_peers,
			d.kept as u64,
			d.code_bytes as u64,
			lr,
		)
	};
	Ok(())
}
