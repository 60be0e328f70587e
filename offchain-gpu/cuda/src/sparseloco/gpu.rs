//! The SparseLoCo kernels on a device: compression of a device-resident residual and
//! pseudo-gradient, aggregation into device-resident parameters, and a bandwidth bench. The
//! device is a GPU (cudarc) or the simulated device, which runs the same launch sequence on
//! the host simulator (so this whole path runs in CI).

use cudarc::driver::PushKernelArg;
use sparseloco::aggregate::AggregateReport;
use sparseloco::{CompressError, Plan, SparseGradient};

use super::launch::{CompressBufs, PeerBufs};
use super::{
	check_block, check_compress_args, check_peers, check_tables, clip_factors, tables_from,
	Compressed, Descriptors, PeerBuffers, SlTensor, SparseLocoGpuError,
};
use crate::backend::device::Device;
use crate::backend::mem::{Buf, Elem};
use crate::error::CudaError;
use crate::kernels::REDUCE_BLOCK;
use crate::DeviceKind;

/// Threads per block of every SparseLoCo kernel on the GPU (16 values per thread for a
/// full 64 x 64 chunk).
pub const BLOCK: u32 = REDUCE_BLOCK;

// The CPU quantizer sums in the order of this many lanes: the same block, the same bytes.
const _: () = assert!(BLOCK as usize == sparseloco::quant::LANES);

/// Blocks of the non-finite scan over delta (its result does not depend on the grid; the
/// simulated device uses fewer).
const SCAN_BLOCKS: u32 = 1024;
const SIM_SCAN_BLOCKS: u32 = 4;

/// See [`SparseLocoGpu::upload_peers`].
type PeerUpload = (Buf<u16>, Buf<u8>, Buf<f32>);

/// A device with the SparseLoCo kernels loaded.
pub struct SparseLocoGpu {
	dev: Device,
	block: u32,
}

/// Device buffers for one plan, allocated once and reused every round.
pub struct GpuPlan {
	pub desc: Descriptors,
	tensors: Buf<SlTensor>,
	kept_rel: Buf<u16>,
	kept_val: Buf<f32>,
	kept_flat: Buf<u32>,
	stats: Buf<f64>,
	codes: Buf<u8>,
	tables: Buf<f32>,
	first_bad: Buf<u64>,
}

impl SparseLocoGpu {
	/// Opens GPU 0 and compiles the kernels for it. Named errors (`NoDriver`, `NoDevice`,
	/// `MissingLibrary`) where the machine has no usable GPU.
	pub fn open() -> Result<Self, SparseLocoGpuError> {
		Self::open_on(DeviceKind::Gpu(0))
	}

	/// Opens the device `kind` names (blocks of [`BLOCK`] threads).
	pub fn open_on(kind: DeviceKind) -> Result<Self, SparseLocoGpuError> {
		let dev = match kind {
			DeviceKind::Gpu(ordinal) => Device::gpu(ordinal)?,
			DeviceKind::Sim => Device::sim(),
		};
		Ok(Self { dev, block: BLOCK })
	}

	/// The simulated device with `block` threads per block (a power of two up to 1024):
	/// tests vary it to check the kernels do not depend on it.
	pub fn sim_with_block(block: u32) -> Result<Self, SparseLocoGpuError> {
		check_block(block)?;
		Ok(Self { dev: Device::sim(), block })
	}

	/// The device's name, for logs.
	pub fn device_name(&self) -> Result<String, CudaError> {
		self.dev.name()
	}

	/// Copies `host` to a new device buffer.
	pub fn upload(&self, host: &[f32]) -> Result<Buf<f32>, CudaError> {
		self.dev.upload(host)
	}

	/// Copies a device buffer back.
	pub fn download(&self, buf: &Buf<f32>) -> Result<Vec<f32>, CudaError> {
		self.dev.read(buf)
	}

	/// Uploads the plan's descriptors and allocates the compression buffers.
	pub fn prepare(&self, plan: &Plan) -> Result<GpuPlan, SparseLocoGpuError> {
		let desc = Descriptors::new(plan)?;
		let d = &self.dev;
		let n_tensors = desc.tensors.len();
		Ok(GpuPlan {
			tensors: d.upload(&desc.tensors)?,
			kept_rel: d.alloc_zeros(desc.kept)?,
			kept_val: d.alloc_zeros(desc.kept)?,
			kept_flat: d.alloc_zeros(desc.kept)?,
			stats: d.alloc_zeros(2 * n_tensors)?,
			codes: d.alloc_zeros(desc.code_bytes)?,
			tables: d.alloc_zeros(4 * n_tensors)?,
			first_bad: d.alloc_zeros(1)?,
			desc,
		})
	}

	/// Compression with the residual `e` and `delta` on the device (`e` updated in place);
	/// only indices, packed codes and tables come back. Errors as
	/// `sparseloco::compress_in_place`: a non-finite delta or a bad length or beta changes
	/// nothing; `NonFiniteTable(t)` leaves tensor t's residual without the kept values
	/// removed.
	pub fn compress(
		&self,
		plan: &Plan,
		gp: &mut GpuPlan,
		beta: f32,
		e: &mut Buf<f32>,
		delta: &Buf<f32>,
	) -> Result<Compressed, SparseLocoGpuError> {
		check_compress_args(plan, beta, [e.len(), delta.len()])?;
		let d = &self.dev;
		d.write(&[u64::MAX], &mut gp.first_bad)?;
		let grid = if d.gpu_or_sim().is_some() { SCAN_BLOCKS } else { SIM_SCAN_BLOCKS };
		d.sl_first_non_finite((grid, self.block), &mut gp.first_bad, delta)?;
		let first = d.read(&gp.first_bad)?[0];
		if first != u64::MAX {
			return Err(CompressError::NonFiniteDelta(first as usize).into());
		}
		let bufs = CompressBufs {
			tensors: &gp.tensors,
			kept_rel: &mut gp.kept_rel,
			kept_val: &mut gp.kept_val,
			kept_flat: &mut gp.kept_flat,
			stats: &mut gp.stats,
			codes: &mut gp.codes,
			tables: &mut gp.tables,
		};
		d.sl_compress(self.block, &gp.desc, bufs, beta, e, delta)?;
		let tables = tables_from(&d.read(&gp.tables)?);
		let rel_indices = d.read(&gp.kept_rel)?;
		let packed_codes = d.read(&gp.codes)?;
		check_tables(&tables)?;
		Ok(Compressed { tables, rel_indices, packed_codes })
	}

	/// [`SparseLocoGpu::compress`] from host buffers: uploads `e` and `delta`, compresses,
	/// and downloads the updated residual into `e` (also after `NonFiniteTable`, like the
	/// CPU).
	pub fn compress_host(
		&self,
		plan: &Plan,
		gp: &mut GpuPlan,
		beta: f32,
		e: &mut [f32],
		delta: &[f32],
	) -> Result<Compressed, SparseLocoGpuError> {
		check_compress_args(plan, beta, [e.len(), delta.len()])?;
		let (mut e_dev, delta_dev) = (self.dev.upload(e)?, self.dev.upload(delta)?);
		let result = self.compress(plan, gp, beta, &mut e_dev, &delta_dev);
		if !matches!(result, Err(SparseLocoGpuError::Compress(CompressError::NonFiniteDelta(_)))) {
			e.copy_from_slice(&self.dev.read(&e_dev)?);
		}
		result
	}

	/// The peers' squared norms `[peers x tensors]` (negative: non-finite table).
	pub fn peer_sq_norms(
		&self,
		plan: &Plan,
		gp: &GpuPlan,
		peers: &[SparseGradient],
	) -> Result<Vec<f64>, SparseLocoGpuError> {
		check_peers(plan, peers)?;
		let bufs = PeerBuffers::new(plan, &gp.desc, peers);
		let (rel, codes, tables) = self.upload_peers(&bufs)?;
		let stacked = self.stacked(&rel, &codes, &tables, peers.len())?;
		self.sq_norms(gp, &stacked)
	}

	/// The peers' rel indices, packed codes and tables on the device.
	fn upload_peers(&self, bufs: &PeerBuffers) -> Result<PeerUpload, SparseLocoGpuError> {
		Ok((
			self.upload_any(&bufs.rel)?,
			self.upload_any(&bufs.codes)?,
			self.upload_any(&bufs.tables)?,
		))
	}

	/// Uploads `host`; an empty one as a one-element buffer (a GPU refuses empty ones).
	fn upload_any<T: Elem>(&self, host: &[T]) -> Result<Buf<T>, CudaError> {
		if host.is_empty() {
			self.dev.alloc_zeros(1)
		} else {
			self.dev.upload(host)
		}
	}

	fn stacked<'a>(
		&self,
		rel: &'a Buf<u16>,
		codes: &'a Buf<u8>,
		tables: &'a Buf<f32>,
		peers: usize,
	) -> Result<PeerBufs<'a>, SparseLocoGpuError> {
		let n = u32::try_from(peers).map_err(|_| SparseLocoGpuError::TooManyPeers(peers))?;
		Ok(PeerBufs { rel, codes, tables, peers: n })
	}

	fn sq_norms(&self, gp: &GpuPlan, peers: &PeerBufs<'_>) -> Result<Vec<f64>, SparseLocoGpuError> {
		let pairs = peers.peers as usize * gp.desc.tensors.len();
		u32::try_from(pairs).map_err(|_| SparseLocoGpuError::TooManyPeers(pairs))?;
		if pairs == 0 {
			return Ok(Vec::new());
		}
		let mut sq = self.dev.alloc_zeros::<f64>(pairs)?;
		self.dev.sl_peer_sq_norms(self.block, &gp.desc, &gp.tensors, peers, &mut sq)?;
		Ok(self.dev.read(&sq)?)
	}

	/// Aggregates `peers` into the device parameters `theta` (`theta -= lr * g`), each peer
	/// clipped to the per-tensor lower-median norm, as `sparseloco::aggregate`. `theta` is
	/// untouched on error.
	pub fn aggregate(
		&self,
		plan: &Plan,
		gp: &GpuPlan,
		peers: &[SparseGradient],
		theta: &mut Buf<f32>,
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
		if peers.is_empty() {
			return Ok(clip_factors(gp.desc.tensors.len(), &[]).1);
		}
		let bufs = PeerBuffers::new(plan, &gp.desc, peers);
		let (rel, codes, tables) = self.upload_peers(&bufs)?;
		let stacked = self.stacked(&rel, &codes, &tables, peers.len())?;
		let (factors, report) = clip_factors(gp.desc.tensors.len(), &self.sq_norms(gp, &stacked)?);
		self.scatter(gp, &stacked, &factors, theta, lr)?;
		Ok(report)
	}

	/// The scatter-mean and SGD step alone, with given clip factors `[peers x tensors]`.
	pub fn scatter_mean_step(
		&self,
		plan: &Plan,
		gp: &GpuPlan,
		peers: &[SparseGradient],
		factors: &[f32],
		theta: &mut Buf<f32>,
		lr: f32,
	) -> Result<(), SparseLocoGpuError> {
		check_peers(plan, peers)?;
		assert_eq!(
			factors.len(),
			peers.len() * gp.desc.tensors.len(),
			"one factor per peer and tensor"
		);
		let bufs = PeerBuffers::new(plan, &gp.desc, peers);
		let (rel, codes, tables) = self.upload_peers(&bufs)?;
		let stacked = self.stacked(&rel, &codes, &tables, peers.len())?;
		self.scatter(gp, &stacked, factors, theta, lr)
	}

	fn scatter(
		&self,
		gp: &GpuPlan,
		peers: &PeerBufs<'_>,
		factors: &[f32],
		theta: &mut Buf<f32>,
		lr: f32,
	) -> Result<(), SparseLocoGpuError> {
		if peers.peers == 0 {
			return Ok(());
		}
		let factors = self.dev.upload(factors)?;
		self.dev.sl_scatter_mean_step(
			self.block,
			&gp.desc,
			&gp.tensors,
			peers,
			&factors,
			theta,
			lr,
		)?;
		self.dev.synchronize()?;
		Ok(())
	}

	/// Effective bandwidth of the fused error-feedback + top-k kernel against a
	/// device-to-device copy of the same buffer, best of `repeats` runs each.
	pub fn bench_fused(
		&self,
		plan: &Plan,
		repeats: usize,
	) -> Result<FusedBench, SparseLocoGpuError> {
		let Some(gpu) = self.dev.gpu_or_sim() else {
			return Err(CudaError::NoDevice.into());
		};
		let mut gp = self.prepare(plan)?;
		let s = &gpu.stream;
		let n = plan.len();
		let host: Vec<f32> = (0..n)
			.map(|i| ((i as u32).wrapping_mul(2654435761) >> 8) as f32 * 1e-7 - 0.8)
			.collect();
		let delta = s.clone_htod(&host)?;
		let mut e = s.alloc_zeros::<f32>(n)?;
		let mut copy = s.alloc_zeros::<f32>(n)?;
		let (Buf::Cuda(tensors), Buf::Cuda(kept_rel), Buf::Cuda(kept_val), Buf::Cuda(kept_flat)) =
			(&gp.tensors, &mut gp.kept_rel, &mut gp.kept_val, &mut gp.kept_flat)
		else {
			unreachable!("a GPU allocates GPU buffers")
		};
		let timing = Some(cudarc::driver::sys::CUevent_flags::CU_EVENT_DEFAULT);
		let (mut fused_ms, mut copy_ms) = (f32::INFINITY, f32::INFINITY);
		for _ in 0..repeats.max(1) {
			let start = s.record_event(timing)?;
			let d = &gp.desc;
			let nt = d.n_tensors();
			let beta = 0.95f32;
			let mut b = s.launch_builder(&gpu.kernels.sl_ef_topk);
			b.arg(&mut e).arg(&delta).arg(tensors).arg(&nt).arg(&d.edge).arg(&d.k).arg(&beta);
			b.arg(&mut *kept_rel).arg(&mut *kept_val).arg(&mut *kept_flat);
			let launch = cudarc::driver::LaunchConfig {
				grid_dim: (d.chunks, 1, 1),
				block_dim: (BLOCK, 1, 1),
				shared_mem_bytes: 0,
			};
			// SAFETY: matches sl_ef_topk; buffers sized from the same descriptors (prepare).
			unsafe { b.launch(launch) }?;
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

/// Compression on GPU 0 from host buffers: uploads `e` and `delta`, compresses, and
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
	gpu.compress_host(plan, &mut gp, beta, e, delta)
}

/// Aggregation on GPU 0 from host buffers: uploads `theta`, aggregates, downloads it.
pub fn aggregate_gpu(
	plan: &Plan,
	peers: &[SparseGradient],
	theta: &mut [f32],
	lr: f32,
) -> Result<AggregateReport, SparseLocoGpuError> {
	let gpu = SparseLocoGpu::open()?;
	let gp = gpu.prepare(plan)?;
	let mut theta_dev = gpu.upload(theta)?;
	let report = gpu.aggregate(plan, &gp, peers, &mut theta_dev, lr)?;
	theta.copy_from_slice(&gpu.download(&theta_dev)?);
	Ok(report)
}
