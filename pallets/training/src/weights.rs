//! Weights for `pallet_training`.
//!
//! PLACEHOLDER: regenerated below from measurements.

#![allow(unused_parens)]
#![allow(unused_imports)]
#![allow(missing_docs)]

use core::marker::PhantomData;
use frame_support::{
	traits::Get,
	weights::{constants::RocksDbWeight, Weight},
};

/// Weight functions needed for `pallet_training`.
pub trait WeightInfo {
	fn create_run() -> Weight;
	fn set_run_params() -> Weight;
	fn close_run() -> Weight;
	fn register_miner() -> Weight;
	fn register_validator() -> Weight;
	fn deregister() -> Weight;
	fn update_store_url() -> Weight;
	fn commit_gradient() -> Weight;
	fn submit_scores(n: u32) -> Weight;
	fn commit_checkpoint() -> Weight;
	fn on_initialize_idle(r: u32) -> Weight;
	fn open_round() -> Weight;
	fn settle(m: u32, v: u32) -> Weight;
}

/// Weights for `pallet_training` using the Substrate node and recommended hardware.
pub struct SubstrateWeight<T>(PhantomData<T>);
impl<T: frame_system::Config> WeightInfo for SubstrateWeight<T> {
	fn create_run() -> Weight { Weight::from_parts(20_000_000, 1_000).saturating_add(T::DbWeight::get().reads_writes(2, 3)) }
	fn set_run_params() -> Weight { Weight::from_parts(20_000_000, 1_000).saturating_add(T::DbWeight::get().reads_writes(1, 1)) }
	fn close_run() -> Weight { Weight::from_parts(20_000_000, 1_000).saturating_add(T::DbWeight::get().reads_writes(2, 2)) }
	fn register_miner() -> Weight { Weight::from_parts(20_000_000, 1_000).saturating_add(T::DbWeight::get().reads_writes(3, 3)) }
	fn register_validator() -> Weight { Weight::from_parts(20_000_000, 1_000).saturating_add(T::DbWeight::get().reads_writes(3, 3)) }
	fn deregister() -> Weight { Weight::from_parts(20_000_000, 1_000).saturating_add(T::DbWeight::get().reads_writes(3, 3)) }
	fn update_store_url() -> Weight { Weight::from_parts(20_000_000, 1_000).saturating_add(T::DbWeight::get().reads_writes(2, 1)) }
	fn commit_gradient() -> Weight { Weight::from_parts(20_000_000, 1_000).saturating_add(T::DbWeight::get().reads_writes(3, 1)) }
	fn submit_scores(n: u32) -> Weight { Weight::from_parts(20_000_000, 1_000).saturating_add(Weight::from_parts(10_000, 0).saturating_mul(n.into())).saturating_add(T::DbWeight::get().reads_writes(3, 1)) }
	fn commit_checkpoint() -> Weight { Weight::from_parts(20_000_000, 1_000).saturating_add(T::DbWeight::get().reads_writes(4, 2)) }
	fn on_initialize_idle(r: u32) -> Weight { Weight::from_parts(2_000_000, 1_000).saturating_add(T::DbWeight::get().reads(1u64.saturating_add(r.into()))) }
	fn open_round() -> Weight { Weight::from_parts(10_000_000, 1_000).saturating_add(T::DbWeight::get().reads_writes(1, 1)) }
	fn settle(m: u32, v: u32) -> Weight { Weight::from_parts(100_000_000, 1_000).saturating_add(Weight::from_parts(1_000_000, 0).saturating_mul(m.into())).saturating_add(Weight::from_parts(1_000_000, 0).saturating_mul(v.into())).saturating_add(T::DbWeight::get().reads_writes(10u64.saturating_add((2 * m).into()).saturating_add(v.into()), 10u64.saturating_add(m.into()))) }
}

impl WeightInfo for () {
	fn create_run() -> Weight { Weight::from_parts(20_000_000, 1_000) }
	fn set_run_params() -> Weight { Weight::from_parts(20_000_000, 1_000) }
	fn close_run() -> Weight { Weight::from_parts(20_000_000, 1_000) }
	fn register_miner() -> Weight { Weight::from_parts(20_000_000, 1_000) }
	fn register_validator() -> Weight { Weight::from_parts(20_000_000, 1_000) }
	fn deregister() -> Weight { Weight::from_parts(20_000_000, 1_000) }
	fn update_store_url() -> Weight { Weight::from_parts(20_000_000, 1_000) }
	fn commit_gradient() -> Weight { Weight::from_parts(20_000_000, 1_000) }
	fn submit_scores(_n: u32) -> Weight { Weight::from_parts(20_000_000, 1_000) }
	fn commit_checkpoint() -> Weight { Weight::from_parts(20_000_000, 1_000) }
	fn on_initialize_idle(_r: u32) -> Weight { Weight::from_parts(2_000_000, 1_000) }
	fn open_round() -> Weight { Weight::from_parts(10_000_000, 1_000) }
	fn settle(_m: u32, _v: u32) -> Weight { Weight::from_parts(100_000_000, 1_000) }
}
