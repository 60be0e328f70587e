//! The compression plan: everything that follows from (layout, chunk edge, k) and that every
//! node computes identically: each tensor's tiling, the number of values kept per chunk, the
//! byte size of every wire section, and the work units ("bands") used for parallelism.
//! Because the sizes come from here, a decoder never trusts a length read from a blob.

use std::ops::Range;

use crate::chunk::{kept_for, Chunk, Grid, MAX_CHUNK_EDGE};
use crate::codec::HEADER_LEN;
use crate::eliasfano;
use crate::error::ParamsError;
use crate::layout::Layout;
use crate::quant::LEVELS;

/// Chunking parameters that travel in the wire header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkParams {
	/// Target tile edge (2-D) and run length (1-D); reference 64.
	pub edge: u16,
	/// Values kept per full `edge x edge` tile; smaller chunks keep proportionally fewer
	/// (see [`kept_for`]). Reference 64 (1.5625 % density).
	pub k: u16,
}

impl Default for ChunkParams {
	fn default() -> Self {
		Self { edge: 64, k: 64 }
	}
}

impl ChunkParams {
	pub fn validate(&self) -> Result<(), ParamsError> {
		let edge = self.edge as usize;
		if !(1..=MAX_CHUNK_EDGE).contains(&edge) {
			return Err(ParamsError::ChunkEdge(self.edge));
		}
		if self.k == 0 || self.k as usize > edge * edge {
			return Err(ParamsError::K { k: self.k, edge: self.edge, max: edge * edge });
		}
		Ok(())
	}
}

/// Plan of one tensor.
#[derive(Clone, Debug)]
pub struct TensorPlan {
	/// Start in the flat parameter buffer.
	pub offset: usize,
	pub len: usize,
	pub grid: Grid,
	/// `kept_starts[c]..kept_starts[c + 1]` is chunk `c`'s slice of the tensor's kept list.
	kept_starts: Vec<u32>,
	index_bytes: usize,
}

/// Bytes of a quantization table on the wire (4 x f32).
pub const TABLE_BYTES: usize = LEVELS * 4;

impl TensorPlan {
	fn new(offset: usize, shape: &[usize], params: ChunkParams) -> Self {
		let (edge, k) = (params.edge as usize, params.k as usize);
		let grid = Grid::new(shape, edge);
		let chunks = grid.chunk_count();
		let mut kept_starts = Vec::with_capacity(chunks + 1);
		let mut kept = 0usize;
		let mut index_bits = 0usize;
		kept_starts.push(0);
		for c in 0..chunks {
			let n = grid.chunk(c).len();
			let kc = kept_for(n, edge, k);
			kept += kc;
			index_bits += eliasfano::encoded_bits(n, kc);
			// kept <= len < 2^32 (checked by Layout).
			kept_starts.push(kept as u32);
		}
		let len = grid.rows * grid.cols;
		Self { offset, len, grid, kept_starts, index_bytes: index_bits.div_ceil(8) }
	}

	pub fn chunk_count(&self) -> usize {
		self.kept_starts.len() - 1
	}

	pub fn chunk(&self, c: usize) -> Chunk {
		self.grid.chunk(c)
	}

	/// Positions of chunk `c`'s values in the tensor's kept list.
	pub fn kept_range(&self, c: usize) -> Range<usize> {
		self.kept_starts[c] as usize..self.kept_starts[c + 1] as usize
	}

	/// Total values kept in the tensor.
	pub fn kept(&self) -> usize {
		*self.kept_starts.last().unwrap_or(&0) as usize
	}

	/// Bytes of the packed 2-bit codes.
	pub fn code_bytes(&self) -> usize {
		self.kept().div_ceil(4)
	}

	/// Bytes of the Elias-Fano index stream.
	pub fn index_bytes(&self) -> usize {
		self.index_bytes
	}

	/// Bytes of the tensor's wire section: table, codes, indices.
	pub fn wire_bytes(&self) -> usize {
		TABLE_BYTES + self.code_bytes() + self.index_bytes
	}
}

/// A unit of parallel work: consecutive chunks of one tensor covering a contiguous flat
/// range (a band of tile rows for 2-D tensors, up to 64 chunks for 1-D ones).
#[derive(Clone, Debug)]
pub struct Band {
	pub tensor: usize,
	pub chunks: Range<usize>,
	/// Range in the flat parameter buffer.
	pub range: Range<usize>,
}

/// The plan for a layout and chunk parameters.
#[derive(Clone, Debug)]
pub struct Plan {
	layout: Layout,
	layout_hash: [u8; 32],
	params: ChunkParams,
	tensors: Vec<TensorPlan>,
	bands: Vec<Band>,
	blob_len: usize,
}

/// Chunks per band for 1-D tensors.
const CHUNKS_PER_1D_BAND: usize = 64;

impl Plan {
	pub fn new(layout: Layout, params: ChunkParams) -> Result<Self, ParamsError> {
		params.validate()?;
		let mut tensors = Vec::with_capacity(layout.tensors().len());
		let mut bands = Vec::new();
		for (t, spec) in layout.tensors().iter().enumerate() {
			let tp = TensorPlan::new(layout.offset(t), &spec.shape, params);
			let across = tp.grid.tiles_across();
			let per_band = if spec.shape.len() == 1 { CHUNKS_PER_1D_BAND } else { across };
			let mut c = 0;
			while c < tp.chunk_count() {
				let end = (c + per_band).min(tp.chunk_count());
				let first = tp.chunk(c);
				let last = tp.chunk(end - 1);
				let start = first.row0 * first.stride + first.col0;
				let stop = (last.row0 + last.h - 1) * last.stride + last.col0 + last.w;
				bands.push(Band {
					tensor: t,
					chunks: c..end,
					range: tp.offset + start..tp.offset + stop,
				});
				c = end;
			}
			tensors.push(tp);
		}
		let blob_len = HEADER_LEN + tensors.iter().map(TensorPlan::wire_bytes).sum::<usize>();
		let layout_hash = layout.layout_hash();
		Ok(Self { layout, layout_hash, params, tensors, bands, blob_len })
	}

	pub fn layout(&self) -> &Layout {
		&self.layout
	}

	pub fn layout_hash(&self) -> [u8; 32] {
		self.layout_hash
	}

	pub fn params(&self) -> ChunkParams {
		self.params
	}

	pub fn tensors(&self) -> &[TensorPlan] {
		&self.tensors
	}

	pub fn bands(&self) -> &[Band] {
		&self.bands
	}

	/// Number of parameters.
	pub fn len(&self) -> usize {
		self.layout.total_len()
	}

	/// Always false (a layout has at least one tensor).
	pub fn is_empty(&self) -> bool {
		self.len() == 0
	}

	/// Values kept over the whole model.
	pub fn kept(&self) -> usize {
		self.tensors.iter().map(TensorPlan::kept).sum()
	}

	/// Exact length of every valid blob for this plan.
	pub fn blob_len(&self) -> usize {
		self.blob_len
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use crate::layout::TensorSpec;

	fn plan() -> Plan {
		let layout = Layout::new(vec![
			TensorSpec::new("emb", &[256, 128]),
			TensorSpec::new("odd", &[67, 130]),
			TensorSpec::new("norm", &[4100]),
		])
		.unwrap();
		Plan::new(layout, ChunkParams::default()).unwrap()
	}

	#[test]
	fn bands_partition_the_buffer_in_order() {
		let p = plan();
		let mut next = 0;
		for b in p.bands() {
			assert_eq!(b.range.start, next);
			next = b.range.end;
			let tp = &p.tensors()[b.tensor];
			let covered: usize = b.chunks.clone().map(|c| tp.chunk(c).len()).sum();
			assert_eq!(covered, b.range.len());
		}
		assert_eq!(next, p.len());
	}

	#[test]
	fn sizes_follow_the_layout() {
		let p = plan();
		let emb = &p.tensors()[0];
		assert_eq!(emb.chunk_count(), 8);
		assert_eq!(emb.kept(), 8 * 64);
		assert_eq!(emb.index_bytes(), 8 * 64);
		assert_eq!(emb.code_bytes(), 128);
		let norm = &p.tensors()[2];
		assert_eq!(norm.chunk_count(), 65);
		assert_eq!(norm.kept(), 65);
		assert_eq!(
			p.blob_len(),
			HEADER_LEN + p.tensors().iter().map(|t| t.wire_bytes()).sum::<usize>()
		);
	}

	#[test]
	fn rejects_bad_params() {
		let layout = Layout::new(vec![TensorSpec::new("x", &[8])]).unwrap();
		for (edge, k) in [(0, 1), (65, 1), (8, 0), (8, 65)] {
			assert!(Plan::new(layout.clone(), ChunkParams { edge, k }).is_err());
		}
		assert!(Plan::new(layout, ChunkParams { edge: 8, k: 64 }).is_ok());
	}
}
