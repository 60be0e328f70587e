//! Storage migrations.
//!
//! The pallet launched with storage version 1 (see [`crate::STORAGE_VERSION`]). [`v1`] holds the
//! shell that stamps version 1 on a chain whose pallet storage predates versioning (version 0);
//! it changes no layout. A real layout migration will follow the same shape: a
//! [`UncheckedOnRuntimeUpgrade`] wrapped in [`frame_support::migrations::VersionedMigration`],
//! so that it runs exactly once, from the right version.

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
			let before = u32::decode(&mut &state[..]).map_err(|_| "cannot decode pre_upgrade state")?;
			ensure!(crate::Runs::<T>::iter_keys().count() as u32 == before, "runs lost in migration");
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
