//! Storage migrations.
//!
//! Each migration is a [`UncheckedOnRuntimeUpgrade`] wrapped in
//! [`frame_support::migrations::VersionedMigration`], so that it runs exactly once, only from
//! the storage version it was written for, and then stamps the next version. The runtime lists
//! them, oldest first, in its `Migrations` tuple; a chain at any older version walks them in
//! order.
//!
//! - [`v1`]: version 0 -> 1, stamps the version on storage that predates versioning (no layout
//!   change).
//! - [`v2`]: version 1 -> 2, adds [`crate::RunInfo::created_at`] to every stored run.
//! - [`v3`]: version 2 -> 3, adds the validator and blob rules to every run's
//!   [`crate::RunParams`] (`blob_len`, `quorum_ppb`, `eval_sample`, `unbonding_blocks`).
//! - [`v4`]: version 3 -> 4, replaces the run's `dataset_id` (a number nobody could check)
//!   with [`crate::RunParams::dataset_hash`] (zero on migrated runs: not checked).
//!
//! Each module keeps the layout it migrates *from* as a frozen type, and the migrations
//! before the last write raw bytes in the next frozen layout, so that every step still
//! decodes what its predecessor wrote after the current types have moved on.

use codec::{Decode, Encode};
use frame_support::{pallet_prelude::*, traits::UncheckedOnRuntimeUpgrade};

/// Run `run` as stored, decoded in layout `L` (`None` if missing or not in that layout).
/// Raw bytes, because during a migration `Runs`' own type may be another layout.
fn run_as<T: crate::Config, L: Decode>(run: crate::RunId) -> Option<L> {
	let raw = frame_support::storage::unhashed::get_raw(&crate::Runs::<T>::hashed_key_for(run))?;
	L::decode(&mut &raw[..]).ok()
}

/// Rewrites every run stored in layout `Old` as `upgrade` of it, in raw bytes (what the
/// migrations before the last one do: their output is not `Runs`' current type). Runs in
/// another layout are left alone. Returns how many were rewritten.
fn rewrite_runs<T: crate::Config, Old: Decode, New: Encode>(upgrade: impl Fn(Old) -> New) -> u64 {
	let mut rewritten: u64 = 0;
	// `iter_keys` decodes only the keys, so it works on values in any layout.
	for run in crate::Runs::<T>::iter_keys().collect::<alloc::vec::Vec<_>>() {
		let Some(old) = run_as::<T, Old>(run) else { continue };
		frame_support::storage::unhashed::put_raw(
			&crate::Runs::<T>::hashed_key_for(run),
			&upgrade(old).encode(),
		);
		rewritten = rewritten.saturating_add(1);
	}
	rewritten
}

/// Every stored run decoded in layout `L`, or `error` if one is not in it: what a
/// migration's `pre_upgrade` records.
#[cfg(feature = "try-runtime")]
fn runs_as<T: crate::Config, L: Decode>(
	error: &'static str,
) -> Result<alloc::vec::Vec<(crate::RunId, L)>, sp_runtime::TryRuntimeError> {
	crate::Runs::<T>::iter_keys().map(|run| Ok((run, run_as::<T, L>(run).ok_or(error)?))).collect()
}

/// From storage version 0 to 1.
pub mod v1 {
	use super::*;
	use crate::{Config, Pallet};

	/// The layout of v0 and v1 is the same: nothing to translate.
	pub struct InnerMigrateV0ToV1<T>(core::marker::PhantomData<T>);

	impl<T: Config> UncheckedOnRuntimeUpgrade for InnerMigrateV0ToV1<T> {
		fn on_runtime_upgrade() -> Weight {
			// No layout change; `VersionedMigration` writes the new version.
			Weight::zero()
		}

		#[cfg(feature = "try-runtime")]
		fn pre_upgrade() -> Result<alloc::vec::Vec<u8>, sp_runtime::TryRuntimeError> {
			use codec::Encode;
			Ok((crate::Runs::<T>::iter_keys().count() as u32).encode())
		}

		#[cfg(feature = "try-runtime")]
		fn post_upgrade(state: alloc::vec::Vec<u8>) -> Result<(), sp_runtime::TryRuntimeError> {
			use codec::Decode;
			let before =
				u32::decode(&mut &state[..]).map_err(|_| "cannot decode pre_upgrade state")?;
			ensure!(
				crate::Runs::<T>::iter_keys().count() as u32 == before,
				"runs lost in migration"
			);
			Pallet::<T>::do_try_state()
		}
	}

	/// The v0 -> v1 migration: runs only when the on-chain version is 0 and then sets it to 1.
	pub type MigrateV0ToV1<T> = frame_support::migrations::VersionedMigration<
		0,
		1,
		InnerMigrateV0ToV1<T>,
		Pallet<T>,
		<T as frame_system::Config>::DbWeight,
	>;
}

/// From storage version 1 to 2: `RunInfo` gains `created_at` (the creation block).
pub mod v2 {
	use super::v3::{OldRunInfo as RunInfo, OldRunParams as RunParams};
	use super::*;
	use crate::{BalanceOf, Config, Pallet};
	use training_protocol::{Round, RoundClock};

	/// `RunInfo` as stored up to version 1 (without `created_at`).
	#[derive(Clone, PartialEq, Eq, Debug, codec::Encode, codec::Decode)]
	pub struct OldRunInfo<Balance> {
		pub params: RunParams<Balance>,
		pub clock: RoundClock,
		pub next_settle: Round,
		pub emission_from: u64,
		pub accrued: Balance,
		pub minted_total: Balance,
		pub burned_total: Balance,
		pub closed: bool,
	}

	impl<Balance> OldRunInfo<Balance> {
		/// A current run as a chain at version 1 stored it (the dataset hash, version 3's
		/// rules and `created_at` dropped), for tests that roll storage back to it.
		pub fn downgrade(info: crate::RunInfo<Balance>) -> Self {
			OldRunInfo {
				params: RunParams::downgrade(super::v4::OldRunParams::downgrade(info.params)),
				clock: info.clock,
				next_settle: info.next_settle,
				emission_from: info.emission_from,
				accrued: info.accrued,
				minted_total: info.minted_total,
				burned_total: info.burned_total,
				closed: info.closed,
			}
		}

		/// The v2 layout ([`super::v3::OldRunInfo`]). A run's round 0 starts the block after its creation, so the
		/// creation block is recovered exactly from the clock.
		pub fn upgrade(self) -> RunInfo<Balance> {
			let created_at = self.clock.start().saturating_sub(1);
			RunInfo {
				params: self.params,
				clock: self.clock,
				next_settle: self.next_settle,
				emission_from: self.emission_from,
				accrued: self.accrued,
				minted_total: self.minted_total,
				burned_total: self.burned_total,
				closed: self.closed,
				created_at,
			}
		}
	}

	/// Rewrites every `Runs` entry in the v2 layout. Weight: one read and one write per run
	/// (at most `MaxRuns` open runs, plus closed ones kept for deregistration).
	pub struct InnerMigrateV1ToV2<T>(core::marker::PhantomData<T>);

	impl<T: Config> UncheckedOnRuntimeUpgrade for InnerMigrateV1ToV2<T> {
		fn on_runtime_upgrade() -> Weight {
			let translated =
				super::rewrite_runs::<T, OldRunInfo<BalanceOf<T>>, _>(OldRunInfo::upgrade);
			log_migration(translated);
			T::DbWeight::get().reads_writes(translated, translated)
		}

		/// Records every run, decoded in the old layout.
		#[cfg(feature = "try-runtime")]
		fn pre_upgrade() -> Result<alloc::vec::Vec<u8>, sp_runtime::TryRuntimeError> {
			Ok(super::runs_as::<T, OldRunInfo<BalanceOf<T>>>(
				"a run does not decode in the v1 layout",
			)?
			.encode())
		}

		/// Every run kept its fields, gained a `created_at` just before its first round, and
		/// the pallet's invariants hold.
		#[cfg(feature = "try-runtime")]
		fn post_upgrade(state: alloc::vec::Vec<u8>) -> Result<(), sp_runtime::TryRuntimeError> {
			let old = <alloc::vec::Vec<(crate::RunId, OldRunInfo<BalanceOf<T>>)>>::decode(
				&mut &state[..],
			)
			.map_err(|_| "cannot decode pre_upgrade state")?;
			ensure!(crate::Runs::<T>::iter_keys().count() == old.len(), "runs lost in migration");
			for (run, before) in old {
				let after = super::run_as::<T, RunInfo<BalanceOf<T>>>(run)
					.ok_or("run does not decode in the v2 layout")?;
				ensure!(after == before.upgrade(), "run fields changed in migration");
				ensure!(after.created_at < after.clock.start(), "created_at not before round 0");
			}
			// The pallet's invariants are checked after the last migration (v3), in the
			// layout the code reads.
			Ok(())
		}
	}

	fn log_migration(runs: u64) {
		frame_support::__private::log::info!(
			target: "runtime::training",
			"migrated {runs} runs to storage version 2 (RunInfo.created_at)"
		);
	}

	/// The v1 -> v2 migration: runs only when the on-chain version is 1 and then sets it to 2.
	pub type MigrateV1ToV2<T> = frame_support::migrations::VersionedMigration<
		1,
		2,
		InnerMigrateV1ToV2<T>,
		Pallet<T>,
		<T as frame_system::Config>::DbWeight,
	>;
}

/// From storage version 2 to 3: `RunParams` gains `blob_len`, `quorum_ppb`, `eval_sample` and
/// `unbonding_blocks`.
pub mod v3 {
	use super::v4::{OldRunInfo as RunInfo, OldRunParams as RunParams};
	use super::*;
	use crate::{BalanceOf, Config, Hash32, Pallet};
	use training_protocol::{IncentiveParams, OpenSkillParams, Round, RoundClock, PPB};

	/// `RunParams` as stored up to version 2.
	#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
	pub struct OldRunParams<Balance> {
		pub round_length: u32,
		pub commit_window: u32,
		pub score_window: u32,
		pub inner_steps: u32,
		pub chunk_size: u32,
		pub topk_per_chunk: u32,
		pub quant_bits: u8,
		pub outer_lr_ppb: u64,
		pub incentive: IncentiveParams,
		pub skill: OpenSkillParams,
		pub emission_per_block: Balance,
		pub model_hash: Hash32,
		pub dataset_id: u32,
		pub run_seed: u64,
	}

	/// `RunInfo` as stored in version 2.
	#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
	pub struct OldRunInfo<Balance> {
		pub params: OldRunParams<Balance>,
		pub clock: RoundClock,
		pub next_settle: Round,
		pub emission_from: u64,
		pub accrued: Balance,
		pub minted_total: Balance,
		pub burned_total: Balance,
		pub closed: bool,
		pub created_at: u64,
	}

	/// Eval sample of a migrated run: the new default.
	pub const DEFAULT_EVAL_SAMPLE: u16 = 8;

	impl<Balance> OldRunParams<Balance> {
		/// The v2 layout of v3 parameters (version 3's rules dropped): what a chain at an
		/// older version stored, for tests that roll storage back to it.
		pub fn downgrade(p: RunParams<Balance>) -> Self {
			OldRunParams {
				round_length: p.round_length,
				commit_window: p.commit_window,
				score_window: p.score_window,
				inner_steps: p.inner_steps,
				chunk_size: p.chunk_size,
				topk_per_chunk: p.topk_per_chunk,
				quant_bits: p.quant_bits,
				outer_lr_ppb: p.outer_lr_ppb,
				incentive: p.incentive,
				skill: p.skill,
				emission_per_block: p.emission_per_block,
				model_hash: p.model_hash,
				dataset_id: p.dataset_id,
				run_seed: p.run_seed,
			}
		}

		/// The v3 layout ([`super::v4::OldRunParams`]). The blob length of an old run is
		/// unknown to the chain, so it stays
		/// unchecked (zero) until governance sets it; the quorum is one half, the unbonding
		/// period three rounds (every round a leaving validator may have scored settles in it).
		pub fn upgrade(self) -> RunParams<Balance> {
			RunParams {
				round_length: self.round_length,
				commit_window: self.commit_window,
				score_window: self.score_window,
				inner_steps: self.inner_steps,
				chunk_size: self.chunk_size,
				topk_per_chunk: self.topk_per_chunk,
				quant_bits: self.quant_bits,
				outer_lr_ppb: self.outer_lr_ppb,
				incentive: self.incentive,
				skill: self.skill,
				emission_per_block: self.emission_per_block,
				model_hash: self.model_hash,
				dataset_id: self.dataset_id,
				run_seed: self.run_seed,
				blob_len: 0,
				quorum_ppb: PPB / 2,
				eval_sample: DEFAULT_EVAL_SAMPLE,
				unbonding_blocks: self
					.round_length
					.saturating_mul(3)
					.min(crate::MAX_UNBONDING_BLOCKS),
			}
		}
	}

	impl<Balance> OldRunInfo<Balance> {
		/// The v3 layout: the same run with upgraded parameters.
		pub fn upgrade(self) -> RunInfo<Balance> {
			RunInfo {
				params: self.params.upgrade(),
				clock: self.clock,
				next_settle: self.next_settle,
				emission_from: self.emission_from,
				accrued: self.accrued,
				minted_total: self.minted_total,
				burned_total: self.burned_total,
				closed: self.closed,
				created_at: self.created_at,
			}
		}
	}

	/// Rewrites every `Runs` entry in the v3 layout: one read and one write per run.
	pub struct InnerMigrateV2ToV3<T>(core::marker::PhantomData<T>);

	impl<T: Config> UncheckedOnRuntimeUpgrade for InnerMigrateV2ToV3<T> {
		fn on_runtime_upgrade() -> Weight {
			let translated =
				super::rewrite_runs::<T, OldRunInfo<BalanceOf<T>>, _>(OldRunInfo::upgrade);
			frame_support::__private::log::info!(
				target: "runtime::training",
				"migrated {translated} runs to storage version 3 (validator and blob rules)"
			);
			T::DbWeight::get().reads_writes(translated, translated)
		}

		/// Records every run, decoded in the v2 layout.
		#[cfg(feature = "try-runtime")]
		fn pre_upgrade() -> Result<alloc::vec::Vec<u8>, sp_runtime::TryRuntimeError> {
			Ok(super::runs_as::<T, OldRunInfo<BalanceOf<T>>>(
				"a run does not decode in the v2 layout",
			)?
			.encode())
		}

		/// Every run kept its fields, gained the new rules, and the pallet's invariants hold.
		#[cfg(feature = "try-runtime")]
		fn post_upgrade(state: alloc::vec::Vec<u8>) -> Result<(), sp_runtime::TryRuntimeError> {
			let old = <alloc::vec::Vec<(crate::RunId, OldRunInfo<BalanceOf<T>>)>>::decode(
				&mut &state[..],
			)
			.map_err(|_| "cannot decode pre_upgrade state")?;
			ensure!(crate::Runs::<T>::iter_keys().count() == old.len(), "runs lost in migration");
			for (run, before) in old {
				let after = super::run_as::<T, RunInfo<BalanceOf<T>>>(run)
					.ok_or("run does not decode in the v3 layout")?;
				ensure!(after == before.upgrade(), "run fields changed in migration");
			}
			// The pallet's invariants are checked after the last migration (v4), in the
			// layout the code reads.
			Ok(())
		}
	}

	/// The v2 -> v3 migration: runs only when the on-chain version is 2 and then sets it to 3.
	pub type MigrateV2ToV3<T> = frame_support::migrations::VersionedMigration<
		2,
		3,
		InnerMigrateV2ToV3<T>,
		Pallet<T>,
		<T as frame_system::Config>::DbWeight,
	>;
}

/// From storage version 3 to 4: `RunParams.dataset_id` becomes `dataset_hash`.
pub mod v4 {
	use super::*;
	use crate::{BalanceOf, Config, Hash32, Pallet, RunInfo, RunParams};
	use training_protocol::{IncentiveParams, OpenSkillParams, Round, RoundClock};

	/// `RunParams` as stored in version 3.
	#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
	pub struct OldRunParams<Balance> {
		pub round_length: u32,
		pub commit_window: u32,
		pub score_window: u32,
		pub inner_steps: u32,
		pub chunk_size: u32,
		pub topk_per_chunk: u32,
		pub quant_bits: u8,
		pub outer_lr_ppb: u64,
		pub incentive: IncentiveParams,
		pub skill: OpenSkillParams,
		pub emission_per_block: Balance,
		pub model_hash: Hash32,
		pub dataset_id: u32,
		pub run_seed: u64,
		pub blob_len: u32,
		pub quorum_ppb: u32,
		pub eval_sample: u16,
		pub unbonding_blocks: u32,
	}

	/// `RunInfo` as stored in version 3.
	#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
	pub struct OldRunInfo<Balance> {
		pub params: OldRunParams<Balance>,
		pub clock: RoundClock,
		pub next_settle: Round,
		pub emission_from: u64,
		pub accrued: Balance,
		pub minted_total: Balance,
		pub burned_total: Balance,
		pub closed: bool,
		pub created_at: u64,
	}

	impl<Balance> OldRunParams<Balance> {
		/// The v3 layout of current parameters (the dataset hash dropped, `dataset_id`
		/// zero), for tests that roll storage back to it.
		pub fn downgrade(p: RunParams<Balance>) -> Self {
			OldRunParams {
				round_length: p.round_length,
				commit_window: p.commit_window,
				score_window: p.score_window,
				inner_steps: p.inner_steps,
				chunk_size: p.chunk_size,
				topk_per_chunk: p.topk_per_chunk,
				quant_bits: p.quant_bits,
				outer_lr_ppb: p.outer_lr_ppb,
				incentive: p.incentive,
				skill: p.skill,
				emission_per_block: p.emission_per_block,
				model_hash: p.model_hash,
				dataset_id: 0,
				run_seed: p.run_seed,
				blob_len: p.blob_len,
				quorum_ppb: p.quorum_ppb,
				eval_sample: p.eval_sample,
				unbonding_blocks: p.unbonding_blocks,
			}
		}

		/// The v4 layout. An old run's dataset id names no content the chain could check,
		/// so its dataset hash is zero: workers train on their configured data unchecked
		/// until governance records the hash.
		pub fn upgrade(self) -> RunParams<Balance> {
			RunParams {
				round_length: self.round_length,
				commit_window: self.commit_window,
				score_window: self.score_window,
				inner_steps: self.inner_steps,
				chunk_size: self.chunk_size,
				topk_per_chunk: self.topk_per_chunk,
				quant_bits: self.quant_bits,
				outer_lr_ppb: self.outer_lr_ppb,
				incentive: self.incentive,
				skill: self.skill,
				emission_per_block: self.emission_per_block,
				model_hash: self.model_hash,
				dataset_hash: [0; 32],
				run_seed: self.run_seed,
				blob_len: self.blob_len,
				quorum_ppb: self.quorum_ppb,
				eval_sample: self.eval_sample,
				unbonding_blocks: self.unbonding_blocks,
			}
		}
	}

	impl<Balance> OldRunInfo<Balance> {
		/// A current run in the v3 layout, for tests that roll storage back to it.
		pub fn downgrade(info: RunInfo<Balance>) -> Self {
			OldRunInfo {
				params: OldRunParams::downgrade(info.params),
				clock: info.clock,
				next_settle: info.next_settle,
				emission_from: info.emission_from,
				accrued: info.accrued,
				minted_total: info.minted_total,
				burned_total: info.burned_total,
				closed: info.closed,
				created_at: info.created_at,
			}
		}

		/// The v4 layout: the same run with upgraded parameters.
		pub fn upgrade(self) -> RunInfo<Balance> {
			RunInfo {
				params: self.params.upgrade(),
				clock: self.clock,
				next_settle: self.next_settle,
				emission_from: self.emission_from,
				accrued: self.accrued,
				minted_total: self.minted_total,
				burned_total: self.burned_total,
				closed: self.closed,
				created_at: self.created_at,
			}
		}
	}

	/// Rewrites every `Runs` entry in the v4 layout: one read and one write per run.
	pub struct InnerMigrateV3ToV4<T>(core::marker::PhantomData<T>);

	impl<T: Config> UncheckedOnRuntimeUpgrade for InnerMigrateV3ToV4<T> {
		fn on_runtime_upgrade() -> Weight {
			let mut translated: u64 = 0;
			crate::Runs::<T>::translate::<OldRunInfo<BalanceOf<T>>, _>(|_run, old| {
				translated = translated.saturating_add(1);
				Some(old.upgrade())
			});
			frame_support::__private::log::info!(
				target: "runtime::training",
				"migrated {translated} runs to storage version 4 (RunParams.dataset_hash)"
			);
			T::DbWeight::get().reads_writes(translated, translated)
		}

		/// Records every run, decoded in the v3 layout.
		#[cfg(feature = "try-runtime")]
		fn pre_upgrade() -> Result<alloc::vec::Vec<u8>, sp_runtime::TryRuntimeError> {
			Ok(super::runs_as::<T, OldRunInfo<BalanceOf<T>>>(
				"a run does not decode in the v3 layout",
			)?
			.encode())
		}

		/// Every run kept its fields, its dataset hash is zero (unchecked), and the pallet's
		/// invariants hold.
		#[cfg(feature = "try-runtime")]
		fn post_upgrade(state: alloc::vec::Vec<u8>) -> Result<(), sp_runtime::TryRuntimeError> {
			let old = <alloc::vec::Vec<(crate::RunId, OldRunInfo<BalanceOf<T>>)>>::decode(
				&mut &state[..],
			)
			.map_err(|_| "cannot decode pre_upgrade state")?;
			ensure!(crate::Runs::<T>::iter_keys().count() == old.len(), "runs lost in migration");
			for (run, before) in old {
				let after =
					crate::Runs::<T>::get(run).ok_or("run does not decode in the v4 layout")?;
				ensure!(after.params.dataset_hash == [0; 32], "a migrated run names a dataset");
				ensure!(after == before.upgrade(), "run fields changed in migration");
			}
			Pallet::<T>::do_try_state()
		}
	}

	/// The v3 -> v4 migration: runs only when the on-chain version is 3 and then sets it to 4.
	pub type MigrateV3ToV4<T> = frame_support::migrations::VersionedMigration<
		3,
		4,
		InnerMigrateV3ToV4<T>,
		Pallet<T>,
		<T as frame_system::Config>::DbWeight,
	>;
}
