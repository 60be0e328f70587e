//! Weights of the governance pallet.
//!
//! `authorize_upgrade` writes one storage value (`System::AuthorizedUpgrade`) and deposits two
//! events; its cost does not depend on any input. The figure below is a conservative hand
//! estimate (the same order as `frame_system`'s benchmarked `authorize_upgrade`) plus the
//! database write, priced by the runtime's `DbWeight`.

use core::marker::PhantomData;
use frame_support::{
	traits::Get,
	weights::{constants::RocksDbWeight, Weight},
};

/// Weight functions of the pallet's calls.
pub trait WeightInfo {
	fn authorize_upgrade() -> Weight;
}

/// Weights for a runtime, priced with its database weights.
pub struct SubstrateWeight<T>(PhantomData<T>);

/// Computation of `authorize_upgrade`, without storage access: 20 µs, no proof.
const AUTHORIZE_UPGRADE_BASE: Weight = Weight::from_parts(20_000_000, 0);

impl<T: frame_system::Config> WeightInfo for SubstrateWeight<T> {
	fn authorize_upgrade() -> Weight {
		AUTHORIZE_UPGRADE_BASE.saturating_add(T::DbWeight::get().writes(1))
	}
}

/// For tests and mocks.
impl WeightInfo for () {
	fn authorize_upgrade() -> Weight {
		AUTHORIZE_UPGRADE_BASE.saturating_add(RocksDbWeight::get().writes(1))
	}
}
