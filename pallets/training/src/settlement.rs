//! The per-block driving of a run: opening rounds and settling them.
//!
//! Everything the protocol decides is computed by [`training_protocol`]; this module only
//! reads the inputs from storage, calls it and writes the outputs back.
//!
//! Settling round `r` (at `clock.settlement_block(r)`, the first block after its score
//! window):
//!
//! 1. Only validators bonded before round `r`'s blobs became readable (registered before its
//!    commit deadline) count, each with the miners it was due to score; each of their
//!    stored submissions becomes a [`Submission`] weighted by its stake (submissions of
//!    validators that left were removed when they left). A whale that registers during the
//!    score window changes nothing. [`aggregate`] combines them into one score per miner, and
//!    a miner's combined score counts only when validators holding `quorum_ppb` of the stake
//!    of the validators due to score it ([`due_set`]: every one for the aggregation set, the
//!    sampling ones for the rest) scored it ([`meets_quorum`]).
//! 2. Only miners eligible for `r` take part: the current holder of the uid registered no
//!    later than the start of round `r`. An eligible miner without a commitment for `r` is
//!    scored `MISSING` whatever validators said (a score without a commitment is
//!    meaningless); validators' scores of ineligible or unknown uids are ignored.
//!    A committed miner without a quorum is unscored this round: its state (rating, final
//!    score, hence weight and place in the aggregation set) is left as it was, and its share
//!    of this settlement's emission is burned, since no quorum vouched for its work.
//! 3. The round's applied set ([`training_protocol::applied_set`]: the aggregation set's
//!    members a quorum scored without a MISSING or INVALID flag) is stored: the blobs every
//!    node applies for the round.
//! 4. [`settle`] updates the miner states and returns the weights and the next aggregation
//!    set, which are stored.
//! 5. The emission accrued since the last settlement (`emission_per_block` x blocks plus
//!    anything accrued at an earlier rate) is split by [`split_emission`]: miners by weight,
//!    validators by stake x [`agreement_ppb`] with the combined scores x [`coverage_ppb`] of
//!    the miners they were due to score ([`due_set`]: the round's committed aggregation set
//!    plus `eval_sample` others drawn from the round's seed), out of the bonded stake.
//!    Payouts are minted; everything else, including payouts that cannot be minted, is never
//!    minted (burned).
//! 6. Commitments, the aggregation and applied sets and a superseded checkpoint of round
//!    `r - CommitmentRetention`, and the scores of `r`, are deleted.
//!
//! Work is bounded: at most one settlement per run per block, `MaxRuns` runs, `MaxPeers`
//! miners and `MaxValidators` submissions of at most `MaxPeers` scores each.

use alloc::vec::Vec;
use frame_support::{pallet_prelude::*, traits::fungible::Mutate};
use sp_runtime::{traits::Zero, SaturatedConversion, Saturating};
use training_protocol::{
	aggregate, agreement_ppb, coverage_ppb, due_set, meets_quorum, settle, split_emission,
	AggregatedScore, MinerScore, MinerState, Round, ScoreFlags, Submission, Uid, ValidatorClaim,
	PPB,
};

use crate::{
	AggregationSets, AppliedSets, BalanceOf, Commitments, Config, Event, Hash32, MinerRecord,
	MinerStates, MinerUids, NextAggregationSet, Pallet, Peers, Role, RoundSeeds, RunId, RunInfoOf,
	Runs, ScoreCommits, Scores, StoredWeights, Uids, Validators, WeightInfo, Weights,
};

/// Runs the hooks of one run at block `now`: opens a round that starts now, records the
/// seed of a round whose commit deadline is now (`parent`: the hash of the last block that
/// accepted its commitments) and settles a round whose score window just closed. Returns the
/// weight used beyond the per-run read already counted by `on_initialize_idle`.
pub fn drive_run<T: Config>(run_id: RunId, now: u64, parent: &Hash32) -> Weight {
	let Some(mut info) = Runs::<T>::get(run_id) else { return Weight::zero() };
	if info.closed {
		return Weight::zero();
	}
	let mut weight = Weight::zero();
	if let Some(pos) = info.clock.position(now) {
		if pos.offset == 0 {
			open_round::<T>(run_id, &info, pos.round);
			weight.saturating_accrue(T::WeightInfo::open_round());
		}
		if let Some(prev) = pos.round.checked_sub(1) {
			if info.clock.commit_deadline(prev) == Some(now) {
				RoundSeeds::<T>::insert(run_id, prev, parent);
				weight.saturating_accrue(T::DbWeight::get().writes(1));
			}
		}
	}
	if let Some(round) = info.clock.settles_at(now) {
		// Settlements come in order; a round is never settled twice.
		if round >= info.next_settle {
			let (m, v) = settle_round::<T>(run_id, &mut info, round, now);
			Runs::<T>::insert(run_id, info);
			weight.saturating_accrue(settle_weight::<T>(m, v));
		}
	}
	weight
}

/// The weight of settling a round of `m` miners scored by `v` validators: the benchmarked
/// settlement, plus the rating of up to `m` tie groups when anything was scored. The
/// settlement benchmark is linear in `m` and in `v`, while rating is `O(m x groups)`
/// whatever `v` is: one validator's distinct scores give as many groups as miners.
pub fn settle_weight<T: Config>(m: u32, v: u32) -> Weight {
	let settle = T::WeightInfo::settle(m, v);
	if v == 0 {
		settle
	} else {
		settle.saturating_add(T::WeightInfo::rate_miners(m))
	}
}

/// The most `on_initialize` can take in one block: `MaxRuns` runs that each open a round,
/// record a seed and settle a round of `MaxPeers` miners and `MaxValidators` validators.
pub fn max_hook_weight<T: Config>() -> Weight {
	let runs = T::MaxRuns::get();
	let per_run = T::WeightInfo::open_round()
		.saturating_add(T::DbWeight::get().writes(1))
		.saturating_add(settle_weight::<T>(T::MaxPeers::get(), T::MaxValidators::get()));
	T::WeightInfo::on_initialize_idle(runs).saturating_add(per_run.saturating_mul(runs.into()))
}

/// Fixes the aggregation set of `round`: every registered miner until the run's first
/// settlement, then the set the last settlement chose (in warm-up, every miner it did not
/// exclude; a miner registered since joins at the next settlement).
pub fn open_round<T: Config>(run_id: RunId, info: &RunInfoOf<T>, round: Round) {
	let set = if info.next_settle == 0 {
		MinerUids::<T>::get(run_id)
	} else {
		NextAggregationSet::<T>::get(run_id)
	};
	let len = set.len() as u32;
	AggregationSets::<T>::insert(run_id, round, set);
	Pallet::<T>::deposit_event(Event::RoundOpened { run: run_id, round, aggregation_set_len: len });
}

/// Settles `round` of `run_id` at block `now` (see the module docs) and updates `info`'s
/// bookkeeping (the caller stores it). Returns `(miners, validators)` for the weight.
pub fn settle_round<T: Config>(
	run_id: RunId,
	info: &mut RunInfoOf<T>,
	round: Round,
	now: u64,
) -> (u32, u32) {
	let uids = MinerUids::<T>::get(run_id);
	let validators = Validators::<T>::get(run_id);
	let (m, v) = (uids.len() as u32, validators.len() as u32);
	let round_start = info.clock.round_start(round).unwrap_or(u64::MAX);

	// Registered miners with their states, and which of them are eligible for the round.
	let mut miners: Vec<(Uid, MinerState)> = Vec::with_capacity(uids.len());
	let mut records: Vec<MinerRecord> = Vec::with_capacity(uids.len());
	for &uid in uids.iter() {
		let record = MinerStates::<T>::get(run_id, uid).unwrap_or(MinerRecord {
			registered_at: now,
			state: MinerState::new(&info.params.skill),
		});
		miners.push((uid, record.state));
		records.push(record);
	}

	// The eligible miners that committed, and what each validator was due to score: the
	// round's committed aggregation set plus a sample drawn from the round's seed.
	let committers: Vec<Uid> = uids
		.iter()
		.zip(&records)
		.filter(|(uid, r)| {
			r.registered_at <= round_start && Commitments::<T>::contains_key((run_id, round, **uid))
		})
		.map(|(uid, _)| *uid)
		.collect();
	let aggregated = AggregationSets::<T>::get(run_id, round).unwrap_or_default();
	let seed = RoundSeeds::<T>::get(run_id, round).unwrap_or_default();
	let due_of =
		|v: Uid| due_set(&seed, round, v, &aggregated, &committers, info.params.eval_sample);

	// Validators bonded before the round's blobs became readable, with their due sets, and
	// their submissions weighted by stake.
	let deadline = info.clock.commit_deadline(round).unwrap_or(u64::MAX);
	let mut bonded: u128 = 0;
	let mut dues: Vec<(Uid, u128, Vec<Uid>)> = Vec::new();
	let mut submitted: Vec<(Uid, u128, BoundedVec<MinerScore, T::MaxPeers>)> = Vec::new();
	for entry in validators.iter() {
		let bonded_at = Peers::<T>::get(run_id, &entry.who).map_or(u64::MAX, |p| p.registered_at);
		if bonded_at >= deadline {
			continue;
		}
		let stake = entry.stake.saturated_into::<u128>();
		bonded = bonded.saturating_add(stake);
		dues.push((entry.uid, stake, due_of(entry.uid)));
		if let Some(scores) = Scores::<T>::get((run_id, round, entry.uid)) {
			submitted.push((entry.uid, stake, scores));
		}
	}
	// A miner's quorum is a share of the stake of the validators due to score it (every
	// bonded validator for the aggregation set; the sampling ones for the rest).
	let due_stake = |uid: Uid| {
		dues.iter()
			.filter(|(_, _, due)| due.binary_search(&uid).is_ok())
			.fold(0u128, |acc, (_, stake, _)| acc.saturating_add(*stake))
	};
	let submissions: Vec<Submission<'_>> = submitted
		.iter()
		.map(|(_, stake, scores)| Submission { stake: *stake, scores: scores.as_slice() })
		.collect();
	let quorum = info.params.quorum_ppb;
	let combined: Vec<AggregatedScore> = aggregate(&submissions)
		.into_iter()
		.filter(|c| meets_quorum(c.stake, due_stake(c.score.uid), quorum))
		.collect();

	// One score per eligible miner that a quorum scored or that did not commit, and the
	// committed miners left unscored.
	let mut scores: Vec<AggregatedScore> = Vec::with_capacity(miners.len());
	let mut unscored: Vec<Uid> = Vec::new();
	let mut combined_iter = combined.iter().peekable();
	for (&uid, record) in uids.iter().zip(&records) {
		while combined_iter.peek().is_some_and(|c| c.score.uid < uid) {
			combined_iter.next();
		}
		let scored = combined_iter.peek().filter(|c| c.score.uid == uid).copied().copied();
		if record.registered_at > round_start {
			continue;
		}
		let committed = committers.binary_search(&uid).is_ok();
		match (scored, committed) {
			(Some(s), true) => scores.push(s),
			(Some(mut s), false) => {
				s.score.flags = s.score.flags.union(ScoreFlags::MISSING);
				scores.push(s);
			}
			(None, false) => scores.push(AggregatedScore {
				score: MinerScore {
					uid,
					loss_score: 0,
					indicator: 0,
					sync_ppm: 0,
					flags: ScoreFlags::MISSING,
				},
				stake: 0,
			}),
			(None, true) => unscored.push(uid),
		}
	}

	// The blobs every node applies for this round: vouched for, there and valid.
	let applied = training_protocol::applied_set(&aggregated, &scores);
	AppliedSets::<T>::insert(run_id, round, BoundedVec::<Uid, T::MaxPeers>::truncate_from(applied));

	let before: Vec<MinerState> = miners.iter().map(|m| m.1).collect();
	let outcome = settle(&info.params.incentive, &info.params.skill, round, &mut miners, &scores);
	let scored = scores.len() as u32;

	let Ok(settlement) = outcome else {
		Pallet::<T>::deposit_event(Event::SettlementFailed { run: run_id, round });
		finish::<T>(run_id, info, round);
		return (m, v);
	};

	for (((uid, state), old), record) in miners.iter().zip(&before).zip(&records) {
		if state != old {
			MinerStates::<T>::insert(
				run_id,
				uid,
				MinerRecord { registered_at: record.registered_at, state: *state },
			);
		}
	}
	let stored = StoredWeights::<T::MaxPeers> {
		burn_ppb: settlement.weights.burn_ppb,
		miners: BoundedVec::truncate_from(settlement.weights.miners.clone()),
	};
	Weights::<T>::insert(run_id, stored);
	let set_len = settlement.aggregation_set.len() as u32;
	NextAggregationSet::<T>::insert(
		run_id,
		BoundedVec::<Uid, T::MaxPeers>::truncate_from(settlement.aggregation_set),
	);

	// Emission accrued since the last settlement.
	let blocks: BalanceOf<T> = now.saturating_sub(info.emission_from).saturated_into();
	let accrued =
		info.accrued.saturating_add(info.params.emission_per_block.saturating_mul(blocks));
	let claims: Vec<ValidatorClaim> = submitted
		.iter()
		.map(|(uid, stake, own)| {
			let due = dues.iter().find(|d| d.0 == *uid).map(|d| d.2.clone()).unwrap_or_default();
			let earned = u64::from(agreement_ppb(own, &scores))
				.saturating_mul(u64::from(coverage_ppb(own, &due)))
				/ u64::from(PPB);
			ValidatorClaim {
				uid: *uid,
				stake: *stake,
				agreement_ppb: u32::try_from(earned).unwrap_or(PPB),
			}
		})
		.collect();
	let split = split_emission(
		accrued.saturated_into::<u128>(),
		info.params.incentive.validator_share_ppb,
		&settlement.weights,
		&claims,
		bonded,
	);

	let mut minted: BalanceOf<T> = Zero::zero();
	let payees = split
		.miners
		.iter()
		.filter(|&&(uid, _)| unscored.binary_search(&uid).is_err())
		.map(|&(uid, amount)| (Role::Miner, uid, amount, Uids::<T>::get(run_id, uid)))
		.chain(split.validators.iter().map(|&(uid, amount)| {
			let who = validators.iter().find(|e| e.uid == uid).map(|e| e.who.clone());
			(Role::Validator, uid, amount, who)
		}));
	for (role, uid, amount, who) in payees {
		let amount: BalanceOf<T> = amount.saturated_into();
		let Some(who) = who else { continue };
		if amount.is_zero() {
			continue;
		}
		if <T::Currency as Mutate<T::AccountId>>::mint_into(&who, amount).is_ok() {
			minted = minted.saturating_add(amount);
			Pallet::<T>::deposit_event(Event::Paid { run: run_id, round, who, role, uid, amount });
		}
	}
	let burned = accrued.saturating_sub(minted);
	info.accrued = Zero::zero();
	info.emission_from = now;
	info.minted_total = info.minted_total.saturating_add(minted);
	info.burned_total = info.burned_total.saturating_add(burned);
	Pallet::<T>::deposit_event(Event::Settled {
		run: run_id,
		round,
		scored,
		accrued,
		minted,
		burned,
		aggregation_set_len: set_len,
	});
	finish::<T>(run_id, info, round);
	(m, v)
}

/// Marks `round` settled and prunes what it no longer needs.
fn finish<T: Config>(run_id: RunId, info: &mut RunInfoOf<T>, round: Round) {
	info.next_settle = round.saturating_add(1);
	let _ = Scores::<T>::clear_prefix((run_id, round), T::MaxValidators::get(), None);
	let _ = ScoreCommits::<T>::clear_prefix((run_id, round), T::MaxValidators::get(), None);
	let retention = u64::from(T::CommitmentRetention::get());
	if let Some(old) = round.checked_sub(retention) {
		let _ = Commitments::<T>::clear_prefix((run_id, old), T::MaxPeers::get(), None);
		AggregationSets::<T>::remove(run_id, old);
		AppliedSets::<T>::remove(run_id, old);
		RoundSeeds::<T>::remove(run_id, old);
		crate::checkpoints::prune::<T>(run_id, old);
	}
}
