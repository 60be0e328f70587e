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

mod commitments;
mod governance;
mod reap;
mod registration;
mod settlement;
mod storage_migrations;
mod validators;
