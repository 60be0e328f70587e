//! Aggregation of the round's gradients and the outer SGD step; every node runs the same
//! code on the same blobs and so reaches the same model.
//!
//! Per tensor: each peer's values are dequantized; a peer whose tensor holds a non-finite
//! value is dropped for that tensor; each remaining peer's L2 norm over its kept values is
//! clipped to the lower median of those norms; per coordinate the gradient is the mean over
//! the peers that kept that coordinate (not the sum divided by the peer count, which would
//! shrink coordinates few peers chose); then `theta -= outer_lr * g`.
//!
//! Norms are computed in `f64`, values are accumulated in `f32` in peer order, so the result
//! does not depend on the thread count. Work is split by bands (tile rows) with rayon.
//! Only validated gradients are aggregated (full check first), so the per-chunk loops can
//! rely on sorted in-chunk indices.

use rayon::prelude::*;

use crate::chunk::ChunkMap;
use crate::error::{AggregateError, WireError};
use crate::gradient::SparseGradient;
use crate::plan::Plan;
use crate::topk::MAX_CHUNK;

/// What happened to one tensor.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TensorOutcome {
	/// Peers that contributed.
	pub used: usize,
	/// Peers dropped for a non-finite value in this tensor.
	pub dropped: Vec<usize>,
	/// Norm each peer was clipped to (`None` when no peer contributed).
	pub clip_norm: Option<f64>,
}

/// Per-tensor outcomes of an aggregation.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AggregateReport {
	pub tensors: Vec<TensorOutcome>,
}

/// L2 norm of each of `peer`'s tensors over its kept values; `None` for a tensor whose table
/// is not finite (such a tensor is never used).
pub fn peer_norms(peer: &SparseGradient) -> Vec<Option<f64>> {
	peer.tensors
		.iter()
		.map(|st| {
			st.table
				.is_finite()
				.then(|| st.values().map(|v| (v as f64) * (v as f64)).sum::<f64>().sqrt())
		})
		.collect()
}

/// Lower median (element `(n - 1) / 2` of the sorted list); `None` for an empty list.
pub fn lower_median(values: &[f64]) -> Option<f64> {
	let mut v = values.to_vec();
	v.sort_by(f64::total_cmp);
	v.get(v.len().wrapping_sub(1) / 2).copied()
}

/// Per tensor, the lower median of the usable peers' norms (the clipping target).
pub fn median_norms(plan: &Plan, peers: &[SparseGradient]) -> Vec<Option<f64>> {
	medians(plan, &all_norms(peers))
}

fn all_norms(peers: &[SparseGradient]) -> Vec<Vec<Option<f64>>> {
	peers.par_iter().map(peer_norms).collect()
}

fn medians(plan: &Plan, norms: &[Vec<Option<f64>>]) -> Vec<Option<f64>> {
	(0..plan.tensors().len())
		.map(|t| {
			let finite: Vec<f64> =
				norms.iter().filter_map(|n| n.get(t).copied().flatten()).collect();
			lower_median(&finite)
		})
		.collect()
}

/// Aggregates `peers` (each clipped to the per-tensor median norm of the set) and applies
/// `theta -= outer_lr * g`. `theta` is left untouched on error.
pub fn aggregate(
	plan: &Plan,
	peers: &[SparseGradient],
	theta: &mut [f32],
	outer_lr: f32,
) -> Result<AggregateReport, AggregateError> {
	check_peers(plan, peers)?;
	let norms = all_norms(peers);
	let clip = medians(plan, &norms);
	apply(plan, peers, &norms, &clip, theta, outer_lr)
}

/// Like [`aggregate`] but clips tensor `t` of every peer to `clip_norms[t]` (`None`: no
/// clipping). A validator uses it to apply one miner's gradient alone, clipped to the round's
/// median norms from [`median_norms`].
pub fn aggregate_with_clip(
	plan: &Plan,
	peers: &[SparseGradient],
	clip_norms: &[Option<f64>],
	theta: &mut [f32],
	outer_lr: f32,
) -> Result<AggregateReport, AggregateError> {
	check_peers(plan, peers)?;
	apply(plan, peers, &all_norms(peers), clip_norms, theta, outer_lr)
}

/// Rejects peers that do not fit the plan. A non-finite table is not an error: that tensor
/// is dropped during aggregation.
fn check_peers(plan: &Plan, peers: &[SparseGradient]) -> Result<(), AggregateError> {
	peers.par_iter().enumerate().try_for_each(|(peer, g)| {
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

fn apply(
	plan: &Plan,
	peers: &[SparseGradient],
	norms: &[Vec<Option<f64>>],
	clip_norms: &[Option<f64>],
	theta: &mut [f32],
	outer_lr: f32,
) -> Result<AggregateReport, AggregateError> {
	if theta.len() != plan.len() {
		return Err(AggregateError::Length { expected: plan.len(), got: theta.len() });
	}
	if clip_norms.len() != plan.tensors().len() {
		return Err(AggregateError::ClipLength {
			expected: plan.tensors().len(),
			got: clip_norms.len(),
		});
	}
	// scales[t] = (peer, factor) for every peer used in tensor t, in peer order.
	let mut report = AggregateReport::default();
	let mut scales: Vec<Vec<(usize, f32)>> = Vec::with_capacity(plan.tensors().len());
	for (t, &clip) in clip_norms.iter().enumerate() {
		let mut outcome = TensorOutcome { clip_norm: clip, ..Default::default() };
		let mut used = Vec::with_capacity(peers.len());
		for (p, n) in norms.iter().enumerate() {
			match n[t] {
				Some(norm) => used.push((p, clip_factor(norm, clip))),
				None => outcome.dropped.push(p),
			}
		}
		outcome.used = used.len();
		if used.is_empty() {
			outcome.clip_norm = None;
		}
		report.tensors.push(outcome);
		scales.push(used);
	}

	let mut jobs = Vec::with_capacity(plan.bands().len());
	let mut rest = theta;
	for band in plan.bands() {
		let (head, tail) = std::mem::take(&mut rest).split_at_mut(band.range.len());
		jobs.push((band, head));
		rest = tail;
	}
	// Per chunk, accumulate (sum, count) by chunk-relative index in a small L1-resident
	// scratch, then write the means into theta and reset the touched entries.
	jobs.into_par_iter().for_each_init(
		|| vec![(0f32, 0u32); MAX_CHUNK],
		|acc, (band, theta)| {
			let tp = &plan.tensors()[band.tensor];
			let base = band.range.start - tp.offset;
			let used = &scales[band.tensor];
			for c in band.chunks.clone() {
				let map = ChunkMap::new(tp.chunk(c));
				let kept = tp.kept_range(c);
				for &(p, factor) in used {
					let st = &peers[p].tensors[band.tensor];
					for (&flat, &code) in
						st.indices[kept.clone()].iter().zip(&st.codes[kept.clone()])
					{
						let slot = &mut acc[map.rel(flat as usize)];
						slot.0 += factor * st.table.value(code);
						slot.1 += 1;
					}
				}
				for &(p, _) in used {
					for &flat in &peers[p].tensors[band.tensor].indices[kept.clone()] {
						let slot = &mut acc[map.rel(flat as usize)];
						if slot.1 > 0 {
							theta[flat as usize - base] -= outer_lr * (slot.0 / slot.1 as f32);
							*slot = (0.0, 0);
						}
					}
				}
			}
		},
	);
	Ok(report)
}

/// Factor that brings a norm down to `clip` (never scales up).
fn clip_factor(norm: f64, clip: Option<f64>) -> f32 {
	match clip {
		Some(c) if norm > c && norm > 0.0 => (c / norm) as f32,
		_ => 1.0,
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use crate::codec::Header;
	use crate::gradient::SparseTensor;
	use crate::layout::{Layout, TensorSpec};
	use crate::plan::ChunkParams;
	use crate::quant::QuantTable;

	/// Two 1-D tensors of 4 elements: one chunk each, 2 values kept.
	fn plan() -> Plan {
		let layout =
			Layout::new(vec![TensorSpec::new("v", &[4]), TensorSpec::new("w", &[4])]).unwrap();
		// edge 4, k 8 of 16 -> a 4-element chunk keeps 2.
		Plan::new(layout, ChunkParams { edge: 4, k: 8 }).unwrap()
	}

	fn peer(plan: &Plan, idx: [u32; 2], vals: [f32; 2]) -> SparseGradient {
		let tensor = || SparseTensor {
			table: QuantTable([vals[0], vals[1], 0.0, 0.0]),
			indices: idx.to_vec(),
			codes: vec![0, 1],
		};
		SparseGradient {
			header: Header::new(plan, 0, 0, [0; 32], [0.0; 16]),
			tensors: vec![tensor(), tensor()],
		}
	}

	#[test]
	fn lower_median_of_even_and_odd_counts() {
		assert_eq!(lower_median(&[3.0, 1.0, 2.0]), Some(2.0));
		assert_eq!(lower_median(&[4.0, 1.0, 3.0, 2.0]), Some(2.0));
		assert_eq!(lower_median(&[5.0]), Some(5.0));
		assert_eq!(lower_median(&[]), None);
	}

	#[test]
	fn coordinate_mean_over_choosing_peers_only() {
		let plan = plan();
		// Equal norms (5), so no clipping: (3, 4) and (4, 3).
		let peers = [peer(&plan, [0, 1], [3.0, 4.0]), peer(&plan, [1, 2], [4.0, 3.0])];
		let mut theta = vec![0.0f32; 8];
		let report = aggregate(&plan, &peers, &mut theta, 1.0).unwrap();
		// coord 0: only peer 0 -> 3; coord 1: mean(4, 4) = 4; coord 2: only peer 1 -> 3.
		assert_eq!(&theta[..4], &[-3.0, -4.0, -3.0, 0.0]);
		assert_eq!(&theta[4..], &[-3.0, -4.0, -3.0, 0.0]);
		assert_eq!(report.tensors[0].used, 2);
		assert_eq!(report.tensors[0].clip_norm, Some(5.0));
	}

	#[test]
	fn peers_are_clipped_to_the_lower_median_norm() {
		let plan = plan();
		// Norms 5, 10, 50, 100 -> lower median 10.
		let peers = [
			peer(&plan, [0, 1], [3.0, 4.0]),
			peer(&plan, [0, 1], [6.0, 8.0]),
			peer(&plan, [2, 3], [30.0, 40.0]),
			peer(&plan, [2, 3], [60.0, 80.0]),
		];
		let mut theta = vec![0.0f32; 8];
		let report = aggregate(&plan, &peers, &mut theta, 0.5).unwrap();
		assert_eq!(report.tensors[1].clip_norm, Some(10.0));
		// coords 0, 1: mean of (3, 4) and (6, 8) = (4.5, 6); coords 2, 3: both clipped to (6, 8).
		let expect = [-2.25f32, -3.0, -3.0, -4.0];
		for (a, b) in theta[..4].iter().zip(expect) {
			assert!((a - b).abs() < 1e-6, "{a} vs {b}");
		}
	}

	#[test]
	fn non_finite_tensor_drops_that_peer_only_there() {
		let plan = plan();
		let mut bad = peer(&plan, [2, 3], [100.0, 100.0]);
		bad.tensors[0].table.0[0] = f32::NAN;
		let peers = [peer(&plan, [0, 1], [3.0, 4.0]), bad];
		let mut theta = vec![0.0f32; 8];
		let report = aggregate(&plan, &peers, &mut theta, 1.0).unwrap();
		assert_eq!(report.tensors[0].dropped, vec![1]);
		assert_eq!(report.tensors[0].used, 1);
		assert_eq!(&theta[..4], &[-3.0, -4.0, 0.0, 0.0]);
		// Tensor 1: both used; norms 5 and 141.4 -> lower median 5 clips the second peer.
		assert_eq!(report.tensors[1].used, 2);
		assert_eq!(&theta[4..6], &[-3.0, -4.0]);
		let clipped = -100.0 * (5.0 / 20000f64.sqrt()) as f32;
		assert!((theta[6] - clipped).abs() < 1e-5 && (theta[7] - clipped).abs() < 1e-5);
	}

	#[test]
	fn invalid_peers_and_lengths_are_refused_untouched() {
		let plan = plan();
		let mut bad = peer(&plan, [1, 0], [1.0, 1.0]);
		let mut theta = vec![1.0f32; 8];
		assert!(matches!(
			aggregate(&plan, std::slice::from_ref(&bad), &mut theta, 1.0),
			Err(AggregateError::InvalidPeer { peer: 0, source: WireError::DuplicateIndex { .. } })
		));
		bad.tensors[0].indices = vec![0, 9];
		assert!(aggregate(&plan, &[bad], &mut theta, 1.0).is_err());
		assert!(aggregate(&plan, &[], &mut theta[..7], 1.0).is_err());
		assert!(theta.iter().all(|&x| x == 1.0));
	}
}
