//! Giving a closed run's storage back (`reap_run`).
//!
//! A closed run keeps its peers, commitments, scores, checkpoints and sets until someone
//! reaps it. Reaping is permissionless and goes in steps of at most `limit` storage entries
//! (the caller pays for each step; the weight is linear in `limit`): peers first, whose
//! deposits and stakes are released (unbonding stakes too: a closed run has nothing left
//! to answer for), then every per-round and per-miner map, and, once nothing else is
//! left, the run's own entries. A run that is gone from `Runs` has left nothing behind
//! ([`remains`], checked by `try_state`).

use frame_support::{
	storage::KeyPrefixIterator,
	traits::{fungible::MutateHold, tokens::Precision},
};

use crate::{
	AggregationSets, AppliedSets, CheckpointVotes, Checkpoints, Commitments, Config, HoldReason,
	LatestCheckpoint, MinerStates, MinerUids, NextAggregationSet, Peers, Role, RoundSeeds, RunId,
	Runs, ScoreCommits, Scores, Uids, Unbondings, Validators, Weights,
};

/// What one step did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step {
	/// Storage entries removed.
	pub removed: u32,
	/// The run is gone entirely.
	pub done: bool,
}

/// Removes at most `limit` storage entries of run `run` (the caller checked that it is
/// closed), releasing the holds of the peers it removes.
pub fn step<T: Config>(run: RunId, limit: u32) -> Step {
	let mut budget = limit;
	// Each peer leaves as a whole (its uid, state and list entry with it), so that the run's
	// invariants hold between steps.
	let peers: alloc::vec::Vec<_> = Peers::<T>::iter_prefix(run).take(budget as usize).collect();
	if !peers.is_empty() {
		let mut uids = MinerUids::<T>::get(run);
		let mut validators = Validators::<T>::get(run);
		for (who, peer) in peers {
			let reason = match peer.role {
				Role::Miner => {
					Uids::<T>::remove(run, peer.uid);
					MinerStates::<T>::remove(run, peer.uid);
					uids.retain(|&u| u != peer.uid);
					HoldReason::MinerDeposit
				}
				Role::Validator => {
					validators.retain(|v| v.uid != peer.uid);
					HoldReason::ValidatorStake
				}
			};
			// Best effort: a hold that is somehow smaller is released as far as it goes.
			let _ = T::Currency::release(&reason.into(), &who, peer.held, Precision::BestEffort);
			Peers::<T>::remove(run, &who);
			budget = budget.saturating_sub(1);
		}
		MinerUids::<T>::insert(run, uids);
		Validators::<T>::insert(run, validators);
	}
	let unbondings: alloc::vec::Vec<_> =
		Unbondings::<T>::iter_prefix(run).take(budget as usize).collect();
	for (who, unbonding) in unbondings {
		let _ = T::Currency::release(
			&HoldReason::ValidatorStake.into(),
			&who,
			unbonding.amount,
			Precision::BestEffort,
		);
		Unbondings::<T>::remove(run, &who);
		budget = budget.saturating_sub(1);
	}
	// The rest holds no funds: removed map by map while the budget lasts. Key by key rather
	// than with `clear_prefix`, whose limit counts only keys already in the backend, so that
	// several steps in one block still make progress.
	macro_rules! clear_double {
		($($map:ident),* $(,)?) => {$(
			let keys: alloc::vec::Vec<_> = $map::<T>::iter_key_prefix(run).take(budget as usize).collect();
			for key in keys {
				$map::<T>::remove(run, key);
				budget = budget.saturating_sub(1);
			}
		)*};
	}
	macro_rules! clear_by_round {
		($($map:ident),* $(,)?) => {$(
			let keys: alloc::vec::Vec<_> = $map::<T>::iter_key_prefix((run,)).take(budget as usize).collect();
			for (round, uid) in keys {
				$map::<T>::remove((run, round, uid));
				budget = budget.saturating_sub(1);
			}
		)*};
	}
	clear_by_round!(Commitments, ScoreCommits, Scores, CheckpointVotes);
	// MinerStates and Uids leave with their peers; cleared here only if an older version left
	// strays.
	// Applied sets before aggregation sets: one stays a subset of the other.
	clear_double!(AppliedSets, AggregationSets, Checkpoints, RoundSeeds, MinerStates, Uids);
	let removed = limit.saturating_sub(budget);
	let done = !remains::<T>(run);
	if done {
		Runs::<T>::remove(run);
		MinerUids::<T>::remove(run);
		Validators::<T>::remove(run);
		Weights::<T>::remove(run);
		NextAggregationSet::<T>::remove(run);
		LatestCheckpoint::<T>::remove(run);
	}
	Step { removed, done }
}

/// Whether any per-peer, per-round or per-miner entry of `run` is left.
pub fn remains<T: Config>(run: RunId) -> bool {
	fn any<K>(mut keys: KeyPrefixIterator<K>) -> bool {
		keys.next().is_some()
	}
	any(Peers::<T>::iter_key_prefix(run))
		|| any(Unbondings::<T>::iter_key_prefix(run))
		|| any(Commitments::<T>::iter_key_prefix((run,)))
		|| any(ScoreCommits::<T>::iter_key_prefix((run,)))
		|| any(Scores::<T>::iter_key_prefix((run,)))
		|| any(CheckpointVotes::<T>::iter_key_prefix((run,)))
		|| any(Checkpoints::<T>::iter_key_prefix(run))
		|| any(AggregationSets::<T>::iter_key_prefix(run))
		|| any(AppliedSets::<T>::iter_key_prefix(run))
		|| any(RoundSeeds::<T>::iter_key_prefix(run))
		|| any(MinerStates::<T>::iter_key_prefix(run))
		|| any(Uids::<T>::iter_key_prefix(run))
}

/// Whether the run-level entries of a run that is gone from `Runs` are gone too.
pub fn run_entries_left<T: Config>(run: RunId) -> bool {
	MinerUids::<T>::contains_key(run)
		|| Validators::<T>::contains_key(run)
		|| Weights::<T>::contains_key(run)
		|| NextAggregationSet::<T>::contains_key(run)
		|| LatestCheckpoint::<T>::contains_key(run)
}
