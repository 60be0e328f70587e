//! Benchmarks (frame-benchmarking v2) for every call and for the hooks, settlement as a
//! function of miners `m` and validators `v`.
//!
//! Each benchmark sets up its worst case: full runs, full validator sets, full score lists.
//! `impl_benchmark_test_suite!` runs every one of them as a unit test with
//! `cargo test --features runtime-benchmarks` (in `make test`); `scripts/bench-weights.sh`
//! runs them in the runtime's wasm with the benchmark CLI and writes `weights.rs`.

use super::*;
use crate::{settlement, Pallet as Training};
use frame_benchmarking::v2::*;
use frame_support::traits::{fungible::Mutate, EnsureOrigin, Hooks};
use frame_system::{pallet_prelude::BlockNumberFor, RawOrigin};
use training_protocol::{IncentiveParams, OpenSkillParams, ScoreFlags, PPM};

/// Round length 10, commit window 3, score window 4, maximum emission.
fn params<T: Config>() -> RunParams<BalanceOf<T>> {
	RunParams {
		round_length: 10,
		commit_window: 3,
		score_window: 4,
		inner_steps: 30,
		chunk_size: 4096,
		topk_per_chunk: 64,
		quant_bits: 2,
		outer_lr_ppb: 400_000_000,
		incentive: IncentiveParams::default(),
		skill: OpenSkillParams::default(),
		emission_per_block: T::MaxEmissionPerBlock::get(),
		model_hash: [1; 32],
		dataset_hash: [3; 32],
		run_seed: 7,
		blob_len: 1_000,
		quorum_ppb: 500_000_000,
		eval_sample: 8,
		unbonding_blocks: 30,
	}
}

fn url<T: Config>() -> UrlOf<T> {
	let len = T::MaxUrlLen::get() as usize;
	let mut url = b"s3://".to_vec();
	url.resize(len.max(url.len()), b'a');
	BoundedVec::truncate_from(url)
}

fn set_block<T: Config>(n: u64) {
	frame_system::Pallet::<T>::set_block_number(n.saturated_into::<BlockNumberFor<T>>());
}

fn funded<T: Config>(name: &'static str, i: u32) -> T::AccountId {
	let who: T::AccountId = account(name, i, 0);
	let amount = T::MinValidatorStake::get()
		.saturating_add(T::MinerDeposit::get())
		.saturating_mul(100u32.into())
		.saturating_add(T::Currency::minimum_balance());
	T::Currency::set_balance(&who, amount);
	who
}

fn new_run<T: Config>() -> Result<RunId, BenchmarkError> {
	let origin =
		T::GovernanceOrigin::try_successful_origin().map_err(|_| BenchmarkError::Weightless)?;
	let id = NextRunId::<T>::get();
	Training::<T>::create_run(origin, params::<T>())?;
	Ok(id)
}

fn add_miners<T: Config>(run: RunId, n: u32) -> Result<(), BenchmarkError> {
	for i in 0..n {
		let who = funded::<T>("miner", i);
		Training::<T>::register_miner(RawOrigin::Signed(who).into(), run, url::<T>())?;
	}
	Ok(())
}

fn add_validators<T: Config>(run: RunId, n: u32) -> Result<(), BenchmarkError> {
	for i in 0..n {
		let who = funded::<T>("validator", i);
		let stake = T::MinValidatorStake::get().saturating_add(i.into());
		Training::<T>::register_validator(RawOrigin::Signed(who).into(), run, stake, url::<T>())?;
	}
	Ok(())
}

fn full_scores<T: Config>(m: u32, salt: u32) -> BoundedVec<MinerScore, T::MaxPeers> {
	let list = (0..m)
		.map(|uid| MinerScore {
			uid: uid as Uid,
			loss_score: i64::from(uid.wrapping_mul(7919).wrapping_add(salt) % 1000) - 200,
			indicator: if uid % 5 == 0 { -1 } else { 1 },
			sync_ppm: PPM.saturating_sub(uid),
			flags: if uid % 40 == 3 { ScoreFlags::INVALID } else { ScoreFlags::NONE },
		})
		.collect::<Vec<_>>();
	BoundedVec::truncate_from(list)
}

fn start<T: Config>(run: RunId) -> u64 {
	Runs::<T>::get(run).map(|r| r.clock.start()).unwrap_or(0)
}

#[benchmarks]
mod benchmarks {
	use super::*;

	#[benchmark]
	fn create_run() -> Result<(), BenchmarkError> {
		for _ in 1..T::MaxRuns::get() {
			new_run::<T>()?;
		}
		let origin =
			T::GovernanceOrigin::try_successful_origin().map_err(|_| BenchmarkError::Weightless)?;
		#[extrinsic_call]
		_(origin as T::RuntimeOrigin, params::<T>());
		assert_eq!(ActiveRuns::<T>::get().len() as u32, T::MaxRuns::get());
		Ok(())
	}

	#[benchmark]
	fn set_run_params() -> Result<(), BenchmarkError> {
		let run = new_run::<T>()?;
		set_block::<T>(start::<T>(run) + 5);
		let origin =
			T::GovernanceOrigin::try_successful_origin().map_err(|_| BenchmarkError::Weightless)?;
		let mut p = params::<T>();
		p.run_seed = 8;
		#[extrinsic_call]
		_(origin as T::RuntimeOrigin, run, p);
		assert_eq!(Runs::<T>::get(run).map(|r| r.params.run_seed), Some(8));
		Ok(())
	}

	#[benchmark]
	fn close_run() -> Result<(), BenchmarkError> {
		for _ in 1..T::MaxRuns::get() {
			new_run::<T>()?;
		}
		let run = new_run::<T>()?;
		let origin =
			T::GovernanceOrigin::try_successful_origin().map_err(|_| BenchmarkError::Weightless)?;
		#[extrinsic_call]
		_(origin as T::RuntimeOrigin, run);
		assert!(Runs::<T>::get(run).is_some_and(|r| r.closed));
		Ok(())
	}

	/// A closed run with `l` miners: a step of `l` removes `l` peers, each with its uid and
	/// state and releasing its deposit (the dearest entry a step removes), and then finds the
	/// run empty.
	#[benchmark]
	fn reap_run(l: Linear<1, { T::MaxPeers::get() }>) -> Result<(), BenchmarkError> {
		let run = new_run::<T>()?;
		add_miners::<T>(run, l)?;
		let origin =
			T::GovernanceOrigin::try_successful_origin().map_err(|_| BenchmarkError::Weightless)?;
		Training::<T>::close_run(origin, run)?;
		let caller = funded::<T>("reaper", 0);
		#[extrinsic_call]
		_(RawOrigin::Signed(caller), run, l);
		assert!(Runs::<T>::get(run).is_none(), "the run was not reaped in one step");
		Ok(())
	}

	/// A free uid, the dearest such case: every uid but the last is taken, so finding the
	/// lowest free one and inserting it walks the whole list.
	#[benchmark]
	fn register_miner() -> Result<(), BenchmarkError> {
		let run = new_run::<T>()?;
		add_miners::<T>(run, T::MaxPeers::get() - 1)?;
		let caller = funded::<T>("newcomer", 0);
		#[extrinsic_call]
		_(RawOrigin::Signed(caller.clone()), run, url::<T>());
		assert_eq!(MinerUids::<T>::get(run).len() as u32, T::MaxPeers::get());
		Ok(())
	}

	/// Worst case: the run is full and every miner is past immunity, so the registration
	/// scans all miners and replaces one.
	#[benchmark]
	fn register_miner_replacing() -> Result<(), BenchmarkError> {
		let run = new_run::<T>()?;
		add_miners::<T>(run, T::MaxPeers::get())?;
		let immunity: u64 = T::ImmunityPeriod::get().saturated_into();
		set_block::<T>(Training::<T>::now() + immunity + 1);
		let caller = funded::<T>("newcomer", 0);
		#[extrinsic_call]
		register_miner(RawOrigin::Signed(caller.clone()), run, url::<T>());
		assert!(Peers::<T>::contains_key(run, &caller));
		Ok(())
	}

	/// Worst case: the set is full and every validator is past immunity, so the registration
	/// scans all of them and replaces the one with the least stake (which starts unbonding).
	#[benchmark]
	fn register_validator() -> Result<(), BenchmarkError> {
		let run = new_run::<T>()?;
		add_validators::<T>(run, T::MaxValidators::get())?;
		let immunity: u64 = T::ImmunityPeriod::get().saturated_into();
		set_block::<T>(Training::<T>::now() + immunity + 1);
		let caller = funded::<T>("newcomer", 0);
		let stake = T::MinValidatorStake::get().saturating_mul(2u32.into());
		#[extrinsic_call]
		_(RawOrigin::Signed(caller.clone()), run, stake, url::<T>());
		assert!(Peers::<T>::contains_key(run, &caller));
		Ok(())
	}

	/// A miner of a full run leaves (its uid, state and deposit go).
	#[benchmark]
	fn deregister_miner() -> Result<(), BenchmarkError> {
		let run = new_run::<T>()?;
		add_miners::<T>(run, T::MaxPeers::get())?;
		let who: T::AccountId = account("miner", 0, 0);
		#[extrinsic_call]
		deregister(RawOrigin::Signed(who.clone()), run);
		assert!(!Peers::<T>::contains_key(run, &who));
		Ok(())
	}

	/// Worst case: a validator of a full validator set with submissions pending.
	#[benchmark]
	fn deregister_validator() -> Result<(), BenchmarkError> {
		let run = new_run::<T>()?;
		add_miners::<T>(run, 1)?;
		add_validators::<T>(run, T::MaxValidators::get())?;
		let who = Validators::<T>::get(run)
			.last()
			.map(|v| v.who.clone())
			.ok_or(BenchmarkError::Weightless)?;
		let uid = Peers::<T>::get(run, &who).map(|p| p.uid).ok_or(BenchmarkError::Weightless)?;
		set_block::<T>(start::<T>(run) + 25);
		for round in 0..3 {
			Scores::<T>::insert((run, round, uid), full_scores::<T>(T::MaxPeers::get(), 0));
		}
		#[extrinsic_call]
		deregister(RawOrigin::Signed(who.clone()), run);
		assert!(!Peers::<T>::contains_key(run, &who));
		Ok(())
	}

	#[benchmark]
	fn withdraw_unbonded() -> Result<(), BenchmarkError> {
		let run = new_run::<T>()?;
		add_validators::<T>(run, 1)?;
		let who = Validators::<T>::get(run)
			.last()
			.map(|v| v.who.clone())
			.ok_or(BenchmarkError::Weightless)?;
		Training::<T>::deregister(RawOrigin::Signed(who.clone()).into(), run)
			.map_err(|_| BenchmarkError::Weightless)?;
		let until =
			Unbondings::<T>::get(run, &who).map(|u| u.until).ok_or(BenchmarkError::Weightless)?;
		set_block::<T>(until);
		#[extrinsic_call]
		_(RawOrigin::Signed(who.clone()), run);
		assert!(!Unbondings::<T>::contains_key(run, &who));
		Ok(())
	}

	#[benchmark]
	fn update_store_url() -> Result<(), BenchmarkError> {
		let run = new_run::<T>()?;
		add_miners::<T>(run, 1)?;
		let who: T::AccountId = account("miner", 0, 0);
		#[extrinsic_call]
		_(RawOrigin::Signed(who), run, url::<T>());
		Ok(())
	}

	#[benchmark]
	fn commit_gradient() -> Result<(), BenchmarkError> {
		let run = new_run::<T>()?;
		add_miners::<T>(run, 1)?;
		let who: T::AccountId = account("miner", 0, 0);
		set_block::<T>(start::<T>(run) + 1);
		#[extrinsic_call]
		_(RawOrigin::Signed(who), run, 0, [9; 32], 1_000);
		assert!(Commitments::<T>::contains_key((run, 0, 0)));
		Ok(())
	}

	#[benchmark]
	fn submit_scores(n: Linear<1, { T::MaxPeers::get() }>) -> Result<(), BenchmarkError> {
		let run = new_run::<T>()?;
		add_validators::<T>(run, 1)?;
		let who: T::AccountId = account("validator", 0, 0);
		// Round 0's score window is [start + 13, start + 24); reveals from start + 21.
		set_block::<T>(start::<T>(run) + 21);
		let scores = full_scores::<T>(n, 1);
		let salt = [5; 32];
		ScoreCommits::<T>::insert((run, 0, 0), crate::score_commitment(&scores, &salt));
		#[extrinsic_call]
		_(RawOrigin::Signed(who), run, 0, scores, salt);
		assert!(Scores::<T>::contains_key((run, 0, 0)));
		Ok(())
	}

	#[benchmark]
	fn commit_scores() -> Result<(), BenchmarkError> {
		let run = new_run::<T>()?;
		add_validators::<T>(run, 1)?;
		let who: T::AccountId = account("validator", 0, 0);
		set_block::<T>(start::<T>(run) + 13);
		#[extrinsic_call]
		_(RawOrigin::Signed(who), run, 0, [4; 32]);
		assert!(ScoreCommits::<T>::contains_key((run, 0, 0)));
		Ok(())
	}

	/// Worst case: a full validator set, every other validator has voted (two hashes, neither
	/// a majority), and this vote makes one of them the agreed checkpoint.
	#[benchmark]
	fn commit_checkpoint() -> Result<(), BenchmarkError> {
		let run = new_run::<T>()?;
		let n = T::MaxValidators::get();
		add_validators::<T>(run, n)?;
		set_block::<T>(start::<T>(run) + 15);
		for i in 0..n - 1 {
			let who: T::AccountId = account("validator", i, 0);
			let hash = if i < n / 2 { [3; 32] } else { [4; 32] };
			Training::<T>::commit_checkpoint(
				RawOrigin::Signed(who).into(),
				run,
				0,
				hash,
				url::<T>(),
			)?;
		}
		assert_eq!(LatestCheckpoint::<T>::get(run), None);
		let who: T::AccountId = account("validator", n - 1, 0);
		#[extrinsic_call]
		_(RawOrigin::Signed(who), run, 0, [4; 32], url::<T>());
		assert_eq!(LatestCheckpoint::<T>::get(run), Some(0));
		Ok(())
	}

	/// `r` runs with nothing to do in this block.
	#[benchmark]
	fn on_initialize_idle(r: Linear<0, { T::MaxRuns::get() }>) -> Result<(), BenchmarkError> {
		let mut first = 0;
		for i in 0..r {
			let run = new_run::<T>()?;
			if i == 0 {
				first = start::<T>(run);
			}
		}
		let n = first + 1;
		set_block::<T>(n);
		#[block]
		{
			Training::<T>::on_initialize(n.saturated_into());
		}
		Ok(())
	}

	/// Opening a round of a full run before its first settlement (the set is every miner).
	#[benchmark]
	fn open_round() -> Result<(), BenchmarkError> {
		let run = new_run::<T>()?;
		add_miners::<T>(run, T::MaxPeers::get())?;
		let info = Runs::<T>::get(run).ok_or(BenchmarkError::Weightless)?;
		#[block]
		{
			settlement::open_round::<T>(run, &info, 1);
		}
		assert!(AggregationSets::<T>::contains_key(run, 1));
		Ok(())
	}

	/// Settling a round with `m` miners, all committed and scored by each of `v`
	/// validators, including the pruning of an old round's commitments.
	#[benchmark]
	fn settle(
		m: Linear<1, { T::MaxPeers::get() }>,
		v: Linear<0, { T::MaxValidators::get() }>,
	) -> Result<(), BenchmarkError> {
		let run = new_run::<T>()?;
		add_miners::<T>(run, m)?;
		add_validators::<T>(run, v)?;
		let round = u64::from(T::CommitmentRetention::get());
		let mut info = Runs::<T>::get(run).ok_or(BenchmarkError::Weightless)?;
		for uid in 0..m {
			for r in [0, round] {
				let c = Commitment { blob_hash: [uid as u8; 32], blob_len: 1_000, at: 0 };
				Commitments::<T>::insert((run, r, uid as Uid), c);
			}
		}
		for vuid in 0..v {
			Scores::<T>::insert((run, round, vuid as Uid), full_scores::<T>(m, vuid));
		}
		let now = info.clock.settlement_block(round).ok_or(BenchmarkError::Weightless)?;
		set_block::<T>(now);
		#[block]
		{
			settlement::settle_round::<T>(run, &mut info, round, now);
		}
		assert_eq!(info.next_settle, round + 1);
		Ok(())
	}

	/// Rating `MaxPeers` miners that fall into `g` tie groups: one exponential per (miner,
	/// better-or-equal group), so the cost grows with `MaxPeers x g`. A settlement of `m`
	/// miners has at most `m` groups, so `rate_miners(m)` bounds its rating whatever the
	/// number of validators (one validator's distinct scores give the most groups).
	#[benchmark]
	fn rate_miners(g: Linear<1, { T::MaxPeers::get() }>) -> Result<(), BenchmarkError> {
		let skill = OpenSkillParams::default();
		let players: Vec<(training_protocol::Rating, u32)> =
			(0..T::MaxPeers::get()).map(|i| (skill.initial_rating(), i % g)).collect();
		let rated;
		#[block]
		{
			rated = training_protocol::rate(&skill, &players);
		}
		assert_eq!(rated.map(|r| r.len()).ok(), Some(players.len()));
		Ok(())
	}

	impl_benchmark_test_suite!(Training, crate::mock::new_test_ext(), crate::mock::Test);
}
