//! Which blobs of a round every honest node applies: the round's *applied set*.
//!
//! Each node fetches the aggregation set's blobs on its own, right after the commit
//! deadline, and steps its model with what it got. A miner that publishes just at the
//! deadline, or whose store answers some readers and not others, would make honest nodes
//! step with different sets and drift apart. So the set that counts is fixed by the chain
//! at settlement, from the validators' combined verdicts: a member of the aggregation set is
//! applied when a quorum of stake scored it and the stake-weighted median of their flags
//! says the blob was there and valid ([`ScoreFlags::MISSING`], [`ScoreFlags::INVALID`]
//! unset). A blob the validators' majority read is one at least that many validators hold,
//! so every node can obtain it (validators mirror what they read) and check it against the
//! committed hash.
//!
//! A member without a quorum, or that did not commit, is not applied: nothing vouches for
//! its blob. Nodes apply their own view at once and, when the settled set differs, redo
//! the round from the model before it (see the worker's `Synced`).

use alloc::vec::Vec;

use crate::score::{AggregatedScore, ScoreFlags, Uid};

/// Flags that keep a blob out of the model: no node can apply what is not there or does
/// not decode. (A copied gradient is still a valid blob; copying is punished in the pay.)
pub const UNAPPLIABLE: ScoreFlags = ScoreFlags(ScoreFlags::MISSING.0 | ScoreFlags::INVALID.0);

/// The members of `aggregation_set` whose blobs every node applies, sorted by uid:
/// those with a combined score in `scores` (the miners a quorum scored, sorted by uid or
/// not) whose flags include none of [`UNAPPLIABLE`].
pub fn applied_set(aggregation_set: &[Uid], scores: &[AggregatedScore]) -> Vec<Uid> {
	let mut out: Vec<Uid> = aggregation_set
		.iter()
		.copied()
		.filter(|uid| {
			scores.iter().any(|s| s.score.uid == *uid && !s.score.flags.intersects(UNAPPLIABLE))
		})
		.collect();
	out.sort_unstable();
	out.dedup();
	out
}

#[cfg(test)]
mod tests {
	use super::*;
	use crate::score::MinerScore;

	fn scored(uid: Uid, flags: ScoreFlags) -> AggregatedScore {
		AggregatedScore {
			score: MinerScore { uid, loss_score: 1, indicator: 1, sync_ppm: 1_000_000, flags },
			stake: 10,
		}
	}

	#[test]
	fn only_vouched_and_available_members_are_applied() {
		let scores = [
			scored(1, ScoreFlags::NONE),
			scored(2, ScoreFlags::MISSING),
			scored(3, ScoreFlags::INVALID),
			scored(4, ScoreFlags::COPIED),
			// Not in the aggregation set: scored, never applied.
			scored(9, ScoreFlags::NONE),
		];
		// 5 has no quorum (no combined score).
		assert_eq!(applied_set(&[5, 4, 3, 2, 1], &scores), vec![1, 4]);
		assert_eq!(applied_set(&[], &scores), Vec::<Uid>::new());
		assert_eq!(applied_set(&[1, 2], &[]), Vec::<Uid>::new());
		assert_eq!(applied_set(&[1, 1], &scores), vec![1]);
	}
}
