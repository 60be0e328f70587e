//! Aggregation against a plain dense implementation of the rule, on random plans and peers.

mod common;

use common::{gradient, plan_strategy};
use proptest::prelude::*;
use sparseloco::aggregate::lower_median;
use sparseloco::{aggregate, index_overlap, Plan, SparseGradient};

/// The rule written out densely: clip each peer to the lower median of the norms, mean per
/// coordinate over the peers that kept it, `theta -= lr * g`.
fn dense_reference(plan: &Plan, peers: &[SparseGradient], theta: &mut [f32], lr: f32) {
	for (t, tp) in plan.tensors().iter().enumerate() {
		let norms: Vec<f64> = peers
			.iter()
			.map(|p| p.tensors[t].values().map(|v| (v as f64).powi(2)).sum::<f64>().sqrt())
			.collect();
		let Some(median) = lower_median(&norms) else { continue };
		let mut sum = vec![0f32; tp.len];
		let mut count = vec![0u32; tp.len];
		for (p, &norm) in peers.iter().zip(&norms) {
			let factor = if norm > median && norm > 0.0 { (median / norm) as f32 } else { 1.0 };
			for (&i, v) in p.tensors[t].indices.iter().zip(p.tensors[t].values()) {
				sum[i as usize] += factor * v;
				count[i as usize] += 1;
			}
		}
		for i in 0..tp.len {
			if count[i] > 0 {
				theta[tp.offset + i] -= lr * (sum[i] / count[i] as f32);
			}
		}
	}
}

proptest! {
	#![proptest_config(ProptestConfig::with_cases(64))]

	#[test]
	fn matches_the_dense_rule_bit_for_bit(
		plan in plan_strategy(),
		seeds in prop::collection::vec(any::<u64>(), 1..6),
		lr in 0.01f32..2.0,
	) {
		let peers: Vec<SparseGradient> = seeds.iter().map(|&s| gradient(&plan, s)).collect();
		let start: Vec<f32> = (0..plan.len()).map(|i| (i % 13) as f32 * 0.1).collect();
		let mut fast = start.clone();
		aggregate(&plan, &peers, &mut fast, lr).unwrap();
		let mut slow = start;
		dense_reference(&plan, &peers, &mut slow, lr);
		prop_assert!(fast.iter().zip(&slow).all(|(a, b)| a.to_bits() == b.to_bits()));
	}

	#[test]
	fn overlap_is_one_with_itself_and_symmetric(plan in plan_strategy(), a in any::<u64>(), b in any::<u64>()) {
		let (ga, gb) = (gradient(&plan, a), gradient(&plan, b));
		prop_assert_eq!(index_overlap(&plan, &ga.tensors, &ga.tensors).unwrap().ratio(), 1.0);
		let ab = index_overlap(&plan, &ga.tensors, &gb.tensors).unwrap();
		prop_assert_eq!(ab, index_overlap(&plan, &gb.tensors, &ga.tensors).unwrap());
		prop_assert!(ab.ratio() >= 0.0 && ab.ratio() <= 1.0);
	}
}
