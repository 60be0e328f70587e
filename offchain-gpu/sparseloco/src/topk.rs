//! Exact top-k by magnitude within one chunk, with a deterministic tie-break.
//!
//! Ranking: larger `|x|` first; among equal `|x|` the lower chunk-relative index wins. The
//! magnitude of a finite `f32` orders exactly like its bit pattern with the sign bit cleared,
//! so selection runs on `u32` keys. No sort: block maxima give a provable lower bound on the
//! k-th largest key, only ~k blocks of 16 reach it, and `select_nth_unstable` runs on those
//! few candidates (about 2.5 k for Gaussian-like data). The winners come out in index order.

/// Largest chunk length supported (64 x 64).
pub const MAX_CHUNK: usize = 4096;

/// Reusable scratch for [`TopK::select`].
pub struct TopK {
	keys: Vec<u32>,
	block_max: Vec<u32>,
	order: Vec<u32>,
	candidates: Vec<u64>,
	scratch: Vec<u64>,
}

impl Default for TopK {
	fn default() -> Self {
		Self::new()
	}
}

/// Keys per block of the pre-filter.
const BLOCK: usize = 16;

impl TopK {
	pub fn new() -> Self {
		Self {
			keys: Vec::with_capacity(MAX_CHUNK),
			block_max: Vec::with_capacity(MAX_CHUNK),
			order: Vec::with_capacity(MAX_CHUNK),
			candidates: Vec::with_capacity(MAX_CHUNK + 1),
			scratch: Vec::with_capacity(MAX_CHUNK),
		}
	}

	/// Returns a buffer of `len <= 4096` keys for the chunk's values, to fill with [`key`].
	pub fn keys_mut(&mut self, len: usize) -> &mut [u32] {
		assert!(len <= MAX_CHUNK, "chunks hold at most {MAX_CHUNK} values");
		self.keys.clear();
		self.keys.resize(len, 0);
		&mut self.keys
	}

	/// Appends to `out` the chunk-relative indices of the `k` keys loaded by [`Self::keys_mut`]
	/// that rank highest, in increasing index order (`k` is capped at the chunk length).
	pub fn select(&mut self, k: usize, out: &mut Vec<u16>) {
		let keys = &self.keys;
		let n = keys.len();
		let k = k.min(n);
		if k == 0 {
			return;
		}
		if k == n {
			out.extend((0..n).map(|i| i as u16));
			return;
		}
		// 1. Maxima of blocks of `b` keys; there are at least k blocks, so the k-th largest
		//    block maximum is a lower bound on the k-th largest key.
		let b = (n / k).clamp(1, BLOCK);
		self.block_max.clear();
		self.block_max.extend(keys.chunks(b).map(|blk| blk.iter().fold(0, |m, &x| m.max(x))));
		self.order.clear();
		self.order.extend_from_slice(&self.block_max);
		let at = self.order.len() - k;
		let bound = *self.order.select_nth_unstable(at).1;

		// 2. Candidates: keys reaching the bound, only from blocks whose maximum does (about
		//    k blocks), as (key, reversed index) composites in index order (branch-free).
		let cands = &mut self.candidates;
		cands.clear();
		cands.resize(n + 1, 0);
		let mut m = 0;
		for (j, _) in self.block_max.iter().enumerate().filter(|(_, &mx)| mx >= bound) {
			let start = j * b;
			for (i, &x) in keys[start..(start + b).min(n)].iter().enumerate() {
				cands[m] = composite(x, start + i);
				m += (x >= bound) as usize;
			}
		}
		cands.truncate(m);

		// 3. Exact k-th largest composite among the candidates, then emit in index order.
		let threshold = if m > k {
			self.scratch.clear();
			self.scratch.extend_from_slice(cands);
			*self.scratch.select_nth_unstable(m - k).1
		} else {
			0
		};
		out.extend(
			cands.iter().filter(|&&c| c >= threshold).map(|&c| (0xFFFF - (c & 0xFFFF)) as u16),
		);
	}
}

/// Composite rank key: magnitude first, then the lower index (stored reversed) wins.
#[inline(always)]
fn composite(key: u32, index: usize) -> u64 {
	((key as u64) << 16) | (0xFFFF - index as u64)
}

/// Magnitude key of a value: its bits without the sign.
#[inline(always)]
pub fn key(x: f32) -> u32 {
	x.to_bits() & 0x7FFF_FFFF
}

/// Straightforward reference: sort all indices by (|x| descending, index ascending).
pub fn top_k_by_sort(values: &[f32], k: usize) -> Vec<u16> {
	let mut idx: Vec<usize> = (0..values.len()).collect();
	idx.sort_by(|&a, &b| values[b].abs().total_cmp(&values[a].abs()).then(a.cmp(&b)));
	let mut kept: Vec<u16> = idx[..k].iter().map(|&i| i as u16).collect();
	kept.sort_unstable();
	kept
}

#[cfg(test)]
mod tests {
	use super::*;
	use proptest::prelude::*;

	fn select(values: &[f32], k: usize) -> Vec<u16> {
		let mut t = TopK::new();
		for (slot, &v) in t.keys_mut(values.len()).iter_mut().zip(values) {
			*slot = key(v);
		}
		let mut out = Vec::new();
		t.select(k, &mut out);
		out
	}

	#[test]
	fn ties_go_to_lowest_index() {
		let v = [1.0, -2.0, 2.0, 0.5, -2.0, 2.0];
		assert_eq!(select(&v, 2), vec![1, 2]);
		assert_eq!(select(&v, 3), vec![1, 2, 4]);
		assert_eq!(select(&[0.0; 10], 3), vec![0, 1, 2]);
		assert_eq!(select(&[-0.0, 0.0, -0.0], 2), vec![0, 1]);
	}

	#[test]
	fn keeps_all_when_k_is_len() {
		assert_eq!(select(&[3.0, 1.0, 2.0], 3), vec![0, 1, 2]);
	}

	proptest! {
		#[test]
		fn matches_full_sort(
			values in prop::collection::vec(
				prop_oneof![
					(-4i32..4).prop_map(|x| x as f32 * 0.25),
					-1e3f32..1e3,
					prop::num::f32::NORMAL | prop::num::f32::SUBNORMAL | prop::num::f32::ZERO
				],
				1..600,
			),
			k_frac in 0.0f64..1.0,
		) {
			let k = 1 + ((values.len() - 1) as f64 * k_frac) as usize;
			prop_assert_eq!(select(&values, k), top_k_by_sort(&values, k));
		}
	}
}
