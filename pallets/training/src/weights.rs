//! Weights for `pallet_training`.
//!
//! HAND-WRITTEN in the shape `frame-omni-bencher` generates; regenerate with the omni-bencher
//! once the runtime exposes this pallet's benchmarks (`define_benchmarks!` +
//! `runtime-benchmarks`), e.g.
//! `frame-omni-bencher v1 benchmark pallet --runtime <wasm> --pallet pallet_training
//!  --extrinsic '*' --steps 50 --repeat 20 --output pallets/training/src/weights.rs
//!  --template <template.hbs>`.
//!
//! How these numbers were obtained (2026, shared 2-core AMD EPYC dev machine, release build):
//! - `ref_time` (execution): the median over 5-7 fresh runs of each benchmark in
//!   `benchmarking.rs`, timed through frame-benchmarking's `Recording` start/stop hooks (the
//!   ones `run_benchmark` times) by the ignored test `benchmarking::benchmarks::timing::
//!   measure_weights`, on the mock runtime and **natively**, multiplied by **3** to cover
//!   wasm execution and machine noise. Linear components come from two or more points;
//!   `settle` was measured at (m, v) = (1,0), (256,0), (1,32), (64,8), (128,16), (256,32):
//!   8.3 us, 307 us, 245 us, 615 us, 1.52 ms, 4.74 ms natively, fitted as
//!   `base + a m + b v + c m v` with `c` rounded up (it also has a small `m log m` part).
//! - Database reads and writes were counted from the code (the in-memory test backend
//!   cannot count them) and are charged at `T::DbWeight` (`RocksDbWeight` for `()`).
//! - `proof_size` is an estimate from the `MaxEncodedLen` of the touched items plus trie
//!   overhead, not a measurement.
//!
//! Settlement at m = 256 miners, v = 32 validators: execution 25 us + 256 x 3.5 us +
//! 32 x 22.2 us + 8192 x 1.8 us = 16.4 ms; 838 reads (21.0 ms) and 870 writes (87.0 ms) at
//! RocksDb weights; 124 ms in all, 6.2 % of a 2-second block (4.1 % of a 3-second one).

#![allow(unused_parens)]
#![allow(unused_imports)]
#![allow(missing_docs)]

use core::marker::PhantomData;
use frame_support::{
	traits::Get,
	weights::{constants::ParityDbWeight, Weight},
};

/// Weight functions needed for `pallet_training`.
pub trait WeightInfo {
	fn create_run() -> Weight;
	fn set_run_params() -> Weight;
	fn close_run() -> Weight;
	fn register_miner() -> Weight;
	fn register_miner_replacing() -> Weight;
	fn register_validator() -> Weight;
	fn deregister_miner() -> Weight;
	fn deregister_validator() -> Weight;
	fn withdraw_unbonded() -> Weight;
	fn commit_scores() -> Weight;
	fn update_store_url() -> Weight;
	fn commit_gradient() -> Weight;
	fn submit_scores(n: u32) -> Weight;
	fn commit_checkpoint() -> Weight;
	fn on_initialize_idle(r: u32) -> Weight;
	fn open_round() -> Weight;
	fn settle(m: u32, v: u32) -> Weight;
	fn reap_run(l: u32) -> Weight;
	fn rate_miners(g: u32) -> Weight;
}

/// Weights for `pallet_training` using the Substrate node and recommended hardware.
pub struct SubstrateWeight<T>(PhantomData<T>);
impl<T: frame_system::Config> WeightInfo for SubstrateWeight<T> {
	/// Storage: `Training::ActiveRuns` (r:1 w:1), `Training::NextRunId` (r:1 w:1),
	/// `Training::Runs` (r:0 w:1)
	fn create_run() -> Weight {
		Weight::from_parts(20_200_000, 1_600)
			.saturating_add(T::DbWeight::get().reads(2_u64))
			.saturating_add(T::DbWeight::get().writes(3_u64))
	}
	/// Storage: `Training::Runs` (r:1 w:1)
	fn set_run_params() -> Weight {
		Weight::from_parts(26_500_000, 3_800)
			.saturating_add(T::DbWeight::get().reads(1_u64))
			.saturating_add(T::DbWeight::get().writes(1_u64))
	}
	/// Storage: `Training::Runs` (r:1 w:1), `Training::ActiveRuns` (r:1 w:1)
	fn close_run() -> Weight {
		Weight::from_parts(21_300_000, 4_000)
			.saturating_add(T::DbWeight::get().reads(2_u64))
			.saturating_add(T::DbWeight::get().writes(2_u64))
	}
	/// Worst case, measured at MaxPeers = 256: a full run, every miner past immunity.
	/// Storage: `Training::Runs` (r:1), `Training::Peers` (r:2 w:2), `Training::MinerUids`
	/// (r:1 w:1), `Training::MinerStates` (r:256 w:2), `Training::Uids` (r:1 w:2),
	/// `Training::NextAggregationSet` (r:1 w:1), `Balances::Holds` + `System::Account`
	/// (r:4 w:4)
	fn register_miner() -> Weight {
		Weight::from_parts(60_000_000, 12_000)
			.saturating_add(T::DbWeight::get().reads(9_u64))
			.saturating_add(T::DbWeight::get().writes(8_u64))
	}
	fn register_miner_replacing() -> Weight {
		Weight::from_parts(480_400_000, 950_000)
			.saturating_add(T::DbWeight::get().reads(266_u64))
			.saturating_add(T::DbWeight::get().writes(12_u64))
	}
	/// Worst case: a full set (32 validators, the runtime's `MaxValidators`) replaces one.
	/// Storage: `Training::Runs` (r:1), `Training::Peers` (r:1+32 w:2), `Training::Unbondings`
	/// (r:1 w:1), `Training::Validators` (r:1 w:1), `Balances::Holds` + `System::Account`
	/// (r:2 w:2), `Training::Scores` (w:3)
	fn register_validator() -> Weight {
		Weight::from_parts(90_000_000, 8_000)
			.saturating_add(T::DbWeight::get().reads(38_u64))
			.saturating_add(T::DbWeight::get().writes(9_u64))
	}
	/// Worst case: a validator of a full set with three pending submissions.
	/// Storage: `Training::Runs` (r:1), `Training::Peers` (r:1 w:1), `Training::Validators`
	/// (r:1 w:1), `Balances::Holds` + `System::Account` (r:2 w:2), `Training::Scores` (w:3)
	fn deregister_miner() -> Weight {
		Weight::from_parts(59_400_000, 8_000)
			.saturating_add(T::DbWeight::get().reads(6_u64))
			.saturating_add(T::DbWeight::get().writes(7_u64))
	}
	fn deregister_validator() -> Weight {
		Weight::from_parts(59_400_000, 8_000)
			.saturating_add(T::DbWeight::get().reads(5_u64))
			.saturating_add(T::DbWeight::get().writes(7_u64))
	}
	/// Storage: `Training::Unbondings` (r:1 w:1), `Balances::Holds` + `System::Account`
	/// (r:2 w:2). Like `deregister`'s release without its list updates.
	fn withdraw_unbonded() -> Weight {
		Weight::from_parts(40_000_000, 6_000)
			.saturating_add(T::DbWeight::get().reads(3_u64))
			.saturating_add(T::DbWeight::get().writes(3_u64))
	}
	/// Storage: `Training::Runs` (r:1), `Training::Peers` (r:1), `Training::ScoreCommits`
	/// (r:1 w:1). Like `commit_gradient`.
	fn commit_scores() -> Weight {
		Weight::from_parts(17_100_000, 6_000)
			.saturating_add(T::DbWeight::get().reads(3_u64))
			.saturating_add(T::DbWeight::get().writes(1_u64))
	}
	/// Storage: `Training::Runs` (r:1), `Training::Peers` (r:1 w:1)
	fn update_store_url() -> Weight {
		Weight::from_parts(10_600_000, 4_000)
			.saturating_add(T::DbWeight::get().reads(2_u64))
			.saturating_add(T::DbWeight::get().writes(1_u64))
	}
	/// Storage: `Training::Runs` (r:1), `Training::Peers` (r:1), `Training::Commitments`
	/// (r:1 w:1)
	fn commit_gradient() -> Weight {
		Weight::from_parts(17_100_000, 6_000)
			.saturating_add(T::DbWeight::get().reads(3_u64))
			.saturating_add(T::DbWeight::get().writes(1_u64))
	}
	/// Storage: `Training::Runs` (r:1), `Training::Peers` (r:1), `Training::Scores` (r:1 w:1),
	/// `Training::ScoreCommits` (r:1); per score: its share of the commitment hash (estimated
	/// from blake2b throughput, not yet measured by the benchmark CLI).
	/// The range of component `n` is `[1, 256]`.
	fn submit_scores(n: u32) -> Weight {
		Weight::from_parts(16_650_000, 6_000)
			.saturating_add(Weight::from_parts(103_400, 0).saturating_mul(n.into()))
			.saturating_add(T::DbWeight::get().reads(4_u64))
			.saturating_add(T::DbWeight::get().writes(1_u64))
			.saturating_add(Weight::from_parts(0, 18).saturating_mul(n.into()))
	}
	/// Storage: `Training::Runs` (r:1), `Training::Peers` (r:1), `Training::Validators` (r:1),
	/// `Training::CheckpointVotes` (r:1 + 32 w:1, and w:32 when an old newest checkpoint goes),
	/// `Training::Checkpoints` (r:1 w:2), `Training::LatestCheckpoint` (r:1 w:1). Estimated:
	/// the vote count is `MaxValidators` (32) in the benchmark's worst case.
	fn commit_checkpoint() -> Weight {
		Weight::from_parts(60_000_000, 18_000)
			.saturating_add(T::DbWeight::get().reads(37_u64))
			.saturating_add(T::DbWeight::get().writes(36_u64))
	}
	/// Storage: `Training::ActiveRuns` (r:1), `Training::Runs` (r:r)
	/// The range of component `r` is `[0, 8]`.
	fn on_initialize_idle(r: u32) -> Weight {
		Weight::from_parts(1_860_000, 1_600)
			.saturating_add(Weight::from_parts(1_840_000, 0).saturating_mul(r.into()))
			.saturating_add(T::DbWeight::get().reads(1_u64))
			.saturating_add(T::DbWeight::get().reads((1_u64).saturating_mul(r.into())))
			.saturating_add(Weight::from_parts(0, 3_800).saturating_mul(r.into()))
	}
	/// Storage: `Training::MinerUids` or `Training::NextAggregationSet` (r:1),
	/// `Training::AggregationSets` (w:1)
	fn open_round() -> Weight {
		Weight::from_parts(9_650_000, 4_000)
			.saturating_add(T::DbWeight::get().reads(1_u64))
			.saturating_add(T::DbWeight::get().writes(1_u64))
	}
	/// Storage: `Training::MinerUids` (r:1), `Training::Validators` (r:1),
	/// `Training::MinerStates` (r:m w:m), `Training::Scores` (r:v w:v), `Training::Commitments`
	/// (r:m w:m), `Training::Uids` (r:<=m), `System::Account` + issuance (r:<=m+v w:<=2(m+v)),
	/// `Training::Weights`, `Training::NextAggregationSet`, `Training::Runs`,
	/// `Training::AggregationSets`, `Training::AppliedSets` (w:2, this round's and an old
	/// one's), `Training::Checkpoints`, `Training::LatestCheckpoint`,
	/// `Training::CheckpointVotes` (w:v, an old round's votes).
	/// The range of component `m` is `[1, 256]`, of `v` is `[0, 32]`.
	fn settle(m: u32, v: u32) -> Weight {
		Weight::from_parts(25_000_000, 10_000)
			.saturating_add(Weight::from_parts(3_500_000, 0).saturating_mul(m.into()))
			.saturating_add(Weight::from_parts(22_200_000, 0).saturating_mul(v.into()))
			// Aggregation and agreement: every validator's list over every miner.
			.saturating_add(
				Weight::from_parts(1_800_000, 0)
					.saturating_mul(u64::from(m).saturating_mul(v.into())),
			)
			.saturating_add(T::DbWeight::get().reads(6_u64))
			.saturating_add(T::DbWeight::get().reads((3_u64).saturating_mul(m.into())))
			.saturating_add(T::DbWeight::get().reads((2_u64).saturating_mul(v.into())))
			.saturating_add(T::DbWeight::get().writes(8_u64))
			.saturating_add(T::DbWeight::get().writes((3_u64).saturating_mul(m.into())))
			.saturating_add(T::DbWeight::get().writes((4_u64).saturating_mul(v.into())))
			.saturating_add(Weight::from_parts(0, 5_000).saturating_mul(m.into()))
			.saturating_add(Weight::from_parts(0, 8_000).saturating_mul(v.into()))
	}
	/// Storage, per entry removed (`l` of them, at most `MaxPeers`): `Training::Peers` with
	/// its `Training::Uids` and `Training::MinerStates` and a hold released
	/// (`Balances::Holds` + `System::Account`, r:3 w:5), the dearest kind; `Training::Runs`,
	/// `Training::MinerUids`, `Training::Validators` (r:3 w:2), and the run's own entries
	/// once it is empty (w:6).
	/// The range of component `l` is `[1, 256]`.
	fn reap_run(l: u32) -> Weight {
		Weight::from_parts(30_000_000, 4_000)
			.saturating_add(Weight::from_parts(40_000_000, 0).saturating_mul(l.into()))
			.saturating_add(T::DbWeight::get().reads(3_u64))
			.saturating_add(T::DbWeight::get().reads((3_u64).saturating_mul(l.into())))
			.saturating_add(T::DbWeight::get().writes(8_u64))
			.saturating_add(T::DbWeight::get().writes((5_u64).saturating_mul(l.into())))
			.saturating_add(Weight::from_parts(0, 3_800).saturating_mul(l.into()))
	}
	fn rate_miners(g: u32) -> Weight {
		Weight::from_parts(1_000_000, 0)
			.saturating_add(Weight::from_parts(60_000_000, 0).saturating_mul(g.into()))
	}
}

// For backwards compatibility and tests.
impl WeightInfo for () {
	fn create_run() -> Weight {
		Weight::from_parts(20_200_000, 1_600)
			.saturating_add(ParityDbWeight::get().reads(2_u64))
			.saturating_add(ParityDbWeight::get().writes(3_u64))
	}
	fn set_run_params() -> Weight {
		Weight::from_parts(26_500_000, 3_800)
			.saturating_add(ParityDbWeight::get().reads(1_u64))
			.saturating_add(ParityDbWeight::get().writes(1_u64))
	}
	fn close_run() -> Weight {
		Weight::from_parts(21_300_000, 4_000)
			.saturating_add(ParityDbWeight::get().reads(2_u64))
			.saturating_add(ParityDbWeight::get().writes(2_u64))
	}
	fn register_miner() -> Weight {
		Weight::from_parts(60_000_000, 12_000)
			.saturating_add(ParityDbWeight::get().reads(9_u64))
			.saturating_add(ParityDbWeight::get().writes(8_u64))
	}
	fn register_miner_replacing() -> Weight {
		Weight::from_parts(480_400_000, 950_000)
			.saturating_add(ParityDbWeight::get().reads(266_u64))
			.saturating_add(ParityDbWeight::get().writes(12_u64))
	}
	fn register_validator() -> Weight {
		Weight::from_parts(90_000_000, 8_000)
			.saturating_add(ParityDbWeight::get().reads(38_u64))
			.saturating_add(ParityDbWeight::get().writes(9_u64))
	}
	fn deregister_miner() -> Weight {
		Weight::from_parts(59_400_000, 8_000)
			.saturating_add(ParityDbWeight::get().reads(6_u64))
			.saturating_add(ParityDbWeight::get().writes(7_u64))
	}
	fn deregister_validator() -> Weight {
		Weight::from_parts(59_400_000, 8_000)
			.saturating_add(ParityDbWeight::get().reads(5_u64))
			.saturating_add(ParityDbWeight::get().writes(7_u64))
	}
	fn withdraw_unbonded() -> Weight {
		Weight::from_parts(40_000_000, 6_000)
			.saturating_add(ParityDbWeight::get().reads(3_u64))
			.saturating_add(ParityDbWeight::get().writes(3_u64))
	}
	fn commit_scores() -> Weight {
		Weight::from_parts(17_100_000, 6_000)
			.saturating_add(ParityDbWeight::get().reads(3_u64))
			.saturating_add(ParityDbWeight::get().writes(1_u64))
	}
	fn update_store_url() -> Weight {
		Weight::from_parts(10_600_000, 4_000)
			.saturating_add(ParityDbWeight::get().reads(2_u64))
			.saturating_add(ParityDbWeight::get().writes(1_u64))
	}
	fn commit_gradient() -> Weight {
		Weight::from_parts(17_100_000, 6_000)
			.saturating_add(ParityDbWeight::get().reads(3_u64))
			.saturating_add(ParityDbWeight::get().writes(1_u64))
	}
	fn submit_scores(n: u32) -> Weight {
		Weight::from_parts(16_650_000, 6_000)
			.saturating_add(Weight::from_parts(103_400, 0).saturating_mul(n.into()))
			.saturating_add(ParityDbWeight::get().reads(4_u64))
			.saturating_add(ParityDbWeight::get().writes(1_u64))
			.saturating_add(Weight::from_parts(0, 18).saturating_mul(n.into()))
	}
	fn commit_checkpoint() -> Weight {
		Weight::from_parts(60_000_000, 18_000)
			.saturating_add(ParityDbWeight::get().reads(37_u64))
			.saturating_add(ParityDbWeight::get().writes(36_u64))
	}
	fn on_initialize_idle(r: u32) -> Weight {
		Weight::from_parts(1_860_000, 1_600)
			.saturating_add(Weight::from_parts(1_840_000, 0).saturating_mul(r.into()))
			.saturating_add(ParityDbWeight::get().reads(1_u64))
			.saturating_add(ParityDbWeight::get().reads((1_u64).saturating_mul(r.into())))
			.saturating_add(Weight::from_parts(0, 3_800).saturating_mul(r.into()))
	}
	fn open_round() -> Weight {
		Weight::from_parts(9_650_000, 4_000)
			.saturating_add(ParityDbWeight::get().reads(1_u64))
			.saturating_add(ParityDbWeight::get().writes(1_u64))
	}
	fn settle(m: u32, v: u32) -> Weight {
		Weight::from_parts(25_000_000, 10_000)
			.saturating_add(Weight::from_parts(3_500_000, 0).saturating_mul(m.into()))
			.saturating_add(Weight::from_parts(22_200_000, 0).saturating_mul(v.into()))
			.saturating_add(
				Weight::from_parts(1_800_000, 0)
					.saturating_mul(u64::from(m).saturating_mul(v.into())),
			)
			.saturating_add(ParityDbWeight::get().reads(6_u64))
			.saturating_add(ParityDbWeight::get().reads((3_u64).saturating_mul(m.into())))
			.saturating_add(ParityDbWeight::get().reads((2_u64).saturating_mul(v.into())))
			.saturating_add(ParityDbWeight::get().writes(8_u64))
			.saturating_add(ParityDbWeight::get().writes((3_u64).saturating_mul(m.into())))
			.saturating_add(ParityDbWeight::get().writes((4_u64).saturating_mul(v.into())))
			.saturating_add(Weight::from_parts(0, 5_000).saturating_mul(m.into()))
			.saturating_add(Weight::from_parts(0, 8_000).saturating_mul(v.into()))
	}
	/// Storage, per entry removed (`l` of them, at most `MaxPeers`): `Training::Peers` with
	/// its `Training::Uids` and `Training::MinerStates` and a hold released
	/// (`Balances::Holds` + `System::Account`, r:3 w:5), the dearest kind; `Training::Runs`,
	/// `Training::MinerUids`, `Training::Validators` (r:3 w:2), and the run's own entries
	/// once it is empty (w:6).
	/// The range of component `l` is `[1, 256]`.
	fn reap_run(l: u32) -> Weight {
		Weight::from_parts(30_000_000, 4_000)
			.saturating_add(Weight::from_parts(40_000_000, 0).saturating_mul(l.into()))
			.saturating_add(ParityDbWeight::get().reads(3_u64))
			.saturating_add(ParityDbWeight::get().reads((3_u64).saturating_mul(l.into())))
			.saturating_add(ParityDbWeight::get().writes(8_u64))
			.saturating_add(ParityDbWeight::get().writes((5_u64).saturating_mul(l.into())))
			.saturating_add(Weight::from_parts(0, 3_800).saturating_mul(l.into()))
	}
	fn rate_miners(g: u32) -> Weight {
		Weight::from_parts(1_000_000, 0)
			.saturating_add(Weight::from_parts(60_000_000, 0).saturating_mul(g.into()))
	}
}
