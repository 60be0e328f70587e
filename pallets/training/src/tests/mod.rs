//! Unit and lifecycle tests over the mock runtime.
//!
//! Test run clock (see `mock::test_params`): created at block 1, so round `r` covers blocks
//! `[2 + 10r, 12 + 10r)`, commits for `r` close at `15 + 10r`, scores for `r` are accepted in
//! `[15 + 10r, 26 + 10r)` (committed before `23 + 10r`, revealed from it; see
//! `mock::post_scores`) and `r` settles at block `26 + 10r`.

use crate::{mock::*, *};
use frame_support::{
	assert_noop, assert_ok,
	traits::{
		fungible::{Inspect, InspectHold},
		Hooks,
	},
};
use sp_runtime::traits::BadOrigin;
use training_protocol::{Fixed, IncentiveParams, MinerScore, ScoreFlags, PPB, PPM};

const RUN: RunId = 0;

fn url(s: &str) -> UrlOf<Test> {
	BoundedVec::try_from(s.as_bytes().to_vec()).unwrap()
}

fn create() {
	assert_ok!(Training::create_run(RuntimeOrigin::root(), test_params()));
}

fn miner(who: u64) {
	assert_ok!(Training::register_miner(RuntimeOrigin::signed(who), RUN, url("s3://bucket/m")));
}

fn validator(who: u64, stake: u64) {
	assert_ok!(Training::register_validator(
		RuntimeOrigin::signed(who),
		RUN,
		stake,
		url("s3://bucket/v")
	));
}

fn commit(who: u64, round: u64) {
	assert_ok!(Training::commit_gradient(
		RuntimeOrigin::signed(who),
		RUN,
		round,
		[who as u8; 32],
		1_000
	));
}

fn score(uid: Uid, loss: i64) -> MinerScore {
	MinerScore { uid, loss_score: loss, indicator: 1, sync_ppm: PPM, flags: ScoreFlags::NONE }
}

fn scores(list: Vec<MinerScore>) -> BoundedVec<MinerScore, MaxPeers> {
	BoundedVec::try_from(list).unwrap()
}

fn events() -> Vec<Event<Test>> {
	System::events()
		.into_iter()
		.filter_map(|r| if let RuntimeEvent::Training(e) = r.event { Some(e) } else { None })
		.collect()
}

fn held(who: u64, reason: HoldReason) -> u64 {
	Balances::balance_on_hold(&RuntimeHoldReason::Training(reason), &who)
}

// ---------------------------------------------------------------- governance

#[test]
fn create_run_works_and_validates() {
	new_test_ext().execute_with(|| {
		assert_noop!(Training::create_run(RuntimeOrigin::signed(1), test_params()), BadOrigin);
		let bad = |f: fn(&mut RunParams<u64>)| {
			let mut p = test_params();
			f(&mut p);
			Training::create_run(RuntimeOrigin::root(), p)
		};
		assert_noop!(bad(|p| p.round_length = 0), Error::<Test>::ZeroRoundLength);
		assert_noop!(bad(|p| p.commit_window = 11), Error::<Test>::CommitWindowTooLong);
		assert_noop!(bad(|p| p.score_window = 11), Error::<Test>::ScoreWindowTooLong);
		assert_noop!(
			bad(|p| {
				p.commit_window = 10;
				p.score_window = 0
			}),
			Error::<Test>::EmptyScoreWindow
		);
		assert_noop!(
			bad(|p| p.round_length = types::MAX_ROUND_LENGTH + 1),
			Error::<Test>::RoundTooLong
		);
		assert_noop!(bad(|p| p.inner_steps = 0), Error::<Test>::InvalidTrainingParams);
		assert_noop!(bad(|p| p.topk_per_chunk = 5000), Error::<Test>::InvalidTrainingParams);
		assert_noop!(bad(|p| p.quant_bits = 0), Error::<Test>::InvalidTrainingParams);
		assert_noop!(bad(|p| p.outer_lr_ppb = 0), Error::<Test>::InvalidTrainingParams);
		assert_noop!(
			bad(|p| p.incentive.schedule.burn_ppb = 1),
			Error::<Test>::InvalidIncentiveParams
		);
		assert_noop!(bad(|p| p.skill.beta = Fixed::ZERO), Error::<Test>::InvalidSkillParams);
		assert_noop!(
			bad(|p| p.incentive.aggregation_set_size = 0),
			Error::<Test>::InvalidAggregationSetSize
		);
		assert_noop!(
			bad(|p| p.incentive.aggregation_set_size = 257),
			Error::<Test>::InvalidAggregationSetSize
		);
		assert_noop!(bad(|p| p.emission_per_block = 1_000_001), Error::<Test>::EmissionTooHigh);

		create();
		assert_eq!(NextRunId::<Test>::get(), 1);
		assert_eq!(ActiveRuns::<Test>::get().into_inner(), vec![0]);
		assert_eq!(Runs::<Test>::get(0).unwrap().clock.start(), 2);
		assert!(events().contains(&Event::RunCreated { run: 0, start: 2 }));
		for _ in 1..8 {
			create();
		}
		assert_noop!(
			Training::create_run(RuntimeOrigin::root(), test_params()),
			Error::<Test>::TooManyRuns
		);
		assert_ok!(Training::do_try_state());
	});
}

#[test]
fn set_run_params_and_close_run() {
	new_test_ext().execute_with(|| {
		assert_noop!(
			Training::set_run_params(RuntimeOrigin::root(), 0, test_params()),
			Error::<Test>::UnknownRun
		);
		create();
		assert_noop!(
			Training::set_run_params(RuntimeOrigin::signed(1), 0, test_params()),
			BadOrigin
		);
		let mut p = test_params();
		p.round_length = 20;
		assert_noop!(
			Training::set_run_params(RuntimeOrigin::root(), 0, p),
			Error::<Test>::ClockImmutable
		);
		let mut p = test_params();
		p.emission_per_block = u64::MAX;
		assert_noop!(
			Training::set_run_params(RuntimeOrigin::root(), 0, p),
			Error::<Test>::EmissionTooHigh
		);
		let mut p = test_params();
		p.quant_bits = 9;
		assert_noop!(
			Training::set_run_params(RuntimeOrigin::root(), 0, p),
			Error::<Test>::InvalidTrainingParams
		);

		// Emission accrued at the old rate is kept.
		run_to_block(7);
		let mut p = test_params();
		p.emission_per_block = 10;
		p.run_seed = 7;
		assert_ok!(Training::set_run_params(RuntimeOrigin::root(), 0, p.clone()));
		let info = Runs::<Test>::get(0).unwrap();
		assert_eq!((info.accrued, info.emission_from, info.params), (5 * 1_000, 7, p));
		assert!(events().contains(&Event::RunParamsUpdated { run: 0 }));

		assert_noop!(Training::close_run(RuntimeOrigin::signed(1), 0), BadOrigin);
		assert_noop!(Training::close_run(RuntimeOrigin::root(), 5), Error::<Test>::UnknownRun);
		miner(1);
		assert_ok!(Training::close_run(RuntimeOrigin::root(), 0));
		assert_noop!(Training::close_run(RuntimeOrigin::root(), 0), Error::<Test>::RunClosed);
		assert_noop!(
			Training::set_run_params(RuntimeOrigin::root(), 0, test_params()),
			Error::<Test>::RunClosed
		);
		assert!(ActiveRuns::<Test>::get().is_empty());
		assert_noop!(
			Training::register_miner(RuntimeOrigin::signed(2), 0, url("s3://x")),
			Error::<Test>::RunClosed
		);
		// Peers of a closed run can still leave.
		assert_ok!(Training::deregister(RuntimeOrigin::signed(1), 0));
		assert_eq!(held(1, HoldReason::MinerDeposit), 0);
		assert_ok!(Training::do_try_state());
	});
}

// ---------------------------------------------------------------- registration

#[test]
fn register_miner_works_and_validates() {
	new_test_ext().execute_with(|| {
		assert_noop!(
			Training::register_miner(RuntimeOrigin::signed(1), 0, url("s3://x")),
			Error::<Test>::UnknownRun
		);
		create();
		assert_noop!(
			Training::register_miner(RuntimeOrigin::signed(1), 0, url("")),
			Error::<Test>::EmptyUrl
		);
		assert_noop!(
			Training::register_miner(RuntimeOrigin::signed(1), 0, url("s3://a b")),
			Error::<Test>::InvalidUrl
		);
		assert_noop!(
			Training::register_miner(RuntimeOrigin::signed(999), 0, url("s3://x")),
			Error::<Test>::InsufficientBalance
		);
		miner(1);
		miner(2);
		miner(3);
		assert_noop!(
			Training::register_miner(RuntimeOrigin::signed(2), 0, url("s3://x")),
			Error::<Test>::AlreadyRegistered
		);
		assert_eq!(held(1, HoldReason::MinerDeposit), MINER_DEPOSIT);
		assert_eq!(Peers::<Test>::get(0, 2).unwrap().uid, 1);
		// The lowest free uid is reused.
		assert_ok!(Training::deregister(RuntimeOrigin::signed(2), 0));
		assert_eq!(held(2, HoldReason::MinerDeposit), 0);
		miner(4);
		assert_eq!(Peers::<Test>::get(0, 4).unwrap().uid, 1);
		assert_eq!(MinerUids::<Test>::get(0).into_inner(), vec![0, 1, 2]);
		assert!(events().contains(&Event::MinerRegistered { run: 0, who: 4, uid: 1 }));
		assert_ok!(Training::do_try_state());
	});
}

#[test]
fn register_validator_works_and_validates() {
	new_test_ext().execute_with(|| {
		assert_noop!(
			Training::register_validator(RuntimeOrigin::signed(1000), 0, MIN_STAKE, url("s3://v")),
			Error::<Test>::UnknownRun
		);
		create();
		assert_noop!(
			Training::register_validator(
				RuntimeOrigin::signed(1000),
				0,
				MIN_STAKE - 1,
				url("s3://v")
			),
			Error::<Test>::StakeTooLow
		);
		assert_noop!(
			Training::register_validator(
				RuntimeOrigin::signed(1000),
				0,
				ENDOWMENT * 2,
				url("s3://v")
			),
			Error::<Test>::InsufficientBalance
		);
		assert_noop!(
			Training::register_validator(RuntimeOrigin::signed(1000), 0, MIN_STAKE, url("")),
			Error::<Test>::EmptyUrl
		);
		validator(1000, 5_000);
		assert_eq!(held(1000, HoldReason::ValidatorStake), 5_000);
		miner(1);
		assert_noop!(
			Training::register_validator(RuntimeOrigin::signed(1), 0, MIN_STAKE, url("s3://v")),
			Error::<Test>::AlreadyRegistered
		);
		for who in 1001..1032 {
			validator(who, MIN_STAKE);
		}
		assert_noop!(
			Training::register_validator(RuntimeOrigin::signed(1032), 0, MIN_STAKE, url("s3://v")),
			Error::<Test>::TooManyValidators
		);
		assert_eq!(Validators::<Test>::get(0)[31].uid, 31);
		assert_ok!(Training::deregister(RuntimeOrigin::signed(1000), 0));
		// The stake is unbonding (see tests/validators.rs); the slot is free at once.
		assert_eq!(held(1000, HoldReason::ValidatorStake), 5_000);
		validator(1032, MIN_STAKE);
		assert_eq!(Peers::<Test>::get(0, 1032).unwrap().uid, 0);
		assert_ok!(Training::do_try_state());
	});
}

#[test]
fn deregister_and_update_url_errors() {
	new_test_ext().execute_with(|| {
		assert_noop!(Training::deregister(RuntimeOrigin::signed(1), 0), Error::<Test>::UnknownRun);
		assert_noop!(
			Training::update_store_url(RuntimeOrigin::signed(1), 0, url("s3://y")),
			Error::<Test>::UnknownRun
		);
		create();
		assert_noop!(
			Training::deregister(RuntimeOrigin::signed(1), 0),
			Error::<Test>::NotRegistered
		);
		assert_noop!(
			Training::update_store_url(RuntimeOrigin::signed(1), 0, url("s3://y")),
			Error::<Test>::NotRegistered
		);
		miner(1);
		assert_noop!(
			Training::update_store_url(RuntimeOrigin::signed(1), 0, url("")),
			Error::<Test>::EmptyUrl
		);
		assert_noop!(
			Training::update_store_url(RuntimeOrigin::signed(1), 0, url("s3://\u{7f}")),
			Error::<Test>::InvalidUrl
		);
		assert_ok!(Training::update_store_url(RuntimeOrigin::signed(1), 0, url("s3://new")));
		assert_eq!(Peers::<Test>::get(0, 1).unwrap().store_url.into_inner(), b"s3://new".to_vec());
		assert!(events().contains(&Event::StoreUrlUpdated { run: 0, who: 1 }));
	});
}

#[test]
fn full_run_replaces_the_worst_miner_past_immunity() {
	new_test_ext().execute_with(|| {
		create();
		for who in 1..=256 {
			miner(who);
		}
		assert_eq!(MinerUids::<Test>::get(0).len(), 256);
		// Everyone is immune right after registering.
		assert_noop!(
			Training::register_miner(RuntimeOrigin::signed(300), 0, url("s3://x")),
			Error::<Test>::NoReplaceableMiner
		);
		run_to_block(1 + IMMUNITY);
		// All equal: the lowest uid goes. Give uid 0 a better score so that uid 7 (worst
		// final score, then ordinal) is chosen instead.
		let better = |uid: Uid, score: i64| {
			MinerStates::<Test>::mutate(0, uid, |r| {
				r.as_mut().unwrap().state.final_score = Fixed::from_int(score)
			});
		};
		for uid in 0..256 {
			better(uid, 5);
		}
		better(7, 1);
		let balance_before = Balances::balance(&8);
		assert_ok!(Training::register_miner(RuntimeOrigin::signed(300), 0, url("s3://x")));
		assert_eq!(Peers::<Test>::get(0, 300).unwrap().uid, 7);
		assert!(Peers::<Test>::get(0, 8).is_none());
		assert_eq!(held(8, HoldReason::MinerDeposit), 0);
		assert_eq!(Balances::balance(&8), balance_before + MINER_DEPOSIT);
		assert_eq!(MinerStates::<Test>::get(0, 7).unwrap().state.final_score, Fixed::ZERO);
		assert!(events().contains(&Event::MinerReplaced { run: 0, uid: 7, old: 8, new: 300 }));
		assert_eq!(MinerUids::<Test>::get(0).len(), 256);
		// The newcomer is immune; the next worst (all others 5, lowest ordinal equal) is uid 0.
		assert_ok!(Training::register_miner(RuntimeOrigin::signed(301), 0, url("s3://x")));
		assert_eq!(Peers::<Test>::get(0, 301).unwrap().uid, 0);
		assert_ok!(Training::do_try_state());
	});
}

// ---------------------------------------------------------------- commitments and scores

#[test]
fn commit_gradient_windows_and_errors() {
	new_test_ext().execute_with(|| {
		assert_noop!(
			Training::commit_gradient(RuntimeOrigin::signed(1), 0, 0, [0; 32], 1_000),
			Error::<Test>::UnknownRun
		);
		create();
		miner(1);
		validator(1000, MIN_STAKE);
		assert_noop!(
			Training::commit_gradient(RuntimeOrigin::signed(1000), 0, 0, [0; 32], 1_000),
			Error::<Test>::NotMiner
		);
		assert_noop!(
			Training::commit_gradient(RuntimeOrigin::signed(2), 0, 0, [0; 32], 1_000),
			Error::<Test>::NotMiner
		);
		assert_noop!(
			Training::commit_gradient(RuntimeOrigin::signed(1), 0, 0, [0; 32], 0),
			Error::<Test>::EmptyBlob
		);
		// Block 1: the run starts at block 2.
		assert_noop!(
			Training::commit_gradient(RuntimeOrigin::signed(1), 0, 0, [0; 32], 1_000),
			Error::<Test>::CommitWindowClosed
		);
		run_to_block(2);
		commit(1, 0);
		assert_noop!(
			Training::commit_gradient(RuntimeOrigin::signed(1), 0, 0, [1; 32], 1_000),
			Error::<Test>::AlreadyCommitted
		);
		assert_noop!(
			Training::commit_gradient(RuntimeOrigin::signed(1), 0, 1, [1; 32], 1_000),
			Error::<Test>::CommitWindowClosed
		);
		// Round 0's commits stay open until block 15, round 1's open at 12.
		run_to_block(14);
		commit(1, 1);
		miner(2);
		assert_noop!(
			Training::commit_gradient(RuntimeOrigin::signed(2), 0, 1, [2; 32], 1_000),
			Error::<Test>::NotEligibleForRound
		);
		run_to_block(15);
		assert_noop!(
			Training::commit_gradient(RuntimeOrigin::signed(1), 0, 0, [1; 32], 1_000),
			Error::<Test>::CommitWindowClosed
		);
		let c = Commitments::<Test>::get((0, 0, 0)).unwrap();
		assert_eq!((c.blob_hash, c.blob_len, c.at), ([1; 32], 1_000, 2));
		assert_eq!(Training::round_commitments(0, 1).len(), 1);
	});
}

#[test]
fn score_commit_and_reveal_windows_and_errors() {
	new_test_ext().execute_with(|| {
		let list = || vec![score(0, 5)];
		let salt = [9; 32];
		let hash = |l: &[MinerScore]| score_commitment(l, &salt);
		let commit = |who: u64, h| Training::commit_scores(RuntimeOrigin::signed(who), 0, 0, h);
		let reveal = |who: u64, l: Vec<MinerScore>, salt| {
			Training::submit_scores(RuntimeOrigin::signed(who), 0, 0, scores(l), salt)
		};
		assert_noop!(commit(1000, hash(&list())), Error::<Test>::UnknownRun);
		assert_noop!(reveal(1000, list(), salt), Error::<Test>::UnknownRun);
		create();
		miner(1);
		validator(1000, MIN_STAKE);
		assert_noop!(commit(1, hash(&list())), Error::<Test>::NotValidator);
		assert_noop!(reveal(1, list(), salt), Error::<Test>::NotValidator);
		// Round 0's score window is [15, 26): commitments in [15, 23), reveals in [23, 26).
		run_to_block(14);
		assert_noop!(commit(1000, hash(&list())), Error::<Test>::ScoreWindowClosed);
		run_to_block(15);
		assert_ok!(commit(1000, hash(&list())));
		assert!(events().contains(&Event::ScoresCommitted { run: 0, round: 0, validator: 0 }));
		assert_noop!(commit(1000, hash(&list())), Error::<Test>::AlreadySubmitted);
		// Nothing can be revealed before the reveal phase, so nobody sees scores to copy.
		assert_noop!(reveal(1000, list(), salt), Error::<Test>::ScoreWindowClosed);
		validator(1001, MIN_STAKE);
		run_to_block(23);
		// Too late to commit: a copycat that waited for the reveals cannot join in.
		assert_noop!(commit(1001, hash(&list())), Error::<Test>::ScoreWindowClosed);
		assert_noop!(reveal(1001, list(), salt), Error::<Test>::NoScoreCommitment);
		assert_noop!(reveal(1000, vec![], salt), Error::<Test>::EmptyScores);
		let bad = |f: fn(&mut MinerScore)| {
			let mut x = score(0, 5);
			f(&mut x);
			reveal(1000, vec![x], salt)
		};
		assert_noop!(bad(|x| x.indicator = 2), Error::<Test>::ScoreIndicatorOutOfRange);
		assert_noop!(bad(|x| x.sync_ppm = PPM + 1), Error::<Test>::ScoreSyncOutOfRange);
		assert_noop!(bad(|x| x.flags = ScoreFlags(8)), Error::<Test>::ScoreUnknownFlags);
		assert_noop!(
			reveal(1000, vec![score(1, 1), score(0, 1)], salt),
			Error::<Test>::ScoresNotSorted
		);
		// Other scores, or the same with another salt, do not match the commitment.
		assert_noop!(reveal(1000, vec![score(0, 6)], salt), Error::<Test>::ScoreHashMismatch);
		assert_noop!(reveal(1000, list(), [8; 32]), Error::<Test>::ScoreHashMismatch);
		assert_ok!(reveal(1000, list(), salt));
		assert!(events().contains(&Event::ScoresSubmitted {
			run: 0,
			round: 0,
			validator: 0,
			count: 1
		}));
		assert_noop!(reveal(1000, list(), salt), Error::<Test>::AlreadySubmitted);
		// The window closes at block 26, where round 0 settles and its scores are pruned.
		run_to_block(25);
		assert!(Scores::<Test>::get((0, 0, 0)).is_some());
		run_to_block(26);
		assert!(Scores::<Test>::get((0, 0, 0)).is_none());
		assert!(ScoreCommits::<Test>::get((0, 0, 0)).is_none());
		assert_noop!(reveal(1000, list(), salt), Error::<Test>::ScoreWindowClosed);
	});
}

#[test]
fn commit_checkpoint_works_and_validates() {
	new_test_ext().execute_with(|| {
		assert_noop!(
			Training::commit_checkpoint(RuntimeOrigin::signed(1000), 0, 0, [1; 32], url("s3://c")),
			Error::<Test>::UnknownRun
		);
		create();
		miner(1);
		validator(1000, MIN_STAKE);
		validator(1001, MIN_STAKE);
		assert_noop!(
			Training::commit_checkpoint(RuntimeOrigin::signed(1), 0, 0, [1; 32], url("s3://c")),
			Error::<Test>::NotValidator
		);
		run_to_block(5);
		assert_noop!(
			Training::commit_checkpoint(RuntimeOrigin::signed(1000), 0, 0, [1; 32], url("s3://c")),
			Error::<Test>::FutureRound
		);
		run_to_block(12);
		assert_noop!(
			Training::commit_checkpoint(RuntimeOrigin::signed(1000), 0, 0, [1; 32], url("")),
			Error::<Test>::EmptyUrl
		);
		// Half of the stake is not a majority; two hashes split it.
		assert_ok!(Training::commit_checkpoint(
			RuntimeOrigin::signed(1000),
			0,
			0,
			[1; 32],
			url("s3://c")
		));
		assert_noop!(
			Training::commit_checkpoint(RuntimeOrigin::signed(1000), 0, 0, [1; 32], url("s3://c")),
			Error::<Test>::CheckpointExists
		);
		assert_ok!(Training::commit_checkpoint(
			RuntimeOrigin::signed(1001),
			0,
			0,
			[2; 32],
			url("s3://d")
		));
		assert_eq!(Training::latest_checkpoint(0), None);
		assert!(Training::agreed_checkpoints(0).is_empty());
		run_to_block(2 + 10 * 5);
		assert_noop!(
			Training::commit_checkpoint(RuntimeOrigin::signed(1001), 0, 1, [2; 32], url("s3://d")),
			Error::<Test>::CheckpointTooOld
		);
		assert_ok!(Training::commit_checkpoint(
			RuntimeOrigin::signed(1001),
			0,
			4,
			[4; 32],
			url("s3://e")
		));
		assert_eq!(Training::latest_checkpoint(0), None);
		assert_ok!(Training::commit_checkpoint(
			RuntimeOrigin::signed(1000),
			0,
			4,
			[4; 32],
			url("s3://f")
		));
		assert_eq!(Training::latest_checkpoint(0), Some((4, [4; 32], b"s3://f".to_vec())));
		assert!(events().contains(&Event::CheckpointAgreed { run: 0, round: 4, hash: [4; 32] }));
	});
}

// ---------------------------------------------------------------- lifecycle

/// Miners 1..=3 are honest (loss scores 300, 200, 100), miner 4 never commits. Validators
/// 1000..=1002 stake equally; with `liar`, validator 1002 reverses the ranking and praises
/// the non-committer. Drives `rounds` rounds and returns (miner payouts, validator
/// payouts, minted, burned, accrued) summed over all settlements.
struct Outcome {
	miner_pay: [u64; 4],
	validator_pay: [u64; 3],
	minted: u64,
	burned: u64,
	accrued: u64,
	issuance_delta: u64,
	settled: u32,
}

fn lifecycle(rounds: u64, liar: bool) -> Outcome {
	let mut out = Outcome {
		miner_pay: [0; 4],
		validator_pay: [0; 3],
		minted: 0,
		burned: 0,
		accrued: 0,
		issuance_delta: 0,
		settled: 0,
	};
	new_test_ext().execute_with(|| {
		create();
		for who in 1..=4 {
			miner(who);
		}
		for who in 1000..=1002 {
			validator(who, 10_000);
		}
		let issuance = Balances::total_issuance();
		let honest = vec![
			score(0, 300),
			score(1, 200),
			score(2, 100),
			MinerScore { flags: ScoreFlags::MISSING, ..score(3, 0) },
		];
		let lie = vec![score(0, -300), score(1, -200), score(2, 100), score(3, 10_000)];
		let last = 26 + 10 * (rounds - 1);
		for b in 2..=last {
			run_to_block(b);
			if b >= 3 && (b - 3) % 10 == 0 {
				let r = (b - 3) / 10;
				for who in 1..=3 {
					commit(who, r);
				}
			}
			if b >= 15 && (b - 15) % 10 == 0 && (b - 15) / 10 < rounds {
				let r = (b - 15) / 10;
				for who in 1000..=1002 {
					let list = if liar && who == 1002 { lie.clone() } else { honest.clone() };
					assert_ok!(post_scores(who, RUN, r, list));
				}
			}
			assert_ok!(Training::do_try_state());
		}
		for e in events() {
			match e {
				Event::Paid { who, amount, role: Role::Miner, .. } => {
					out.miner_pay[who as usize - 1] += amount
				}
				Event::Paid { who, amount, role: Role::Validator, .. } => {
					out.validator_pay[who as usize - 1000] += amount
				}
				Event::Settled { minted, burned, accrued, .. } => {
					out.minted += minted;
					out.burned += burned;
					out.accrued += accrued;
					out.settled += 1;
				}
				_ => {}
			}
		}
		out.issuance_delta = Balances::total_issuance() - issuance;

		// States after the run.
		let state = |uid: Uid| MinerStates::<Test>::get(RUN, uid).unwrap().state;
		assert!(state(3).consecutive_misses as u64 >= rounds.min(255));
		assert_eq!(state(3).final_score, Fixed::ZERO);
		assert!(state(0).rating.mu > state(1).rating.mu && state(1).rating.mu > state(2).rating.mu);
		assert!(state(2).rating.mu > state(3).rating.mu);
		let (burn, weights) = Training::run_weights(RUN);
		assert_eq!(
			weights.iter().map(|w| u64::from(w.1)).sum::<u64>() + u64::from(burn),
			u64::from(PPB)
		);
		assert!(!weights.iter().any(|w| w.0 == 3), "the non-committer earns nothing");
		assert!(weights.iter().any(|w| w.0 == 0) && weights.iter().any(|w| w.0 == 1));
		// Past warm-up, the aggregation set holds only positively scored miners.
		let set = Training::aggregation_set(RUN, rounds + 1).unwrap();
		assert!(set.contains(&0) && !set.contains(&3));
		// Old commitments and aggregation sets are pruned.
		assert!(Training::round_commitments(RUN, 0).is_empty());
		assert!(Training::aggregation_set(RUN, 0).is_none());
		assert!(!Training::round_commitments(RUN, rounds - 1).is_empty());
		let status = Training::run_status(RUN).unwrap();
		assert_eq!(status.next_settle, rounds);
		assert_eq!((status.miners, status.validators), (4, 3));
		assert_eq!(status.minted_total, out.minted);
		assert_eq!(Training::peers(RUN).len(), 7);
		assert_eq!(Training::miner_states(RUN).len(), 4);
	});
	out
}

#[test]
fn lifecycle_pays_honest_miners_and_penalises_missing() {
	let rounds = 8;
	let out = lifecycle(rounds, false);
	assert_eq!(out.settled, rounds as u32);
	assert!(out.miner_pay[0] > 0 && out.miner_pay[1] > 0, "{:?}", out.miner_pay);
	assert!(out.miner_pay[0] >= out.miner_pay[1] && out.miner_pay[1] >= out.miner_pay[2]);
	assert_eq!(out.miner_pay[3], 0);
	assert!(out.validator_pay.iter().all(|&p| p > 0));
	// Conservation: everything accrued is either minted (and paid) or burned.
	assert_eq!(
		out.minted,
		out.miner_pay.iter().sum::<u64>() + out.validator_pay.iter().sum::<u64>()
	);
	assert_eq!(out.minted + out.burned, out.accrued);
	assert_eq!(out.issuance_delta, out.minted);
	// Emission accrues from the run's start (block 2) to the last settlement.
	assert_eq!(out.accrued, 1_000 * (26 + 10 * (rounds - 1) - 2));
}

#[test]
fn one_lying_validator_of_three_cannot_change_miner_payouts() {
	let honest = lifecycle(6, false);
	let lied = lifecycle(6, true);
	assert_eq!(honest.miner_pay, lied.miner_pay);
	assert_eq!(lied.miner_pay[3], 0);
	// The liar disagrees with the median and earns less than the honest validators.
	assert!(lied.validator_pay[2] < lied.validator_pay[0]);
	assert_eq!(lied.validator_pay[0], lied.validator_pay[1]);
	assert_eq!(lied.minted + lied.burned, lied.accrued);
	assert_eq!(lied.issuance_delta, lied.minted);
}

#[test]
fn rounds_open_with_aggregation_sets_and_settlement_weight_is_reported() {
	new_test_ext().execute_with(|| {
		create();
		miner(1);
		miner(2);
		run_to_block(2);
		assert_eq!(Training::aggregation_set(RUN, 0), Some(vec![0, 1]));
		assert!(events().contains(&Event::RoundOpened {
			run: 0,
			round: 0,
			aggregation_set_len: 2
		}));
		let status = Training::run_status(RUN).unwrap();
		assert_eq!(
			(status.round, status.commit_deadline, status.score_window),
			(Some(0), Some(15), Some((15, 26)))
		);
		assert_eq!(status.next_settle_block, Some(26));
		// Settlement of round 0 at block 26 reports its weight.
		System::set_block_number(26);
		let w = Training::on_initialize(26);
		assert!(w.ref_time() >= <() as WeightInfo>::settle(2, 0).ref_time());
		// Nobody committed: both missed round 0.
		assert_eq!(MinerStates::<Test>::get(RUN, 0).unwrap().state.consecutive_misses, 1);
	});
}

#[test]
fn warmup_sets_drop_zeroed_miners_and_take_newcomers_at_the_next_settlement() {
	new_test_ext().execute_with(|| {
		let incentive = IncentiveParams { warmup_rounds: 10, ..IncentiveParams::default() };
		assert_ok!(Training::create_run(
			RuntimeOrigin::root(),
			RunParams { incentive, ..test_params() }
		));
		for who in 1..=3 {
			miner(who);
		}
		validator(1000, 10_000);
		// Miners 1 and 2 (uids 0, 1) commit every round; miner 3 (uid 2) never does and is
		// scored missing. Round r settles at block 26 + 10 r and fixes the set of round r + 3.
		let list = vec![
			score(0, 200),
			score(1, 100),
			MinerScore { flags: ScoreFlags::MISSING, ..score(2, 0) },
		];
		for b in 2..=52 {
			run_to_block(b);
			if b >= 3 && (b - 3) % 10 == 0 {
				commit(1, (b - 3) / 10);
				commit(2, (b - 3) / 10);
			}
			if b >= 15 && (b - 15) % 10 == 0 {
				assert_ok!(post_scores(1000, RUN, (b - 15) / 10, list.clone()));
			}
			if b == 30 {
				miner(4);
			}
		}
		let set = |round| Training::aggregation_set(RUN, round).unwrap();
		// Before the first settlement: every registered miner.
		assert_eq!((set(0), set(2)), (vec![0, 1, 2], vec![0, 1, 2]));
		// Two misses cost uid 2 score but not its place; uid 3, registered at block 30, joins
		// with the settlement at block 36.
		assert_eq!((set(3), set(4)), (vec![0, 1, 2], vec![0, 1, 2, 3]));
		// The third miss zeroes uid 2 (miss penalty 0): left out although still in warm-up.
		assert_eq!(MinerStates::<Test>::get(RUN, 2).unwrap().state.consecutive_misses, 3);
		assert_eq!(set(5), vec![0, 1, 3]);
		assert!(Training::run_status(RUN).unwrap().next_settle < 10, "still in warm-up");
	});
}

#[test]
fn settlement_of_256_miners_and_32_validators() {
	new_test_ext().execute_with(|| {
		create();
		for who in 1..=256 {
			miner(who);
		}
		for who in 1000..1032 {
			validator(who, MIN_STAKE + who);
		}
		run_to_block(3);
		for who in 1..=256 {
			commit(who, 0);
		}
		run_to_block(15);
		for (i, who) in (1000..1032u64).enumerate() {
			let list: Vec<MinerScore> = (0..256u16)
				.map(|uid| MinerScore {
					uid,
					loss_score: i64::from(uid) * 1_000 + i as i64,
					indicator: if uid % 7 == 0 { -1 } else { 1 },
					sync_ppm: PPM - u32::from(uid),
					flags: if uid % 50 == 0 { ScoreFlags::INVALID } else { ScoreFlags::NONE },
				})
				.collect();
			assert_ok!(post_scores(who, RUN, 0, list));
		}
		let issuance = Balances::total_issuance();
		run_to_block(26);
		let settled = events().into_iter().find_map(|e| match e {
			Event::Settled { round: 0, scored, accrued, minted, burned, .. } => {
				Some((scored, accrued, minted, burned))
			}
			_ => None,
		});
		let (scored, accrued, minted, burned) = settled.expect("round 0 settled");
		assert_eq!(scored, 256);
		assert_eq!(accrued, 24 * 1_000);
		assert_eq!(minted + burned, accrued);
		assert_eq!(Balances::total_issuance() - issuance, minted);
		let paid = events().iter().filter(|e| matches!(e, Event::Paid { .. })).count();
		assert!(paid > 30, "{paid}");
		assert!(Scores::<Test>::iter_prefix((RUN, 0)).next().is_none());
		// The best miner (uid 255) outranks the worst valid one.
		let s = |uid| MinerStates::<Test>::get(RUN, uid).unwrap().state;
		assert!(s(255).rating.mu > s(1).rating.mu);
		assert_eq!(s(50).consecutive_misses, 1);
		assert_ok!(Training::do_try_state());
	});
}

#[test]
fn deregistered_validator_scores_are_dropped() {
	new_test_ext().execute_with(|| {
		create();
		miner(1);
		validator(1000, MIN_STAKE);
		run_to_block(15);
		assert_ok!(post_scores(1000, RUN, 0, vec![score(0, 1)]));
		assert_ok!(Training::deregister(RuntimeOrigin::signed(1000), RUN));
		assert!(ScoreCommits::<Test>::get((RUN, 0, 0)).is_none());
		// A newcomer on the same uid commits its own (it was not bonded before round 0's
		// blobs were readable, so they will not count; see tests/validators.rs).
		validator(1001, MIN_STAKE);
		assert_ok!(post_scores(1001, RUN, 0, vec![score(0, 1)]));
		run_to_block(23);
		assert_eq!(Scores::<Test>::get((RUN, 0, 0)).map(|s| s.len()), Some(1));
	});
}

#[test]
fn hooks_integrity_and_storage_version() {
	new_test_ext().execute_with(|| {
		<Training as Hooks<u64>>::integrity_test();
		use frame_support::traits::GetStorageVersion;
		assert_eq!(Training::in_code_storage_version(), 4);
		// The v0 -> v1 shell stamps version 1 exactly once.
		use frame_support::traits::OnRuntimeUpgrade;
		frame_support::traits::StorageVersion::new(0).put::<Training>();
		migrations::v1::MigrateV0ToV1::<Test>::on_runtime_upgrade();
		assert_eq!(Training::on_chain_storage_version(), 1);
	});
}

/// What a run created with `test_params` looks like after the migrations to version 3: the
/// blob length is unknown to the chain (zero, unchecked); the other new fields have the
/// defaults `test_params` uses too.
fn migrated(info: RunInfo<u64>) -> RunInfo<u64> {
	RunInfo { params: RunParams { blob_len: 0, dataset_hash: [0; 32], ..info.params }, ..info }
}

/// Writes `run` in the v1 layout (without `created_at`), as a chain at version 1 holds it.
fn store_as_v1(run: RunId) -> migrations::v2::OldRunInfo<u64> {
	let info = Runs::<Test>::get(run).unwrap();
	let old = migrations::v2::OldRunInfo::downgrade(info);
	frame_support::storage::unhashed::put_raw(
		&Runs::<Test>::hashed_key_for(run),
		&codec::Encode::encode(&old),
	);
	old
}

#[test]
fn migration_v1_to_v2_adds_created_at_on_populated_state() {
	use frame_support::traits::{GetStorageVersion, OnRuntimeUpgrade, StorageVersion};
	new_test_ext().execute_with(|| {
		// Two runs created at different blocks, one of them active with peers and settled
		// rounds, the other closed.
		assert_ok!(Training::create_run(RuntimeOrigin::root(), test_params()));
		for who in 1..=3 {
			assert_ok!(Training::register_miner(RuntimeOrigin::signed(who), 0, url("file:///m")));
		}
		run_to_block(25);
		assert_ok!(Training::create_run(RuntimeOrigin::root(), test_params()));
		assert_ok!(Training::close_run(RuntimeOrigin::root(), 1));
		let (r0, r1) = (Runs::<Test>::get(0).unwrap(), Runs::<Test>::get(1).unwrap());
		assert_eq!((r0.created_at, r1.created_at), (1, 25));

		// Roll the state back to version 1.
		let old0 = store_as_v1(0);
		let old1 = store_as_v1(1);
		StorageVersion::new(1).put::<Training>();
		// In the old layout the new type does not decode.
		assert!(Runs::<Test>::get(0).is_none());

		migrations::v2::MigrateV1ToV2::<Test>::on_runtime_upgrade();
		assert_eq!(Training::on_chain_storage_version(), 2);
		// Running it again is a no-op (the version is already 2).
		let weight = migrations::v2::MigrateV1ToV2::<Test>::on_runtime_upgrade();
		assert_eq!(
			weight,
			<<Test as frame_system::Config>::DbWeight as frame_support::traits::Get<
				frame_support::weights::RuntimeDbWeight,
			>>::get()
			.reads(1)
		);
		// Then v2 -> v3 -> v4, as the runtime's migration tuple runs them.
		migrations::v3::MigrateV2ToV3::<Test>::on_runtime_upgrade();
		assert_eq!(Training::on_chain_storage_version(), 3);
		migrations::v4::MigrateV3ToV4::<Test>::on_runtime_upgrade();
		assert_eq!(Training::on_chain_storage_version(), 4);
		assert_eq!(Runs::<Test>::get(0).unwrap(), migrated(r0.clone()));
		assert_eq!(Runs::<Test>::get(1).unwrap(), migrated(r1.clone()));
		assert_eq!(old0.upgrade().upgrade().upgrade(), migrated(r0.clone()));
		assert_eq!(old1.upgrade().upgrade().upgrade(), migrated(r1));
		Training::do_try_state().unwrap();

		// The hooks keep driving the migrated run: it settles further rounds.
		run_to_block(60);
		assert!(Runs::<Test>::get(0).unwrap().next_settle > r0.next_settle);
	});
}

#[test]
fn migration_v1_to_v2_on_empty_state_only_bumps_the_version() {
	use frame_support::traits::{GetStorageVersion, OnRuntimeUpgrade, StorageVersion};
	new_test_ext().execute_with(|| {
		StorageVersion::new(1).put::<Training>();
		migrations::v2::MigrateV1ToV2::<Test>::on_runtime_upgrade();
		assert_eq!(Training::on_chain_storage_version(), 2);
		migrations::v3::MigrateV2ToV3::<Test>::on_runtime_upgrade();
		assert_eq!(Training::on_chain_storage_version(), 3);
		migrations::v4::MigrateV3ToV4::<Test>::on_runtime_upgrade();
		assert_eq!(Training::on_chain_storage_version(), 4);
		assert_eq!(Runs::<Test>::iter().count(), 0);
	});
}

#[cfg(feature = "try-runtime")]
#[test]
fn migration_v1_to_v2_try_runtime_checks_pass() {
	use frame_support::traits::{GetStorageVersion, OnRuntimeUpgrade, StorageVersion};
	new_test_ext().execute_with(|| {
		assert_ok!(Training::create_run(RuntimeOrigin::root(), test_params()));
		assert_ok!(Training::register_miner(RuntimeOrigin::signed(1), 0, url("file:///m")));
		store_as_v1(0);
		StorageVersion::new(1).put::<Training>();
		let state = migrations::v2::MigrateV1ToV2::<Test>::pre_upgrade().unwrap();
		migrations::v2::MigrateV1ToV2::<Test>::on_runtime_upgrade();
		migrations::v2::MigrateV1ToV2::<Test>::post_upgrade(state).unwrap();
		assert_eq!(Training::on_chain_storage_version(), 2);
		let state = migrations::v3::MigrateV2ToV3::<Test>::pre_upgrade().unwrap();
		migrations::v3::MigrateV2ToV3::<Test>::on_runtime_upgrade();
		migrations::v3::MigrateV2ToV3::<Test>::post_upgrade(state).unwrap();
		assert_eq!(Training::on_chain_storage_version(), 3);
		let state = migrations::v4::MigrateV3ToV4::<Test>::pre_upgrade().unwrap();
		migrations::v4::MigrateV3ToV4::<Test>::on_runtime_upgrade();
		migrations::v4::MigrateV3ToV4::<Test>::post_upgrade(state).unwrap();
		assert_eq!(Training::on_chain_storage_version(), 4);
	});
}

/// Writes `run` in the v3 layout (a dataset id instead of the dataset hash).
fn store_as_v3(run: RunId) -> migrations::v4::OldRunInfo<u64> {
	let old = migrations::v4::OldRunInfo::downgrade(Runs::<Test>::get(run).unwrap());
	frame_support::storage::unhashed::put_raw(
		&Runs::<Test>::hashed_key_for(run),
		&codec::Encode::encode(&old),
	);
	old
}

#[test]
fn migration_v3_to_v4_leaves_old_runs_unchecked_and_keeps_them_running() {
	use frame_support::traits::{GetStorageVersion, OnRuntimeUpgrade, StorageVersion};
	new_test_ext().execute_with(|| {
		assert_ok!(Training::create_run(RuntimeOrigin::root(), test_params()));
		for who in 1..=3 {
			assert_ok!(Training::register_miner(RuntimeOrigin::signed(who), 0, url("file:///m")));
		}
		run_to_block(25);
		let before = Runs::<Test>::get(0).unwrap();
		let old = store_as_v3(0);
		StorageVersion::new(3).put::<Training>();
		assert!(Runs::<Test>::get(0).is_none(), "the v3 layout does not decode as v4");

		migrations::v4::MigrateV3ToV4::<Test>::on_runtime_upgrade();
		assert_eq!(Training::on_chain_storage_version(), 4);
		let after = Runs::<Test>::get(0).unwrap();
		assert_eq!(after.params.dataset_hash, [0; 32]);
		assert_eq!(
			after,
			RunInfo {
				params: RunParams { dataset_hash: [0; 32], ..before.params.clone() },
				..before.clone()
			}
		);
		assert_eq!(old.upgrade(), after);
		// Once is enough: at version 4 it does nothing.
		migrations::v4::MigrateV3ToV4::<Test>::on_runtime_upgrade();
		assert_eq!(Runs::<Test>::get(0).unwrap(), after);
		Training::do_try_state().unwrap();
		run_to_block(60);
		assert!(Runs::<Test>::get(0).unwrap().next_settle > before.next_settle);
	});
}

#[test]
fn a_new_run_must_name_its_dataset() {
	new_test_ext().execute_with(|| {
		let params = RunParams { dataset_hash: [0; 32], ..test_params() };
		assert_noop!(Training::create_run(RuntimeOrigin::root(), params), Error::<Test>::NoDataset);
	});
}

mod reap;
mod validators;
