//! Properties of compression and the wire format on random layouts and data.

mod common;

use common::{gradient, plan_strategy, Rng};
use proptest::prelude::*;
use sparseloco::topk::top_k_by_sort;
use sparseloco::{compress_in_place, decode, encode, reference, ErrorFeedback, Plan, WireError};

proptest! {
	#![proptest_config(ProptestConfig::with_cases(96))]

	/// decode(encode(x)) == x, and the blob has the length the plan predicts.
	#[test]
	fn decode_inverts_encode(plan in plan_strategy(), seed in any::<u64>()) {
		let grad = gradient(&plan, seed);
		let blob = encode(&plan, &grad).unwrap();
		prop_assert_eq!(blob.len(), plan.blob_len());
		let back = decode(&plan, &blob).unwrap();
		prop_assert_eq!(&back, &grad);
		prop_assert_eq!(encode(&plan, &back).unwrap(), blob);
	}

	/// The reference payload (12-bit indices, byte codes) reconstructs bit for bit the same.
	#[test]
	fn reconstruction_equals_reference_scheme(plan in plan_strategy(), seed in any::<u64>()) {
		let grad = gradient(&plan, seed);
		let compact = decode(&plan, &encode(&plan, &grad).unwrap()).unwrap().to_dense(&plan);
		let payload = reference::encode_payload(&plan, &grad.tensors).unwrap();
		prop_assert_eq!(payload.len(), reference::payload_len(&plan));
		let mut via_reference = grad.clone();
		via_reference.tensors = reference::decode_payload(&plan, &payload).unwrap();
		let dense_ref = via_reference.to_dense(&plan);
		prop_assert!(compact.iter().zip(&dense_ref).all(|(a, b)| a.to_bits() == b.to_bits()));
	}

	/// e_before * beta + delta == e_after + dequantized, exactly: untouched coordinates keep
	/// x = beta * e + delta, kept ones hold x - q.
	#[test]
	fn error_feedback_residual_identity(plan in plan_strategy(), seed in any::<u64>(), beta in 0.0f32..1.0) {
		let mut rng = Rng(seed);
		let e_before = rng.values(plan.len());
		let delta = rng.values(plan.len());
		let mut e = e_before.clone();
		let tensors = compress_in_place(&plan, beta, &mut e, &delta).unwrap();
		let x: Vec<f32> = e_before.iter().zip(&delta).map(|(&e, &d)| beta * e + d).collect();
		let mut q = vec![0.0f32; plan.len()];
		let mut kept = vec![false; plan.len()];
		for (tp, st) in plan.tensors().iter().zip(&tensors) {
			for (&i, v) in st.indices.iter().zip(st.values()) {
				q[tp.offset + i as usize] = v;
				kept[tp.offset + i as usize] = true;
			}
		}
		for i in 0..plan.len() {
			let expect = if kept[i] { x[i] - q[i] } else { x[i] };
			prop_assert_eq!(e[i].to_bits(), expect.to_bits(), "coordinate {}", i);
			prop_assert!((e[i] + q[i] - x[i]).abs() <= 1e-6 * (1.0 + x[i].abs() + q[i].abs()));
		}
	}

	/// Encoding validates in-memory gradients: an edited index is accepted exactly when every
	/// chunk's indices still lie in the chunk and increase (checked the slow way here).
	#[test]
	fn encode_validates_indices(plan in plan_strategy(), seed in any::<u64>(), at in any::<prop::sample::Index>(), value in any::<u32>(), small in any::<bool>()) {
		let mut grad = gradient(&plan, seed);
		let t = at.index(grad.tensors.len());
		let i = at.index(grad.tensors[t].indices.len());
		let tp = &plan.tensors()[t];
		grad.tensors[t].indices[i] = if small { value % (tp.len as u32 + 2) } else { value };
		let valid = (0..tp.chunk_count()).all(|c| {
			let chunk = tp.chunk(c);
			let rels: Option<Vec<usize>> = grad.tensors[t].indices[tp.kept_range(c)]
				.iter()
				.map(|&f| chunk.rel(f as usize))
				.collect();
			rels.is_some_and(|r| r.windows(2).all(|w| w[0] < w[1]))
		});
		let result = encode(&plan, &grad);
		prop_assert_eq!(result.is_ok(), valid, "{:?}", result.err());
		if let Err(e) = result {
			let named = matches!(e, WireError::IndexOutOfRange { .. } | WireError::DuplicateIndex { .. });
			prop_assert!(named, "unexpected error {:?}", e);
		}
	}

	/// Each chunk keeps exactly the top-k of |beta * e + delta| with lowest-index tie-break.
	#[test]
	fn kept_indices_are_the_chunk_top_k(plan in plan_strategy(), seed in any::<u64>()) {
		let mut rng = Rng(seed);
		let delta = rng.values(plan.len());
		let mut e = vec![0.0f32; plan.len()];
		let tensors = compress_in_place(&plan, 0.9, &mut e, &delta).unwrap();
		for (tp, st) in plan.tensors().iter().zip(&tensors) {
			let x = &delta[tp.offset..tp.offset + tp.len];
			for c in 0..tp.chunk_count() {
				let chunk = tp.chunk(c);
				let values: Vec<f32> = chunk.flat_indices().map(|f| x[f]).collect();
				let expect: Vec<u32> = top_k_by_sort(&values, tp.kept_range(c).len())
					.into_iter()
					.map(|r| chunk.flat(r as usize) as u32)
					.collect();
				prop_assert_eq!(&st.indices[tp.kept_range(c)], expect.as_slice());
			}
		}
	}
}

#[test]
fn density_and_ratio_at_reference_settings() {
	use sparseloco::{ChunkParams, Layout, TensorSpec};
	let layout = Layout::new(vec![TensorSpec::new("w", &[4096, 4096])]).unwrap();
	let plan = Plan::new(layout, ChunkParams::default()).unwrap();
	assert_eq!(plan.kept(), 4096 * 64);
	let index_bits: usize = plan.tensors()[0].index_bytes() * 8;
	assert_eq!(index_bits as f64 / plan.kept() as f64, 8.0);
	let ratio = (plan.len() * 4) as f64 / plan.blob_len() as f64;
	assert!(ratio >= 200.0, "ratio {ratio}");
	let reference_ratio = (plan.len() * 4) as f64 / reference::payload_len(&plan) as f64;
	assert!((reference_ratio - 102.4).abs() < 0.1, "reference {reference_ratio}");
}

#[test]
fn error_feedback_carries_the_residual_across_rounds() {
	use sparseloco::{ChunkParams, Layout, TensorSpec};
	let layout = Layout::new(vec![TensorSpec::new("w", &[64, 64])]).unwrap();
	let plan = Plan::new(layout, ChunkParams::default()).unwrap();
	let mut ef = ErrorFeedback::new(&plan, 0.5).unwrap();
	let delta = Rng(1).values(plan.len());
	ef.compress(&plan, &delta).unwrap();
	let after_one = ef.residual().to_vec();
	ef.compress(&plan, &vec![0.0; plan.len()]).unwrap();
	// With a zero delta, untouched coordinates decay by beta.
	let decayed = after_one.iter().zip(ef.residual()).filter(|(a, b)| **b == 0.5 * **a).count();
	assert!(decayed >= plan.len() - 64);
	assert!(ef.compress(&plan, &[f32::NAN; 4096]).is_err());
	assert!(ef.compress(&plan, &[0.0; 7]).is_err());
}
