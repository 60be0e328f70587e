//! Validators that try to be paid without doing the work, or to decide rounds alone: the
//! lazy validator, the just-in-time whale, the lone small validator (quorum), squatting a
//! full set, and leaving to resubmit; plus the rules that keep hostile peers' inputs out
//! (blob length, store URL schemes) and the round seed.

use super::*;

/// The miners and validators of [`play`]: four miners commit every round; each validator
/// submits what its strategy says.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Strategy {
	/// Scores every committed miner like the others.
	Honest,
	/// Scores a single miner (the lazy validator).
	Lazy,
}

/// Pay per account over the run, from the `Paid` events.
fn pay_of(who: u64) -> u64 {
	events()
		.into_iter()
		.filter_map(|e| match e {
			Event::Paid { who: w, amount, .. } if w == who => Some(amount),
			_ => None,
		})
		.sum()
}

/// Pay per (account, round) from the `Paid` events.
fn pay_in(who: u64, round: u64) -> u64 {
	events()
		.into_iter()
		.filter_map(|e| match e {
			Event::Paid { who: w, amount, round: r, .. } if w == who && r == round => Some(amount),
			_ => None,
		})
		.sum()
}

fn honest_scores() -> Vec<MinerScore> {
	vec![score(0, 300), score(1, 200), score(2, 100), score(3, 50)]
}

/// Creates the run, registers miners 1..=4 and `validators` (account, stake, strategy), and
/// plays `rounds` rounds. `each_block` runs after every block's hooks.
fn play(validators: &[(u64, u64, Strategy)], rounds: u64, mut each_block: impl FnMut(u64)) {
	create();
	for who in 1..=4 {
		miner(who);
	}
	for &(who, stake, _) in validators {
		validator(who, stake);
	}
	let last = 26 + 10 * (rounds - 1);
	for b in 2..=last {
		run_to_block(b);
		if b >= 3 && (b - 3) % 10 == 0 {
			for who in 1..=4 {
				commit(who, (b - 3) / 10);
			}
		}
		if b >= 15 && (b - 15) % 10 == 0 && (b - 15) / 10 < rounds {
			let r = (b - 15) / 10;
			for &(who, _, strategy) in validators {
				let list = match strategy {
					Strategy::Honest => honest_scores(),
					Strategy::Lazy => vec![score(0, 300)],
				};
				assert_ok!(post_scores(who, RUN, r, list));
			}
		}
		each_block(b);
		assert_ok!(Training::do_try_state());
	}
}

#[test]
fn a_lazy_validator_earns_by_coverage_and_costs_the_honest_one_nothing() {
	let with_lazy = new_test_ext().execute_with(|| {
		play(&[(1000, 10_000, Strategy::Honest), (1001, 10_000, Strategy::Lazy)], 8, |_| {});
		(pay_of(1000), pay_of(1001))
	});
	let with_honest = new_test_ext().execute_with(|| {
		play(&[(1000, 10_000, Strategy::Honest), (1001, 10_000, Strategy::Honest)], 8, |_| {});
		(pay_of(1000), pay_of(1001))
	});
	let (honest, lazy) = with_lazy;
	assert!(honest > 0, "the honest validator is paid");
	// One score of the four due: a quarter of the honest validator's pay at equal stake.
	assert!(lazy * 3 < honest, "lazy {lazy} vs honest {honest}");
	assert!(lazy.abs_diff(honest / 4) <= 8, "lazy {lazy} vs honest {honest}");
	// The honest validator is paid the same as beside another honest one.
	assert_eq!(honest, with_honest.0);
	assert_eq!(with_honest.0, with_honest.1);
}

#[test]
fn a_just_in_time_whale_changes_no_payout_of_the_round() {
	// Round 3 settles at block 56; its score window is [45, 56), reveals from 53. The whale
	// registers late in it with 50x the honest stake, commits reversed scores (revealed at
	// 53), and leaves right after the settlement.
	let whale = 1002u64;
	let reversed = vec![score(0, -300), score(1, -200), score(2, -100), score(3, 1_000)];
	let baseline = new_test_ext().execute_with(|| {
		play(&[(1000, 10_000, Strategy::Honest), (1001, 10_000, Strategy::Honest)], 6, |_| {});
		(1..=4).chain([1000, 1001]).map(|who| pay_in(who, 3)).collect::<Vec<_>>()
	});
	let attacked = new_test_ext().execute_with(|| {
		play(&[(1000, 10_000, Strategy::Honest), (1001, 10_000, Strategy::Honest)], 6, |b| {
			match b {
				52 => {
					validator(whale, 500_000);
					assert_ok!(post_scores(whale, RUN, 3, reversed.clone()));
				}
				55 => assert!(
					Scores::<Test>::contains_key((RUN, 3, 2)),
					"the whale's scores were revealed"
				),
				57 => {
					assert_ok!(Training::deregister(RuntimeOrigin::signed(whale), RUN));
					// Leaving starts the unbonding period: the stake stays held.
					assert_eq!(held(whale, HoldReason::ValidatorStake), 500_000);
				}
				_ => {}
			}
		});
		assert_eq!(pay_of(whale), 0);
		(1..=4).chain([1000, 1001]).map(|who| pay_in(who, 3)).collect::<Vec<_>>()
	});
	assert!(baseline.iter().take(4).any(|&p| p > 0), "{baseline:?}");
	assert_eq!(baseline, attacked);

	// Even registered through a whole round, a whale that joined after the round's blobs
	// were readable does not count for it.
	new_test_ext().execute_with(|| {
		play(&[(1000, 10_000, Strategy::Honest)], 5, |b| {
			if b == 36 {
				// Round 2's commit deadline was block 35.
				validator(whale, 500_000);
			}
			if b == 40 {
				assert_ok!(post_scores(whale, RUN, 2, reversed.clone()));
			}
		});
		assert_eq!(pay_in(whale, 2), 0);
		assert!(pay_in(1000, 2) > 0);
	});
}

#[test]
fn without_a_quorum_a_round_is_unscored() {
	// The big validator misses round 1; the small one (1/11 of the stake) cannot decide it.
	// Driven by hand to control who submits for which round.
	new_test_ext().execute_with(|| {
		create();
		for who in 1..=4 {
			miner(who);
		}
		validator(1000, 10_000);
		validator(1001, 1_000);
		let mut states_before_round_1 = Vec::new();
		for b in 2..=46 {
			run_to_block(b);
			if b >= 3 && (b - 3) % 10 == 0 {
				for who in 1..=4 {
					commit(who, (b - 3) / 10);
				}
			}
			if b == 15 || b == 35 {
				// Rounds 0 and 2: both validators score.
				for who in [1000, 1001] {
					assert_ok!(post_scores(who, RUN, (b - 15) / 10, honest_scores()));
				}
			}
			if b == 25 {
				// Round 1: only the small validator.
				assert_ok!(post_scores(1001, RUN, 1, honest_scores()));
			}
			if b == 35 {
				// Round 0 settled at 26, round 1 settles at 36.
				states_before_round_1 = Training::miner_states(RUN);
			}
			if b == 36 {
				// Round 1 settled at 36 without a quorum: states (ratings, final scores, hence
				// weights) as before, and no miner was paid for it.
				assert_eq!(Training::miner_states(RUN), states_before_round_1);
				for who in 1..=4 {
					assert_eq!(pay_in(who, 1), 0, "miner {who} paid without a quorum");
				}
				let settled = events().into_iter().find_map(|e| match e {
					Event::Settled { round: 1, scored, minted, burned, accrued, .. } => {
						Some((scored, minted, burned, accrued))
					}
					_ => None,
				});
				let (scored, minted, burned, accrued) = settled.unwrap();
				assert_eq!(scored, 0);
				assert_eq!(minted + burned, accrued);
			}
			assert_ok!(Training::do_try_state());
		}
		// Rounds 0 and 2 were scored and paid.
		assert!(pay_in(1, 0) > 0 && pay_in(1, 2) > 0);
	});
}

#[test]
fn leaving_unbonds_and_blocks_resubmitting() {
	new_test_ext().execute_with(|| {
		create();
		miner(1);
		validator(1000, 5_000);
		run_to_block(15);
		assert_ok!(post_scores(1000, RUN, 0, vec![score(0, 1)]));
		assert_ok!(Training::deregister(RuntimeOrigin::signed(1000), RUN));
		// Its unsettled scores are gone, its stake is held until block 15 + 30.
		assert!(ScoreCommits::<Test>::get((RUN, 0, 0)).is_none());
		assert_eq!(held(1000, HoldReason::ValidatorStake), 5_000);
		assert_eq!(
			Unbondings::<Test>::get(RUN, 1000),
			Some(Unbonding { amount: 5_000, until: 45 })
		);
		// It cannot come back to resubmit while unbonding.
		assert_noop!(
			Training::register_validator(RuntimeOrigin::signed(1000), RUN, 5_000, url("s3://v")),
			Error::<Test>::StillUnbonding
		);
		assert_noop!(
			Training::withdraw_unbonded(RuntimeOrigin::signed(1000), RUN),
			Error::<Test>::UnbondingNotOver
		);
		assert_noop!(
			Training::withdraw_unbonded(RuntimeOrigin::signed(1001), RUN),
			Error::<Test>::NothingUnbonding
		);
		run_to_block(45);
		assert_ok!(Training::withdraw_unbonded(RuntimeOrigin::signed(1000), RUN));
		assert_eq!(held(1000, HoldReason::ValidatorStake), 0);
		assert_eq!(Balances::balance(&1000), ENDOWMENT);
		assert!(events().contains(&Event::Withdrawn { run: RUN, who: 1000, amount: 5_000 }));
		// A newcomer on the freed uid submits for a round it was bonded before.
		validator(1000, 5_000);
		assert_ok!(Training::do_try_state());
	});
}

#[test]
fn a_full_validator_set_replaces_its_smallest_stake_past_immunity() {
	new_test_ext().execute_with(|| {
		create();
		for who in 1000..1032 {
			validator(who, MIN_STAKE + (who - 1000) % 4);
		}
		// Equal stake, or before immunity: no room.
		assert_noop!(
			Training::register_validator(
				RuntimeOrigin::signed(1032),
				RUN,
				MIN_STAKE,
				url("s3://v")
			),
			Error::<Test>::TooManyValidators
		);
		assert_noop!(
			Training::register_validator(
				RuntimeOrigin::signed(1032),
				RUN,
				2 * MIN_STAKE,
				url("s3://v")
			),
			Error::<Test>::TooManyValidators
		);
		run_to_block(1 + IMMUNITY);
		assert_ok!(Training::register_validator(
			RuntimeOrigin::signed(1032),
			RUN,
			2 * MIN_STAKE,
			url("s3://v")
		));
		// The smallest stakes are 1000, 1004, ..., 1028 (MIN_STAKE); the highest uid goes.
		assert!(Peers::<Test>::get(RUN, 1028).is_none());
		assert_eq!(Peers::<Test>::get(RUN, 1032).unwrap().uid, 28);
		assert_eq!(Unbondings::<Test>::get(RUN, 1028).unwrap().amount, MIN_STAKE);
		assert!(events().contains(&Event::ValidatorReplaced {
			run: RUN,
			uid: 28,
			old: 1028,
			new: 1032
		}));
		// The newcomer is immune for a while: a bigger one replaces another small one.
		assert_ok!(Training::register_validator(
			RuntimeOrigin::signed(1033),
			RUN,
			3 * MIN_STAKE,
			url("s3://v")
		));
		assert!(Peers::<Test>::get(RUN, 1024).is_none());
		assert_eq!(Validators::<Test>::get(RUN).len(), 32);
		assert_ok!(Training::do_try_state());
	});
}

#[test]
fn commitments_must_have_the_runs_blob_length() {
	new_test_ext().execute_with(|| {
		create();
		miner(1);
		run_to_block(3);
		assert_noop!(
			Training::commit_gradient(RuntimeOrigin::signed(1), RUN, 0, [1; 32], 999),
			Error::<Test>::WrongBlobLen
		);
		assert_noop!(
			Training::commit_gradient(RuntimeOrigin::signed(1), RUN, 0, [1; 32], u32::MAX),
			Error::<Test>::WrongBlobLen
		);
		commit(1, 0);
		// The length is a run parameter, checked like the others.
		let bad = RunParams { blob_len: 0, ..test_params() };
		assert_noop!(
			Training::create_run(RuntimeOrigin::root(), bad),
			Error::<Test>::InvalidBlobLen
		);
		let bad = RunParams { quorum_ppb: 0, ..test_params() };
		assert_noop!(
			Training::create_run(RuntimeOrigin::root(), bad),
			Error::<Test>::InvalidValidatorRules
		);
		let bad = RunParams { quorum_ppb: PPB + 1, ..test_params() };
		assert_noop!(
			Training::create_run(RuntimeOrigin::root(), bad),
			Error::<Test>::InvalidValidatorRules
		);
		let bad = RunParams { unbonding_blocks: MAX_UNBONDING_BLOCKS + 1, ..test_params() };
		assert_noop!(
			Training::create_run(RuntimeOrigin::root(), bad),
			Error::<Test>::InvalidValidatorRules
		);
	});
}

#[test]
fn store_urls_must_name_a_remote_store_or_an_allowed_local_one() {
	new_test_ext().execute_with(|| {
		create();
		let register =
			|who: u64, u: &str| Training::register_miner(RuntimeOrigin::signed(who), RUN, url(u));
		for bad in [
			"ftp://x",
			"s3://",
			"https://",
			"http:///x",
			"/abs/path",
			"relative",
			"file://relative",
			"s3:/x",
		] {
			assert_noop!(register(1, bad), Error::<Test>::UnsupportedUrlScheme);
		}
		assert_ok!(register(1, "s3://bucket/p?endpoint=https://s3.example.org"));
		assert_ok!(register(2, "https://store.example.org/bucket"));
		assert_ok!(register(3, "http://10.0.0.1:8333/bucket"));
		assert_ok!(register(4, "file:///var/lib/grads"));
		AllowFileStores::set(false);
		assert_noop!(register(5, "file:///var/lib/grads"), Error::<Test>::UnsupportedUrlScheme);
		assert_noop!(
			Training::update_store_url(RuntimeOrigin::signed(1), RUN, url("file:///x")),
			Error::<Test>::UnsupportedUrlScheme
		);
		AllowFileStores::set(true);
	});
}

#[test]
fn round_seeds_are_the_hash_of_the_last_commit_block() {
	new_test_ext().execute_with(|| {
		create();
		// Round 0's commits close at block 15: its seed is block 14's hash.
		for b in 2..=15u64 {
			System::set_block_number(b);
			System::set_parent_hash(sp_core::H256::repeat_byte(b as u8));
			Training::on_initialize(b);
			if b < 15 {
				assert_eq!(
					Training::round_seed(RUN, 0),
					None,
					"known before the deadline at block {b}"
				);
			}
		}
		assert_eq!(Training::round_seed(RUN, 0), Some([15; 32]));
		// Pruned with the round's other records after `RETENTION` more settlements.
		run_to_block(26 + 10 * u64::from(RETENTION) + 1);
		assert!(Training::round_seed(RUN, 0).is_none());
		assert!(Training::round_seed(RUN, u64::from(RETENTION) + 1).is_some());
	});
}

#[test]
fn a_sampled_miner_needs_a_quorum_of_the_validators_due_to_score_it() {
	new_test_ext().execute_with(|| {
		// An aggregation set of one after the first settlement, one sampled miner per
		// validator: three validators of equal stake each score exactly what they are due.
		let incentive = IncentiveParams {
			aggregation_set_size: 1,
			warmup_rounds: 1,
			indicator_threshold_ppb: 0,
			..test_params().incentive
		};
		assert_ok!(Training::create_run(
			RuntimeOrigin::root(),
			RunParams { incentive, eval_sample: 1, ..test_params() }
		));
		for who in 1..=3 {
			miner(who);
		}
		let validators = [1000u64, 1001, 1002];
		for who in validators {
			validator(who, 10_000);
		}
		// Round 4 (scored from block 55, settled at 66) opens with the set of round 1's
		// settlement (block 36): one miner.
		let mut due_in_round_4: Vec<Vec<Uid>> = Vec::new();
		let mut before = Vec::new();
		for b in 2..=66 {
			run_to_block(b);
			if b >= 3 && (b - 3) % 10 == 0 && b < 60 {
				for who in 1..=3 {
					commit(who, (b - 3) / 10);
				}
			}
			if b >= 15 && (b - 15) % 10 == 0 && b < 60 {
				let r = (b - 15) / 10;
				let set = Training::aggregation_set(RUN, r).unwrap();
				let seed = Training::round_seed(RUN, r).unwrap();
				let due: Vec<Vec<Uid>> = (0..3u16)
					.map(|v| training_protocol::due_set(&seed, r, v, &set, &[0, 1, 2], 1))
					.collect();
				for (i, who) in validators.into_iter().enumerate() {
					let list = due[i].iter().map(|&u| score(u, 100 * i64::from(u))).collect();
					assert_ok!(post_scores(who, RUN, r, list));
				}
				if r == 4 {
					assert_eq!(set.len(), 1, "round 4's aggregation set");
					due_in_round_4 = due;
				}
			}
			if b == 60 {
				before = Training::miner_states(RUN);
			}
		}
		let after = Training::miner_states(RUN);
		for uid in 0..3u16 {
			let due_by = due_in_round_4.iter().filter(|d| d.contains(&uid)).count();
			let evaluations =
				|states: &[(Uid, MinerRecord)]| states[usize::from(uid)].1.state.evaluations;
			// Scored by every validator due to score it: a quorum whatever the number, even
			// one validator of three (a third of the bonded stake); due to none: unscored.
			let expected = evaluations(&before) + u32::from(due_by > 0);
			assert_eq!(
				evaluations(&after),
				expected,
				"miner {uid}, due by {due_by}: {due_in_round_4:?}"
			);
		}
	});
}

/// A low-stake validator that records a poisoned checkpoint first (and every round) never
/// makes it the run's; the honest majority's hash is agreed once it holds more than half of
/// the stake, with every URI that recorded it (largest stake first), and a departed
/// validator's vote counts for nothing. Old rounds' votes are pruned with their commitments;
/// the newest agreed checkpoint stays until a newer one is agreed.
#[test]
fn checkpoints_need_a_stake_majority() {
	new_test_ext().execute_with(|| {
		create();
		miner(1);
		validator(1000, 3 * MIN_STAKE);
		validator(1001, 2 * MIN_STAKE);
		validator(1002, MIN_STAKE);
		let (honest, poison) = ([7; 32], [6; 32]);
		let record = |who: u64, round: u64, hash: Hash32, uri: &str| {
			Training::commit_checkpoint(RuntimeOrigin::signed(who), RUN, round, hash, url(uri))
		};
		run_to_block(13);
		assert_ok!(record(1002, 0, poison, "s3://poison"));
		assert_eq!(Training::latest_checkpoint(RUN), None, "a sixth of the stake");
		assert_ok!(record(1000, 0, honest, "s3://big"));
		assert_eq!(Training::latest_checkpoint(RUN), None, "half of the stake is not a majority");
		assert_ok!(record(1001, 0, honest, "s3://mid"));
		let agreed = Training::agreed_checkpoints(RUN);
		assert_eq!(agreed.len(), 1);
		assert_eq!((agreed[0].round, agreed[0].hash), (0, honest));
		assert_eq!(agreed[0].uris, vec![b"s3://big".to_vec(), b"s3://mid".to_vec()]);
		// A late vote for the agreed hash adds its URI; a poisoned one changes nothing.
		assert_ok!(Training::deregister(RuntimeOrigin::signed(1000), RUN));
		run_to_block(23);
		// Round 1: 1000 left, so 1001 (2/3 of what is bonded now) decides alone.
		assert_ok!(record(1002, 1, poison, "s3://poison"));
		assert_ok!(record(1001, 1, honest, "s3://mid"));
		assert_eq!(Training::latest_checkpoint(RUN).map(|c| c.0), Some(1));
		assert_eq!(Training::first_kept_round(RUN), Some(0));
		// Rounds settle; round r's votes go when round r + RETENTION settles, except for the
		// newest agreed checkpoint's.
		run_to_block(2 + 10 * 8);
		let kept = Training::first_kept_round(RUN).unwrap();
		assert!(kept >= 2, "first kept round {kept}");
		assert!(CheckpointVotes::<Test>::iter_prefix((RUN, 0)).next().is_none());
		assert!(!Checkpoints::<Test>::contains_key(RUN, 0));
		assert!(Checkpoints::<Test>::contains_key(RUN, 1), "the newest agreed checkpoint stays");
		assert_eq!(CheckpointVotes::<Test>::iter_prefix((RUN, 1)).count(), 2);
		// A newer agreed checkpoint replaces it, and the pruned round's entries go.
		let round = Training::run_status(RUN).unwrap().round.unwrap() - 1;
		assert!(round > 1);
		assert_ok!(record(1001, round, honest, "s3://mid"));
		assert_eq!(Training::latest_checkpoint(RUN).map(|c| c.0), Some(round));
		assert!(!Checkpoints::<Test>::contains_key(RUN, 1));
		assert!(CheckpointVotes::<Test>::iter_prefix((RUN, 1)).next().is_none());
	});
}

#[test]
fn the_applied_set_is_what_a_stake_majority_found_there_and_valid() {
	new_test_ext().execute_with(|| {
		create();
		for who in 1..=4 {
			miner(who);
		}
		for who in [1000, 1001, 1002] {
			validator(who, 10_000);
		}
		let flagged = |uid: Uid, flags: ScoreFlags| MinerScore { flags, ..score(uid, 100) };
		let pick = |set: bool, flag: ScoreFlags| if set { flag } else { ScoreFlags::NONE };
		for b in 2..=36 {
			run_to_block(b);
			if b >= 3 && (b - 3) % 10 == 0 {
				// Miner 4 (uid 3) commits nothing for round 0.
				for who in (1..=4).filter(|&who| !(who == 4 && b == 3)) {
					commit(who, (b - 3) / 10);
				}
			}
			if b == 15 {
				// Round 0: uid 1 is missing for two validators of three, uid 2 invalid for one;
				// one validator claims uid 3 (who committed nothing) is fine.
				for (who, missing, invalid) in
					[(1000, true, true), (1001, true, false), (1002, false, false)]
				{
					let list = vec![
						score(0, 300),
						flagged(1, pick(missing, ScoreFlags::MISSING)),
						flagged(2, pick(invalid, ScoreFlags::INVALID)),
						score(3, 50),
					];
					assert_ok!(post_scores(who, RUN, 0, list));
				}
			}
			if b == 25 {
				// Round 1: one validator of three scores: no quorum, nothing vouched for.
				assert_ok!(post_scores(1000, RUN, 1, honest_scores()));
			}
			if b < 26 {
				assert_eq!(
					Training::applied_set(RUN, 0),
					None,
					"applied before settlement at block {b}"
				);
			}
			assert_ok!(Training::do_try_state());
		}
		assert_eq!(Training::aggregation_set(RUN, 0), Some(vec![0, 1, 2, 3]));
		assert_eq!(Training::applied_set(RUN, 0), Some(vec![0, 2]));
		assert_eq!(Training::applied_set(RUN, 1), Some(vec![]));
	});
}
