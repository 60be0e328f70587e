//! Registration: miners and validators join with held deposits and stakes, leave, change
//! their store URL, and a full run replaces its worst miner past immunity.

use super::*;

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

/// A registration into a free uid and a departure are charged what they cost, not the worst
/// case the call declares up front.
#[test]
fn registration_and_departure_charge_their_actual_weight() {
	use frame_support::dispatch::GetDispatchInfo;
	use sp_runtime::traits::Dispatchable;
	new_test_ext().execute_with(|| {
		create();
		let register =
			RuntimeCall::Training(Call::register_miner { run: RUN, store_url: url("s3://m") });
		assert_eq!(
			register.get_dispatch_info().call_weight,
			<() as WeightInfo>::register_miner_replacing()
		);
		let post = register.dispatch(RuntimeOrigin::signed(1)).expect("registers");
		assert_eq!(post.actual_weight, Some(<() as WeightInfo>::register_miner()));
		assert!(
			<() as WeightInfo>::register_miner().ref_time()
				< <() as WeightInfo>::register_miner_replacing().ref_time()
		);

		validator(2, MIN_STAKE);
		let leave = RuntimeCall::Training(Call::deregister { run: RUN });
		let declared = leave.get_dispatch_info().call_weight;
		let post = leave.clone().dispatch(RuntimeOrigin::signed(1)).expect("a miner leaves");
		assert_eq!(post.actual_weight, Some(<() as WeightInfo>::deregister_miner()));
		let post = leave.dispatch(RuntimeOrigin::signed(2)).expect("a validator leaves");
		assert_eq!(post.actual_weight, Some(<() as WeightInfo>::deregister_validator()));
		assert_eq!(
			declared,
			<() as WeightInfo>::deregister_miner().max(<() as WeightInfo>::deregister_validator())
		);
	});
}
