//! The SparseLoCo kernels on a GPU through cudarc: compression of a device-resident residual
//! and pseudo-gradient, aggregation into device-resident parameters, and a bandwidth bench.

use std::sync::Arc;

use cudarc::driver::{
	CudaContext, CudaFunction, CudaSlice, CudaStream, LaunchConfig, PushKernelArg,
};
use sparseloco::aggregate::AggregateReport;
use sparseloco::{CompressError, Plan, SparseGradient};

use super::{
	check_compress_args, check_peers, check_tables, clip_factors, tables_from, Compressed,
	Descriptors, PeerBuffers, SlTensor, SparseLocoGpuError,
};
use crate::error::CudaError;
use crate::kernels::{FILES, REDUCE_BLOCK};
use crate::nvrtc;

/// Threads per block of every SparseLoCo kernel on the GPU (16 values per thread for a
/// full 64 x 64 chunk).
pub const BLOCK: u32 = REDUCE_BLOCK;

/// Blocks of the non-finite scan over delta.
const SCAN_BLOCKS: u32 = 1024;

struct Kernels {
	first_non_finite: CudaFunction,
	ef_topk: CudaFunction,
	quant_stats: CudaFunction,
	quant_encode: CudaFunction,
	peer_sq_norms: CudaFunction,
	scatter_mean_step: CudaFunction,
}

/// A GPU with `kernels/sparseloco.cu` loaded.
pub struct SparseLocoGpu {
	pub ctx: Arc<CudaContext>,
	pub stream: Arc<CudaStream>,
	kernels: Kernels,
}

/// Device buffers for one plan, allocated once and reused every round.
pub struct GpuPlan {
	pub desc: Descriptors,
	tensors: CudaSlice<SlTensor>,
	kept_rel: CudaSlice<u16>,
	kept_val: CudaSlice<f32>,
	kept_flat: CudaSlice<u32>,
	stats: CudaSlice<f64>,
	codes: CudaSlice<u8>,
	tables: CudaSlice<f32>,
	first_bad: CudaSlice<u64>,
}

fn cfg(grid: u32) -> LaunchConfig {
	LaunchConfig { grid_dim: (grid, 1, 1), block_dim: (BLOCK, 1, 1), shared_mem_bytes: 0 }
}

impl SparseLocoGpu {
	/// Opens device 0 and compiles `sparseloco.cu` for it. Named errors (`NoDriver`,
	/// `NoDevice`, `MissingLibrary`) where the machine has no usable GPU.
	pub fn open() -> Result<Self, SparseLocoGpuError> {
		// SAFETY: only probes whether libcuda can be opened.
		if !unsafe { cudarc::driver::sys::is_culib_present() } {
			return Err(CudaError::NoDriver.into());
		}
		let count = CudaContext::device_count().map_err(|e| {
			if e.0 == cudarc::driver::sys::cudaError_enum::CUDA_ERROR_NO_DEVICE {
				CudaError::NoDevice
			} else {
				CudaError::Driver(e)
			}
		})?;
		if count == 0 {
			return Err(CudaError::NoDevice.into());
		}
		let ctx = CudaContext::new(0)?;
		let stream = ctx.default_stream();
		let (major, minor) = ctx.compute_capability()?;
		let file = FILES
			.iter()
			.find(|f| f.name == "sparseloco.cu")
			.expect("sparseloco.cu is listed in kernels::FILES");
		let ptx = nvrtc::compile_file(file, &format!("compute_{major}{minor}"))?;
		let module = ctx.load_module(ptx)?;
		let f = |name: &str| module.load_function(name);
		let kernels = Kernels {
			first_non_finite: f("sl_first_non_finite")?,
			ef_topk: f("sl_ef_topk")?,
			quant_stats: f("sl_quant_stats")?,
			quant_encode: f("sl_quant_encode")?,
			peer_sq_norms: f("sl_peer_sq_norms")?,
			scatter_mean_step: f("sl_scatter_mean_step")?,
		};
		Ok(Self { ctx, stream, kernels })
	}

	/// Uploads the plan's descriptors and allocates the compression buffers.
	pub fn prepare(&self, plan: &Plan) -> Result<GpuPlan, SparseLocoGpuError> {
		let desc = Descriptors::new(plan)?;
		let s = &self.stream;
		let n_tensors = desc.tensors.len();
		Ok(GpuPlan {
			tensors: s.clone_htod(&desc.tensors)?,
			kept_rel: s.alloc_zeros(desc.kept)?,
			kept_val: s.alloc_zeros(desc.kept)?,
			kept_flat: s.alloc_zeros(desc.kept)?,
			stats: s.alloc_zeros(2 * n_tensors)?,
			codes: s.alloc_zeros(desc.code_bytes)?,
			tables: s.alloc_zeros(4 * n_tensors)?,
			first_bad: s.alloc_zeros(1)?,
			desc,
		})
	}

	/// Compression with the residual `e` and `delta` on the device (`e` updated in place);
	/// only indices, packed codes and tables come back. Errors as
	/// `sparseloco::compress_in_place`.
	pub fn compress(
		&self,
		plan: &Plan,
		gp: &mut GpuPlan,
		beta: f32,
		e: &mut CudaSlice<f32>,
		delta: &CudaSlice<f32>,
	) -> Result<Compressed, SparseLocoGpuError> {
		check_compress_args(plan, beta, [e.len(), delta.len()])?;
		let s = &self.stream;
		s.memcpy_htod(&[u64::MAX], &mut gp.first_bad)?;
		let n = delta.len() as u64;
		let mut b = s.launch_builder(&self.kernels.first_non_finite);
		b.arg(&mut gp.first_bad).arg(delta).arg(&n);
		// SAFETY: argument list matches sl_first_non_finite; it reads n values of delta.
		unsafe { b.launch(cfg(SCAN_BLOCKS)) }?;
		let first = s.clone_dtoh(&gp.first_bad)?[0];
		if first != u64::MAX {
			return Err(CompressError::NonFiniteDelta(first as usize).into());
		}

		self.launch_compress(gp, beta, e, delta)?;
		let tables = tables_from(&s.clone_dtoh(&gp.tables)?);
		let rel_indices = s.clone_dtoh(&gp.kept_rel)?;
		let packed_codes = s.clone_dtoh(&gp.codes)?;
		check_tables(&tables)?;
		Ok(Compressed { tables, rel_indices, packed_codes })
	}

	/// The three compression kernels, queued without synchronizing.
	fn launch_compress(
		&self,
		gp: &mut GpuPlan,
		beta: f32,
		e: &mut CudaSlice<f32>,
		delta: &CudaSlice<f32>,
	) -> Result<(), SparseLocoGpuError> {
		let d = &gp.desc;
		let (nt, s) = (d.n_tensors(), &self.stream);
		let mut b = s.launch_builder(&self.kernels.ef_topk);
		b.arg(&mut *e).arg(delta).arg(&gp.tensors).arg(&nt).arg(&d.edge).arg(&d.k).arg(&beta);
		b.arg(&mut gp.kept_rel).arg(&mut gp.kept_val).arg(&mut gp.kept_flat);
		// SAFETY: matches sl_ef_topk; buffers sized from the same descriptors (prepare).
		unsafe { b.launch(cfg(d.chunks)) }?;

		let mut b = s.launch_builder(&self.kernels.quant_stats);
		b.arg(&mut gp.stats).arg(&gp.kept_val).arg(&gp.tensors);
		// SAFETY: matches sl_quant_stats; one block per tensor.
		unsafe { b.launch(cfg(nt)) }?;

		let mut b = s.launch_builder(&self.kernels.quant_encode);
		b.arg(&mut *e).arg(&mut gp.codes).arg(&mut gp.tables).arg(&gp.stats);
		b.arg(&gp.kept_val).arg(&gp.kept_flat).arg(&gp.tensors);
		// SAFETY: matches sl_quant_encode; one block per tensor.
		unsafe { b.launch(cfg(nt)) }?;
		Ok(())
	}

	/// Aggregates `peers` into the device parameters `theta` (`theta -= lr * g`), each peer
	/// clipped to the per-tensor lower-median norm, as `sparseloco::aggregate`. `theta` is
	/// untouched on error.
	pub fn aggregate(
		&self,
		plan: &Plan,
		gp: &GpuPlan,
		peers: &[SparseGradient],
		theta: &mut CudaSlice<f32>,
		lr: f32,
	) -> Result<AggregateReport, SparseLocoGpuError> {
		check_peers(plan, peers)?;
		if theta.len() != plan.len() {
			return Err(sparseloco::AggregateError::Length {
				expected: plan.len(),
				got: theta.len(),
			}
			.into());
		}
		let d = &gp.desc;
		if peers.is_empty() {
			return Ok(clip_factors(d.tensors.len(), &[]).1);
		}
		let pairs = peers.len() * d.tensors.len();
		let grid = u32::try_from(pairs).map_err(|_| SparseLocoGpuError::TooManyPeers(pairs))?;
		let n_peers = peers.len() as u32;
		let bufs = PeerBuffers::new(plan, d, peers);
		let s = &self.stream;
		let (rel, codes, tables) =
			(s.clone_htod(&bufs.rel)?, s.clone_htod(&bufs.codes)?, s.clone_htod(&bufs.tables)?);
		let (nt, kept, code_bytes) = (d.n_tensors(), d.kept as u64, d.code_bytes as u64);

		let mut sq = s.alloc_zeros::<f64>(pairs)?;
		let mut b = s.launch_builder(&self.kernels.peer_sq_norms);
		b.arg(&mut sq).arg(&codes).arg(&tables).arg(&gp.tensors).arg(&nt).arg(&code_bytes);
		// SAFETY: matches sl_peer_sq_norms; one block per (peer, tensor).
		unsafe { b.launch(cfg(grid)) }?;
		let (factors, report) = clip_factors(d.tensors.len(), &s.clone_dtoh(&sq)?);

		let factors = s.clone_htod(&factors)?;
		let mut b = s.launch_builder(&self.kernels.scatter_mean_step);
		b.arg(&mut *theta).arg(&rel).arg(&codes).arg(&tables).arg(&factors).arg(&gp.tensors);
		b.arg(&nt).arg(&d.edge).arg(&d.k).arg(&n_peers).arg(&kept).arg(&code_bytes).arg(&lr);
		// SAFETY: matches sl_scatter_mean_step; every index was checked to lie in its chunk.
		unsafe { b.launch(cfg(d.chunks)) }?;
		s.synchronize()?;
		Ok(report)
	}

	/// Effective bandwidth of the fused error-feedback + top-k kernel against a
	/// device-to-device copy of the same buffer, best of `repeats` runs each.
	pub fn bench_fused(
		&self,
		plan: &Plan,
		repeats: usize,
	) -> Result<FusedBench, SparseLocoGpuError> {
		let mut gp = self.prepare(plan)?;
		let s = &self.stream;
		let n = plan.len();
		let host: Vec<f32> = (0..n)
			.map(|i| ((i as u32).wrapping_mul(2654435761) >> 8) as f32 * 1e-7 - 0.8)
			.collect();
		let delta = s.clone_htod(&host)?;
		let mut e = s.alloc_zeros::<f32>(n)?;
		let mut copy = s.alloc_zeros::<f32>(n)?;
		let timing = Some(cudarc::driver::sys::CUevent_flags::CU_EVENT_DEFAULT);
		let (mut fused_ms, mut copy_ms) = (f32::INFINITY, f32::INFINITY);
		for _ in 0..repeats.max(1) {
			let start = s.record_event(timing)?;
			let d = &gp.desc;
			let nt = d.n_tensors();
			let beta = 0.95f32;
			let mut b = s.launch_builder(&self.kernels.ef_topk);
			b.arg(&mut e).arg(&delta).arg(&gp.tensors).arg(&nt).arg(&d.edge).arg(&d.k).arg(&beta);
			b.arg(&mut gp.kept_rel).arg(&mut gp.kept_val).arg(&mut gp.kept_flat);
			// SAFETY: as in launch_compress.
			unsafe { b.launch(cfg(d.chunks)) }?;
			let mid = s.record_event(timing)?;
			s.memcpy_dtod(&delta, &mut copy)?;
			let end = s.record_event(timing)?;
			fused_ms = fused_ms.min(start.elapsed_ms(&mid)?);
			copy_ms = copy_ms.min(mid.elapsed_ms(&end)?);
		}
		let kept = gp.desc.kept as f64;
		// Fused: read e and delta, write e, write 10 bytes per kept entry. Copy: read + write.
		let fused_bytes = 12.0 * n as f64 + 10.0 * kept;
		let copy_bytes = 8.0 * n as f64;
		Ok(FusedBench {
			elements: n,
			fused_ms,
			copy_ms,
			fused_gb_s: fused_bytes / (fused_ms as f64 * 1e6),
			copy_gb_s: copy_bytes / (copy_ms as f64 * 1e6),
		})
	}
}

/// Result of [`SparseLocoGpu::bench_fused`] (best times; GB/s = 1e9 bytes per second).
#[derive(Clone, Copy, Debug)]
pub struct FusedBench {
	pub elements: usize,
	pub fused_ms: f32,
	pub copy_ms: f32,
	pub fused_gb_s: f64,
	pub copy_gb_s: f64,
}

/// Compression on the GPU from host buffers: uploads `e` and `delta`, compresses, and
/// downloads the updated residual into `e` (also after `NonFiniteTable`, like the CPU).
pub fn compress_chunked_gpu(
	plan: &Plan,
	beta: f32,
	e: &mut [f32],
	delta: &[f32],
) -> Result<Compressed, SparseLocoGpuError> {
	check_compress_args(plan, beta, [e.len(), delta.len()])?;
	let gpu = SparseLocoGpu::open()?;
	let mut gp = gpu.prepare(plan)?;
	let s = &gpu.stream;
	let (mut e_dev, delta_dev) = (s.clone_htod(e)?, s.clone_htod(delta)?);
	let result = gpu.compress(plan, &mut gp, beta, &mut e_dev, &delta_dev);
	if !matches!(result, Err(SparseLocoGpuError::Compress(CompressError::NonFiniteDelta(_)))) {
		s.memcpy_dtoh(&e_dev, e)?;
	}
	result
}

/// Aggregation on the GPU from host buffers: uploads `theta`, aggregates, downloads it.
pub fn aggregate_gpu(
	plan: &Plan,
	peers: &[SparseGradient],
	theta: &mut [f32],
	lr: f32,
) -> Result<AggregateReport, SparseLocoGpuError> {
	let gpu = SparseLocoGpu::open()?;
	let gp = gpu.prepare(plan)?;
	let mut theta_dev = gpu.stream.clone_htod(theta)?;
	let report = gpu.aggregate(plan, &gp, peers, &mut theta_dev, lr)?;
	gpu.stream.memcpy_dtoh(&theta_dev, theta)?;
	Ok(report)
}
