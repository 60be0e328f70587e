//! # Governance pallet
//!
//! One call, [`Pallet::authorize_upgrade`], that lets a council supermajority (or root)
//! authorize a runtime upgrade by its code hash.
//!
//! `frame_system::Pallet::authorize_upgrade` requires the Root origin, while a council motion
//! dispatches its call with a *collective* origin (`pallet_collective::RawOrigin::Members`).
//! This pallet bridges the two: its origin is configurable ([`Config::AuthorizeUpgradeOrigin`];
//! the runtime uses root or at least two thirds of the council) and, once that origin is
//! satisfied, it calls [`frame_system::Pallet::do_authorize_upgrade`] with `check_version =
//! true`. The upgrade then follows the ordinary two-step path of `frame-system`:
//!
//! 1. a council motion `Governance.authorize_upgrade(blake2_256(code))` passes (propose, vote,
//!    close);
//! 2. anyone submits `System.apply_authorized_upgrade(code)`: `frame-system` checks the hash,
//!    that `spec_name` is unchanged and that `spec_version` grew, and sets the code.
//!
//! The authorization is a single slot in `frame-system` (`AuthorizedUpgrade`): a later
//! authorization replaces an earlier one, and applying the upgrade clears it.

#![cfg_attr(not(feature = "std"), no_std)]

pub use pallet::*;

pub mod weights;
pub use weights::WeightInfo;

#[cfg(feature = "runtime-benchmarks")]
mod benchmarking;
#[cfg(test)]
mod mock;
#[cfg(test)]
mod tests;

#[frame_support::pallet]
pub mod pallet {
	use super::WeightInfo;
	use frame_support::pallet_prelude::*;
	use frame_system::pallet_prelude::*;

	#[pallet::pallet]
	pub struct Pallet<T>(_);

	#[pallet::config]
	pub trait Config: frame_system::Config<RuntimeEvent: From<Event<Self>>> {
		/// Who may authorize a runtime upgrade: in the runtime, root or two thirds of the
		/// council.
		type AuthorizeUpgradeOrigin: EnsureOrigin<Self::RuntimeOrigin>;
		/// Weights of the calls.
		type WeightInfo: WeightInfo;
	}

	#[pallet::event]
	#[pallet::generate_deposit(pub(super) fn deposit_event)]
	pub enum Event<T: Config> {
		/// Governance authorized an upgrade to the runtime with this code hash (blake2-256 of
		/// the wasm blob as it will be submitted). `frame-system` emits its own
		/// `UpgradeAuthorized` alongside.
		UpgradeAuthorized { code_hash: T::Hash },
	}

	#[pallet::call]
	impl<T: Config> Pallet<T> {
		/// Authorizes an upgrade to the runtime whose wasm blob hashes to `code_hash`; anyone
		/// may then submit the blob with `System.apply_authorized_upgrade`, which checks that
		/// the spec name is unchanged and the spec version grew.
		#[pallet::call_index(0)]
		#[pallet::weight((T::WeightInfo::authorize_upgrade(), DispatchClass::Operational))]
		pub fn authorize_upgrade(origin: OriginFor<T>, code_hash: T::Hash) -> DispatchResult {
			T::AuthorizeUpgradeOrigin::ensure_origin(origin)?;
			frame_system::Pallet::<T>::do_authorize_upgrade(code_hash, true);
			Self::deposit_event(Event::UpgradeAuthorized { code_hash });
			Ok(())
		}
	}
}
