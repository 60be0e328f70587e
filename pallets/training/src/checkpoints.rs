//! Checkpoints by stake majority.
//!
//! Every validator may record one checkpoint (parameter hash and the URI of its copy) per
//! ended round. A round's checkpoint becomes the run's, the one joiners start from, when
//! validators holding more than half of the bonded validator stake recorded the same hash:
//! a minority, however early it records, can neither poison a joiner nor block the honest
//! majority's checkpoint. Once agreed, a checkpoint stays agreed (the majority held when
//! it was counted); later votes for it only add URIs to fetch it from.
//!
//! Stake is the voters' current stake: a vote of a validator that has left counts for
//! nothing, so a checkpoint cannot be agreed by stake that is gone.

use alloc::vec::Vec;
use frame_support::traits::Get;
use sp_runtime::SaturatedConversion;

use crate::{
	AgreedCheckpoint, BalanceOf, Checkpoint, CheckpointVotes, Checkpoints, Config, Event,
	LatestCheckpoint, Pallet, RunId, Validators,
};
use training_protocol::{Round, Uid};

/// Whether `support` is more than half of `bonded`.
pub fn is_majority(support: u128, bonded: u128) -> bool {
	support > bonded / 2
}

/// Records `vote` (from validator `vote.by`) for `round` and makes `vote.hash` the round's
/// checkpoint if that gives it a stake majority. A newest checkpoint that was kept past its
/// round's pruning (rounds below `first_kept`) goes once a newer one is agreed. Returns
/// whether the vote's hash became agreed now.
pub fn record<T: Config>(
	run: RunId,
	round: Round,
	vote: Checkpoint<T::MaxUrlLen>,
	first_kept: Round,
) -> bool {
	let (by, hash) = (vote.by, vote.hash);
	CheckpointVotes::<T>::insert((run, round, by), vote.clone());
	if Checkpoints::<T>::contains_key(run, round) {
		return false;
	}
	let validators = Validators::<T>::get(run);
	let stake_of = |uid: Uid| -> u128 {
		validators.iter().find(|v| v.uid == uid).map_or(0, |v| v.stake.saturated_into::<u128>())
	};
	let bonded: u128 = validators.iter().map(|v| v.stake.saturated_into::<u128>()).sum();
	let support: u128 = CheckpointVotes::<T>::iter_prefix_values((run, round))
		.filter(|v| v.hash == hash)
		.map(|v| stake_of(v.by))
		.sum();
	if !is_majority(support, bonded) {
		return false;
	}
	Checkpoints::<T>::insert(run, round, vote);
	let latest = LatestCheckpoint::<T>::get(run);
	if latest.is_none_or(|latest| latest < round) {
		LatestCheckpoint::<T>::insert(run, round);
		if let Some(old) = latest.filter(|old| *old < first_kept) {
			Checkpoints::<T>::remove(run, old);
			let _ = CheckpointVotes::<T>::clear_prefix((run, old), T::MaxValidators::get(), None);
		}
	}
	Pallet::<T>::deposit_event(Event::CheckpointAgreed { run, round, hash });
	true
}

/// The agreed checkpoints of `run`, newest first, each with the URIs of every validator
/// that recorded its hash (the largest stake first; a checkpoint agreed before votes were
/// kept has the URI it was recorded with).
pub fn agreed<T: Config>(run: RunId) -> Vec<AgreedCheckpoint> {
	let validators = Validators::<T>::get(run);
	let stake_of = |uid: Uid| -> BalanceOf<T> {
		validators.iter().find(|v| v.uid == uid).map_or_else(Default::default, |v| v.stake)
	};
	let mut out: Vec<AgreedCheckpoint> = Checkpoints::<T>::iter_prefix(run)
		.map(|(round, c)| {
			let mut voters: Vec<(BalanceOf<T>, Uid, Vec<u8>)> =
				CheckpointVotes::<T>::iter_prefix_values((run, round))
					.filter(|v| v.hash == c.hash)
					.map(|v| (stake_of(v.by), v.by, v.uri.into_inner()))
					.collect();
			voters.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
			let mut uris: Vec<Vec<u8>> = voters.into_iter().map(|(_, _, uri)| uri).collect();
			if uris.is_empty() {
				uris.push(c.uri.into_inner());
			}
			AgreedCheckpoint { round, hash: c.hash, uris }
		})
		.collect();
	out.sort_by_key(|c| core::cmp::Reverse(c.round));
	out
}

/// Forgets round `old`'s votes, and its agreed checkpoint unless it is the newest one (the
/// newest agreed checkpoint is kept, with its votes, until a newer one is agreed).
pub fn prune<T: Config>(run: RunId, old: Round) {
	let keep = LatestCheckpoint::<T>::get(run) == Some(old);
	if !keep {
		Checkpoints::<T>::remove(run, old);
		let _ = CheckpointVotes::<T>::clear_prefix((run, old), T::MaxValidators::get(), None);
	}
}

/// Whether `uid` already recorded a checkpoint for `round`.
pub fn has_voted<T: Config>(run: RunId, round: Round, uid: Uid) -> bool {
	CheckpointVotes::<T>::contains_key((run, round, uid))
}

#[cfg(test)]
mod tests {
	use super::is_majority;

	#[test]
	fn majority_is_strictly_more_than_half() {
		assert!(!is_majority(0, 0));
		assert!(!is_majority(50, 100));
		assert!(is_majority(51, 100));
		assert!(!is_majority(1, 3));
		assert!(is_majority(2, 3));
		assert!(is_majority(1, 1));
		assert!(!is_majority(u128::MAX / 2, u128::MAX));
		assert!(is_majority(u128::MAX / 2 + 1, u128::MAX));
	}
}
