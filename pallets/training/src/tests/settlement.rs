//! Settlement and payouts: whole runs driven through their rounds, aggregation sets,
//! warm-up, a lying validator, settlement at the maximum sizes, the hooks' integrity test.

use super::*;

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
