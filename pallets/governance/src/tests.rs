//! The origin check, the authorization it leaves in `frame-system`, and a full council motion.

use crate::{mock::*, Event};
use codec::Encode;
use frame_support::{assert_noop, assert_ok, dispatch::GetDispatchInfo};
use sp_core::H256;
use sp_runtime::{traits::Hash, DispatchError};

fn hash_of(code: &[u8]) -> H256 {
	<Test as frame_system::Config>::Hashing::hash(code)
}

/// `frame_system::AuthorizedUpgrade` (not public in frame-system), read raw: the struct
/// encodes as `(code_hash, check_version)`.
fn authorized() -> Option<(H256, bool)> {
	let key = [sp_io::hashing::twox_128(b"System"), sp_io::hashing::twox_128(b"AuthorizedUpgrade")]
		.concat();
	frame_support::storage::unhashed::get::<(H256, bool)>(&key)
}

#[test]
fn root_authorizes_with_version_check() {
	new_test_ext().execute_with(|| {
		let h = hash_of(b"new runtime");
		assert_ok!(Governance::authorize_upgrade(RuntimeOrigin::root(), h));
		assert_eq!(authorized(), Some((h, true)));
		System::assert_has_event(Event::UpgradeAuthorized { code_hash: h }.into());
		System::assert_has_event(
			frame_system::Event::UpgradeAuthorized { code_hash: h, check_version: true }.into(),
		);
	});
}

#[test]
fn signed_and_minority_origins_are_refused() {
	new_test_ext().execute_with(|| {
		let h = hash_of(b"x");
		assert_noop!(
			Governance::authorize_upgrade(RuntimeOrigin::signed(ALICE), h),
			DispatchError::BadOrigin
		);
		// One of three members (a third) is short of two thirds.
		let one_of_three =
			pallet_collective::RawOrigin::<u64, pallet_collective::Instance1>::Members(1, 3);
		assert_noop!(
			Governance::authorize_upgrade(one_of_three.into(), h),
			DispatchError::BadOrigin
		);
		assert_eq!(authorized(), None);
	});
}

#[test]
fn two_thirds_of_the_council_authorizes() {
	new_test_ext().execute_with(|| {
		let h = hash_of(b"y");
		let two_of_three =
			pallet_collective::RawOrigin::<u64, pallet_collective::Instance1>::Members(2, 3);
		assert_ok!(Governance::authorize_upgrade(two_of_three.into(), h));
		assert_eq!(authorized(), Some((h, true)));
	});
}

#[test]
fn a_later_authorization_replaces_an_earlier_one() {
	new_test_ext().execute_with(|| {
		let (a, b) = (hash_of(b"a"), hash_of(b"b"));
		assert_ok!(Governance::authorize_upgrade(RuntimeOrigin::root(), a));
		assert_ok!(Governance::authorize_upgrade(RuntimeOrigin::root(), b));
		assert_eq!(authorized(), Some((b, true)));
	});
}

#[test]
fn council_motion_propose_vote_close() {
	new_test_ext().execute_with(|| {
		let h = hash_of(b"runtime v2");
		let call: RuntimeCall = crate::Call::<Test>::authorize_upgrade { code_hash: h }.into();
		let len = call.encoded_size() as u32;
		let motion = <Test as frame_system::Config>::Hashing::hash_of(&call);
		// Threshold 2 of 3: Alice's proposal counts as her aye.
		assert_ok!(Council::propose(RuntimeOrigin::signed(ALICE), 2, Box::new(call.clone()), len));
		// Nothing happens before the motion closes.
		assert_eq!(authorized(), None);
		// A non-member cannot vote.
		assert!(Council::vote(RuntimeOrigin::signed(DAVE), motion, 0, true).is_err());
		assert_ok!(Council::vote(RuntimeOrigin::signed(BOB), motion, 0, true));
		assert_ok!(Council::vote(RuntimeOrigin::signed(CHARLIE), motion, 0, true));
		// Anyone may close once the ayes reach the threshold.
		let weight = call.get_dispatch_info().call_weight;
		assert_ok!(Council::close(RuntimeOrigin::signed(DAVE), motion, 0, weight, len));
		assert_eq!(authorized(), Some((h, true)));
		System::assert_has_event(
			pallet_collective::Event::<Test, pallet_collective::Instance1>::Executed {
				proposal_hash: motion,
				result: Ok(()),
			}
			.into(),
		);
	});
}

#[test]
fn a_motion_with_only_one_aye_cannot_authorize() {
	new_test_ext().execute_with(|| {
		let h = hash_of(b"z");
		let call: RuntimeCall = crate::Call::<Test>::authorize_upgrade { code_hash: h }.into();
		let len = call.encoded_size() as u32;
		// Threshold 1 executes at once with a one-member origin, which the pallet refuses.
		assert_ok!(Council::propose(RuntimeOrigin::signed(ALICE), 1, Box::new(call), len));
		assert_eq!(authorized(), None);
	});
}

#[test]
fn weight_is_operational_and_nonzero() {
	let info =
		crate::Call::<Test>::authorize_upgrade { code_hash: H256::zero() }.get_dispatch_info();
	assert_eq!(info.class, frame_support::dispatch::DispatchClass::Operational);
	assert!(info.call_weight.ref_time() > 0);
}
