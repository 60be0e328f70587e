//! The training protocol as pure, deterministic `no_std` logic.
//!
//! Everything the chain decides about a training run lives here as plain functions over plain
//! data, so that the FRAME pallet stays a thin shell (storage, calls, events) and the workers
//! can run the very same code to predict what the chain will do:
//!
//! - [`round`]: the round clock, which block belongs to which round and which commit and score
//!   windows are open.
//! - [`score`]: the per-miner score validators submit, and the stake-weighted median that
//!   combines several validators' scores so that a stake minority cannot move them.
//! - [`openskill`]: the Plackett-Luce rating update of OpenSkill, bit-for-bit deterministic.
//! - [`duty`]: what each validator is due to score in a round (the aggregation set plus a
//!   sample drawn from a seed that exists only after the commit deadline), its coverage of
//!   that, and the stake quorum a miner's round needs to count.
//! - [`applied`]: which blobs of a round every honest node applies, fixed at settlement
//!   from the validators' verdicts.
//! - [`incentive`]: penalties, final scores, emission weights, the next aggregation set, and
//!   the exact split of each round's emission between miners, validators and the burn.
//! - [`fixed`]: the decimal fixed-point number all of the above compute with.
//!
//! How the pallet drives it, per run: a [`RoundClock`] answers whether `commit_gradient` and
//! `submit_scores` are in time ([`RoundClock::accepts_commit`], [`RoundClock::accepts_scores`])
//! and which round settles in `on_initialize` ([`RoundClock::settles_at`]). Submissions are
//! checked with [`validate_scores`]. At settlement, [`aggregate`] turns the stored
//! submissions into one score per miner, [`settle`] updates the [`MinerState`]s and returns
//! the new [`Weights`] and aggregation set, [`agreement_ppb`] rates each validator against
//! the combined scores, and [`split_emission`] pays out the accrued emission.
//!
//! Rules the code keeps: no floating point outside tests (floats differ across machines and
//! are not allowed in the runtime), no panics (checked or saturating arithmetic, no
//! indexing that can fail, no unchecked arithmetic; errors are named enums), bounded work per
//! call. Clippy enforces these (`unwrap_used`, `indexing_slicing`, `float_arithmetic`,
//! `arithmetic_side_effects` are denied outside tests); the few 256-bit helpers in [`fixed`]
//! that use raw integer operators argue their bounds in place. With the default
//! `codec` feature, every type the chain stores or receives derives SCALE `Encode`/`Decode`,
//! `MaxEncodedLen` and `TypeInfo`.

#![cfg_attr(not(test), no_std)]
#![deny(
	clippy::unwrap_used,
	clippy::expect_used,
	clippy::indexing_slicing,
	clippy::float_arithmetic,
	clippy::arithmetic_side_effects
)]
#![cfg_attr(
	test,
	allow(
		clippy::unwrap_used,
		clippy::indexing_slicing,
		clippy::float_arithmetic,
		clippy::arithmetic_side_effects
	)
)]

extern crate alloc;

pub mod applied;
pub mod duty;
pub mod fixed;
pub mod incentive;
pub mod openskill;
pub mod round;
pub mod score;

pub use applied::applied_set;
pub use duty::{coverage_ppb, due_set, meets_quorum};
pub use fixed::Fixed;
pub use incentive::{
	agreement_ppb, apportion, emission_weights, settle, split_emission, EmissionSplit,
	IncentiveParams, MinerState, ParamsError, SettleError, Settlement, ValidatorClaim,
	WeightSchedule, Weights, PPB,
};
pub use openskill::{rate, OpenSkillParams, RateError, Rating, PARAM_LIMIT, RATING_LIMIT};
pub use round::{Block, ClockError, Phase, Position, Round, RoundClock};
pub use score::{
	aggregate, competition_ranks, sync_score_ppm, validate_scores, weighted_median,
	AggregatedScore, MinerScore, ScoreError, ScoreFlags, Submission, Uid, PPM,
};
