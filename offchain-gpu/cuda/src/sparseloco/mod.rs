//! SparseLoCo compression and aggregation with the kernels of `kernels/sparseloco.cu`: the
//! host-side pieces shared by the GPU path ([`gpu`]) and the simulator path ([`sim`]).
//!
//! Compression keeps everything per element on the device: error feedback, per-chunk top-k,
//! quantization and the residual update. The host receives only what goes on the wire:
//! chunk-relative indices (u16, for the Elias-Fano coder), packed 2-bit codes and one table
//! per tensor ([`Compressed`]). Aggregation uploads the peers' indices, packed codes and
//! tables; per-peer norms come back (P x tensors numbers) so the host picks the median clip
//! norm with the CPU's own rule, and the device does the scatter-mean and the SGD step.
//!
//! Agreement with the `sparseloco` CPU path: with 256-thread blocks (the GPU's [`gpu::BLOCK`])
//! everything compression returns is bit-exact: kept indices, codes, packed bytes and tables,
//! because the CPU quantizer sums its f64 statistics in the kernels' lane-and-tree order
//! (`sparseloco::quant`). Other block sizes (which only the simulator's tests use) change
//! that order, so tables then agree to about one f32 ulp. The scatter-mean adds in peer
//! order like the CPU, so it is bit-exact for equal clip factors.

pub mod gpu;
mod launch;
pub mod sim;

use cudarc::driver::{DeviceRepr, DriverError, ValidAsZeroBits};
use sparseloco::aggregate::{lower_median, AggregateReport, TensorOutcome};
use sparseloco::chunk::ChunkMap;
use sparseloco::error::WireError;
use sparseloco::{AggregateError, CompressError, Plan, QuantTable, SparseGradient, SparseTensor};

use crate::error::CudaError;

/// Why a SparseLoCo kernel pipeline refused to run or failed.
#[derive(Debug, thiserror::Error)]
pub enum SparseLocoGpuError {
	#[error(transparent)]
	Cuda(#[from] CudaError),
	#[error(transparent)]
	Compress(#[from] CompressError),
	#[error(transparent)]
	Aggregate(#[from] AggregateError),
	#[error("the plan has {0} chunks; the kernels number chunks with 32 bits")]
	TooManyChunks(usize),
	#[error("{0} peers x tensors exceed the kernels' 32-bit block numbering")]
	TooManyPeers(usize),
	#[error("block size {0} is not a power of two in 1..=1024")]
	BadBlock(u32),
}

impl From<DriverError> for SparseLocoGpuError {
	fn from(e: DriverError) -> Self {
		Self::Cuda(CudaError::Driver(e))
	}
}

/// One tensor as the kernels see it; mirrors `struct SlTensor` in `kernels/sparseloco.cu`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SlTensor {
	/// First element in the flat parameter buffer.
	pub offset: u64,
	/// First entry in the model-wide kept list.
	pub kept_base: u64,
	/// First byte of the tensor's packed codes.
	pub code_base: u64,
	/// Model-wide index of the tensor's first chunk.
	pub first_chunk: u32,
	pub kept: u32,
	pub rows: u32,
	pub cols: u32,
	pub tile_h: u32,
	pub tile_w: u32,
}

// SAFETY: plain #[repr(C)] integers with the same layout as the CUDA struct.
unsafe impl DeviceRepr for SlTensor {}
// SAFETY: all-zero bits are a valid value of every field.
unsafe impl ValidAsZeroBits for SlTensor {}
impl crate::backend::mem::Elem for SlTensor {}

/// The plan in the form the kernels take: tensor descriptors and model-wide totals.
#[derive(Clone, Debug)]
pub struct Descriptors {
	pub tensors: Vec<SlTensor>,
	/// Chunks over the whole model (the grid of the per-chunk kernels).
	pub chunks: u32,
	/// Kept entries over the whole model.
	pub kept: usize,
	/// Bytes of packed codes over the whole model (each tensor's section byte-aligned).
	pub code_bytes: usize,
	pub edge: u32,
	pub k: u32,
	/// Parameters in the flat buffer.
	pub len: usize,
}

impl Descriptors {
	pub fn new(plan: &Plan) -> Result<Self, SparseLocoGpuError> {
		let (mut chunks, mut kept, mut code_bytes) = (0usize, 0usize, 0usize);
		let mut tensors = Vec::with_capacity(plan.tensors().len());
		for tp in plan.tensors() {
			let first_chunk =
				u32::try_from(chunks).map_err(|_| SparseLocoGpuError::TooManyChunks(chunks))?;
			// Layout caps a tensor below 2^32 elements, so these fit.
			let u32_of = |v: usize| u32::try_from(v).expect("Layout bounds tensors to u32");
			tensors.push(SlTensor {
				offset: tp.offset as u64,
				kept_base: kept as u64,
				code_base: code_bytes as u64,
				first_chunk,
				kept: u32_of(tp.kept()),
				rows: u32_of(tp.grid.rows),
				cols: u32_of(tp.grid.cols),
				tile_h: u32_of(tp.grid.tile_h),
				tile_w: u32_of(tp.grid.tile_w),
			});
			chunks += tp.chunk_count();
			kept += tp.kept();
			code_bytes += tp.code_bytes();
		}
		let chunks =
			u32::try_from(chunks).map_err(|_| SparseLocoGpuError::TooManyChunks(chunks))?;
		let params = plan.params();
		Ok(Self {
			tensors,
			chunks,
			kept,
			code_bytes,
			edge: params.edge.into(),
			k: params.k.into(),
			len: plan.len(),
		})
	}

	pub fn n_tensors(&self) -> u32 {
		self.tensors.len() as u32
	}
}

/// What compression hands the host: per tensor a table, and model-wide the kept
/// chunk-relative indices (kept-list order: tensor by tensor, chunk by chunk, increasing
/// within a chunk) and the packed codes (tensor sections back to back, 4 codes per byte,
/// first code in the low bits, zero padding: the wire's code bytes).
#[derive(Clone, Debug, PartialEq)]
pub struct Compressed {
	pub tables: Vec<QuantTable>,
	pub rel_indices: Vec<u16>,
	pub packed_codes: Vec<u8>,
}

impl Compressed {
	/// The in-memory form the codec encodes (tensor-relative flat indices, one code a byte).
	pub fn to_sparse_tensors(&self, plan: &Plan) -> Vec<SparseTensor> {
		let (mut kept_base, mut code_base) = (0, 0);
		plan.tensors()
			.iter()
			.zip(&self.tables)
			.map(|(tp, &table)| {
				let rel = &self.rel_indices[kept_base..kept_base + tp.kept()];
				let mut indices = Vec::with_capacity(tp.kept());
				for c in 0..tp.chunk_count() {
					let map = ChunkMap::new(tp.chunk(c));
					indices
						.extend(rel[tp.kept_range(c)].iter().map(|&r| map.flat(r.into()) as u32));
				}
				let section = &self.packed_codes[code_base..code_base + tp.code_bytes()];
				let codes = (0..tp.kept()).map(|m| (section[m / 4] >> (2 * (m % 4))) & 3).collect();
				kept_base += tp.kept();
				code_base += tp.code_bytes();
				SparseTensor { table, indices, codes }
			})
			.collect()
	}
}

/// Peers' gradients stacked in the layout the aggregation kernels read: per peer the
/// model-wide rel-index list, the packed code bytes and the `4 x tensors` table entries.
pub struct PeerBuffers {
	pub rel: Vec<u16>,
	pub codes: Vec<u8>,
	pub tables: Vec<f32>,
}

impl PeerBuffers {
	pub fn new(plan: &Plan, desc: &Descriptors, peers: &[SparseGradient]) -> Self {
		let mut out = Self {
			rel: Vec::with_capacity(peers.len() * desc.kept),
			codes: Vec::with_capacity(peers.len() * desc.code_bytes),
			tables: Vec::with_capacity(peers.len() * desc.tensors.len() * 4),
		};
		for peer in peers {
			for (tp, st) in plan.tensors().iter().zip(&peer.tensors) {
				for c in 0..tp.chunk_count() {
					let map = ChunkMap::new(tp.chunk(c));
					out.rel.extend(
						st.indices[tp.kept_range(c)].iter().map(|&f| map.rel(f as usize) as u16),
					);
				}
				out.codes.extend(st.codes.chunks(4).map(|four| {
					four.iter().enumerate().fold(0u8, |byte, (s, &q)| byte | (q & 3) << (2 * s))
				}));
				out.tables.extend_from_slice(&st.table.0);
			}
		}
		out
	}
}

/// Rejects peers that do not fit the plan, like `sparseloco::aggregate` (a non-finite table
/// is not an error: that tensor of that peer is dropped). Run before anything is uploaded,
/// so the kernels only ever see in-chunk, strictly increasing indices.
pub fn check_peers(plan: &Plan, peers: &[SparseGradient]) -> Result<(), AggregateError> {
	peers.iter().enumerate().try_for_each(|(peer, g)| {
		let invalid = |source| AggregateError::InvalidPeer { peer, source };
		g.header.check(plan).map_err(invalid)?;
		if g.tensors.len() != plan.tensors().len() {
			return Err(invalid(WireError::TensorCount {
				expected: plan.tensors().len(),
				got: g.tensors.len(),
			}));
		}
		g.tensors.iter().enumerate().try_for_each(|(t, st)| match st.check(plan, t) {
			Ok(()) | Err(WireError::NonFiniteTable { .. }) => Ok(()),
			Err(e) => Err(invalid(e)),
		})
	})
}

/// From the kernels' squared norms (`[peers x tensors]`, negative = dropped), the per-tensor
/// clip factors of every peer (`[peers x tensors]`) and the report, by the CPU's rule:
/// clip each peer's norm to the lower median of the usable peers' norms, never scaling up.
pub fn clip_factors(n_tensors: usize, sq_norms: &[f64]) -> (Vec<f32>, AggregateReport) {
	let peers = sq_norms.len() / n_tensors.max(1);
	let norm = |p: usize, t: usize| {
		let sq = sq_norms[p * n_tensors + t];
		(sq >= 0.0).then(|| sq.sqrt())
	};
	let mut factors = vec![1.0f32; sq_norms.len()];
	let mut report = AggregateReport::default();
	for t in 0..n_tensors {
		let usable: Vec<f64> = (0..peers).filter_map(|p| norm(p, t)).collect();
		let clip = lower_median(&usable);
		let mut outcome = TensorOutcome { clip_norm: clip, ..Default::default() };
		for p in 0..peers {
			match norm(p, t) {
				Some(n) => {
					outcome.used += 1;
					factors[p * n_tensors + t] = clip_factor(n, clip);
				}
				None => outcome.dropped.push(p),
			}
		}
		report.tensors.push(outcome);
	}
	(factors, report)
}

/// Factor that brings a norm down to `clip` (never up); `sparseloco::aggregate`'s rule.
pub fn clip_factor(norm: f64, clip: Option<f64>) -> f32 {
	match clip {
		Some(c) if norm > c && norm > 0.0 => (c / norm) as f32,
		_ => 1.0,
	}
}

/// Length and finiteness checks shared by both compression paths (before any launch).
fn check_compress_args(plan: &Plan, beta: f32, lens: [usize; 2]) -> Result<(), CompressError> {
	for got in lens {
		if got != plan.len() {
			return Err(CompressError::Length { expected: plan.len(), got });
		}
	}
	if !beta.is_finite() {
		return Err(CompressError::BadBeta);
	}
	Ok(())
}

/// The first tensor whose table is not finite, as the error compression reports.
fn check_tables(tables: &[QuantTable]) -> Result<(), CompressError> {
	match tables.iter().position(|t| !t.is_finite()) {
		Some(t) => Err(CompressError::NonFiniteTable(t)),
		None => Ok(()),
	}
}

/// Splits the kernels' flat table output into one table per tensor.
fn tables_from(flat: &[f32]) -> Vec<QuantTable> {
	flat.chunks_exact(4).map(|q| QuantTable([q[0], q[1], q[2], q[3]])).collect()
}

fn check_block(block: u32) -> Result<(), SparseLocoGpuError> {
	if block.is_power_of_two() && block <= 1024 {
		Ok(())
	} else {
		Err(SparseLocoGpuError::BadBlock(block))
	}
}
