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

use frame_support::{pallet_prelude::*, traits::UncheckedOnRuntimeUpgrade};

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
	use super::*;
	use crate::{BalanceOf, Config, Pallet, RunInfo, RunParams};
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
		/// The v2 layout. A run's round 0 starts the block after its creation, so the
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
			let mut translated: u64 = 0;
			crate::Runs::<T>::translate::<OldRunInfo<BalanceOf<T>>, _>(|_run, old| {
				translated = translated.saturating_add(1);
				Some(old.upgrade())
			});
			log_migration(translated);
			T::DbWeight::get().reads_writes(translated, translated)
		}

		/// Records every run, decoded in the old layout.
		#[cfg(feature = "try-runtime")]
		fn pre_upgrade() -> Result<alloc::vec::Vec<u8>, sp_runtime::TryRuntimeError> {
			use codec::Encode;
			let mut old = alloc::vec::Vec::new();
			// `iter_keys` decodes only the keys, so it works on values in either layout.
			for run in crate::Runs::<T>::iter_keys() {
				let raw = frame_support::storage::unhashed::get_raw(
					&crate::Runs::<T>::hashed_key_for(run),
				)
				.ok_or("run listed but missing")?;
				let info = OldRunInfo::<BalanceOf<T>>::decode(&mut &raw[..])
					.map_err(|_| "a run does not decode in the v1 layout")?;
				old.push((run, info));
			}
			Ok(old.encode())
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
				let after =
					crate::Runs::<T>::get(run).ok_or("run does not decode in the v2 layout")?;
				ensure!(after == before.upgrade(), "run fields changed in migration");
				ensure!(after.created_at < after.clock.start(), "created_at not before round 0");
			}
			Pallet::<T>::do_try_state()
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
