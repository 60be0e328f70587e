//! Types the pallet stores, takes as call arguments or returns from view functions.
//!
//! Every stored type has a `MaxEncodedLen`; bounded collections carry their bound as a
//! `Get<u32>` type parameter taken from the pallet's `Config`.

use alloc::vec::Vec;
use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use frame_support::{
	traits::Get, BoundedVec, CloneNoBound, DebugNoBound, EqNoBound, PartialEqNoBound,
};
use scale_info::TypeInfo;
use training_protocol::{
	IncentiveParams, MinerState, OpenSkillParams, Phase, Round, RoundClock, Uid,
};

/// Identifier of a training run.
pub type RunId = u32;

/// A 32-byte hash (blake2b-256 of a gradient blob or a checkpoint).
pub type Hash32 = [u8; 32];

/// Largest accepted `round_length`, in blocks (about three and a half days of 3 s blocks):
/// keeps every deadline far from the end of `u64` and the emission accrued per settlement
/// within a sane multiple of the per-block amount.
pub const MAX_ROUND_LENGTH: u32 = 100_000;
/// Largest accepted number of inner steps per round.
pub const MAX_INNER_STEPS: u32 = 100_000;
/// Largest accepted chunk size (elements per sparsification chunk).
pub const MAX_CHUNK_SIZE: u32 = 1 << 20;
/// Largest accepted outer learning rate, in parts per billion (10.0).
pub const MAX_OUTER_LR_PPB: u64 = 10_000_000_000;
/// Largest accepted number of quantization bits.
pub const MAX_QUANT_BITS: u8 = 8;
/// Largest accepted gradient blob length in bytes (1 GiB).
pub const MAX_BLOB_LEN: u32 = 1 << 30;
/// Longest accepted unbonding period, in blocks (about 35 days of 3 s blocks).
pub const MAX_UNBONDING_BLOCKS: u32 = 1_000_000;

/// Hyperparameters of a training run, set by governance.
///
/// Fractions are integers (parts per billion); there are no floats anywhere on chain.
/// `incentive.aggregation_set_size` is the aggregation set size N.
#[derive(
	Clone, PartialEq, Eq, Debug, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo,
)]
pub struct RunParams<Balance> {
	/// Blocks per round (L).
	pub round_length: u32,
	/// Blocks after a round's end during which its commitments are still accepted (C).
	pub commit_window: u32,
	/// Blocks into round r+2 during which scores for round r are still accepted (S).
	pub score_window: u32,
	/// Inner AdamW steps per round (H).
	pub inner_steps: u32,
	/// Elements per sparsification chunk (4096 for 64x64 tiles).
	pub chunk_size: u32,
	/// Entries kept per chunk (top-k); density = `topk_per_chunk / chunk_size`.
	pub topk_per_chunk: u32,
	/// Bits per quantized value (2 in the reference).
	pub quant_bits: u8,
	/// Outer learning rate in parts per billion (`1_000_000_000` = 1.0).
	pub outer_lr_ppb: u64,
	/// Penalties, weight schedule, aggregation set size, validator share, warm-up.
	pub incentive: IncentiveParams,
	/// OpenSkill (Plackett-Luce) parameters.
	pub skill: OpenSkillParams,
	/// Emission minted per block of the run, paid at each settlement.
	pub emission_per_block: Balance,
	/// Hash of the model configuration every worker must use.
	pub model_hash: Hash32,
	/// blake2b-256 of the dataset every worker trains on: the manifest of its pre-tokenized
	/// shards (`offchain-gpu data prepare`) or the identity of a built-in corpus. Workers
	/// refuse other data. Zero only on runs created before storage version 4 (not checked).
	pub dataset_hash: Hash32,
	/// Seed of the deterministic data sampler.
	pub run_seed: u64,
	/// Length in bytes of every gradient blob of the run, fixed by the model and the
	/// chunking; a commitment of any other length is refused, and readers never download
	/// more. Zero only on runs created before storage version 3 (length not checked).
	pub blob_len: u32,
	/// Share of the bonded validator stake (parts per billion) that must score a miner for
	/// its round to count.
	pub quorum_ppb: u32,
	/// How many committed miners outside the aggregation set each validator is due to score
	/// per round, drawn from the round's seed.
	pub eval_sample: u16,
	/// Blocks a leaving or replaced validator's stake stays held.
	pub unbonding_blocks: u32,
}

/// A run as stored: its parameters, its clock and its settlement and emission bookkeeping.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, MaxEncodedLen, TypeInfo)]
pub struct RunInfo<Balance> {
	/// Current hyperparameters.
	pub params: RunParams<Balance>,
	/// The round clock; fixed at creation (its windows cannot change on a live run).
	pub clock: RoundClock,
	/// The next round to settle.
	pub next_settle: Round,
	/// Emission accrues from this block on (the last settlement or parameter change).
	pub emission_from: u64,
	/// Emission accrued at an earlier rate and not yet paid (after an emission change).
	pub accrued: Balance,
	/// Everything minted by this run so far.
	pub minted_total: Balance,
	/// Everything accrued but not minted (burned) so far.
	pub burned_total: Balance,
	/// Closed by governance: the clock stops, peers may only deregister.
	pub closed: bool,
	/// Block at which the run was created (round 0 starts at the next block). Added in
	/// storage version 2; [`crate::migrations::v2`] fills it in for older runs.
	pub created_at: u64,
}

/// The role of a registered account.
#[derive(
	Clone,
	Copy,
	PartialEq,
	Eq,
	Debug,
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
)]
pub enum Role {
	/// Trains and commits gradients; uid in `0..MaxPeers`.
	Miner,
	/// Scores gradients; uid in `0..MaxValidators`, a separate uid space from miners.
	Validator,
}

/// A registered participant of a run.
#[derive(
	CloneNoBound, PartialEqNoBound, EqNoBound, DebugNoBound, Encode, Decode, MaxEncodedLen, TypeInfo,
)]
#[scale_info(skip_type_params(MaxUrlLen))]
#[codec(mel_bound(Balance: MaxEncodedLen))]
pub struct PeerInfo<Balance: Clone + PartialEq + Eq + core::fmt::Debug, MaxUrlLen: Get<u32>> {
	/// Uid within the role's uid space.
	pub uid: Uid,
	/// Miner or validator.
	pub role: Role,
	/// Block of registration.
	pub registered_at: u64,
	/// Where the peer publishes blobs (gradients, checkpoints).
	pub store_url: BoundedVec<u8, MaxUrlLen>,
	/// Amount held: the miner deposit or the validator stake.
	pub held: Balance,
}

/// A miner's slot: when it registered (scores of rounds that started earlier are ignored)
/// and its protocol state.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode, MaxEncodedLen, TypeInfo)]
pub struct MinerRecord {
	/// Block at which the current holder of the uid registered.
	pub registered_at: u64,
	/// Rating, indicator history, misses, final score.
	pub state: MinerState,
}

/// A registered validator, as kept in the run's validator list.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, MaxEncodedLen, TypeInfo)]
pub struct ValidatorEntry<AccountId, Balance> {
	/// Validator uid.
	pub uid: Uid,
	/// Its account.
	pub who: AccountId,
	/// Its held stake.
	pub stake: Balance,
}

/// A miner's commitment to a gradient blob for a round.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode, MaxEncodedLen, TypeInfo)]
pub struct Commitment {
	/// blake2b-256 of the blob.
	pub blob_hash: Hash32,
	/// Length of the blob in bytes.
	pub blob_len: u32,
	/// Block of the commitment.
	pub at: u64,
}

/// Stake of a validator that left (or was replaced), still held until `until`.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, MaxEncodedLen, TypeInfo)]
pub struct Unbonding<Balance> {
	/// The amount still held.
	pub amount: Balance,
	/// First block at which [`crate::Pallet::withdraw_unbonded`] releases it.
	pub until: u64,
}

/// A model checkpoint recorded by a validator (its vote), or the one a stake majority of
/// validators agreed on (`by` is then the validator whose vote completed the majority).
#[derive(
	CloneNoBound, PartialEqNoBound, EqNoBound, DebugNoBound, Encode, Decode, MaxEncodedLen, TypeInfo,
)]
#[scale_info(skip_type_params(MaxUrlLen))]
#[codec(mel_bound())]
pub struct Checkpoint<MaxUrlLen: Get<u32>> {
	/// Hash of the checkpoint blob.
	pub hash: Hash32,
	/// Where to fetch it.
	pub uri: BoundedVec<u8, MaxUrlLen>,
	/// Uid of the validator that recorded it.
	pub by: Uid,
	/// Block at which it was recorded.
	pub at: u64,
}

/// An agreed checkpoint as the `agreed_checkpoints` view gives it: the model after `round`
/// has parameter hash `hash`; every URI is a validator's store that recorded that hash
/// (largest stake first).
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, TypeInfo)]
pub struct AgreedCheckpoint {
	pub round: Round,
	pub hash: Hash32,
	pub uris: Vec<Vec<u8>>,
}

/// Emission weights as stored: the burned part and `(uid, ppb)` per paid miner, summing to
/// one billion.
#[derive(
	CloneNoBound, PartialEqNoBound, EqNoBound, DebugNoBound, Encode, Decode, MaxEncodedLen, TypeInfo,
)]
#[scale_info(skip_type_params(MaxPeers))]
#[codec(mel_bound())]
pub struct StoredWeights<MaxPeers: Get<u32>> {
	/// Burned part in parts per billion.
	pub burn_ppb: u32,
	/// `(uid, weight in ppb)`, sorted by uid.
	pub miners: BoundedVec<(Uid, u32), MaxPeers>,
}

impl<MaxPeers: Get<u32>> Default for StoredWeights<MaxPeers> {
	fn default() -> Self {
		StoredWeights { burn_ppb: training_protocol::PPB, miners: BoundedVec::new() }
	}
}

/// Everything a worker needs about a run's timing, in one view-function call.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, TypeInfo)]
pub struct RunStatus<Balance> {
	/// The run's parameters.
	pub params: RunParams<Balance>,
	/// The current block.
	pub now: u64,
	/// The first block of round 0.
	pub start: u64,
	/// The training round, `None` before the run starts.
	pub round: Option<Round>,
	/// Blocks since that round started.
	pub offset: u64,
	/// What the previous round is doing.
	pub phase: Phase,
	/// First block of the current round.
	pub round_start: Option<u64>,
	/// First block at which commitments for the current round are refused.
	pub commit_deadline: Option<u64>,
	/// `[open, close)` of the current round's score window.
	pub score_window: Option<(u64, u64)>,
	/// The next round to settle and the block at which it settles.
	pub next_settle: Round,
	/// Block at which `next_settle` settles.
	pub next_settle_block: Option<u64>,
	/// Registered miners.
	pub miners: u32,
	/// Registered validators.
	pub validators: u32,
	/// Minted so far by the run.
	pub minted_total: Balance,
	/// Burned (accrued but not minted) so far by the run.
	pub burned_total: Balance,
}

/// One peer in the [`crate::Pallet::peers`] view.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, TypeInfo)]
pub struct PeerView<AccountId, Balance> {
	/// The account.
	pub who: AccountId,
	/// Its uid in its role's space.
	pub uid: Uid,
	/// Miner or validator.
	pub role: Role,
	/// Its store URL.
	pub store_url: alloc::vec::Vec<u8>,
	/// Amount held.
	pub held: Balance,
	/// Block of registration.
	pub registered_at: u64,
}

/// What the pallet checks a run's parameters against, as found in `Config`.
pub(crate) struct Limits {
	pub max_peers: u32,
}

/// Why run parameters were refused, mapped onto the pallet's `Error` in `lib.rs`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum ParamsCheck {
	ZeroRoundLength,
	CommitWindowTooLong,
	ScoreWindowTooLong,
	EmptyScoreWindow,
	RoundTooLong,
	InvalidTraining,
	InvalidIncentive,
	InvalidSkill,
	AggregationSetSize,
	InvalidBlobLen,
	InvalidValidatorRules,
	NoDataset,
}

impl<Balance> RunParams<Balance> {
	/// Builds the clock for a run starting at `start` and checks every parameter.
	pub(crate) fn check(&self, start: u64, limits: &Limits) -> Result<RoundClock, ParamsCheck> {
		use training_protocol::ClockError;
		if self.round_length > MAX_ROUND_LENGTH {
			return Err(ParamsCheck::RoundTooLong);
		}
		let clock = RoundClock::new(
			start,
			u64::from(self.round_length),
			u64::from(self.commit_window),
			u64::from(self.score_window),
		)
		.map_err(|e| match e {
			ClockError::ZeroRoundLength => ParamsCheck::ZeroRoundLength,
			ClockError::CommitWindowTooLong => ParamsCheck::CommitWindowTooLong,
			ClockError::ScoreWindowTooLong => ParamsCheck::ScoreWindowTooLong,
			ClockError::EmptyScoreWindow => ParamsCheck::EmptyScoreWindow,
		})?;
		let training_ok = (1..=MAX_INNER_STEPS).contains(&self.inner_steps)
			&& (1..=MAX_CHUNK_SIZE).contains(&self.chunk_size)
			&& (1..=self.chunk_size).contains(&self.topk_per_chunk)
			&& (1..=MAX_QUANT_BITS).contains(&self.quant_bits)
			&& (1..=MAX_OUTER_LR_PPB).contains(&self.outer_lr_ppb);
		if !training_ok {
			return Err(ParamsCheck::InvalidTraining);
		}
		self.incentive.validate().map_err(|_| ParamsCheck::InvalidIncentive)?;
		self.skill.validate().map_err(|_| ParamsCheck::InvalidSkill)?;
		let n = u32::from(self.incentive.aggregation_set_size);
		if n == 0 || n > limits.max_peers {
			return Err(ParamsCheck::AggregationSetSize);
		}
		if !(1..=MAX_BLOB_LEN).contains(&self.blob_len) {
			return Err(ParamsCheck::InvalidBlobLen);
		}
		if self.dataset_hash == [0; 32] {
			return Err(ParamsCheck::NoDataset);
		}
		let validator_rules_ok = (1..=training_protocol::PPB).contains(&self.quorum_ppb)
			&& u32::from(self.eval_sample) <= limits.max_peers
			&& self.unbonding_blocks <= MAX_UNBONDING_BLOCKS;
		if !validator_rules_ok {
			return Err(ParamsCheck::InvalidValidatorRules);
		}
		Ok(clock)
	}

	/// Whether `other` keeps this run's round timing (round length and both windows).
	pub(crate) fn same_clock(&self, other: &Self) -> bool {
		(self.round_length, self.commit_window, self.score_window)
			== (other.round_length, other.commit_window, other.score_window)
	}
}
