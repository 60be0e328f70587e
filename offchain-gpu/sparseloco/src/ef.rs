//! Error-feedback compression, what a miner does with each round's pseudo-gradient:
//!
//! ```text
//! e = beta * e + delta
//! per chunk: keep the k entries of largest |e| (ties: lowest index)
//! per tensor: quantize the kept values to 2 bits
//! e = e - dequantize(quantize(kept))   // the residual keeps sparsification and quant error
//! ```
//!
//! Bands (tile rows) run in parallel with rayon; each band updates its slice of `e` and
//! selects its chunks' top-k while the slice is still in cache. Quantization then needs the
//! whole tensor's kept values, so it runs per tensor afterwards (it touches only ~1.6 % of
//! the values).

use rayon::prelude::*;

use crate::chunk::ChunkMap;
use crate::error::CompressError;
use crate::gradient::SparseTensor;
use crate::plan::{Band, Plan};
use crate::quant::quantize;
use crate::topk::{key, TopK};

/// The miner's error-feedback state.
#[derive(Clone, Debug)]
pub struct ErrorFeedback {
	beta: f32,
	residual: Vec<f32>,
}

impl ErrorFeedback {
	/// Zero state for `plan`, decay `beta` (reference 0.95).
	pub fn new(plan: &Plan, beta: f32) -> Result<Self, CompressError> {
		Self::with_residual(plan, beta, vec![0.0; plan.len()])
	}

	/// Resumes from a saved residual.
	pub fn with_residual(
		plan: &Plan,
		beta: f32,
		residual: Vec<f32>,
	) -> Result<Self, CompressError> {
		if !beta.is_finite() {
			return Err(CompressError::BadBeta);
		}
		if residual.len() != plan.len() {
			return Err(CompressError::Length { expected: plan.len(), got: residual.len() });
		}
		Ok(Self { beta, residual })
	}

	pub fn beta(&self) -> f32 {
		self.beta
	}

	pub fn residual(&self) -> &[f32] {
		&self.residual
	}

	/// Folds `delta` (theta_before - theta_after) into the residual and returns the
	/// compressed tensors (put them in a [`crate::SparseGradient`] with a header to encode).
	pub fn compress(
		&mut self,
		plan: &Plan,
		delta: &[f32],
	) -> Result<Vec<SparseTensor>, CompressError> {
		compress_in_place(plan, self.beta, &mut self.residual, delta)
	}
}

/// Kept entries of one band: tensor-relative flat indices and their values.
#[derive(Default)]
struct BandKept {
	indices: Vec<u32>,
	values: Vec<f32>,
}

/// The compression step on an explicit residual buffer `e`.
///
/// A non-finite `delta` is refused before anything changes. If the residual itself overflows
/// (a kept value becomes infinite), `NonFiniteTable` is returned and `e` holds
/// `beta * e + delta` without any value removed.
pub fn compress_in_place(
	plan: &Plan,
	beta: f32,
	e: &mut [f32],
	delta: &[f32],
) -> Result<Vec<SparseTensor>, CompressError> {
	for len in [e.len(), delta.len()] {
		if len != plan.len() {
			return Err(CompressError::Length { expected: plan.len(), got: len });
		}
	}
	if !beta.is_finite() {
		return Err(CompressError::BadBeta);
	}
	if !all_finite(delta) {
		let at = delta.iter().position(|v| !v.is_finite()).unwrap_or(0);
		return Err(CompressError::NonFiniteDelta(at));
	}

	// Phase 1, per band in parallel: e = beta * e + delta, then top-k of each chunk.
	let jobs = split_by_bands(plan.bands(), e, delta);
	let kept: Vec<BandKept> = jobs
		.into_par_iter()
		.map_init(
			|| (TopK::new(), Vec::with_capacity(crate::topk::MAX_CHUNK)),
			|(topk, rel), (band, e, d)| select_band(plan, band, beta, e, d, topk, rel),
		)
		.collect();

	// Phase 2, per tensor in parallel: quantize, subtract the reconstruction from e.
	let mut per_tensor: Vec<Vec<BandKept>> = plan.tensors().iter().map(|_| Vec::new()).collect();
	for (band, k) in plan.bands().iter().zip(kept) {
		per_tensor[band.tensor].push(k);
	}
	let mut e_tensors = Vec::with_capacity(plan.tensors().len());
	let mut rest = e;
	for tp in plan.tensors() {
		let (head, tail) = std::mem::take(&mut rest).split_at_mut(tp.len);
		e_tensors.push(head);
		rest = tail;
	}
	e_tensors
		.into_par_iter()
		.zip(per_tensor)
		.enumerate()
		.map(|(t, (e_t, bands))| {
			let m = bands.iter().map(|b| b.indices.len()).sum();
			let mut indices = Vec::with_capacity(m);
			let mut values = Vec::with_capacity(m);
			for b in bands {
				indices.extend_from_slice(&b.indices);
				values.extend_from_slice(&b.values);
			}
			let mut codes = Vec::with_capacity(m);
			let table = quantize(&values, &mut codes);
			if !table.is_finite() {
				return Err(CompressError::NonFiniteTable(t));
			}
			for (&i, &c) in indices.iter().zip(&codes) {
				e_t[i as usize] -= table.value(c);
			}
			Ok(SparseTensor { table, indices, codes })
		})
		.collect()
}

/// Branch-free finiteness check (vectorises, unlike an early-exit search).
fn all_finite(xs: &[f32]) -> bool {
	xs.chunks(1024).all(|c| c.iter().fold(true, |ok, v| ok & v.is_finite()))
}

/// Splits `e` and `delta` into the bands' disjoint slices, in band order.
fn split_by_bands<'a>(
	bands: &'a [Band],
	mut e: &'a mut [f32],
	mut delta: &'a [f32],
) -> Vec<(&'a Band, &'a mut [f32], &'a [f32])> {
	let mut jobs = Vec::with_capacity(bands.len());
	for band in bands {
		let (eh, et) = std::mem::take(&mut e).split_at_mut(band.range.len());
		let (dh, dt) = delta.split_at(band.range.len());
		jobs.push((band, eh, dh));
		e = et;
		delta = dt;
	}
	jobs
}

fn select_band(
	plan: &Plan,
	band: &Band,
	beta: f32,
	e: &mut [f32],
	delta: &[f32],
	topk: &mut TopK,
	rel: &mut Vec<u16>,
) -> BandKept {
	for (x, &d) in e.iter_mut().zip(delta) {
		*x = beta * *x + d;
	}
	let tp = &plan.tensors()[band.tensor];
	// Tensor-relative flat index of the band's first element.
	let base = band.range.start - tp.offset;
	let kept: usize = band.chunks.clone().map(|c| tp.kept_range(c).len()).sum();
	let mut out = BandKept { indices: Vec::with_capacity(kept), values: Vec::with_capacity(kept) };
	for c in band.chunks.clone() {
		let chunk = tp.chunk(c);
		let map = ChunkMap::new(chunk);
		let keys = topk.keys_mut(chunk.len());
		for (r, row_keys) in keys.chunks_exact_mut(chunk.w).enumerate() {
			let start = (chunk.row0 + r) * chunk.stride + chunk.col0 - base;
			for (k, &x) in row_keys.iter_mut().zip(&e[start..start + chunk.w]) {
				*k = key(x);
			}
		}
		rel.clear();
		topk.select(tp.kept_range(c).len(), rel);
		for &i in rel.iter() {
			let flat = map.flat(i as usize);
			out.indices.push(flat as u32);
			out.values.push(e[flat - base]);
		}
	}
	out
}
