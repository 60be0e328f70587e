//! The runtime of the decentralized-training chain.
//!
//! Consensus is Aura (block production) plus GRANDPA (finality); money is `pallet-balances`
//! with transaction fees; `pallet-sudo` administers dev chains and a council
//! (`pallet-collective`) passes motions on governed chains: runtime upgrades and training-run
//! parameters (a two-thirds council motion authorizes runtime upgrades through
//! `pallet-governance`). `pallet-training` runs the training protocol: rounds, gradient commitments,
//! validator scores, ratings, emission weights and payouts.
//!
//! Layout: `configs` implements each pallet's `Config`, `apis` the runtime APIs the node and
//! the workers call, `genesis` the named genesis presets.

#![cfg_attr(not(feature = "std"), no_std)]
// `construct_runtime` expands to large recursive types.
#![recursion_limit = "256"]

#[cfg(feature = "std")]
include!(concat!(env!("OUT_DIR"), "/wasm_binary.rs"));

extern crate alloc;

use alloc::vec::Vec;

pub mod apis;
mod configs;
pub mod genesis;

use sp_runtime::{
	generic, impl_opaque_keys,
	traits::{BlakeTwo256, IdentifyAccount, Verify},
	MultiAddress, MultiSignature,
};
use sp_version::RuntimeVersion;

pub use configs::{CouncilMotionDuration, COUNCIL_MAX_MEMBERS};

/// The pallets whose benchmarks the runtime exposes (`Benchmark` runtime API, built with
/// `--features runtime-benchmarks`); `scripts/bench-weights.sh` runs them with
/// `frame-omni-bencher` and writes each pallet's `weights.rs`.
#[cfg(feature = "runtime-benchmarks")]
mod benches {
	frame_benchmarking::define_benchmarks!(
		[pallet_training, Training]
		[pallet_governance, Governance]
	);
}

/// The runtime's identity. `spec_version` must grow with every upgrade that changes behaviour
/// (see docs/runtime-upgrades.md for the release checklist).
///
/// The `upgrade-test` cargo feature builds the same runtime with `spec_version` one higher: a
/// second, otherwise identical wasm that a running chain accepts as an upgrade (used by the
/// end-to-end upgrade test and for rehearsals; see `docs/runtime-upgrades.md`). The
/// `runtime_version` attribute needs literal numbers, hence the two declarations; keep them
/// identical apart from `spec_version`.
#[cfg(not(feature = "upgrade-test"))]
#[sp_version::runtime_version]
pub const VERSION: RuntimeVersion = RuntimeVersion {
	spec_name: alloc::borrow::Cow::Borrowed("training-chain"),
	impl_name: alloc::borrow::Cow::Borrowed("training-chain"),
	authoring_version: 1,
	spec_version: 107,
	impl_version: 1,
	apis: apis::RUNTIME_API_VERSIONS,
	transaction_version: 2,
	system_version: 1,
};

/// [`VERSION`] with `spec_version` one higher (feature `upgrade-test`).
#[cfg(feature = "upgrade-test")]
#[sp_version::runtime_version]
pub const VERSION: RuntimeVersion = RuntimeVersion {
	spec_name: alloc::borrow::Cow::Borrowed("training-chain"),
	impl_name: alloc::borrow::Cow::Borrowed("training-chain"),
	authoring_version: 1,
	spec_version: 108,
	impl_version: 1,
	apis: apis::RUNTIME_API_VERSIONS,
	transaction_version: 2,
	system_version: 1,
};

/// Target block time. Aura slots are this long; a dev chain finalizes within a few blocks.
pub const MILLISECS_PER_BLOCK: u64 = 3000;
/// Aura slot duration (changing it on a live chain halts block production).
pub const SLOT_DURATION: u64 = MILLISECS_PER_BLOCK;
/// Blocks per minute, for durations written in wall-clock terms.
pub const MINUTES: BlockNumber = 60_000 / (MILLISECS_PER_BLOCK as BlockNumber);

/// One whole unit of the native token (12 decimals).
pub const UNIT: Balance = 1_000_000_000_000;
/// The smallest balance an account may hold.
pub const EXISTENTIAL_DEPOSIT: Balance = UNIT / 1_000;

pub type BlockNumber = u32;
pub type Signature = MultiSignature;
pub type AccountId = <<Signature as Verify>::Signer as IdentifyAccount>::AccountId;
pub type Balance = u128;
pub type Nonce = u32;
pub type Hash = sp_core::H256;

/// Types the node needs without knowing the runtime's extrinsic format.
pub mod opaque {
	use super::*;
	pub use sp_runtime::OpaqueExtrinsic as UncheckedExtrinsic;

	pub type Header = generic::Header<BlockNumber, BlakeTwo256>;
	pub type Block = generic::Block<Header, UncheckedExtrinsic>;
	pub type BlockId = generic::BlockId<Block>;
}

impl_opaque_keys! {
	/// The keys an authority registers: one for block production, one for finality votes.
	pub struct SessionKeys {
		pub aura: Aura,
		pub grandpa: Grandpa,
	}
}

#[frame_support::runtime]
mod runtime {
	#[runtime::runtime]
	#[runtime::derive(
		RuntimeCall,
		RuntimeEvent,
		RuntimeError,
		RuntimeOrigin,
		RuntimeFreezeReason,
		RuntimeHoldReason,
		RuntimeSlashReason,
		RuntimeLockId,
		RuntimeTask,
		RuntimeViewFunction
	)]
	pub struct Runtime;

	#[runtime::pallet_index(0)]
	pub type System = frame_system;
	#[runtime::pallet_index(1)]
	pub type Timestamp = pallet_timestamp;
	#[runtime::pallet_index(2)]
	pub type Aura = pallet_aura;
	#[runtime::pallet_index(3)]
	pub type Grandpa = pallet_grandpa;
	#[runtime::pallet_index(4)]
	pub type Balances = pallet_balances;
	#[runtime::pallet_index(5)]
	pub type TransactionPayment = pallet_transaction_payment;
	#[runtime::pallet_index(6)]
	pub type Sudo = pallet_sudo;
	#[runtime::pallet_index(7)]
	pub type Council = pallet_collective<Instance1>;
	#[runtime::pallet_index(8)]
	pub type Training = pallet_training;
	#[runtime::pallet_index(9)]
	pub type Governance = pallet_governance;
}

pub type Address = MultiAddress<AccountId, ()>;
pub type Header = generic::Header<BlockNumber, BlakeTwo256>;
pub type Block = generic::Block<Header, UncheckedExtrinsic>;

/// Checks applied to every signed transaction, in order.
pub type TxExtension = (
	frame_system::CheckNonZeroSender<Runtime>,
	frame_system::CheckSpecVersion<Runtime>,
	frame_system::CheckTxVersion<Runtime>,
	frame_system::CheckGenesis<Runtime>,
	frame_system::CheckEra<Runtime>,
	frame_system::CheckNonce<Runtime>,
	frame_system::CheckWeight<Runtime>,
	pallet_transaction_payment::ChargeTransactionPayment<Runtime>,
	frame_system::WeightReclaim<Runtime>,
);

pub type UncheckedExtrinsic =
	generic::UncheckedExtrinsic<Address, RuntimeCall, Signature, TxExtension>;
pub type SignedPayload = generic::SignedPayload<RuntimeCall, TxExtension>;

/// Storage migrations run on the next runtime upgrade, beyond those of the pallets, oldest
/// first. Each is a `VersionedMigration` and does nothing unless the pallet's on-chain storage
/// version matches its `FROM`; remove an entry once every live chain has run it.
type Migrations = (
	pallet_training::migrations::v1::MigrateV0ToV1<Runtime>,
	pallet_training::migrations::v2::MigrateV1ToV2<Runtime>,
	pallet_training::migrations::v3::MigrateV2ToV3<Runtime>,
	pallet_training::migrations::v4::MigrateV3ToV4<Runtime>,
);

pub type Executive = frame_executive::Executive<
	Runtime,
	Block,
	frame_system::ChainContext<Runtime>,
	Runtime,
	AllPalletsWithSystem,
	Migrations,
>;
