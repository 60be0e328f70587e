//! A mock runtime: frame-system, pallet-balances and this pallet.

use crate::{self as pallet_training, RunId, RunParams};
use frame_support::{
	derive_impl, parameter_types,
	traits::{ConstU32, ConstU64},
};
use frame_system::EnsureRoot;
use sp_runtime::BuildStorage;
use training_protocol::{IncentiveParams, MinerScore, OpenSkillParams};

type Block = frame_system::mocking::MockBlock<Test>;

frame_support::construct_runtime!(
	pub enum Test {
		System: frame_system,
		Balances: pallet_balances,
		Training: pallet_training,
	}
);

parameter_types! {
	/// The runtime's block: 2 s of execution, three quarters of it for normal transactions
	/// (the rest is what `integrity_test` lets the hooks take).
	pub MockBlockWeights: frame_system::limits::BlockWeights =
		frame_system::limits::BlockWeights::with_sensible_defaults(
			frame_support::weights::Weight::from_parts(
				2 * frame_support::weights::constants::WEIGHT_REF_TIME_PER_SECOND,
				u64::MAX,
			),
			sp_runtime::Perbill::from_percent(75),
		);
}

#[derive_impl(frame_system::config_preludes::TestDefaultConfig)]
impl frame_system::Config for Test {
	type Block = Block;
	type BlockWeights = MockBlockWeights;
	type AccountData = pallet_balances::AccountData<u64>;
}

#[derive_impl(pallet_balances::config_preludes::TestDefaultConfig)]
impl pallet_balances::Config for Test {
	type AccountStore = System;
}

pub const MINER_DEPOSIT: u64 = 100;
pub const MIN_STAKE: u64 = 1_000;
pub const IMMUNITY: u64 = 10;
pub const RETENTION: u32 = 3;

parameter_types! {
	pub const MaxPeers: u32 = 256;
	/// Whether `file://` store URLs are accepted; tests of the public-chain rule turn it off.
	pub static AllowFileStores: bool = true;
}

impl pallet_training::Config for Test {
	type Currency = Balances;
	type RuntimeHoldReason = RuntimeHoldReason;
	type GovernanceOrigin = EnsureRoot<u64>;
	type MaxRuns = ConstU32<8>;
	type MaxPeers = MaxPeers;
	type MaxValidators = ConstU32<32>;
	type MaxUrlLen = ConstU32<256>;
	type MinerDeposit = ConstU64<MINER_DEPOSIT>;
	type MinValidatorStake = ConstU64<MIN_STAKE>;
	type ImmunityPeriod = ConstU64<IMMUNITY>;
	type MaxEmissionPerBlock = ConstU64<1_000_000>;
	type CommitmentRetention = ConstU32<RETENTION>;
	type AllowFileStoreUrls = AllowFileStores;
	type WeightInfo = ();
}

/// Every account from 1 to 400 and 1000..1040 starts with this much.
pub const ENDOWMENT: u64 = 1_000_000;

pub fn new_test_ext() -> sp_io::TestExternalities {
	let mut t = frame_system::GenesisConfig::<Test>::default().build_storage().unwrap();
	let balances: Vec<(u64, u64)> =
		(1..=400u64).chain(1000..1040).map(|a| (a, ENDOWMENT)).collect();
	pallet_balances::GenesisConfig::<Test> { balances, ..Default::default() }
		.assimilate_storage(&mut t)
		.unwrap();
	PENDING_REVEALS.with(|p| p.borrow_mut().clear());
	let mut ext = sp_io::TestExternalities::new(t);
	ext.execute_with(|| System::set_block_number(1));
	ext
}

/// Round length 10, commit window 3, score window 4, warm-up 2 rounds, 1000 per block,
/// blobs of 1000 bytes, quorum one half, unbonding 30 blocks.
pub fn test_params() -> RunParams<u64> {
	RunParams {
		round_length: 10,
		commit_window: 3,
		score_window: 4,
		inner_steps: 15,
		chunk_size: 4096,
		topk_per_chunk: 64,
		quant_bits: 2,
		outer_lr_ppb: 1_000_000_000,
		incentive: IncentiveParams { warmup_rounds: 2, ..IncentiveParams::default() },
		skill: OpenSkillParams::default(),
		emission_per_block: 1_000,
		model_hash: [7; 32],
		dataset_hash: [3; 32],
		run_seed: 42,
		blob_len: 1_000,
		quorum_ppb: 500_000_000,
		eval_sample: 8,
		unbonding_blocks: 30,
	}
}

/// A validator's committed scores waiting for their reveal phase: (validator, run, round,
/// scores, salt).
type PendingReveal = (u64, RunId, u64, Vec<MinerScore>, [u8; 32]);

std::thread_local! {
	static PENDING_REVEALS: std::cell::RefCell<Vec<PendingReveal>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// What an honest validator does: commits to `scores` for `round` now (the returned result
/// is the commitment's) and reveals them as soon as the round's reveal phase begins, which
/// [`run_to_block`] does.
pub fn post_scores(
	who: u64,
	run: RunId,
	round: u64,
	scores: Vec<MinerScore>,
) -> frame_support::dispatch::DispatchResult {
	let salt = [who as u8 ^ round as u8; 32];
	let hash = crate::score_commitment(&scores, &salt);
	Training::commit_scores(RuntimeOrigin::signed(who), run, round, hash)?;
	PENDING_REVEALS.with(|p| p.borrow_mut().push((who, run, round, scores, salt)));
	Ok(())
}

/// Reveals every pending commitment whose reveal phase is open at the current block. A
/// reveal that fails (the validator left meanwhile) is dropped.
fn reveal_due() {
	let now = System::block_number();
	let due: Vec<PendingReveal> = PENDING_REVEALS.with(|p| {
		let mut pending = p.borrow_mut();
		let (due, keep): (Vec<_>, Vec<_>) = pending.drain(..).partition(|(_, run, round, _, _)| {
			crate::Runs::<Test>::get(run)
				.is_some_and(|info| info.clock.accepts_score_reveal(*round, now))
		});
		*pending = keep;
		due
	});
	for (who, run, round, scores, salt) in due {
		let bounded = frame_support::BoundedVec::truncate_from(scores);
		let _ = Training::submit_scores(RuntimeOrigin::signed(who), run, round, bounded, salt);
	}
}

/// Runs the pallet's hooks for every block up to and including `n`, and reveals the scores
/// [`post_scores`] committed once their reveal phase begins.
pub fn run_to_block(n: u64) {
	use frame_support::traits::Hooks;
	while System::block_number() < n {
		let next = System::block_number() + 1;
		System::set_block_number(next);
		Training::on_initialize(next);
		reveal_due();
	}
}
