//! Chunking: how a tensor is cut into the chunks that top-k selects from.
//!
//! A 2-D `[rows, cols]` tensor is cut into tiles; each dimension gets its own tile edge from
//! [`tile_edge`]. A 1-D tensor is treated as one row cut into runs of `edge` elements, the last
//! one possibly shorter. Chunks are numbered tile-row-major (all tiles of the first band of
//! rows left to right, then the next band), and the elements of a chunk are numbered
//! row-major inside the tile: that number is the chunk-relative index that goes on the wire.

/// Largest chunk edge the wire format accepts: a chunk then holds at most 64 x 64 = 4096
/// elements, so chunk-relative indices fit in 12 bits (what the reference format assumes).
pub const MAX_CHUNK_EDGE: usize = 64;

/// Tile edge along one dimension of length `dim`, for a target edge `edge`.
///
/// Rule: a dimension no longer than `edge` is one tile. Otherwise take the largest divisor of
/// `dim` that is `<= edge` (Templar's rule: every tile full), unless that divisor is below
/// `edge / 4` (below 16 for the default 64): tiles that thin would hold so few elements that
/// top-k would become meaningless, so such a dimension uses `edge` and its last tile is
/// shorter (equivalent to padding it with values top-k never picks). Examples for `edge = 64`:
/// 4096 -> 64, 1000 -> 50, 96 -> 48, 4099 (prime) -> 64 with a last tile of 3, 40 -> 40.
pub fn tile_edge(dim: usize, edge: usize) -> usize {
	debug_assert!(edge >= 1);
	if dim <= edge {
		return dim;
	}
	let divisor = (1..=edge).rev().find(|&d| dim.is_multiple_of(d)).unwrap_or(1);
	if divisor * 4 >= edge {
		divisor
	} else {
		edge
	}
}

/// Number of values kept in a chunk of `n` elements when a full `edge x edge` tile keeps `k`:
/// the same density, rounded half up, at least 1 and at most `n`.
pub fn kept_for(n: usize, edge: usize, k: usize) -> usize {
	let full = edge * edge;
	((2 * k * n + full) / (2 * full)).clamp(1, n)
}

/// The tiling of one tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Grid {
	pub rows: usize,
	pub cols: usize,
	pub tile_h: usize,
	pub tile_w: usize,
}

impl Grid {
	/// Tiling of a 1-D `[len]` or 2-D `[rows, cols]` shape for chunk edge `edge`.
	pub fn new(shape: &[usize], edge: usize) -> Self {
		match *shape {
			[len] => Self { rows: 1, cols: len, tile_h: 1, tile_w: edge.min(len) },
			[rows, cols] => {
				Self { rows, cols, tile_h: tile_edge(rows, edge), tile_w: tile_edge(cols, edge) }
			}
			_ => unreachable!("Layout admits only 1-D and 2-D tensors"),
		}
	}

	/// Tiles down the rows (= number of bands).
	pub fn tiles_down(&self) -> usize {
		self.rows.div_ceil(self.tile_h)
	}

	/// Tiles across the columns.
	pub fn tiles_across(&self) -> usize {
		self.cols.div_ceil(self.tile_w)
	}

	pub fn chunk_count(&self) -> usize {
		self.tiles_down() * self.tiles_across()
	}

	/// Geometry of chunk `c` (tile-row-major numbering).
	pub fn chunk(&self, c: usize) -> Chunk {
		let across = self.tiles_across();
		let row0 = (c / across) * self.tile_h;
		let col0 = (c % across) * self.tile_w;
		Chunk {
			row0,
			col0,
			h: self.tile_h.min(self.rows - row0),
			w: self.tile_w.min(self.cols - col0),
			stride: self.cols,
		}
	}
}

/// One chunk: a `h x w` tile at (`row0`, `col0`) of a row-major tensor with `stride` columns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Chunk {
	pub row0: usize,
	pub col0: usize,
	pub h: usize,
	pub w: usize,
	pub stride: usize,
}

impl Chunk {
	pub fn len(&self) -> usize {
		self.h * self.w
	}

	/// Always false: tiles are never empty.
	pub fn is_empty(&self) -> bool {
		self.len() == 0
	}

	/// Tensor-relative flat index of chunk-relative index `rel` (`rel < len()`).
	#[inline]
	pub fn flat(&self, rel: usize) -> usize {
		(self.row0 + rel / self.w) * self.stride + self.col0 + rel % self.w
	}

	/// Chunk-relative index of a tensor-relative flat index, `None` if outside the chunk.
	#[inline]
	pub fn rel(&self, flat: usize) -> Option<usize> {
		let (r, c) = (flat / self.stride, flat % self.stride);
		let inside = (self.row0..self.row0 + self.h).contains(&r)
			&& (self.col0..self.col0 + self.w).contains(&c);
		inside.then(|| (r - self.row0) * self.w + (c - self.col0))
	}

	/// Tensor-relative flat indices of the chunk's elements in chunk-relative order
	/// (which is also increasing flat order).
	pub fn flat_indices(&self) -> impl Iterator<Item = usize> + '_ {
		(0..self.h).flat_map(move |r| {
			let start = (self.row0 + r) * self.stride + self.col0;
			start..start + self.w
		})
	}
}

/// Maps flat indices known to lie in one chunk to chunk-relative indices, and back, for hot
/// loops: the row comes from a multiply by a precomputed reciprocal (corrected by one step)
/// instead of a 64-bit division, and u32 arithmetic for the way back.
#[derive(Clone, Copy, Debug)]
pub struct ChunkMap {
	chunk: Chunk,
	/// Flat index of the chunk's first element.
	origin: usize,
	inv_stride: f64,
}

impl ChunkMap {
	pub fn new(chunk: Chunk) -> Self {
		Self {
			chunk,
			origin: chunk.row0 * chunk.stride + chunk.col0,
			inv_stride: 1.0 / chunk.stride as f64,
		}
	}

	/// Chunk-relative index of `flat`, which must lie in the chunk (otherwise the result is
	/// unspecified, but this never panics).
	#[inline]
	pub fn rel(&self, flat: usize) -> usize {
		let stride = self.chunk.stride;
		let d = flat.wrapping_sub(self.origin);
		let mut r = (d as f64 * self.inv_stride) as usize;
		if r.wrapping_mul(stride) > d {
			r = r.wrapping_sub(1);
		} else if r.wrapping_add(1).wrapping_mul(stride) <= d {
			r += 1;
		}
		r.wrapping_mul(self.chunk.w).wrapping_add(d.wrapping_sub(r.wrapping_mul(stride)))
	}

	/// Flat index of chunk-relative index `rel < 4096`.
	#[inline]
	pub fn flat(&self, rel: usize) -> usize {
		let (r, c) = (rel as u32 / self.chunk.w as u32, rel as u32 % self.chunk.w as u32);
		self.origin + r as usize * self.chunk.stride + c as usize
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn tile_edge_rule() {
		assert_eq!(tile_edge(4096, 64), 64);
		assert_eq!(tile_edge(1000, 64), 50);
		assert_eq!(tile_edge(96, 64), 48);
		assert_eq!(tile_edge(40, 64), 40);
		assert_eq!(tile_edge(64, 64), 64);
		// 4099 is prime: largest divisor <= 64 is 1 < 16, so pad with edge 64.
		assert_eq!(tile_edge(4099, 64), 64);
		// 2 * 67: largest divisor <= 64 is 2 < 16 -> pad.
		assert_eq!(tile_edge(134, 64), 64);
		// 16 * 67: divisor 16 is accepted (>= 64 / 4).
		assert_eq!(tile_edge(1072, 64), 16);
		// 15 * 67 = 1005: divisors <= 64 are 1, 3, 5, 15 -> 15 < 16 -> pad.
		assert_eq!(tile_edge(1005, 64), 64);
	}

	#[test]
	fn kept_scales_with_density() {
		assert_eq!(kept_for(4096, 64, 64), 64);
		assert_eq!(kept_for(2048, 64, 64), 32);
		assert_eq!(kept_for(2500, 64, 64), 39);
		assert_eq!(kept_for(64, 64, 64), 1);
		assert_eq!(kept_for(3, 64, 64), 1);
		assert_eq!(kept_for(1, 64, 64), 1);
		assert_eq!(kept_for(10, 4, 16), 10);
	}

	#[test]
	fn padded_grid_covers_every_element_once() {
		for shape in [vec![130usize, 4099], vec![7, 3], vec![200], vec![1000, 96], vec![64]] {
			let grid = Grid::new(&shape, 64);
			let len: usize = shape.iter().product();
			let mut seen = vec![0u8; len];
			for c in 0..grid.chunk_count() {
				let chunk = grid.chunk(c);
				let flats: Vec<usize> = chunk.flat_indices().collect();
				assert_eq!(flats.len(), chunk.len());
				assert!(flats.windows(2).all(|w| w[0] < w[1]), "chunk order is flat order");
				let map = ChunkMap::new(chunk);
				for (rel, &f) in flats.iter().enumerate() {
					assert_eq!(chunk.flat(rel), f);
					assert_eq!(chunk.rel(f), Some(rel));
					assert_eq!((map.rel(f), map.flat(rel)), (rel, f));
					seen[f] += 1;
				}
			}
			assert!(seen.iter().all(|&s| s == 1), "shape {shape:?}");
		}
	}

	#[test]
	fn last_tile_is_short_when_padding() {
		let grid = Grid::new(&[4099, 128], 64);
		assert_eq!((grid.tile_h, grid.tile_w), (64, 64));
		assert_eq!(grid.tiles_down(), 65);
		let last = grid.chunk(grid.chunk_count() - 1);
		assert_eq!((last.row0, last.col0, last.h, last.w), (4096, 64, 3, 64));
		let one_d = Grid::new(&[130], 64);
		assert_eq!(one_d.chunk_count(), 3);
		assert_eq!(one_d.chunk(2).len(), 2);
	}
}
