//! Model fingerprint for the sync check: a miner publishes a few of its parameter values, at
//! positions everyone derives from (layout hash, round), so a validator can tell whether the
//! miner trained from the synced model. Positions change every round so a miner cannot keep
//! just those values right.

use blake2::Digest;

use crate::layout::Blake2b256;
use crate::plan::Plan;

/// Number of sampled parameters carried in every blob header.
pub const FINGERPRINT_LEN: usize = 16;

const DOMAIN: &[u8] = b"sparseloco/fingerprint/v1";

/// Flat positions sampled in `round`: position `i` is
/// `u64_le(blake2b-256(domain | layout hash | round LE | i LE)[..8]) mod total`.
pub fn positions(plan: &Plan, round: u64) -> [usize; FINGERPRINT_LEN] {
	let total = plan.len() as u64;
	std::array::from_fn(|i| {
		let mut h = Blake2b256::new();
		h.update(DOMAIN);
		h.update(plan.layout_hash());
		h.update(round.to_le_bytes());
		h.update((i as u32).to_le_bytes());
		let digest = h.finalize();
		let mut word = [0u8; 8];
		word.copy_from_slice(&digest[..8]);
		(u64::from_le_bytes(word) % total) as usize
	})
}

/// The values of `params` at this round's positions; `None` if `params` does not match the
/// layout's length.
pub fn sample(plan: &Plan, round: u64, params: &[f32]) -> Option<[f32; FINGERPRINT_LEN]> {
	(params.len() == plan.len()).then(|| positions(plan, round).map(|p| params[p]))
}

#[cfg(test)]
mod tests {
	use super::*;
	use crate::layout::{Layout, TensorSpec};
	use crate::plan::ChunkParams;

	#[test]
	fn positions_are_deterministic_in_range_and_move_with_the_round() {
		let layout = Layout::new(vec![TensorSpec::new("w", &[100, 37])]).unwrap();
		let plan = Plan::new(layout, ChunkParams::default()).unwrap();
		let a = positions(&plan, 7);
		assert_eq!(a, positions(&plan, 7));
		assert_ne!(a, positions(&plan, 8));
		assert!(a.iter().all(|&p| p < 3700));
		let params: Vec<f32> = (0..3700).map(|i| i as f32).collect();
		let s = sample(&plan, 7, &params).unwrap();
		assert!(s.iter().zip(a).all(|(&v, p)| v == p as f32));
		assert!(sample(&plan, 7, &params[1..]).is_none());
	}
}
