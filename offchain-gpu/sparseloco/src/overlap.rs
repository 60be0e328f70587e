//! Index overlap between two peers' gradients. Commit-then-reveal already prevents copying;
//! validators keep this as a second line of defence (reference penalties start at 0.4).

use rayon::prelude::*;

use crate::error::WireError;
use crate::gradient::SparseTensor;
use crate::plan::Plan;

/// Kept coordinates shared by two gradients.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Overlap {
	/// Coordinates both kept.
	pub shared: usize,
	/// Coordinates each kept (the same for every gradient of a plan).
	pub kept: usize,
}

impl Overlap {
	/// `shared / kept`, in [0, 1].
	pub fn ratio(&self) -> f64 {
		if self.kept == 0 {
			0.0
		} else {
			self.shared as f64 / self.kept as f64
		}
	}
}

/// Overlap of the kept indices of `a` and `b` (for example `SparseGradient::tensors`).
/// Both must have the plan's kept counts; indices are compared chunk by chunk with a merge,
/// which relies on the (validated) strictly increasing order within a chunk.
pub fn index_overlap(
	plan: &Plan,
	a: &[SparseTensor],
	b: &[SparseTensor],
) -> Result<Overlap, WireError> {
	let expected = plan.tensors().len();
	for got in [a.len(), b.len()] {
		if got != expected {
			return Err(WireError::TensorCount { expected, got });
		}
	}
	let mut shared = 0;
	for (t, tp) in plan.tensors().iter().enumerate() {
		for st in [&a[t], &b[t]] {
			if st.indices.len() != tp.kept() {
				return Err(WireError::KeptCount {
					tensor: t,
					expected: tp.kept(),
					got: st.indices.len(),
				});
			}
		}
		for c in 0..tp.chunk_count() {
			let r = tp.kept_range(c);
			shared += sorted_intersection(&a[t].indices[r.clone()], &b[t].indices[r]);
		}
	}
	Ok(Overlap { shared, kept: plan.kept() })
}

/// Overlap ratio of every pair: `result[i][j]` for peers `i` and `j` (1 on the diagonal).
pub fn pairwise_overlap(
	plan: &Plan,
	peers: &[&[SparseTensor]],
) -> Result<Vec<Vec<f64>>, WireError> {
	peers
		.par_iter()
		.map(|a| peers.iter().map(|b| index_overlap(plan, a, b).map(|o| o.ratio())).collect())
		.collect()
}

fn sorted_intersection(a: &[u32], b: &[u32]) -> usize {
	let (mut i, mut j, mut n) = (0, 0, 0);
	while i < a.len() && j < b.len() {
		match a[i].cmp(&b[j]) {
			std::cmp::Ordering::Less => i += 1,
			std::cmp::Ordering::Greater => j += 1,
			std::cmp::Ordering::Equal => {
				n += 1;
				i += 1;
				j += 1;
			}
		}
	}
	n
}

#[cfg(test)]
mod tests {
	use super::*;
	use crate::layout::{Layout, TensorSpec};
	use crate::plan::ChunkParams;
	use crate::quant::QuantTable;

	#[test]
	fn counts_shared_indices_per_chunk() {
		let layout = Layout::new(vec![TensorSpec::new("v", &[8])]).unwrap();
		// Two chunks of 4, each keeping 2.
		let plan = Plan::new(layout, ChunkParams { edge: 4, k: 8 }).unwrap();
		let t = |idx: [u32; 4]| SparseTensor {
			table: QuantTable([0.0; 4]),
			indices: idx.to_vec(),
			codes: vec![0; 4],
		};
		let a = [t([0, 3, 4, 5])];
		let b = [t([1, 3, 4, 5])];
		let o = index_overlap(&plan, &a, &b).unwrap();
		assert_eq!(o, Overlap { shared: 3, kept: 4 });
		assert_eq!(o.ratio(), 0.75);
		let m = pairwise_overlap(&plan, &[&a, &b]).unwrap();
		assert_eq!(m, vec![vec![1.0, 0.75], vec![0.75, 1.0]]);
		assert!(index_overlap(&plan, &a, &[]).is_err());
	}
}
