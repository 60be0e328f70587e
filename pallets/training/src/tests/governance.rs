//! Governance of runs: creating one (every parameter checked), changing its parameters and
//! closing it.

use super::*;

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
		for _ in 1..<<Test as Config>::MaxRuns as frame_support::traits::Get<u32>>::get() {
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

#[test]
fn a_new_run_must_name_its_dataset() {
	new_test_ext().execute_with(|| {
		let params = RunParams { dataset_hash: [0; 32], ..test_params() };
		assert_noop!(Training::create_run(RuntimeOrigin::root(), params), Error::<Test>::NoDataset);
	});
}
