//! What a validator owes a round, and when the validators' verdict on a miner counts.
//!
//! - [`due_set`]: the miners a validator is due to score in a round: every committed member
//!   of the round's aggregation set (their gradients move the model, so every validator checks
//!   them) plus `sample` other committers drawn from the round's seed. The seed is a block hash
//!   the chain learns only after the round's commit deadline, so no miner knows in advance
//!   which validator will look at it, and no validator can pick an easy sample. Work per
//!   validator and round is therefore `|aggregation set| + sample` evaluations, whatever the
//!   number of miners.
//! - [`coverage_ppb`]: the share of its due set a validator actually scored. A validator's pay
//!   is its stake times agreement times coverage, so scoring one miner (the lazy validator)
//!   earns a `1 / |due|` share, not a full one.
//! - [`meets_quorum`]: a miner's round counts only when validators holding at least a share of
//!   the bonded stake scored it, so that one small validator cannot decide a round alone
//!   when the others are away.
//!
//! The sample draw uses SplitMix64 over the seed, the validator's uid and the round: any
//! well-mixed deterministic function serves, since its unpredictability comes from the seed.

use alloc::vec::Vec;

use crate::fixed::{mul_div_floor, mul_wide};
use crate::incentive::PPB;
use crate::score::{MinerScore, Uid};

/// One step of SplitMix64: a full-period 64-bit generator with good mixing.
fn splitmix64(state: &mut u64) -> u64 {
	*state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
	let mut z = *state;
	z = (z ^ z.wrapping_shr(30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
	z = (z ^ z.wrapping_shr(27)).wrapping_mul(0x94D0_49BB_1331_11EB);
	z ^ z.wrapping_shr(31)
}

/// The miners validator `validator` is due to score in a round, sorted by uid.
///
/// `aggregation_set` and `committed` must be sorted by uid. The result is every member of
/// `aggregation_set` that committed, plus `min(sample, rest)` members of the other committers
/// chosen by a partial Fisher-Yates shuffle seeded by `seed`, `validator` and `round`.
/// Every validator computes the same set for itself that the chain computes for it.
pub fn due_set(
	seed: &[u8; 32],
	round: u64,
	validator: Uid,
	aggregation_set: &[Uid],
	committed: &[Uid],
	sample: u16,
) -> Vec<Uid> {
	let (mut due, mut rest): (Vec<Uid>, Vec<Uid>) =
		committed.iter().copied().partition(|u| aggregation_set.binary_search(u).is_ok());
	let mut state = seed
		.chunks(8)
		.map(|c| c.iter().fold(0u64, |acc, &b| acc.wrapping_shl(8) | u64::from(b)))
		.fold(round ^ u64::from(validator).wrapping_shl(48), |acc, word| {
			let mut s = acc ^ word;
			splitmix64(&mut s)
		});
	let picks = usize::from(sample).min(rest.len());
	for i in 0..picks {
		let left = rest.len().saturating_sub(i) as u64;
		if left == 0 {
			break;
		}
		let last = rest.len().saturating_sub(1);
		let j = i.saturating_add(
			usize::try_from(splitmix64(&mut state).checked_rem(left).unwrap_or(0)).unwrap_or(0),
		);
		rest.swap(i, j.min(last));
	}
	due.extend(rest.get(..picks).unwrap_or(&[]));
	due.sort_unstable();
	due
}

/// The share of `due` (sorted) that `own` (sorted by uid) scored, in parts per billion; one
/// billion when nothing was due.
pub fn coverage_ppb(own: &[MinerScore], due: &[Uid]) -> u32 {
	if due.is_empty() {
		return PPB;
	}
	let covered = due.iter().filter(|&&u| own.binary_search_by_key(&u, |s| s.uid).is_ok()).count();
	let share = mul_div_floor(covered as u128, u128::from(PPB), due.len() as u128).unwrap_or(0);
	u32::try_from(share).unwrap_or(PPB).min(PPB)
}

/// Whether `scored` stake reaches `quorum_ppb` of `bonded` stake. Zero bonded stake never
/// reaches a quorum.
pub fn meets_quorum(scored: u128, bonded: u128, quorum_ppb: u32) -> bool {
	if bonded == 0 {
		return false;
	}
	// scored / bonded >= quorum / PPB, compared exactly as 256-bit products.
	mul_wide(scored, u128::from(PPB)) >= mul_wide(bonded, u128::from(quorum_ppb.min(PPB)))
}

#[cfg(test)]
mod tests {
	use super::*;
	use crate::score::{ScoreFlags, PPM};

	fn s(uid: Uid) -> MinerScore {
		MinerScore { uid, loss_score: 1, indicator: 1, sync_ppm: PPM, flags: ScoreFlags::NONE }
	}

	#[test]
	fn due_set_is_the_committed_aggregation_set_plus_a_seeded_sample() {
		let committed: Vec<Uid> = (0..256).collect();
		let agg: Vec<Uid> = vec![3, 7, 300];
		let due = due_set(&[1; 32], 5, 0, &agg, &committed, 8);
		assert_eq!(due.len(), 2 + 8, "300 did not commit, so it is not due");
		assert!(due.contains(&3) && due.contains(&7));
		assert!(due.windows(2).all(|w| w[0] < w[1]));
		// Deterministic, and different for another validator, round or seed.
		assert_eq!(due, due_set(&[1; 32], 5, 0, &agg, &committed, 8));
		assert_ne!(due, due_set(&[1; 32], 5, 1, &agg, &committed, 8));
		assert_ne!(due, due_set(&[1; 32], 6, 0, &agg, &committed, 8));
		assert_ne!(due, due_set(&[2; 32], 5, 0, &agg, &committed, 8));
		// A sample larger than the rest takes all of it.
		assert_eq!(due_set(&[9; 32], 1, 0, &[], &[4, 5], 10), vec![4, 5]);
		assert_eq!(due_set(&[9; 32], 1, 0, &[], &[], 10), Vec::<Uid>::new());
	}

	#[test]
	fn the_sample_rotates_over_every_miner() {
		// Over many seeds every non-aggregated committer is sampled about equally often.
		let committed: Vec<Uid> = (0..64).collect();
		let mut hits = [0u32; 64];
		for seed in 0..2_000u32 {
			let mut bytes = [0u8; 32];
			bytes[..4].copy_from_slice(&seed.to_le_bytes());
			for u in due_set(&bytes, 0, 0, &[], &committed, 4) {
				hits[usize::from(u)] += 1;
			}
		}
		// Expected 2000 * 4 / 64 = 125 each.
		assert!(hits.iter().all(|&h| (70..=190).contains(&h)), "{hits:?}");
	}

	#[test]
	fn coverage_counts_what_was_due() {
		let due = [1, 2, 3, 4];
		assert_eq!(coverage_ppb(&[s(1), s(2), s(3), s(4), s(9)], &due), PPB);
		assert_eq!(coverage_ppb(&[s(2)], &due), PPB / 4);
		assert_eq!(coverage_ppb(&[s(9)], &due), 0);
		assert_eq!(coverage_ppb(&[], &[]), PPB);
		assert_eq!(coverage_ppb(&[s(1)], &[1, 2, 3]), 333_333_333);
	}

	#[test]
	fn quorum_is_a_share_of_the_bonded_stake() {
		assert!(meets_quorum(50, 100, PPB / 2));
		assert!(!meets_quorum(49, 100, PPB / 2));
		assert!(meets_quorum(34, 100, PPB / 3), "a third of 100 is 33.3, so 34 is needed");
		assert!(!meets_quorum(33, 100, PPB / 3));
		assert!(!meets_quorum(0, 0, PPB / 2));
		assert!(meets_quorum(0, 100, 0));
		assert!(meets_quorum(u128::MAX, u128::MAX, PPB));
		assert!(!meets_quorum(u128::MAX - 1, u128::MAX, PPB));
	}
}
