//! The SparseLoCo kernels as launches on a [`Device`]: on a GPU through cudarc, on the
//! simulated device through the host simulator. The simulated device checks every buffer
//! against the extents the descriptors address before it launches.

use cudarc::driver::{LaunchConfig, PushKernelArg};

use super::{Descriptors, SlTensor};
use crate::backend::device::{covers, Device};
use crate::backend::mem::{Buf, Dst, Src};
use crate::error::CudaError;

pub(super) mod ffi {
	use super::super::SlTensor;

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

fn cfg(grid: u32, block: u32) -> LaunchConfig {
	LaunchConfig { grid_dim: (grid, 1, 1), block_dim: (block, 1, 1), shared_mem_bytes: 0 }
}

/// The compression buffers of one plan (see [`super::gpu::GpuPlan`]).
pub(super) struct CompressBufs<'a> {
	pub tensors: &'a Buf<SlTensor>,
	pub kept_rel: &'a mut Buf<u16>,
	pub kept_val: &'a mut Buf<f32>,
	pub kept_flat: &'a mut Buf<u32>,
	pub stats: &'a mut Buf<f64>,
	pub codes: &'a mut Buf<u8>,
	pub tables: &'a mut Buf<f32>,
}

/// The peers' stacked buffers of one aggregation (see [`super::PeerBuffers`]).
pub(super) struct PeerBufs<'a> {
	pub rel: &'a Buf<u16>,
	pub codes: &'a Buf<u8>,
	pub tables: &'a Buf<f32>,
	pub peers: u32,
}

impl Device {
	/// `first = min(first, i)` over the non-finite `x[i]`, `i < n`.
	pub(super) fn sl_first_non_finite(
		&self,
		(grid, block): (u32, u32),
		first: &mut Buf<u64>,
		x: &Buf<f32>,
	) -> Result<(), CudaError> {
		let n = x.len() as u64;
		let (mut first, x) = (first.dst(), x.src());
		let Some(g) = self.gpu_or_sim() else {
			covers("sl_first_non_finite", &[(first.len(), 1)])?;
			// SAFETY: the scan reads `n` values of x and writes first[0].
			unsafe {
				ffi::sim_sl_first_non_finite(
					grid,
					block,
					first.host().as_mut_ptr(),
					x.host().as_ptr(),
					n,
				)
			};
			return Ok(());
		};
		let mut b = g.stream.launch_builder(&g.kernels.sl_first_non_finite);
		b.arg(first.cuda()).arg(x.cuda()).arg(&n);
		// SAFETY: argument list matches sl_first_non_finite; it reads n values of x.
		unsafe { b.launch(cfg(grid, block)) }?;
		Ok(())
	}

	/// The three compression kernels: error feedback and top-k per chunk, statistics and
	/// encoding per tensor.
	pub(super) fn sl_compress(
		&self,
		block: u32,
		d: &Descriptors,
		bufs: CompressBufs<'_>,
		beta: f32,
		e: &mut Buf<f32>,
		delta: &Buf<f32>,
	) -> Result<(), CudaError> {
		let nt = d.n_tensors();
		let (tensors, mut rel, mut val, mut flat) =
			(bufs.tensors.src(), bufs.kept_rel.dst(), bufs.kept_val.dst(), bufs.kept_flat.dst());
		let (mut stats, mut codes, mut tables) =
			(bufs.stats.dst(), bufs.codes.dst(), bufs.tables.dst());
		let (mut e, delta) = (e.dst(), delta.src());
		let Some(g) = self.gpu_or_sim() else {
			let t = d.tensors.len();
			let ext = [
				(e.len(), d.len),
				(delta.len(), d.len),
				(tensors.len(), t),
				(rel.len(), d.kept),
				(val.len(), d.kept),
				(flat.len(), d.kept),
				(stats.len(), 2 * t),
				(codes.len(), d.code_bytes),
				(tables.len(), 4 * t),
			];
			covers("sl_compress", &ext)?;
			// SAFETY: every buffer covers the extent the descriptors address (checked above).
			unsafe {
				ffi::sim_sl_ef_topk(
					d.chunks,
					block,
					e.host().as_mut_ptr(),
					delta.host().as_ptr(),
					tensors.host().as_ptr(),
					nt,
					d.edge,
					d.k,
					beta,
					rel.host().as_mut_ptr(),
					val.host().as_mut_ptr(),
					flat.host().as_mut_ptr(),
				);
				ffi::sim_sl_quant_stats(
					nt,
					block,
					stats.host().as_mut_ptr(),
					val.host().as_ptr(),
					tensors.host().as_ptr(),
				);
				ffi::sim_sl_quant_encode(
					nt,
					block,
					e.host().as_mut_ptr(),
					codes.host().as_mut_ptr(),
					tables.host().as_mut_ptr(),
					stats.host().as_ptr(),
					val.host().as_ptr(),
					flat.host().as_ptr(),
					tensors.host().as_ptr(),
				);
			}
			return Ok(());
		};
		let (s, k) = (&g.stream, &g.kernels);
		let mut b = s.launch_builder(&k.sl_ef_topk);
		b.arg(e.cuda()).arg(delta.cuda()).arg(tensors.cuda()).arg(&nt).arg(&d.edge).arg(&d.k);
		b.arg(&beta).arg(rel.cuda()).arg(val.cuda()).arg(flat.cuda());
		// SAFETY: matches sl_ef_topk; buffers sized from the same descriptors (prepare).
		unsafe { b.launch(cfg(d.chunks, block)) }?;

		let mut b = s.launch_builder(&k.sl_quant_stats);
		b.arg(stats.cuda()).arg(val.cuda()).arg(tensors.cuda());
		// SAFETY: matches sl_quant_stats; one block per tensor.
		unsafe { b.launch(cfg(nt, block)) }?;

		let mut b = s.launch_builder(&k.sl_quant_encode);
		b.arg(e.cuda()).arg(codes.cuda()).arg(tables.cuda()).arg(stats.cuda());
		b.arg(val.cuda()).arg(flat.cuda()).arg(tensors.cuda());
		// SAFETY: matches sl_quant_encode; one block per tensor.
		unsafe { b.launch(cfg(nt, block)) }?;
		Ok(())
	}

	/// Squared norms `[peers x tensors]` of the peers' kept values.
	pub(super) fn sl_peer_sq_norms(
		&self,
		block: u32,
		d: &Descriptors,
		tensors: &Buf<SlTensor>,
		peers: &PeerBufs<'_>,
		sq: &mut Buf<f64>,
	) -> Result<(), CudaError> {
		let (nt, code_bytes) = (d.n_tensors(), d.code_bytes as u64);
		let pairs = peers.peers * nt;
		let (tensors, codes, tables, mut sq) =
			(tensors.src(), peers.codes.src(), peers.tables.src(), sq.dst());
		let Some(g) = self.gpu_or_sim() else {
			let (p, t) = (peers.peers as usize, d.tensors.len());
			let ext = [
				(sq.len(), p * t),
				(codes.len(), p * d.code_bytes),
				(tables.len(), p * 4 * t),
				(tensors.len(), t),
			];
			covers("sl_peer_sq_norms", &ext)?;
			// SAFETY: every buffer covers the extent the descriptors address (checked above).
			unsafe {
				ffi::sim_sl_peer_sq_norms(
					pairs,
					block,
					sq.host().as_mut_ptr(),
					codes.host().as_ptr(),
					tables.host().as_ptr(),
					tensors.host().as_ptr(),
					nt,
					code_bytes,
				)
			};
			return Ok(());
		};
		let mut b = g.stream.launch_builder(&g.kernels.sl_peer_sq_norms);
		b.arg(sq.cuda()).arg(codes.cuda()).arg(tables.cuda()).arg(tensors.cuda());
		b.arg(&nt).arg(&code_bytes);
		// SAFETY: matches sl_peer_sq_norms; one block per (peer, tensor).
		unsafe { b.launch(cfg(pairs, block)) }?;
		Ok(())
	}

	/// The scatter-mean over the peers and the SGD step `theta -= lr * mean`.
	#[allow(clippy::too_many_arguments)]
	pub(super) fn sl_scatter_mean_step(
		&self,
		block: u32,
		d: &Descriptors,
		tensors: &Buf<SlTensor>,
		peers: &PeerBufs<'_>,
		factors: &Buf<f32>,
		theta: &mut Buf<f32>,
		lr: f32,
	) -> Result<(), CudaError> {
		let (nt, kept, code_bytes) = (d.n_tensors(), d.kept as u64, d.code_bytes as u64);
		let (tensors, rel, codes, tables, factors, mut theta) = (
			tensors.src(),
			peers.rel.src(),
			peers.codes.src(),
			peers.tables.src(),
			factors.src(),
			theta.dst(),
		);
		let Some(g) = self.gpu_or_sim() else {
			let (p, t) = (peers.peers as usize, d.tensors.len());
			let ext = [
				(theta.len(), d.len),
				(rel.len(), p * d.kept),
				(codes.len(), p * d.code_bytes),
				(tables.len(), p * 4 * t),
				(factors.len(), p * t),
				(tensors.len(), t),
			];
			covers("sl_scatter_mean_step", &ext)?;
			// SAFETY: every buffer covers the extent the descriptors address, and the host
			// checked that every index lies in its chunk (check_peers).
			unsafe {
				ffi::sim_sl_scatter_mean_step(
					d.chunks,
					block,
					theta.host().as_mut_ptr(),
					rel.host().as_ptr(),
					codes.host().as_ptr(),
					tables.host().as_ptr(),
					factors.host().as_ptr(),
					tensors.host().as_ptr(),
					nt,
					d.edge,
					d.k,
					peers.peers,
					kept,
					code_bytes,
					lr,
				)
			};
			return Ok(());
		};
		let mut b = g.stream.launch_builder(&g.kernels.sl_scatter_mean_step);
		b.arg(theta.cuda()).arg(rel.cuda()).arg(codes.cuda()).arg(tables.cuda());
		b.arg(factors.cuda()).arg(tensors.cuda()).arg(&nt).arg(&d.edge).arg(&d.k);
		b.arg(&peers.peers).arg(&kept).arg(&code_bytes).arg(&lr);
		// SAFETY: matches sl_scatter_mean_step; every index was checked to lie in its chunk.
		unsafe { b.launch(cfg(d.chunks, block)) }?;
		Ok(())
	}
}
