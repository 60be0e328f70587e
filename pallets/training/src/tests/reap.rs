//! Closed runs give their storage back: `reap_run` in bounded steps, holds released, and
//! nothing of a reaped run left (checked by `try_state` after every step).

use super::*;

/// Plays run 0 for `rounds` rounds with miners 1..=4 committing and validators 1000, 1001
/// scoring, and a checkpoint agreed; validator 1001 then leaves (its stake unbonding).
fn busy_run(rounds: u64) {
	create();
	for who in 1..=4 {
		miner(who);
	}
	validator(1000, 10_000);
	validator(1001, 10_000);
	for b in 2..=(26 + 10 * (rounds - 1)) {
		run_to_block(b);
		if b >= 3 && (b - 3) % 10 == 0 {
			for who in 1..=4 {
				commit(who, (b - 3) / 10);
			}
		}
		if b >= 15 && (b - 15) % 10 == 0 && (b - 15) / 10 < rounds {
			let list = vec![score(0, 300), score(1, 200), score(2, 100), score(3, 50)];
			for who in [1000, 1001] {
				assert_ok!(post_scores(who, RUN, (b - 15) / 10, list.clone()));
			}
		}
		if b == 20 {
			for who in [1000, 1001] {
				assert_ok!(Training::commit_checkpoint(
					RuntimeOrigin::signed(who),
					RUN,
					0,
					[7; 32],
					url("s3://b/c")
				));
			}
		}
	}
	assert_ok!(Training::deregister(RuntimeOrigin::signed(1001), RUN));
}

#[test]
fn reaping_is_for_closed_runs_with_a_bounded_step() {
	new_test_ext().execute_with(|| {
		busy_run(2);
		let reap = |limit| Training::reap_run(RuntimeOrigin::signed(9), RUN, limit);
		assert_noop!(reap(10), Error::<Test>::RunNotClosed);
		assert_noop!(
			Training::reap_run(RuntimeOrigin::signed(9), 7, 10),
			Error::<Test>::UnknownRun
		);
		assert_ok!(Training::close_run(RuntimeOrigin::root(), RUN));
		assert_noop!(reap(0), Error::<Test>::InvalidReapLimit);
		assert_noop!(reap(MaxPeers::get() + 1), Error::<Test>::InvalidReapLimit);
		assert_noop!(Training::reap_run(RuntimeOrigin::root(), RUN, 10), BadOrigin);
	});
}

#[test]
fn a_reaped_run_leaves_nothing_and_releases_every_hold() {
	let mut ext = new_test_ext();
	let free_before = ext.execute_with(|| {
		busy_run(3);
		// A second run that must not be touched.
		create();
		assert_ok!(Training::register_miner(RuntimeOrigin::signed(5), 1, url("s3://bucket/m")));
		assert!(Commitments::<Test>::iter_prefix((RUN,)).count() > 0);
		assert!(Checkpoints::<Test>::contains_key(RUN, 0));
		assert!(AppliedSets::<Test>::iter_prefix(RUN).count() > 0);
		assert_eq!(held(1001, HoldReason::ValidatorStake), 10_000, "unbonding");
		assert_ok!(Training::close_run(RuntimeOrigin::root(), RUN));
		[1, 2, 3, 4, 1000, 1001].map(Balances::free_balance)
	});
	// Into the backend, as a live chain holds it: only there do a step's limits bite (keys
	// still in the overlay are removed without counting).
	ext.commit_all().unwrap();
	ext.execute_with(|| {
		let mut steps = 0;
		loop {
			steps += 1;
			assert!(steps < 100, "reaping does not end");
			assert_ok!(Training::reap_run(RuntimeOrigin::signed(9), RUN, 4));
			assert_ok!(Training::do_try_state());
			if events().iter().any(|e| matches!(e, Event::RunReaped { run: RUN })) {
				break;
			}
			let removed = events().into_iter().rev().find_map(|e| match e {
				Event::RunReapProgress { removed, .. } => Some(removed),
				_ => None,
			});
			assert!(removed.is_some_and(|r| r <= 4), "{removed:?}");
		}
		assert!(steps > 5, "a step of 4 reaped everything in {steps} steps");
		assert!(Runs::<Test>::get(RUN).is_none());
		assert!(!crate::reap::remains::<Test>(RUN) && !crate::reap::run_entries_left::<Test>(RUN));
		assert_eq!(Training::run_status(RUN), None);
		for who in 1..=4 {
			assert_eq!(held(who, HoldReason::MinerDeposit), 0);
		}
		for who in [1000, 1001] {
			assert_eq!(held(who, HoldReason::ValidatorStake), 0);
		}
		let free_after = [1, 2, 3, 4, 1000, 1001].map(Balances::free_balance);
		for (before, after) in free_before.iter().zip(&free_after) {
			assert!(after > before, "{free_before:?} -> {free_after:?}");
		}
		// The other run is intact, and a reaped run can no longer be reaped or left.
		assert!(Runs::<Test>::get(1).is_some());
		assert_eq!(held(5, HoldReason::MinerDeposit), MINER_DEPOSIT);
		assert_noop!(
			Training::reap_run(RuntimeOrigin::signed(9), RUN, 4),
			Error::<Test>::UnknownRun
		);
		assert_noop!(
			Training::deregister(RuntimeOrigin::signed(1), RUN),
			Error::<Test>::UnknownRun
		);
	});
}
