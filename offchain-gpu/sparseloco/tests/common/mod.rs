//! Shared helpers for the integration tests.
#![allow(dead_code)]

use proptest::prelude::*;
use sparseloco::{
	compress_in_place, encode, ChunkParams, Header, Layout, Plan, SparseGradient, TensorSpec,
};

/// Small deterministic generator (SplitMix64), so tests need no RNG crate.
pub struct Rng(pub u64);

impl Rng {
	pub fn next_u64(&mut self) -> u64 {
		self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
		let mut z = self.0;
		z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
		z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
		z ^ (z >> 31)
	}

	pub fn below(&mut self, n: usize) -> usize {
		(self.next_u64() % n as u64) as usize
	}

	/// Values with many exact ties (multiples of 1/4), occasional large outliers and zeros.
	pub fn value(&mut self) -> f32 {
		match self.below(10) {
			0 => 0.0,
			1 => (self.below(2001) as f32 - 1000.0) * 0.37,
			2..=4 => (self.below(17) as f32 - 8.0) * 0.25,
			_ => (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0,
		}
	}

	pub fn values(&mut self, n: usize) -> Vec<f32> {
		(0..n).map(|_| self.value()).collect()
	}
}

/// Strategy for a small random plan: 1-3 tensors, 1-D or 2-D, varied chunk parameters.
pub fn plan_strategy() -> impl Strategy<Value = Plan> {
	let shape = prop_oneof![
		(1usize..300).prop_map(|n| vec![n]),
		(1usize..150, 1usize..150).prop_map(|(r, c)| vec![r, c]),
	];
	let params = prop_oneof![
		Just(ChunkParams::default()),
		(1u16..=64)
			.prop_flat_map(|edge| (Just(edge), 1u16..=(edge * edge)))
			.prop_map(|(edge, k)| ChunkParams { edge, k }),
	];
	(prop::collection::vec(shape, 1..4), params).prop_map(|(shapes, params)| {
		let tensors =
			shapes.iter().enumerate().map(|(i, s)| TensorSpec::new(format!("t{i}"), s)).collect();
		Plan::new(Layout::new(tensors).expect("valid layout"), params).expect("valid params")
	})
}

/// A valid gradient for `plan` from a random delta and residual.
pub fn gradient(plan: &Plan, seed: u64) -> SparseGradient {
	let mut rng = Rng(seed);
	let mut e = rng.values(plan.len());
	let delta = rng.values(plan.len());
	let tensors = compress_in_place(plan, 0.95, &mut e, &delta).expect("finite input");
	let fingerprint = std::array::from_fn(|i| i as f32 * 0.5 - 3.0);
	SparseGradient { header: Header::new(plan, 3, seed, [0xAB; 32], fingerprint), tensors }
}

/// The encoded form of [`gradient`].
pub fn blob(plan: &Plan, seed: u64) -> Vec<u8> {
	encode(plan, &gradient(plan, seed)).expect("valid gradient")
}
