//! # Training pallet
//!
//! The on-chain half of the decentralized-training protocol: a thin FRAME shell (storage,
//! calls, events, hooks) over the pure `no_std` logic of [`training_protocol`].
//!
//! - Governance creates runs ([`Pallet::create_run`]), each with its own [`RunParams`] and
//!   round clock, and may retune them ([`Pallet::set_run_params`]; the round timing of a live
//!   run is fixed) or close them ([`Pallet::close_run`]).
//! - Miners register with a held deposit ([`Pallet::register_miner`]) and get the lowest free
//!   uid; a full run replaces its worst miner past the immunity period. Validators register
//!   with a held stake ([`Pallet::register_validator`]).
//! - Miners commit gradient hashes per round ([`Pallet::commit_gradient`]); validators commit
//!   to their scores ([`Pallet::commit_scores`]) before anyone's are visible, reveal them
//!   ([`Pallet::submit_scores`]) in the last third of the score window, and record
//!   checkpoints ([`Pallet::commit_checkpoint`]).
//! - `on_initialize` fixes each round's aggregation set when the round opens and settles a
//!   round when its score window closes (see [`settlement`]): stake-weighted medians,
//!   OpenSkill, penalties, weights, the next aggregation set, and the emission accrued since
//!   the last settlement minted to miners (by weight) and validators (by stake x agreement),
//!   the rest never minted (burned).
//!
//! Workers read everything they need through the view functions ([`Pallet::run_status`],
//! [`Pallet::aggregation_set`], [`Pallet::round_commitments`], [`Pallet::miner_states`],
//! [`Pallet::run_weights`], [`Pallet::peers`], [`Pallet::latest_checkpoint`]).
//!
//! All storage is bounded (`MaxRuns`, `MaxPeers`, `MaxValidators`, `MaxUrlLen`), commitments,
//! aggregation sets and checkpoints are pruned after `CommitmentRetention` rounds, scores right
//! after their round settles. Runtime code has no floats and no panicking paths.

#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub use pallet::*;

#[cfg(feature = "runtime-benchmarks")]
mod benchmarking;
pub mod checkpoints;
pub mod migrations;
#[cfg(test)]
mod mock;
pub mod reap;
pub mod settlement;
#[cfg(test)]
mod tests;
pub mod types;
pub mod weights;

pub use types::*;
pub use weights::WeightInfo;

use alloc::vec::Vec;
use frame_support::{
	ensure,
	pallet_prelude::*,
	traits::{
		fungible::{self, Inspect, MutateHold},
		tokens::Precision,
	},
	BoundedVec,
};
use sp_runtime::{traits::Zero, SaturatedConversion, Saturating};
use training_protocol::{MinerScore, MinerState, Round, ScoreError, Uid};

/// The balance type of the pallet's currency.
pub type BalanceOf<T> =
	<<T as Config>::Currency as Inspect<<T as frame_system::Config>::AccountId>>::Balance;
/// A run as stored.
pub type RunInfoOf<T> = RunInfo<BalanceOf<T>>;
/// A peer as stored.
pub type PeerInfoOf<T> = PeerInfo<BalanceOf<T>, <T as Config>::MaxUrlLen>;
/// A bounded store URL or checkpoint URI.
pub type UrlOf<T> = BoundedVec<u8, <T as Config>::MaxUrlLen>;
/// A validator's list entry.
pub type ValidatorEntryOf<T> = ValidatorEntry<<T as frame_system::Config>::AccountId, BalanceOf<T>>;

#[frame_support::pallet]
pub mod pallet {
	use super::*;
	use frame_system::pallet_prelude::*;

	/// The in-code storage version.
	pub const STORAGE_VERSION: StorageVersion = StorageVersion::new(4);

	#[pallet::pallet]
	#[pallet::storage_version(STORAGE_VERSION)]
	pub struct Pallet<T>(_);

	/// Why the pallet holds funds.
	#[pallet::composite_enum]
	pub enum HoldReason {
		/// A miner's registration deposit.
		#[codec(index = 0)]
		MinerDeposit,
		/// A validator's stake.
		#[codec(index = 1)]
		ValidatorStake,
	}

	#[pallet::config]
	pub trait Config: frame_system::Config<RuntimeEvent: From<Event<Self>>> {
		/// The currency deposits and stakes are held in and emission is minted in.
		type Currency: fungible::Inspect<Self::AccountId>
			+ fungible::Mutate<Self::AccountId>
			+ fungible::MutateHold<Self::AccountId, Reason = Self::RuntimeHoldReason>;
		/// The overarching hold reason.
		type RuntimeHoldReason: From<HoldReason>;
		/// Who may create, retune and close runs (root or a council majority).
		type GovernanceOrigin: EnsureOrigin<Self::RuntimeOrigin>;
		/// Most runs open at once.
		#[pallet::constant]
		type MaxRuns: Get<u32>;
		/// Most miners per run (uids are `0..MaxPeers`, at most 65536).
		#[pallet::constant]
		type MaxPeers: Get<u32>;
		/// Most validators per run.
		#[pallet::constant]
		type MaxValidators: Get<u32>;
		/// Longest store URL or checkpoint URI, in bytes.
		#[pallet::constant]
		type MaxUrlLen: Get<u32>;
		/// Held from a miner while it is registered.
		#[pallet::constant]
		type MinerDeposit: Get<BalanceOf<Self>>;
		/// Smallest stake a validator may register with.
		#[pallet::constant]
		type MinValidatorStake: Get<BalanceOf<Self>>;
		/// Blocks after registration during which a miner cannot be replaced.
		#[pallet::constant]
		type ImmunityPeriod: Get<BlockNumberFor<Self>>;
		/// Largest `emission_per_block` governance may set for a run.
		#[pallet::constant]
		type MaxEmissionPerBlock: Get<BalanceOf<Self>>;
		/// Rounds for which commitments, aggregation sets and checkpoints are kept after
		/// settlement.
		#[pallet::constant]
		type CommitmentRetention: Get<u32>;
		/// Whether store URLs may be `file://` paths (a dev chain whose workers share one
		/// machine). Otherwise only `s3://`, `https://` and `http://` URLs with a host are
		/// accepted.
		#[pallet::constant]
		type AllowFileStoreUrls: Get<bool>;
		/// Weights of calls and hooks.
		type WeightInfo: WeightInfo;
	}

	/// The id the next run gets.
	#[pallet::storage]
	pub type NextRunId<T> = StorageValue<_, RunId, ValueQuery>;

	/// Runs the hooks drive, in creation order.
	#[pallet::storage]
	pub type ActiveRuns<T: Config> = StorageValue<_, BoundedVec<RunId, T::MaxRuns>, ValueQuery>;

	/// Every run ever created and not reaped (closed ones stay until `reap_run`).
	#[pallet::storage]
	pub type Runs<T: Config> = StorageMap<_, Twox64Concat, RunId, RunInfoOf<T>, OptionQuery>;

	/// Registered accounts per run.
	#[pallet::storage]
	pub type Peers<T: Config> = StorageDoubleMap<
		_,
		Twox64Concat,
		RunId,
		Blake2_128Concat,
		T::AccountId,
		PeerInfoOf<T>,
		OptionQuery,
	>;

	/// Miner uid -> account.
	#[pallet::storage]
	pub type Uids<T: Config> =
		StorageDoubleMap<_, Twox64Concat, RunId, Twox64Concat, Uid, T::AccountId, OptionQuery>;

	/// Occupied miner uids of a run, sorted.
	#[pallet::storage]
	pub type MinerUids<T: Config> =
		StorageMap<_, Twox64Concat, RunId, BoundedVec<Uid, T::MaxPeers>, ValueQuery>;

	/// Registered validators of a run with their stakes, sorted by uid.
	#[pallet::storage]
	pub type Validators<T: Config> = StorageMap<
		_,
		Twox64Concat,
		RunId,
		BoundedVec<ValidatorEntryOf<T>, T::MaxValidators>,
		ValueQuery,
	>;

	/// Gradient commitments: (run, round, miner uid).
	#[pallet::storage]
	pub type Commitments<T: Config> = StorageNMap<
		_,
		(NMapKey<Twox64Concat, RunId>, NMapKey<Twox64Concat, Round>, NMapKey<Twox64Concat, Uid>),
		Commitment,
		OptionQuery,
	>;

	/// Score commitments: (run, round, validator uid) -> blake2b-256 of the SCALE encoding of
	/// `(scores, salt)`, made before any score of the round is revealed.
	#[pallet::storage]
	pub type ScoreCommits<T: Config> = StorageNMap<
		_,
		(NMapKey<Twox64Concat, RunId>, NMapKey<Twox64Concat, Round>, NMapKey<Twox64Concat, Uid>),
		Hash32,
		OptionQuery,
	>;

	/// Revealed score submissions: (run, round, validator uid) -> scores sorted by miner uid.
	#[pallet::storage]
	pub type Scores<T: Config> = StorageNMap<
		_,
		(NMapKey<Twox64Concat, RunId>, NMapKey<Twox64Concat, Round>, NMapKey<Twox64Concat, Uid>),
		BoundedVec<MinerScore, T::MaxPeers>,
		OptionQuery,
	>;

	/// Per-miner protocol state (rating, indicator, misses, final score).
	#[pallet::storage]
	pub type MinerStates<T: Config> =
		StorageDoubleMap<_, Twox64Concat, RunId, Twox64Concat, Uid, MinerRecord, OptionQuery>;

	/// Emission weights from the last settlement.
	#[pallet::storage]
	pub type Weights<T: Config> =
		StorageMap<_, Twox64Concat, RunId, StoredWeights<T::MaxPeers>, ValueQuery>;

	/// The aggregation set the next opening round will use (from the last settlement).
	#[pallet::storage]
	pub type NextAggregationSet<T: Config> =
		StorageMap<_, Twox64Concat, RunId, BoundedVec<Uid, T::MaxPeers>, ValueQuery>;

	/// The aggregation set of each round, fixed when the round opened.
	#[pallet::storage]
	pub type AggregationSets<T: Config> = StorageDoubleMap<
		_,
		Twox64Concat,
		RunId,
		Twox64Concat,
		Round,
		BoundedVec<Uid, T::MaxPeers>,
		OptionQuery,
	>;

	/// The applied set of each settled round: the members of its aggregation set whose blobs
	/// every node applies ([`training_protocol::applied`]), fixed at settlement and kept as
	/// long as the round's commitments.
	#[pallet::storage]
	pub type AppliedSets<T: Config> = StorageDoubleMap<
		_,
		Twox64Concat,
		RunId,
		Twox64Concat,
		Round,
		BoundedVec<Uid, T::MaxPeers>,
		OptionQuery,
	>;

	/// Agreed checkpoints: the hash a stake majority of validators recorded (see
	/// [`checkpoints`]).
	#[pallet::storage]
	pub type Checkpoints<T: Config> = StorageDoubleMap<
		_,
		Twox64Concat,
		RunId,
		Twox64Concat,
		Round,
		Checkpoint<T::MaxUrlLen>,
		OptionQuery,
	>;

	/// Every validator's recorded checkpoint: (run, round, validator uid).
	#[pallet::storage]
	pub type CheckpointVotes<T: Config> = StorageNMap<
		_,
		(NMapKey<Twox64Concat, RunId>, NMapKey<Twox64Concat, Round>, NMapKey<Twox64Concat, Uid>),
		Checkpoint<T::MaxUrlLen>,
		OptionQuery,
	>;

	/// The newest round with an agreed checkpoint.
	#[pallet::storage]
	pub type LatestCheckpoint<T: Config> = StorageMap<_, Twox64Concat, RunId, Round, OptionQuery>;

	/// Stake of validators that left a run, held until their unbonding period ends.
	#[pallet::storage]
	pub type Unbondings<T: Config> = StorageDoubleMap<
		_,
		Twox64Concat,
		RunId,
		Blake2_128Concat,
		T::AccountId,
		Unbonding<BalanceOf<T>>,
		OptionQuery,
	>;

	/// Each round's seed: the hash of the last block that accepted its commitments, known to
	/// no one before the commit deadline. Picks what each validator is due to score.
	#[pallet::storage]
	pub type RoundSeeds<T: Config> =
		StorageDoubleMap<_, Twox64Concat, RunId, Twox64Concat, Round, Hash32, OptionQuery>;

	#[pallet::event]
	#[pallet::generate_deposit(pub(super) fn deposit_event)]
	pub enum Event<T: Config> {
		/// A run was created; round 0 starts at `start`.
		RunCreated { run: RunId, start: u64 },
		/// A run's parameters changed.
		RunParamsUpdated { run: RunId },
		/// A run was closed: no more rounds or registrations.
		RunClosed { run: RunId },
		/// A miner registered.
		MinerRegistered { run: RunId, who: T::AccountId, uid: Uid },
		/// A full run replaced its worst miner (deposit released) with a new one.
		MinerReplaced { run: RunId, uid: Uid, old: T::AccountId, new: T::AccountId },
		/// A validator registered.
		ValidatorRegistered { run: RunId, who: T::AccountId, uid: Uid, stake: BalanceOf<T> },
		/// A peer left: a miner got its deposit back, a validator's stake is unbonding.
		Deregistered { run: RunId, who: T::AccountId, role: Role, uid: Uid },
		/// A full validator set replaced its lowest-stake validator (now unbonding) with one
		/// holding more stake.
		ValidatorReplaced { run: RunId, uid: Uid, old: T::AccountId, new: T::AccountId },
		/// An unbonded stake was released.
		Withdrawn { run: RunId, who: T::AccountId, amount: BalanceOf<T> },
		/// A peer changed its store URL.
		StoreUrlUpdated { run: RunId, who: T::AccountId },
		/// A miner committed a gradient.
		GradientCommitted { run: RunId, round: Round, uid: Uid, blob_hash: Hash32, blob_len: u32 },
		/// A validator committed to the hash of its scores.
		ScoresCommitted { run: RunId, round: Round, validator: Uid },
		/// A validator revealed the scores it had committed to.
		ScoresSubmitted { run: RunId, round: Round, validator: Uid, count: u32 },
		/// A validator recorded a checkpoint.
		CheckpointCommitted { run: RunId, round: Round, hash: Hash32, by: Uid },
		/// Validators holding more than half of the stake recorded this hash for the round:
		/// it is the run's checkpoint of that round.
		CheckpointAgreed { run: RunId, round: Round, hash: Hash32 },
		/// A round opened with this aggregation set size.
		RoundOpened { run: RunId, round: Round, aggregation_set_len: u32 },
		/// Emission paid to a peer.
		Paid {
			run: RunId,
			round: Round,
			who: T::AccountId,
			role: Role,
			uid: Uid,
			amount: BalanceOf<T>,
		},
		/// A round settled. `accrued == minted + burned`; `minted` is the sum of the `Paid`
		/// events of this settlement.
		Settled {
			run: RunId,
			round: Round,
			scored: u32,
			accrued: BalanceOf<T>,
			minted: BalanceOf<T>,
			burned: BalanceOf<T>,
			aggregation_set_len: u32,
		},
		/// Settlement failed in the protocol logic (nothing changed; emission keeps accruing).
		SettlementFailed { run: RunId, round: Round },
		/// A step of reaping a closed run removed this many storage entries; more are left.
		RunReapProgress { run: RunId, removed: u32 },
		/// A closed run is gone: every entry removed, every deposit and stake released.
		RunReaped { run: RunId },
	}

	#[pallet::error]
	pub enum Error<T> {
		/// No run with this id.
		UnknownRun,
		/// `MaxRuns` runs are open already (or run ids ran out).
		TooManyRuns,
		/// The run is closed.
		RunClosed,
		/// `round_length` is zero.
		ZeroRoundLength,
		/// `commit_window` is longer than a round.
		CommitWindowTooLong,
		/// `score_window` is longer than a round.
		ScoreWindowTooLong,
		/// `commit_window >= round_length + score_window`.
		EmptyScoreWindow,
		/// `round_length` is above the pallet's limit.
		RoundTooLong,
		/// Inner steps, chunk size, top-k, quant bits or outer lr out of range.
		InvalidTrainingParams,
		/// The incentive parameters fail `IncentiveParams::validate`.
		InvalidIncentiveParams,
		/// The OpenSkill parameters fail `OpenSkillParams::validate`.
		InvalidSkillParams,
		/// The aggregation set size is zero or above `MaxPeers`.
		InvalidAggregationSetSize,
		/// `blob_len` is zero or above `MAX_BLOB_LEN`.
		InvalidBlobLen,
		/// `quorum_ppb` is not in `1..=PPB`, `eval_sample` is above `MaxPeers` or
		/// `unbonding_blocks` above `MAX_UNBONDING_BLOCKS`.
		InvalidValidatorRules,
		/// `emission_per_block` is above `MaxEmissionPerBlock`.
		EmissionTooHigh,
		/// The round timing of an existing run cannot change.
		ClockImmutable,
		/// The account is already registered in this run.
		AlreadyRegistered,
		/// The account is not registered in this run.
		NotRegistered,
		/// The URL is empty.
		EmptyUrl,
		/// The URL contains bytes other than printable ASCII.
		InvalidUrl,
		/// The URL is not `s3://`, `https://` or `http://` followed by a host (or `file://`
		/// where the runtime allows it).
		UnsupportedUrlScheme,
		/// The run has `MaxPeers` miners and none is past its immunity period.
		NoReplaceableMiner,
		/// The run has `MaxValidators` validators and none past its immunity period holds
		/// less stake than offered.
		TooManyValidators,
		/// The account's stake from an earlier registration is still unbonding.
		StillUnbonding,
		/// The account has no stake unbonding in this run.
		NothingUnbonding,
		/// The unbonding period has not ended yet.
		UnbondingNotOver,
		/// The stake is below `MinValidatorStake`.
		StakeTooLow,
		/// The deposit or stake cannot be held.
		InsufficientBalance,
		/// Only a registered miner may do this.
		NotMiner,
		/// Only a registered validator may do this.
		NotValidator,
		/// Commitments for this round are not accepted now.
		CommitWindowClosed,
		/// The miner registered after this round started.
		NotEligibleForRound,
		/// This miner already committed for this round.
		AlreadyCommitted,
		/// `blob_len` is zero.
		EmptyBlob,
		/// `blob_len` is not the run's gradient blob length.
		WrongBlobLen,
		/// Scores for this round are not accepted now: commitments only before the round's
		/// reveal phase, reveals only during it.
		ScoreWindowClosed,
		/// This validator already committed to or revealed scores for this round.
		AlreadySubmitted,
		/// The validator did not commit to scores for this round before the reveal phase.
		NoScoreCommitment,
		/// The revealed scores and salt do not hash to the validator's commitment.
		ScoreHashMismatch,
		/// No scores were submitted.
		EmptyScores,
		/// A score's indicator is not -1, 0 or 1.
		ScoreIndicatorOutOfRange,
		/// A score's sync is above one million ppm.
		ScoreSyncOutOfRange,
		/// A score has an unknown flag bit.
		ScoreUnknownFlags,
		/// Scores are not sorted by strictly increasing uid.
		ScoresNotSorted,
		/// The checkpoint's round has not ended yet.
		FutureRound,
		/// This validator already recorded a checkpoint for this round.
		CheckpointExists,
		/// The checkpoint's round is older than `CommitmentRetention` rounds.
		CheckpointTooOld,
		/// Only a closed run can be reaped.
		RunNotClosed,
		/// A reap step's `limit` must be from 1 to `MaxPeers`.
		InvalidReapLimit,
		/// `dataset_hash` is zero: a run must name the data its workers train on.
		NoDataset,
	}

	#[pallet::hooks]
	impl<T: Config> Hooks<BlockNumberFor<T>> for Pallet<T> {
		fn on_initialize(n: BlockNumberFor<T>) -> Weight {
			let now: u64 = n.saturated_into();
			let runs = ActiveRuns::<T>::get();
			let mut weight = T::WeightInfo::on_initialize_idle(runs.len() as u32);
			let seed = Self::parent_seed();
			for run_id in runs {
				weight.saturating_accrue(settlement::drive_run::<T>(run_id, now, &seed));
			}
			weight
		}

		fn integrity_test() {
			assert!(T::MaxRuns::get() >= 1, "MaxRuns must be at least 1");
			assert!(
				(1..=u32::from(u16::MAX) + 1).contains(&T::MaxPeers::get()),
				"MaxPeers must be in 1..=65536 (uids are u16)"
			);
			assert!(
				(1..=u32::from(u16::MAX) + 1).contains(&T::MaxValidators::get()),
				"MaxValidators must be in 1..=65536"
			);
			assert!(T::MaxUrlLen::get() >= 8, "MaxUrlLen must fit a URL");
			assert!(!T::MinerDeposit::get().is_zero(), "MinerDeposit must be positive");
			assert!(!T::MinValidatorStake::get().is_zero(), "MinValidatorStake must be positive");
			// Settlements are mandatory work: at the maximum sizes, every run settling in the
			// same block must still leave the block's normal share to transactions.
			let hooks = settlement::max_hook_weight::<T>();
			let block = <T as frame_system::Config>::BlockWeights::get();
			let normal = block
				.get(frame_support::dispatch::DispatchClass::Normal)
				.max_total
				.unwrap_or(block.max_block);
			let budget = block.max_block.saturating_sub(normal);
			assert!(
				hooks.all_lte(budget),
				"MaxRuns settlements of MaxPeers miners and MaxValidators validators take {hooks} \
				 in one block's hooks, more than the {budget} the normal class leaves: lower \
				 MaxRuns, MaxPeers or MaxValidators"
			);
		}

		#[cfg(feature = "try-runtime")]
		fn try_state(_n: BlockNumberFor<T>) -> Result<(), sp_runtime::TryRuntimeError> {
			Self::do_try_state()
		}
	}

	#[pallet::call]
	impl<T: Config> Pallet<T> {
		/// Creates a run; round 0 starts at the next block.
		#[pallet::call_index(0)]
		#[pallet::weight(T::WeightInfo::create_run())]
		pub fn create_run(origin: OriginFor<T>, params: RunParams<BalanceOf<T>>) -> DispatchResult {
			T::GovernanceOrigin::ensure_origin(origin)?;
			let mut active = ActiveRuns::<T>::get();
			ensure!((active.len() as u32) < T::MaxRuns::get(), Error::<T>::TooManyRuns);
			ensure!(
				params.emission_per_block <= T::MaxEmissionPerBlock::get(),
				Error::<T>::EmissionTooHigh
			);
			let start = Self::now().saturating_add(1);
			let clock = params.check(start, &Self::limits()).map_err(Error::<T>::from)?;
			let id = NextRunId::<T>::get();
			NextRunId::<T>::put(id.checked_add(1).ok_or(Error::<T>::TooManyRuns)?);
			active.try_push(id).map_err(|_| Error::<T>::TooManyRuns)?;
			ActiveRuns::<T>::put(active);
			Runs::<T>::insert(
				id,
				RunInfo {
					params,
					clock,
					next_settle: 0,
					emission_from: start,
					accrued: Zero::zero(),
					minted_total: Zero::zero(),
					burned_total: Zero::zero(),
					closed: false,
					created_at: Self::now(),
				},
			);
			Self::deposit_event(Event::RunCreated { run: id, start });
			Ok(())
		}

		/// Changes a run's parameters (not its round timing). Emission accrued at the old
		/// rate is kept and paid at the next settlement.
		#[pallet::call_index(1)]
		#[pallet::weight(T::WeightInfo::set_run_params())]
		pub fn set_run_params(
			origin: OriginFor<T>,
			run: RunId,
			params: RunParams<BalanceOf<T>>,
		) -> DispatchResult {
			T::GovernanceOrigin::ensure_origin(origin)?;
			let mut info = Runs::<T>::get(run).ok_or(Error::<T>::UnknownRun)?;
			ensure!(!info.closed, Error::<T>::RunClosed);
			ensure!(info.params.same_clock(&params), Error::<T>::ClockImmutable);
			ensure!(
				params.emission_per_block <= T::MaxEmissionPerBlock::get(),
				Error::<T>::EmissionTooHigh
			);
			params.check(info.clock.start(), &Self::limits()).map_err(Error::<T>::from)?;
			let now = Self::now();
			if now > info.emission_from {
				let blocks: BalanceOf<T> = now.saturating_sub(info.emission_from).saturated_into();
				info.accrued = info
					.accrued
					.saturating_add(info.params.emission_per_block.saturating_mul(blocks));
				info.emission_from = now;
			}
			info.params = params;
			Runs::<T>::insert(run, info);
			Self::deposit_event(Event::RunParamsUpdated { run });
			Ok(())
		}

		/// Registers the caller as a miner, holding `MinerDeposit`. Takes the lowest free
		/// uid; in a full run, replaces the miner with the lowest final score (then ordinal,
		/// then uid) among those past `ImmunityPeriod`, releasing its deposit. Charges the
		/// replacement's weight up front and refunds the difference when a uid was free.
		#[pallet::call_index(2)]
		#[pallet::weight(T::WeightInfo::register_miner_replacing())]
		pub fn register_miner(
			origin: OriginFor<T>,
			run: RunId,
			store_url: UrlOf<T>,
		) -> DispatchResultWithPostInfo {
			let who = ensure_signed(origin)?;
			let info = Self::open_run(run)?;
			ensure!(!Peers::<T>::contains_key(run, &who), Error::<T>::AlreadyRegistered);
			Self::check_url(&store_url)?;
			let deposit = T::MinerDeposit::get();
			T::Currency::hold(&HoldReason::MinerDeposit.into(), &who, deposit)
				.map_err(|_| Error::<T>::InsufficientBalance)?;
			let now = Self::now();
			let mut uids = MinerUids::<T>::get(run);
			let (uid, replaced) = if (uids.len() as u32) < T::MaxPeers::get() {
				(Self::lowest_free(uids.iter().copied()), None)
			} else {
				let victim = Self::replaceable_miner(run, &uids, now)
					.ok_or(Error::<T>::NoReplaceableMiner)?;
				let old = Self::remove_miner(run, victim, &mut uids)?;
				(victim, Some(old))
			};
			let pos = uids.partition_point(|&u| u < uid);
			uids.try_insert(pos, uid).map_err(|_| Error::<T>::NoReplaceableMiner)?;
			MinerUids::<T>::insert(run, uids);
			Uids::<T>::insert(run, uid, &who);
			MinerStates::<T>::insert(
				run,
				uid,
				MinerRecord { registered_at: now, state: MinerState::new(&info.params.skill) },
			);
			Peers::<T>::insert(
				run,
				&who,
				PeerInfo { uid, role: Role::Miner, registered_at: now, store_url, held: deposit },
			);
			match replaced {
				Some(old) => {
					Self::deposit_event(Event::MinerReplaced { run, uid, old, new: who });
					Ok(().into())
				}
				None => {
					Self::deposit_event(Event::MinerRegistered { run, who, uid });
					Ok(Some(T::WeightInfo::register_miner()).into())
				}
			}
		}

		/// Registers the caller as a validator, holding `stake` (at least
		/// `MinValidatorStake`). Validators have their own uid space. In a full set, the
		/// validator with the least stake (then the highest uid) among those registered at
		/// least `ImmunityPeriod` ago is replaced if it holds less than `stake`; its stake starts
		/// unbonding. An account whose earlier stake is still unbonding cannot register.
		#[pallet::call_index(3)]
		#[pallet::weight(T::WeightInfo::register_validator())]
		pub fn register_validator(
			origin: OriginFor<T>,
			run: RunId,
			stake: BalanceOf<T>,
			store_url: UrlOf<T>,
		) -> DispatchResult {
			let who = ensure_signed(origin)?;
			let info = Self::open_run(run)?;
			ensure!(!Peers::<T>::contains_key(run, &who), Error::<T>::AlreadyRegistered);
			ensure!(!Unbondings::<T>::contains_key(run, &who), Error::<T>::StillUnbonding);
			ensure!(stake >= T::MinValidatorStake::get(), Error::<T>::StakeTooLow);
			Self::check_url(&store_url)?;
			let now = Self::now();
			let mut validators = Validators::<T>::get(run);
			let replaced = if (validators.len() as u32) < T::MaxValidators::get() {
				None
			} else {
				let victim = Self::replaceable_validator(run, &validators, stake, now)
					.ok_or(Error::<T>::TooManyValidators)?;
				Some(Self::remove_validator(run, &info, victim, &mut validators)?)
			};
			T::Currency::hold(&HoldReason::ValidatorStake.into(), &who, stake)
				.map_err(|_| Error::<T>::InsufficientBalance)?;
			let uid = Self::lowest_free(validators.iter().map(|v| v.uid));
			let pos = validators.partition_point(|v| v.uid < uid);
			validators
				.try_insert(pos, ValidatorEntry { uid, who: who.clone(), stake })
				.map_err(|_| Error::<T>::TooManyValidators)?;
			Validators::<T>::insert(run, validators);
			Peers::<T>::insert(
				run,
				&who,
				PeerInfo { uid, role: Role::Validator, registered_at: now, store_url, held: stake },
			);
			if let Some(old) = replaced {
				Self::deposit_event(Event::ValidatorReplaced { run, uid, old, new: who.clone() });
			}
			Self::deposit_event(Event::ValidatorRegistered { run, who, uid, stake });
			Ok(())
		}

		/// Leaves a run (also a closed one). A miner's deposit is released; a validator's
		/// stake stays held for the run's `unbonding_blocks` (then [`Pallet::withdraw_unbonded`])
		/// and its unsettled score submissions are dropped.
		#[pallet::call_index(4)]
		#[pallet::weight(
			T::WeightInfo::deregister_miner().max(T::WeightInfo::deregister_validator())
		)]
		pub fn deregister(origin: OriginFor<T>, run: RunId) -> DispatchResultWithPostInfo {
			let who = ensure_signed(origin)?;
			let info = Runs::<T>::get(run).ok_or(Error::<T>::UnknownRun)?;
			let peer = Peers::<T>::get(run, &who).ok_or(Error::<T>::NotRegistered)?;
			let actual = match peer.role {
				Role::Miner => {
					let mut uids = MinerUids::<T>::get(run);
					Self::remove_miner(run, peer.uid, &mut uids)?;
					MinerUids::<T>::insert(run, uids);
					T::WeightInfo::deregister_miner()
				}
				Role::Validator => {
					let mut validators = Validators::<T>::get(run);
					Self::remove_validator(run, &info, peer.uid, &mut validators)?;
					Validators::<T>::insert(run, validators);
					T::WeightInfo::deregister_validator()
				}
			};
			Self::deposit_event(Event::Deregistered { run, who, role: peer.role, uid: peer.uid });
			Ok(Some(actual).into())
		}

		/// Changes the caller's store URL.
		#[pallet::call_index(5)]
		#[pallet::weight(T::WeightInfo::update_store_url())]
		pub fn update_store_url(
			origin: OriginFor<T>,
			run: RunId,
			store_url: UrlOf<T>,
		) -> DispatchResult {
			let who = ensure_signed(origin)?;
			ensure!(Runs::<T>::contains_key(run), Error::<T>::UnknownRun);
			Self::check_url(&store_url)?;
			Peers::<T>::try_mutate(run, &who, |peer| -> DispatchResult {
				let peer = peer.as_mut().ok_or(Error::<T>::NotRegistered)?;
				peer.store_url = store_url;
				Ok(())
			})?;
			Self::deposit_event(Event::StoreUrlUpdated { run, who });
			Ok(())
		}

		/// Commits the hash of the caller's gradient for `round`, accepted from the round's
		/// start until its commit deadline, once per round.
		#[pallet::call_index(6)]
		#[pallet::weight(T::WeightInfo::commit_gradient())]
		pub fn commit_gradient(
			origin: OriginFor<T>,
			run: RunId,
			round: Round,
			blob_hash: Hash32,
			blob_len: u32,
		) -> DispatchResult {
			let who = ensure_signed(origin)?;
			let info = Self::open_run(run)?;
			let peer = Peers::<T>::get(run, &who)
				.filter(|p| p.role == Role::Miner)
				.ok_or(Error::<T>::NotMiner)?;
			ensure!(blob_len > 0, Error::<T>::EmptyBlob);
			ensure!(
				info.params.blob_len == 0 || blob_len == info.params.blob_len,
				Error::<T>::WrongBlobLen
			);
			ensure!(info.clock.accepts_commit(round, Self::now()), Error::<T>::CommitWindowClosed);
			let start = info.clock.round_start(round).ok_or(Error::<T>::CommitWindowClosed)?;
			ensure!(peer.registered_at <= start, Error::<T>::NotEligibleForRound);
			let key = (run, round, peer.uid);
			ensure!(!Commitments::<T>::contains_key(key), Error::<T>::AlreadyCommitted);
			Commitments::<T>::insert(key, Commitment { blob_hash, blob_len, at: Self::now() });
			Self::deposit_event(Event::GradientCommitted {
				run,
				round,
				uid: peer.uid,
				blob_hash,
				blob_len,
			});
			Ok(())
		}

		/// Reveals the caller's scores for `round`, sorted by miner uid, with the salt it
		/// committed them with ([`Pallet::commit_scores`]), during the round's reveal phase,
		/// once per round.
		#[pallet::call_index(7)]
		#[pallet::weight(T::WeightInfo::submit_scores(scores.len() as u32))]
		pub fn submit_scores(
			origin: OriginFor<T>,
			run: RunId,
			round: Round,
			scores: BoundedVec<MinerScore, T::MaxPeers>,
			salt: Hash32,
		) -> DispatchResult {
			let who = ensure_signed(origin)?;
			let info = Self::open_run(run)?;
			let peer = Peers::<T>::get(run, &who)
				.filter(|p| p.role == Role::Validator)
				.ok_or(Error::<T>::NotValidator)?;
			ensure!(!scores.is_empty(), Error::<T>::EmptyScores);
			ensure!(
				info.clock.accepts_score_reveal(round, Self::now()),
				Error::<T>::ScoreWindowClosed
			);
			training_protocol::validate_scores(&scores).map_err(Error::<T>::from)?;
			let key = (run, round, peer.uid);
			ensure!(!Scores::<T>::contains_key(key), Error::<T>::AlreadySubmitted);
			let committed = ScoreCommits::<T>::get(key).ok_or(Error::<T>::NoScoreCommitment)?;
			ensure!(score_commitment(&scores, &salt) == committed, Error::<T>::ScoreHashMismatch);
			let count = scores.len() as u32;
			Scores::<T>::insert(key, scores);
			Self::deposit_event(Event::ScoresSubmitted { run, round, validator: peer.uid, count });
			Ok(())
		}

		/// Commits the caller to scores for `round` without showing them: `hash` is
		/// blake2b-256 of the SCALE encoding of `(scores, salt)` ([`score_commitment`]).
		/// Accepted from the round's commit deadline until its reveal phase, once per round.
		#[pallet::call_index(11)]
		#[pallet::weight(T::WeightInfo::commit_scores())]
		pub fn commit_scores(
			origin: OriginFor<T>,
			run: RunId,
			round: Round,
			hash: Hash32,
		) -> DispatchResult {
			let who = ensure_signed(origin)?;
			let info = Self::open_run(run)?;
			let peer = Peers::<T>::get(run, &who)
				.filter(|p| p.role == Role::Validator)
				.ok_or(Error::<T>::NotValidator)?;
			ensure!(
				info.clock.accepts_score_commit(round, Self::now()),
				Error::<T>::ScoreWindowClosed
			);
			let key = (run, round, peer.uid);
			ensure!(!ScoreCommits::<T>::contains_key(key), Error::<T>::AlreadySubmitted);
			ScoreCommits::<T>::insert(key, hash);
			Self::deposit_event(Event::ScoresCommitted { run, round, validator: peer.uid });
			Ok(())
		}

		/// Records this validator's hash and URI of the model after `round` (a round that has
		/// ended), once per round. The hash that validators holding more than half of the
		/// bonded stake record becomes the round's checkpoint ([`checkpoints`]).
		#[pallet::call_index(8)]
		#[pallet::weight(T::WeightInfo::commit_checkpoint())]
		pub fn commit_checkpoint(
			origin: OriginFor<T>,
			run: RunId,
			round: Round,
			hash: Hash32,
			uri: UrlOf<T>,
		) -> DispatchResult {
			let who = ensure_signed(origin)?;
			let info = Self::open_run(run)?;
			let peer = Peers::<T>::get(run, &who)
				.filter(|p| p.role == Role::Validator)
				.ok_or(Error::<T>::NotValidator)?;
			Self::check_url(&uri)?;
			let current = info.clock.round_at(Self::now());
			ensure!(current.is_some_and(|c| round < c), Error::<T>::FutureRound);
			let retention = u64::from(T::CommitmentRetention::get());
			ensure!(
				current.is_some_and(|c| round.saturating_add(retention) >= c),
				Error::<T>::CheckpointTooOld
			);
			ensure!(
				!checkpoints::has_voted::<T>(run, round, peer.uid),
				Error::<T>::CheckpointExists
			);
			let first_kept = info.next_settle.saturating_sub(retention);
			checkpoints::record::<T>(
				run,
				round,
				Checkpoint { hash, uri, by: peer.uid, at: Self::now() },
				first_kept,
			);
			Self::deposit_event(Event::CheckpointCommitted { run, round, hash, by: peer.uid });
			Ok(())
		}

		/// Closes a run: its clock stops and no one can register; peers can still
		/// deregister. Emission accrued since the last settlement is not minted.
		#[pallet::call_index(9)]
		#[pallet::weight(T::WeightInfo::close_run())]
		pub fn close_run(origin: OriginFor<T>, run: RunId) -> DispatchResult {
			T::GovernanceOrigin::ensure_origin(origin)?;
			Runs::<T>::try_mutate(run, |info| -> DispatchResult {
				let info = info.as_mut().ok_or(Error::<T>::UnknownRun)?;
				ensure!(!info.closed, Error::<T>::RunClosed);
				info.closed = true;
				Ok(())
			})?;
			ActiveRuns::<T>::mutate(|runs| runs.retain(|&r| r != run));
			Self::deposit_event(Event::RunClosed { run });
			Ok(())
		}

		/// Releases the caller's stake in `run` once its unbonding period is over.
		#[pallet::call_index(10)]
		#[pallet::weight(T::WeightInfo::withdraw_unbonded())]
		pub fn withdraw_unbonded(origin: OriginFor<T>, run: RunId) -> DispatchResult {
			let who = ensure_signed(origin)?;
			let unbonding = Unbondings::<T>::get(run, &who).ok_or(Error::<T>::NothingUnbonding)?;
			ensure!(Self::now() >= unbonding.until, Error::<T>::UnbondingNotOver);
			T::Currency::release(
				&HoldReason::ValidatorStake.into(),
				&who,
				unbonding.amount,
				Precision::BestEffort,
			)?;
			Unbondings::<T>::remove(run, &who);
			Self::deposit_event(Event::Withdrawn { run, who, amount: unbonding.amount });
			Ok(())
		}

		/// Gives a closed run's storage back, at most `limit` (1 to `MaxPeers`) storage entries
		/// per call: its peers first, releasing their deposits and stakes (unbonding ones
		/// too), then its commitments, scores, checkpoints and sets, and, once nothing else is
		/// left, the run itself (`RunReaped`). Anyone may call it; the weight charged is that
		/// of the entries actually removed.
		#[pallet::call_index(12)]
		#[pallet::weight(T::WeightInfo::reap_run(*limit))]
		pub fn reap_run(
			origin: OriginFor<T>,
			run: RunId,
			limit: u32,
		) -> DispatchResultWithPostInfo {
			ensure_signed(origin)?;
			let info = Runs::<T>::get(run).ok_or(Error::<T>::UnknownRun)?;
			ensure!(info.closed, Error::<T>::RunNotClosed);
			ensure!((1..=T::MaxPeers::get()).contains(&limit), Error::<T>::InvalidReapLimit);
			let step = reap::step::<T>(run, limit);
			if step.done {
				Self::deposit_event(Event::RunReaped { run });
			} else {
				Self::deposit_event(Event::RunReapProgress { run, removed: step.removed });
			}
			Ok(Some(T::WeightInfo::reap_run(step.removed.max(1))).into())
		}
	}

	#[pallet::view_functions]
	impl<T: Config> Pallet<T> {
		/// A run's parameters, current round, phase, deadlines and counters.
		pub fn run_status(run: RunId) -> Option<RunStatus<BalanceOf<T>>> {
			Self::status_of(run)
		}

		/// The aggregation set of a round (fixed when it opened), sorted by uid.
		pub fn aggregation_set(run: RunId, round: Round) -> Option<Vec<Uid>> {
			AggregationSets::<T>::get(run, round).map(|s| s.into_inner())
		}

		/// The blobs of a settled round that every node applies (its applied set), sorted by
		/// uid; `None` before the round settles (and for rounds settled before this rule, or
		/// pruned).
		pub fn applied_set(run: RunId, round: Round) -> Option<Vec<Uid>> {
			AppliedSets::<T>::get(run, round).map(|s| s.into_inner())
		}

		/// A round's commitments, sorted by uid.
		pub fn round_commitments(run: RunId, round: Round) -> Vec<(Uid, Commitment)> {
			let mut out: Vec<(Uid, Commitment)> =
				Commitments::<T>::iter_prefix((run, round)).collect();
			out.sort_unstable_by_key(|c| c.0);
			out
		}

		/// The scores validators have revealed for a round (until it settles), by validator
		/// uid. Public once revealed: commitments made before the reveal phase keep anyone
		/// from copying them into their own submission.
		pub fn revealed_scores(run: RunId, round: Round) -> Vec<(Uid, Vec<MinerScore>)> {
			let mut out: Vec<(Uid, Vec<MinerScore>)> = Scores::<T>::iter_prefix((run, round))
				.map(|(uid, list)| (uid, list.into_inner()))
				.collect();
			out.sort_unstable_by_key(|s| s.0);
			out
		}

		/// Every miner's protocol state (ratings, indicator, final score), sorted by uid.
		pub fn miner_states(run: RunId) -> Vec<(Uid, MinerRecord)> {
			MinerUids::<T>::get(run)
				.into_iter()
				.filter_map(|uid| MinerStates::<T>::get(run, uid).map(|r| (uid, r)))
				.collect()
		}

		/// The current emission weights: burned ppb and `(uid, ppb)` per paid miner.
		pub fn run_weights(run: RunId) -> (u32, Vec<(Uid, u32)>) {
			let w = Weights::<T>::get(run);
			(w.burn_ppb, w.miners.into_inner())
		}

		/// Every registered peer with its uid, role and store URL, miners first, by uid.
		pub fn peers(run: RunId) -> Vec<PeerView<T::AccountId, BalanceOf<T>>> {
			let mut out: Vec<PeerView<T::AccountId, BalanceOf<T>>> = Peers::<T>::iter_prefix(run)
				.map(|(who, p)| PeerView {
					who,
					uid: p.uid,
					role: p.role,
					store_url: p.store_url.into_inner(),
					held: p.held,
					registered_at: p.registered_at,
				})
				.collect();
			out.sort_by_key(|p| (p.role == Role::Validator, p.uid));
			out
		}

		/// A round's seed (hash of the last block that accepted its commitments), once its
		/// commit deadline has passed.
		pub fn round_seed(run: RunId, round: Round) -> Option<Hash32> {
			RoundSeeds::<T>::get(run, round)
		}

		/// The newest agreed checkpoint: its round, hash and the URI of the vote that completed
		/// its majority.
		pub fn latest_checkpoint(run: RunId) -> Option<(Round, Hash32, Vec<u8>)> {
			let round = LatestCheckpoint::<T>::get(run)?;
			Checkpoints::<T>::get(run, round).map(|c| (round, c.hash, c.uri.into_inner()))
		}

		/// Every agreed checkpoint still kept, newest first, with the URIs of all validators
		/// that recorded its hash.
		pub fn agreed_checkpoints(run: RunId) -> Vec<AgreedCheckpoint> {
			checkpoints::agreed::<T>(run)
		}

		/// The oldest round whose commitments and aggregation set the chain still keeps (older
		/// ones were pruned after settlement): a node can replay rounds from here on only.
		pub fn first_kept_round(run: RunId) -> Option<Round> {
			let info = Runs::<T>::get(run)?;
			Some(info.next_settle.saturating_sub(u64::from(T::CommitmentRetention::get())))
		}
	}
}

/// What a validator commits to: blake2b-256 of the SCALE encoding of `(scores, salt)`. The
/// salt (32 random bytes, kept by the validator until it reveals) keeps anyone from testing
/// guesses of the scores against the hash.
pub fn score_commitment(scores: &[MinerScore], salt: &Hash32) -> Hash32 {
	use sp_runtime::traits::Hash as _;
	sp_runtime::traits::BlakeTwo256::hash(&codec::Encode::encode(&(scores, salt))).0
}

impl<T: Config> From<ParamsCheck> for Error<T> {
	fn from(e: ParamsCheck) -> Self {
		match e {
			ParamsCheck::ZeroRoundLength => Error::ZeroRoundLength,
			ParamsCheck::CommitWindowTooLong => Error::CommitWindowTooLong,
			ParamsCheck::ScoreWindowTooLong => Error::ScoreWindowTooLong,
			ParamsCheck::EmptyScoreWindow => Error::EmptyScoreWindow,
			ParamsCheck::RoundTooLong => Error::RoundTooLong,
			ParamsCheck::InvalidTraining => Error::InvalidTrainingParams,
			ParamsCheck::InvalidIncentive => Error::InvalidIncentiveParams,
			ParamsCheck::InvalidSkill => Error::InvalidSkillParams,
			ParamsCheck::AggregationSetSize => Error::InvalidAggregationSetSize,
			ParamsCheck::InvalidBlobLen => Error::InvalidBlobLen,
			ParamsCheck::InvalidValidatorRules => Error::InvalidValidatorRules,
			ParamsCheck::NoDataset => Error::NoDataset,
		}
	}
}

impl<T: Config> From<ScoreError> for Error<T> {
	fn from(e: ScoreError) -> Self {
		match e {
			ScoreError::IndicatorOutOfRange => Error::ScoreIndicatorOutOfRange,
			ScoreError::SyncOutOfRange => Error::ScoreSyncOutOfRange,
			ScoreError::UnknownFlags => Error::ScoreUnknownFlags,
			ScoreError::NotSortedByUid => Error::ScoresNotSorted,
		}
	}
}

impl<T: Config> Pallet<T> {
	/// The current block number, widened.
	pub(crate) fn now() -> u64 {
		frame_system::Pallet::<T>::block_number().saturated_into()
	}

	fn limits() -> Limits {
		Limits { max_peers: T::MaxPeers::get() }
	}

	/// The run, if it exists and is open.
	fn open_run(run: RunId) -> Result<RunInfoOf<T>, DispatchError> {
		let info = Runs::<T>::get(run).ok_or(Error::<T>::UnknownRun)?;
		ensure!(!info.closed, Error::<T>::RunClosed);
		Ok(info)
	}

	/// Non-empty printable ASCII, and `s3://`, `https://` or `http://` followed by a host
	/// (or `file://` where `AllowFileStoreUrls` holds). Workers open these URLs from chain
	/// data, so anything else (other schemes, bare paths) is refused here already.
	fn check_url(url: &[u8]) -> DispatchResult {
		ensure!(!url.is_empty(), Error::<T>::EmptyUrl);
		ensure!(url.iter().all(|b| (0x21..=0x7e).contains(b)), Error::<T>::InvalidUrl);
		let with_host = |scheme: &[u8]| {
			url.strip_prefix(scheme)
				.and_then(|rest| rest.first())
				.is_some_and(|&b| b != b'/' && b != b'?')
		};
		let remote = [&b"s3://"[..], &b"https://"[..], &b"http://"[..]].into_iter().any(with_host);
		let file = T::AllowFileStoreUrls::get() && url.starts_with(b"file:///");
		ensure!(remote || file, Error::<T>::UnsupportedUrlScheme);
		Ok(())
	}

	/// The hash of the parent block, as a round seed.
	fn parent_seed() -> Hash32 {
		let parent = frame_system::Pallet::<T>::parent_hash();
		let mut seed = [0u8; 32];
		for (slot, byte) in seed.iter_mut().zip(parent.as_ref()) {
			*slot = *byte;
		}
		seed
	}

	/// The validator a newcomer offering `stake` replaces in a full set: the least stake,
	/// then the highest uid, among those registered at least `ImmunityPeriod` ago, if it holds
	/// less than `stake`.
	fn replaceable_validator(
		run: RunId,
		validators: &[ValidatorEntryOf<T>],
		stake: BalanceOf<T>,
		now: u64,
	) -> Option<Uid> {
		let immunity: u64 = T::ImmunityPeriod::get().saturated_into();
		validators
			.iter()
			.filter(|v| v.stake < stake)
			.filter(|v| {
				Peers::<T>::get(run, &v.who)
					.is_some_and(|p| p.registered_at.saturating_add(immunity) <= now)
			})
			.min_by(|a, b| a.stake.cmp(&b.stake).then(b.uid.cmp(&a.uid)))
			.map(|v| v.uid)
	}

	/// Removes validator `uid` of `run` (from `validators` too, which the caller stores):
	/// its unsettled scores are dropped and its stake starts unbonding. Returns its account.
	fn remove_validator(
		run: RunId,
		info: &RunInfoOf<T>,
		uid: Uid,
		validators: &mut BoundedVec<ValidatorEntryOf<T>, T::MaxValidators>,
	) -> Result<T::AccountId, DispatchError> {
		let entry =
			validators.iter().find(|v| v.uid == uid).cloned().ok_or(Error::<T>::NotRegistered)?;
		let peer = Peers::<T>::take(run, &entry.who).ok_or(Error::<T>::NotRegistered)?;
		validators.retain(|v| v.uid != uid);
		let now = Self::now();
		Unbondings::<T>::insert(
			run,
			&entry.who,
			Unbonding {
				amount: peer.held,
				until: now.saturating_add(u64::from(info.params.unbonding_blocks)),
			},
		);
		// At most three rounds are unsettled (scored or being scored).
		let current = info.clock.round_at(now).unwrap_or(0);
		let mut round = info.next_settle;
		for _ in 0..3 {
			if round > current {
				break;
			}
			Scores::<T>::remove((run, round, uid));
			ScoreCommits::<T>::remove((run, round, uid));
			round = round.saturating_add(1);
		}
		Ok(entry.who)
	}

	/// The lowest uid not in `taken` (sorted ascending).
	fn lowest_free(taken: impl Iterator<Item = Uid>) -> Uid {
		let mut next: u32 = 0;
		for uid in taken {
			if u32::from(uid) != next {
				break;
			}
			next = next.saturating_add(1);
		}
		Uid::try_from(next).unwrap_or(Uid::MAX)
	}

	/// The miner a new registration replaces: lowest final score, then lowest ordinal, then
	/// lowest uid, among miners registered at least `ImmunityPeriod` blocks ago.
	fn replaceable_miner(run: RunId, uids: &[Uid], now: u64) -> Option<Uid> {
		let immunity: u64 = T::ImmunityPeriod::get().saturated_into();
		uids.iter()
			.filter_map(|&uid| MinerStates::<T>::get(run, uid).map(|r| (uid, r)))
			.filter(|(_, r)| r.registered_at.saturating_add(immunity) <= now)
			.min_by_key(|(uid, r)| (r.state.final_score, r.state.rating.ordinal(), *uid))
			.map(|(uid, _)| uid)
	}

	/// Removes miner `uid` of `run` (from `uids` too, which the caller stores), releases
	/// its deposit and returns its account.
	fn remove_miner(
		run: RunId,
		uid: Uid,
		uids: &mut BoundedVec<Uid, T::MaxPeers>,
	) -> Result<T::AccountId, DispatchError> {
		let who = Uids::<T>::take(run, uid).ok_or(Error::<T>::NotRegistered)?;
		let peer = Peers::<T>::take(run, &who).ok_or(Error::<T>::NotRegistered)?;
		T::Currency::release(
			&HoldReason::MinerDeposit.into(),
			&who,
			peer.held,
			Precision::BestEffort,
		)?;
		MinerStates::<T>::remove(run, uid);
		uids.retain(|&u| u != uid);
		NextAggregationSet::<T>::mutate(run, |set| set.retain(|&u| u != uid));
		Ok(who)
	}

	fn status_of(run: RunId) -> Option<RunStatus<BalanceOf<T>>> {
		let info = Runs::<T>::get(run)?;
		let now = Self::now();
		let clock = info.clock;
		let pos = clock.position(now);
		let round = pos.map(|p| p.round);
		Some(RunStatus {
			now,
			start: clock.start(),
			round,
			offset: pos.map_or(0, |p| p.offset),
			phase: pos.map_or(training_protocol::Phase::Training, |p| p.phase),
			round_start: round.and_then(|r| clock.round_start(r)),
			commit_deadline: round.and_then(|r| clock.commit_deadline(r)),
			score_window: round.and_then(|r| clock.score_window(r)),
			next_settle: info.next_settle,
			next_settle_block: clock.settlement_block(info.next_settle),
			miners: MinerUids::<T>::decode_len(run).unwrap_or(0) as u32,
			validators: Validators::<T>::decode_len(run).unwrap_or(0) as u32,
			minted_total: info.minted_total,
			burned_total: info.burned_total,
			params: info.params,
		})
	}

	/// Storage invariants: uids unique and consistent with `Peers`, counts within bounds,
	/// weights summing to one billion.
	#[cfg(any(feature = "try-runtime", test))]
	pub fn do_try_state() -> Result<(), sp_runtime::TryRuntimeError> {
		use sp_runtime::TryRuntimeError;
		let active = ActiveRuns::<T>::get();
		ensure!(
			active.len() as u32 <= T::MaxRuns::get(),
			TryRuntimeError::Other("too many active runs")
		);
		for (run, info) in Runs::<T>::iter() {
			ensure!(run < NextRunId::<T>::get(), TryRuntimeError::Other("run id beyond NextRunId"));
			ensure!(
				info.closed != active.contains(&run),
				TryRuntimeError::Other("active list out of sync")
			);
			ensure!(
				info.created_at < info.clock.start(),
				TryRuntimeError::Other("run created after its round 0")
			);
			let uids = MinerUids::<T>::get(run);
			ensure!(
				uids.windows(2).all(|w| w[0] < w[1]),
				TryRuntimeError::Other("miner uids not sorted/unique")
			);
			ensure!(
				uids.iter().all(|&u| u32::from(u) < T::MaxPeers::get()),
				TryRuntimeError::Other("miner uid out of range")
			);
			for &uid in uids.iter() {
				let who = Uids::<T>::get(run, uid)
					.ok_or(TryRuntimeError::Other("uid without account"))?;
				let peer =
					Peers::<T>::get(run, &who).ok_or(TryRuntimeError::Other("uid without peer"))?;
				ensure!(
					peer.uid == uid && peer.role == Role::Miner,
					TryRuntimeError::Other("peer uid mismatch")
				);
				ensure!(
					MinerStates::<T>::contains_key(run, uid),
					TryRuntimeError::Other("miner without state")
				);
			}
			ensure!(
				Uids::<T>::iter_prefix(run).count() == uids.len(),
				TryRuntimeError::Other("Uids and MinerUids disagree")
			);
			let validators = Validators::<T>::get(run);
			ensure!(
				validators.windows(2).all(|w| w[0].uid < w[1].uid),
				TryRuntimeError::Other("validator uids not sorted/unique")
			);
			for v in validators.iter() {
				let peer = Peers::<T>::get(run, &v.who)
					.ok_or(TryRuntimeError::Other("validator without peer"))?;
				ensure!(
					peer.uid == v.uid && peer.role == Role::Validator && peer.held == v.stake,
					TryRuntimeError::Other("validator entry mismatch")
				);
			}
			ensure!(
				Peers::<T>::iter_prefix(run).count() == uids.len().saturating_add(validators.len()),
				TryRuntimeError::Other("stray peers")
			);
			let w = Weights::<T>::get(run);
			let total = w
				.miners
				.iter()
				.fold(u64::from(w.burn_ppb), |acc, m| acc.saturating_add(u64::from(m.1)));
			ensure!(
				total == u64::from(training_protocol::PPB),
				TryRuntimeError::Other("weights do not sum to PPB")
			);
			ensure!(
				w.miners.windows(2).all(|p| p[0].0 < p[1].0),
				TryRuntimeError::Other("weights not sorted by uid")
			);
			let retention = u64::from(T::CommitmentRetention::get());
			for (round, applied) in AppliedSets::<T>::iter_prefix(run) {
				ensure!(
					round < info.next_settle,
					TryRuntimeError::Other("applied set of an unsettled round")
				);
				ensure!(
					round.saturating_add(retention) >= info.next_settle,
					TryRuntimeError::Other("applied set kept past the retention")
				);
				ensure!(
					applied.windows(2).all(|w| w[0] < w[1]),
					TryRuntimeError::Other("applied set not sorted")
				);
				let set = AggregationSets::<T>::get(run, round).unwrap_or_default();
				ensure!(
					applied.iter().all(|uid| set.contains(uid)),
					TryRuntimeError::Other("applied set outside the aggregation set")
				);
			}
		}
		for run in 0..NextRunId::<T>::get() {
			if !Runs::<T>::contains_key(run) {
				ensure!(
					!reap::remains::<T>(run) && !reap::run_entries_left::<T>(run),
					TryRuntimeError::Other("a reaped run left storage behind")
				);
			}
		}
		Ok(())
	}
}
