//! A mock runtime: frame-system, a council (`pallet-collective`, instance 1) and this pallet,
//! configured like the chain's runtime (root or two thirds of the council).

use crate as pallet_governance;
use frame_support::{
	derive_impl, parameter_types,
	traits::{ConstU32, ConstU64, EitherOfDiverse},
	weights::Weight,
};
use frame_system::EnsureRoot;
use sp_runtime::BuildStorage;

type Block = frame_system::mocking::MockBlock<Test>;

frame_support::construct_runtime!(
	pub enum Test {
		System: frame_system,
		Council: pallet_collective::<Instance1>,
		Governance: pallet_governance,
	}
);

#[derive_impl(frame_system::config_preludes::TestDefaultConfig)]
impl frame_system::Config for Test {
	type Block = Block;
}

parameter_types! {
	pub MaxProposalWeight: Weight = Weight::from_parts(1_000_000_000_000, u64::MAX);
}

pub type RootOrTwoThirdsCouncil = EitherOfDiverse<
	EnsureRoot<u64>,
	pallet_collective::EnsureProportionAtLeast<u64, pallet_collective::Instance1, 2, 3>,
>;

impl pallet_collective::Config<pallet_collective::Instance1> for Test {
	type RuntimeOrigin = RuntimeOrigin;
	type Proposal = RuntimeCall;
	type RuntimeEvent = RuntimeEvent;
	type MotionDuration = ConstU64<10>;
	type MaxProposals = ConstU32<8>;
	type MaxMembers = ConstU32<8>;
	type DefaultVote = pallet_collective::PrimeDefaultVote;
	type WeightInfo = ();
	type SetMembersOrigin = EnsureRoot<u64>;
	type MaxProposalWeight = MaxProposalWeight;
	type DisapproveOrigin = RootOrTwoThirdsCouncil;
	type KillOrigin = RootOrTwoThirdsCouncil;
	type Consideration = ();
}

impl pallet_governance::Config for Test {
	type AuthorizeUpgradeOrigin = RootOrTwoThirdsCouncil;
	type WeightInfo = ();
}

/// Council members.
pub const ALICE: u64 = 1;
pub const BOB: u64 = 2;
pub const CHARLIE: u64 = 3;
/// Not on the council.
pub const DAVE: u64 = 4;

pub fn new_test_ext() -> sp_io::TestExternalities {
	let storage = RuntimeGenesisConfig {
		system: Default::default(),
		council: pallet_collective::GenesisConfig {
			members: vec![ALICE, BOB, CHARLIE],
			phantom: Default::default(),
		},
	}
	.build_storage()
	.unwrap();
	let mut ext = sp_io::TestExternalities::new(storage);
	ext.execute_with(|| System::set_block_number(1));
	ext
}
