//! From combined scores to ratings, penalties, emission weights, the next aggregation set and
//! the payout of each round's emission.
//!
//! [`settle`] runs once per round, when the round's score window closes:
//!
//! 1. The miners scored this round play one Plackett-Luce game ranked by loss score; a
//!    miner whose gradient is missing, invalid or copied ranks last ([`MinerScore::rank_key`]).
//! 2. Each scored miner's state advances: the assigned-vs-random indicator is smoothed
//!    (`avg += alpha (indicator - avg)`, start 0), the last eight indicators are kept as a
//!    bitset, consecutive misses are counted.
//! 3. Its final score is `ordinal * max(0, avg) * sync`, or just `ordinal` during its first
//!    `warmup_rounds` evaluations; zero once past warm-up with `avg < threshold`. Penalties
//!    multiply it: a miss `x0.75`, a second consecutive miss `x0.5`, a third and later `x0`;
//!    more than four negatives among the last eight indicators `x0.25`; copying `x0`. Final
//!    scores are clamped at zero, so a penalty can never lift a negative score.
//! 4. Miners with a positive final score are ranked (score descending, then uid); the
//!    [`WeightSchedule`] turns ranks into weights in parts per billion summing to exactly one
//!    billion with the burn. The next aggregation set is the best `aggregation_set_size` of
//!    them, leaving out [excluded](MinerState::excluded) miners. While the run is in warm-up
//!    it is every miner that is not excluded: ratings are still too young to rank by, but a
//!    miner whose recent indicators were all negative, or whose misses have zeroed it, would
//!    only make every node wait for or drop its blob.
//!
//! [`split_emission`] then pays an amount to miners by weight and to validators by stake
//! times [`agreement_ppb`]; every unit not paid is burned, so `paid + burned == amount`.

use alloc::vec::Vec;

use crate::{
	fixed::{mul_div_floor, Fixed},
	openskill::{self, OpenSkillParams, RateError, Rating},
	score::{competition_ranks, fitting_shift, AggregatedScore, MinerScore, ScoreFlags, Uid},
};

/// One billion: parts per billion, the unit of weights and shares.
pub const PPB: u32 = 1_000_000_000;

/// How emission weights are laid out over miners ranked by final score. The three shares
/// are in parts per billion and must add up to exactly [`PPB`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(
	feature = "codec",
	derive(
		codec::Encode,
		codec::Decode,
		codec::DecodeWithMemTracking,
		codec::MaxEncodedLen,
		scale_info::TypeInfo
	)
)]
pub struct WeightSchedule {
	/// Share burned outright.
	pub burn_ppb: u32,
	/// How many of the best miners share `top_ppb`.
	pub top_n: u16,
	/// Share of the top group, split on a linear ramp: the best gets twice the last.
	pub top_ppb: u32,
	/// How many miners after the top group share `next_ppb`.
	pub next_m: u16,
	/// Share of the next group, split with geometric decay 1/2 from one miner to the next.
	pub next_ppb: u32,
}

impl Default for WeightSchedule {
	/// The reference: 50 % burned; 37.5 % to the top 20, 12.5 % to the next 10.
	fn default() -> Self {
		WeightSchedule {
			burn_ppb: 500_000_000,
			top_n: 20,
			top_ppb: 375_000_000,
			next_m: 10,
			next_ppb: 125_000_000,
		}
	}
}

/// Incentive parameters; fractions are in parts per billion. [`Default`] gives the reference
/// values of ALGORITHMS.md.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(
	feature = "codec",
	derive(
		codec::Encode,
		codec::Decode,
		codec::DecodeWithMemTracking,
		codec::MaxEncodedLen,
		scale_info::TypeInfo
	)
)]
pub struct IncentiveParams {
	/// Smoothing factor of the assigned-vs-random indicator (0.05).
	pub indicator_alpha_ppb: u32,
	/// Past warm-up, a smoothed indicator below this scores zero (0.10).
	pub indicator_threshold_ppb: u32,
	/// Evaluations a miner is in warm-up for, and settled rounds a run is in warm-up for (10).
	pub warmup_rounds: u32,
	/// Multiplier for the first, second and third-or-later consecutive missing or invalid
	/// gradient (0.75, 0.5, 0).
	pub miss_penalty_ppb: [u32; 3],
	/// Multiplier when more than four of the last eight indicators were negative (0.25).
	pub negative_majority_penalty_ppb: u32,
	/// This many negative indicators in a row exclude a miner from aggregation (3, at most 8).
	pub exclude_after_negatives: u8,
	/// Size of the aggregation set after warm-up (20).
	pub aggregation_set_size: u16,
	/// Emission weight layout.
	pub schedule: WeightSchedule,
	/// Share of each round's emission paid to validators; the rest goes by weight (0.5).
	pub validator_share_ppb: u32,
}

impl Default for IncentiveParams {
	fn default() -> Self {
		IncentiveParams {
			indicator_alpha_ppb: 50_000_000,
			indicator_threshold_ppb: 100_000_000,
			warmup_rounds: 10,
			miss_penalty_ppb: [750_000_000, 500_000_000, 0],
			negative_majority_penalty_ppb: 250_000_000,
			exclude_after_negatives: 3,
			aggregation_set_size: 20,
			schedule: WeightSchedule::default(),
			validator_share_ppb: 500_000_000,
		}
	}
}

/// Why parameters were refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamsError {
	/// A fraction is above one billion parts per billion.
	FractionAboveOne,
	/// Burn, top and next shares do not add up to exactly one billion.
	SharesDoNotSumToOne,
	/// `exclude_after_negatives` is above 8, the length of the indicator history.
	HistoryTooShort,
	/// `next_m` is above [`MAX_NEXT_M`].
	NextGroupTooLarge,
}

/// Largest `next_m`: beyond it the geometric weights fall below one part per billion anyway.
pub const MAX_NEXT_M: u16 = 64;

impl IncentiveParams {
	/// Checks ranges and that the schedule's shares sum to one.
	pub fn validate(&self) -> Result<(), ParamsError> {
		let s = &self.schedule;
		let fractions = [
			self.indicator_alpha_ppb,
			self.indicator_threshold_ppb,
			self.negative_majority_penalty_ppb,
			self.validator_share_ppb,
			s.burn_ppb,
			s.top_ppb,
			s.next_ppb,
		];
		if fractions.iter().chain(self.miss_penalty_ppb.iter()).any(|&f| f > PPB) {
			return Err(ParamsError::FractionAboveOne);
		}
		let shares = [s.burn_ppb, s.top_ppb, s.next_ppb]
			.iter()
			.fold(0u64, |acc, &x| acc.saturating_add(u64::from(x)));
		if shares != u64::from(PPB) {
			return Err(ParamsError::SharesDoNotSumToOne);
		}
		if self.exclude_after_negatives > 8 {
			return Err(ParamsError::HistoryTooShort);
		}
		if s.next_m > MAX_NEXT_M {
			return Err(ParamsError::NextGroupTooLarge);
		}
		Ok(())
	}
}

/// What the chain remembers about a miner between rounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(
	feature = "codec",
	derive(
		codec::Encode,
		codec::Decode,
		codec::DecodeWithMemTracking,
		codec::MaxEncodedLen,
		scale_info::TypeInfo
	)
)]
pub struct MinerState {
	/// OpenSkill rating.
	pub rating: Rating,
	/// Smoothed assigned-vs-random indicator, in `[-1, 1]`.
	pub indicator_avg: Fixed,
	/// The last eight measured indicators, most recent in bit 0; a set bit is negative.
	pub negative_history: u8,
	/// How many bits of `negative_history` are real (at most 8).
	pub history_len: u8,
	/// Consecutive rounds with a missing or invalid gradient.
	pub consecutive_misses: u8,
	/// Rounds in which this miner was scored.
	pub evaluations: u32,
	/// Final score after the last evaluation (zero before the first).
	pub final_score: Fixed,
}

impl MinerState {
	/// A newly registered miner.
	pub fn new(skill: &OpenSkillParams) -> Self {
		MinerState {
			rating: skill.initial_rating(),
			indicator_avg: Fixed::ZERO,
			negative_history: 0,
			history_len: 0,
			consecutive_misses: 0,
			evaluations: 0,
			final_score: Fixed::ZERO,
		}
	}

	/// Whether the last `n` indicators (`n >= 1`) were all negative.
	pub fn negative_streak(&self, n: u8) -> bool {
		let mask = mask_low(n);
		n > 0 && self.history_len >= n && self.negative_history & mask == mask
	}

	/// Whether this miner is left out of the aggregation set, warm-up or not: its last
	/// `exclude_after_negatives` indicators were all negative, or its run of missing or
	/// invalid gradients has reached a miss penalty of zero. Validators keep scoring it, so
	/// one good round (a measured positive indicator, a valid blob) brings it back.
	pub fn excluded(&self, params: &IncentiveParams) -> bool {
		self.negative_streak(params.exclude_after_negatives)
			|| miss_penalty(params, self.consecutive_misses) == 0
	}
}

/// Emission weights: miners' parts per billion plus the burned part, summing to [`PPB`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Weights {
	/// Burned part, including the shares of groups that had no miner.
	pub burn_ppb: u32,
	/// `(uid, weight)` for each miner with a non-zero weight, sorted by uid.
	pub miners: Vec<(Uid, u32)>,
}

impl Weights {
	/// Burn plus all miner weights (one billion for weights from [`emission_weights`]).
	pub fn total(&self) -> u64 {
		self.miners
			.iter()
			.fold(u64::from(self.burn_ppb), |acc, m| acc.saturating_add(u64::from(m.1)))
	}
}

/// The outcome of settling a round.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settlement {
	/// Emission weights until the next settlement.
	pub weights: Weights,
	/// Miners whose gradients the next round aggregates, sorted by uid.
	pub aggregation_set: Vec<Uid>,
}

/// Why a round could not be settled. Nothing is modified when this is returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SettleError {
	/// The incentive parameters are invalid.
	Params(ParamsError),
	/// The rating update failed.
	Rating(RateError),
	/// `miners` is not sorted by strictly increasing uid.
	MinersNotSorted,
	/// `scores` is not sorted by strictly increasing uid.
	ScoresNotSorted,
}

/// Settles a round (see the module docs): updates the states of the miners in `scores` and
/// derives weights and the next aggregation set from all `miners`.
///
/// `miners` and `scores` must be sorted by uid (as [`crate::score::aggregate`] returns them). Scores
/// of uids not in `miners` (deregistered meanwhile) are ignored; miners without a score keep
/// their state. `settled_round` is the round being settled; the run is in warm-up while it is
/// below `warmup_rounds`.
pub fn settle(
	params: &IncentiveParams,
	skill: &OpenSkillParams,
	settled_round: u64,
	miners: &mut [(Uid, MinerState)],
	scores: &[AggregatedScore],
) -> Result<Settlement, SettleError> {
	params.validate().map_err(SettleError::Params)?;
	if miners.windows(2).any(|w| matches!(w, [a, b] if a.0 >= b.0)) {
		return Err(SettleError::MinersNotSorted);
	}
	if scores.windows(2).any(|w| matches!(w, [a, b] if a.score.uid >= b.score.uid)) {
		return Err(SettleError::ScoresNotSorted);
	}
	// (index into miners, combined score) for every scored, registered miner.
	let scored: Vec<(usize, MinerScore)> = scores
		.iter()
		.filter_map(|s| {
			miners.binary_search_by_key(&s.score.uid, |m| m.0).ok().map(|i| (i, s.score))
		})
		.collect();
	let keys: Vec<Option<i64>> = scored.iter().map(|s| s.1.rank_key()).collect();
	let ranks = competition_ranks(&keys);
	let game: Vec<(Rating, u32)> = scored
		.iter()
		.zip(&ranks)
		.map(|(s, &rank)| (miners.get(s.0).map_or(skill.initial_rating(), |m| m.1.rating), rank))
		.collect();
	let ratings = openskill::rate(skill, &game).map_err(SettleError::Rating)?;

	// Compute every new state before writing any, so that an error leaves `miners` intact.
	let mut updates = Vec::with_capacity(scored.len());
	for ((index, score), rating) in scored.iter().zip(ratings) {
		if let Some((_, old)) = miners.get(*index) {
			updates.push((*index, advance(params, old, rating, score)));
		}
	}
	for (index, state) in updates {
		if let Some(slot) = miners.get_mut(index) {
			slot.1 = state;
		}
	}

	// Ranked by final score, then uid.
	let mut ranked: Vec<(Uid, &MinerState)> = miners.iter().map(|m| (m.0, &m.1)).collect();
	ranked.sort_by(|a, b| b.1.final_score.cmp(&a.1.final_score).then(a.0.cmp(&b.0)));
	let eligible: Vec<Uid> =
		ranked.iter().filter(|m| m.1.final_score.is_positive()).map(|m| m.0).collect();
	let weights = emission_weights(&params.schedule, &eligible);

	let in_warmup = settled_round < u64::from(params.warmup_rounds);
	let mut aggregation_set: Vec<Uid> = if in_warmup {
		miners.iter().filter(|m| !m.1.excluded(params)).map(|m| m.0).collect()
	} else {
		ranked
			.iter()
			.filter(|m| m.1.final_score.is_positive() && !m.1.excluded(params))
			.take(usize::from(params.aggregation_set_size))
			.map(|m| m.0)
			.collect()
	};
	aggregation_set.sort_unstable();
	Ok(Settlement { weights, aggregation_set })
}

/// A miner's state after one evaluation with combined score `score` and new `rating`.
fn advance(
	params: &IncentiveParams,
	old: &MinerState,
	rating: Rating,
	score: &MinerScore,
) -> MinerState {
	let mut state = *old;
	state.rating = rating;
	state.evaluations = state.evaluations.saturating_add(1);
	let missed = score.flags.intersects(ScoreFlags::MISSING.union(ScoreFlags::INVALID));
	state.consecutive_misses = if missed { state.consecutive_misses.saturating_add(1) } else { 0 };
	if score.indicator != 0 {
		let alpha = ppb(params.indicator_alpha_ppb);
		let target = Fixed::from_int(i64::from(score.indicator.signum()));
		let step = alpha.saturating_mul(target.saturating_sub(state.indicator_avg));
		state.indicator_avg =
			state.indicator_avg.saturating_add(step).clamp_to(Fixed::from_int(-1), Fixed::ONE);
		state.negative_history = (state.negative_history << 1) | u8::from(score.indicator < 0);
		state.history_len = state.history_len.saturating_add(1).min(8);
	}

	let ordinal = state.rating.ordinal();
	let mut value = if state.evaluations <= params.warmup_rounds {
		ordinal
	} else if state.indicator_avg < ppb(params.indicator_threshold_ppb) {
		Fixed::ZERO
	} else {
		let sync = Fixed::from_ppm(i64::from(score.sync_ppm.min(crate::score::PPM)));
		ordinal.saturating_mul(state.indicator_avg.max(Fixed::ZERO)).saturating_mul(sync)
	};
	if state.consecutive_misses > 0 {
		value = value.saturating_mul(ppb(miss_penalty(params, state.consecutive_misses)));
	}
	let recent = state.negative_history & mask_low(state.history_len);
	if recent.count_ones() > 4 {
		value = value.saturating_mul(ppb(params.negative_majority_penalty_ppb));
	}
	if score.flags.contains(ScoreFlags::COPIED) {
		value = Fixed::ZERO;
	}
	state.final_score = value.max(Fixed::ZERO);
	state
}

/// The multiplier, in parts per billion, for a run of `misses` consecutive missing or
/// invalid gradients: [`PPB`] for none, then `miss_penalty_ppb` by the run's length.
fn miss_penalty(params: &IncentiveParams, misses: u8) -> u32 {
	match misses {
		0 => PPB,
		n => params
			.miss_penalty_ppb
			.get(usize::from(n.min(3)).saturating_sub(1))
			.copied()
			.unwrap_or(0),
	}
}

fn ppb(parts: u32) -> Fixed {
	Fixed::from_ppb(i64::from(parts))
}

/// A mask of the low `n` bits of a byte (`n >= 8`: all).
fn mask_low(n: u8) -> u8 {
	u8::MAX.checked_shr(8u32.saturating_sub(u32::from(n))).unwrap_or(0)
}

/// Weights for miners already ranked best first. The first `top_n` share `top_ppb` on a
/// linear ramp from 2 down to 1 (`2 (k-1) - i` for slot `i` of `k`); the next `next_m` share
/// `next_ppb` in proportions `2^(m-1-j)`. A group shorter than planned is spread over the
/// miners present; an empty group's share is burned. Each group is apportioned by largest
/// remainder (ties to the better rank), so the result sums to exactly [`PPB`].
pub fn emission_weights(schedule: &WeightSchedule, ranked: &[Uid]) -> Weights {
	let top_len = ranked.len().min(usize::from(schedule.top_n));
	let (top, rest) = ranked.split_at(top_len);
	let next = rest
		.get(..rest.len().min(usize::from(schedule.next_m).min(usize::from(MAX_NEXT_M))))
		.unwrap_or(&[]);

	// Ramp 2(k-1) - i for slot i < k: from 2(k-1) down to k-1, i.e. 2 -> 1 scaled by k-1.
	let k = top.len();
	let ramp: Vec<u128> = (0..k)
		.map(|i| {
			if k == 1 {
				1
			} else {
				u128::try_from(k.saturating_mul(2).saturating_sub(2).saturating_sub(i)).unwrap_or(0)
			}
		})
		.collect();
	// Halving from 2^(m-1) down to 1 (m <= MAX_NEXT_M keeps the shifts in range).
	let m = next.len();
	let decay: Vec<u128> = (0..m)
		.map(|j| {
			u32::try_from(m.saturating_sub(j).saturating_sub(1))
				.ok()
				.and_then(|e| 1u128.checked_shl(e))
				.unwrap_or(0)
		})
		.collect();

	let mut burn = u128::from(schedule.burn_ppb);
	let mut miners = Vec::with_capacity(top.len().saturating_add(next.len()));
	for (uids, parts, share) in [(top, ramp, schedule.top_ppb), (next, decay, schedule.next_ppb)] {
		match apportion(u128::from(share), &parts) {
			Some(amounts) => miners.extend(
				uids.iter()
					.copied()
					.zip(amounts.into_iter().map(|a| u32::try_from(a).unwrap_or(0))),
			),
			None => burn = burn.saturating_add(u128::from(share)),
		}
	}
	miners.retain(|m| m.1 > 0);
	miners.sort_unstable_by_key(|m| m.0);
	Weights { burn_ppb: u32::try_from(burn).unwrap_or(PPB), miners }
}

/// Splits `total` in proportion to `parts` by largest remainder, the sum being exactly
/// `total`. Ties in remainder go to the earlier part. `None` if the parts sum to zero (or
/// overflow).
pub fn apportion(total: u128, parts: &[u128]) -> Option<Vec<u128>> {
	let sum = parts.iter().try_fold(0u128, |acc, &p| acc.checked_add(p))?;
	if sum == 0 {
		return None;
	}
	let mut shares = Vec::with_capacity(parts.len());
	let mut remainders = Vec::with_capacity(parts.len());
	for (i, &p) in parts.iter().enumerate() {
		let (q, r) = crate::fixed::mul_div_rem(total, p, sum)?;
		shares.push(q);
		remainders.push((r, i));
	}
	let given = shares.iter().fold(0u128, |acc, &s| acc.saturating_add(s));
	// Fewer than parts.len() units are left, one for each of the largest remainders.
	let left = total.saturating_sub(given);
	remainders.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
	for &(_, i) in remainders.iter().take(usize::try_from(left).unwrap_or(usize::MAX)) {
		if let Some(s) = shares.get_mut(i) {
			*s = s.saturating_add(1);
		}
	}
	Some(shares)
}

/// How well a validator's ranking agrees with the combined one, in parts per billion.
///
/// Over the miners the validator scored that also have a combined score, both rankings are
/// formed with [`competition_ranks`] of [`MinerScore::rank_key`] (flagged miners last), and
/// agreement is `1 - F / F_max` with `F` the Spearman footrule `sum |rank_own - rank_combined|`
/// and `F_max = floor(k^2 / 2)` its largest value over `k` miners. A validator that ranks like
/// the median gets one billion, one that reverses it gets zero. No common miner: zero; one
/// common miner: one billion.
pub fn agreement_ppb(own: &[MinerScore], combined: &[AggregatedScore]) -> u32 {
	let pairs: Vec<(Option<i64>, Option<i64>)> = own
		.iter()
		.filter_map(|s| {
			let c = combined.binary_search_by_key(&s.uid, |c| c.score.uid).ok()?;
			Some((s.rank_key(), combined.get(c)?.score.rank_key()))
		})
		.collect();
	let k = u128::try_from(pairs.len()).unwrap_or(u128::MAX);
	if k == 0 {
		return 0;
	}
	let own_keys: Vec<Option<i64>> = pairs.iter().map(|p| p.0).collect();
	let combined_keys: Vec<Option<i64>> = pairs.iter().map(|p| p.1).collect();
	let footrule: u128 = competition_ranks(&own_keys)
		.iter()
		.zip(competition_ranks(&combined_keys))
		.fold(0u128, |acc, (&a, b)| acc.saturating_add(u128::from(a.abs_diff(b))));
	let max = k.saturating_mul(k) / 2;
	if max == 0 {
		return PPB;
	}
	let lost = mul_div_floor(footrule.min(max), u128::from(PPB), max).unwrap_or(u128::from(PPB));
	PPB.saturating_sub(u32::try_from(lost).unwrap_or(PPB))
}

/// A validator's claim on the validators' part of the emission.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ValidatorClaim {
	/// The validator.
	pub uid: Uid,
	/// Its stake.
	pub stake: u128,
	/// What it earned per unit of stake this round, in parts per billion: its
	/// [`agreement_ppb`] times its [`crate::coverage_ppb`] (zero if it submitted nothing).
	pub agreement_ppb: u32,
}

/// Who gets what of one round's emission.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EmissionSplit {
	/// `(uid, amount)` for miners, in the order of the weights.
	pub miners: Vec<(Uid, u128)>,
	/// `(uid, amount)` for validators, in the order given.
	pub validators: Vec<(Uid, u128)>,
	/// Everything not paid: the burn share and all rounding dust.
	pub burned: u128,
}

impl EmissionSplit {
	/// The sum of all payouts and the burn; always the amount split.
	pub fn total(&self) -> u128 {
		self.miners
			.iter()
			.chain(&self.validators)
			.fold(self.burned, |acc, p| acc.saturating_add(p.1))
	}
}

/// Splits `amount`: `validator_share_ppb` of it (floored) is the validators' pot, of which
/// each validator gets `stake * agreement / bonded` (`bonded`: the stake of every validator
/// that could have scored, at least the claims' total); the rest goes to miners in proportion
/// to their weights out of the weights' total (at least [`PPB`]). What a validator loses by
/// disagreeing or scoring less than it was due is burned, not handed to the others: a cheater
/// can neither gain from nor shrink an honest validator's pay. Each payout is floored and
/// everything left over is burned, so payouts plus burn equal `amount` exactly.
pub fn split_emission(
	amount: u128,
	validator_share_ppb: u32,
	weights: &Weights,
	validators: &[ValidatorClaim],
	bonded: u128,
) -> EmissionSplit {
	let share = u128::from(validator_share_ppb.min(PPB));
	let validator_pot = mul_div_floor(amount, share, u128::from(PPB)).unwrap_or(0);
	let miner_pot = amount.saturating_sub(validator_pot);

	let miner_weights: Vec<u128> = weights.miners.iter().map(|m| u128::from(m.1)).collect();
	let denominator = u128::from(weights.total()).max(u128::from(PPB));
	let miners = pro_rata(miner_pot, &miner_weights, denominator);

	let claims: Vec<u128> = validators
		.iter()
		.map(|v| {
			mul_div_floor(v.stake, u128::from(v.agreement_ppb.min(PPB)), u128::from(PPB))
				.unwrap_or(0)
		})
		.collect();
	let stakes = validators.iter().map(|v| v.stake).chain(core::iter::once(bonded));
	let shift = fitting_shift(stakes.clone());
	let claims: Vec<u128> = claims.iter().map(|c| c >> shift).collect();
	let staked = validators.iter().fold(0u128, |acc, v| acc.saturating_add(v.stake >> shift));
	let validator_pay = pro_rata(validator_pot, &claims, staked.max(bonded >> shift));

	let paid = miners.iter().chain(&validator_pay).fold(0u128, |acc, &p| acc.saturating_add(p));
	EmissionSplit {
		miners: weights.miners.iter().map(|m| m.0).zip(miners).collect(),
		validators: validators.iter().map(|v| v.uid).zip(validator_pay).collect(),
		burned: amount.saturating_sub(paid),
	}
}

/// `floor(pot * w / denominator)` for each weight; all zero when `denominator` is zero.
/// Callers keep `sum(weights) <= denominator`, so the payouts never exceed `pot`.
fn pro_rata(pot: u128, weights: &[u128], denominator: u128) -> Vec<u128> {
	weights.iter().map(|&w| mul_div_floor(pot, w, denominator).unwrap_or(0)).collect()
}

#[cfg(test)]
mod tests {
	use super::*;
	use crate::score::PPM;
	use proptest::prelude::*;

	fn score(uid: Uid, loss: i64, indicator: i8) -> AggregatedScore {
		AggregatedScore {
			score: MinerScore {
				uid,
				loss_score: loss,
				indicator,
				sync_ppm: PPM,
				flags: ScoreFlags::NONE,
			},
			stake: 1,
		}
	}

	fn fresh(n: u16) -> Vec<(Uid, MinerState)> {
		(0..n).map(|uid| (uid, MinerState::new(&OpenSkillParams::default()))).collect()
	}

	#[test]
	fn reference_schedule_weights() {
		let ranked: Vec<Uid> = (100..140).collect();
		let w = emission_weights(&WeightSchedule::default(), &ranked);
		assert_eq!(w.total(), u64::from(PPB));
		assert_eq!(w.burn_ppb, 500_000_000);
		assert_eq!(w.miners.len(), 30);
		let get = |uid: Uid| w.miners.iter().find(|m| m.0 == uid).map(|m| m.1).unwrap();
		// Ramp 2 -> 1 over 20: sum of 38..=19 is 570; the best gets 38/570 of 37.5 %.
		assert_eq!(get(100), 25_000_000);
		assert_eq!(get(119), 12_500_000);
		// Geometric over 10: 512/1023 of 12.5 % for the 21st, 1/1023 for the 30th.
		assert!(get(120).abs_diff(62_561_095) <= 1);
		assert!(get(129).abs_diff(122_190) <= 1);
		// Fewer miners than slots: the top share is spread over those present, the next
		// group's share is burned.
		let w = emission_weights(&WeightSchedule::default(), &[7]);
		assert_eq!(w.miners, [(7, 375_000_000)]);
		assert_eq!(w.burn_ppb, 625_000_000);
		let w = emission_weights(&WeightSchedule::default(), &[]);
		assert_eq!((w.burn_ppb, w.miners.len()), (PPB, 0));
	}

	#[test]
	fn apportion_is_exact_and_fair() {
		assert_eq!(apportion(10, &[1, 1, 1]), Some(vec![4, 3, 3]));
		assert_eq!(apportion(3, &[1, 3]), Some(vec![1, 2]));
		assert_eq!(apportion(2, &[1, 3]), Some(vec![1, 1]));
		assert_eq!(apportion(5, &[0, 0]), None);
		assert_eq!(apportion(u128::MAX, &[1, 1]), Some(vec![u128::MAX / 2 + 1, u128::MAX / 2]));
	}

	#[test]
	fn agreement_measures_rank_distance() {
		let combined: Vec<AggregatedScore> =
			(0..4).map(|u| score(u, i64::from(u) * 10, 1)).collect();
		let same: Vec<MinerScore> = combined.iter().map(|c| c.score).collect();
		assert_eq!(agreement_ppb(&same, &combined), PPB);
		let reversed: Vec<MinerScore> =
			same.iter().map(|s| MinerScore { loss_score: -s.loss_score, ..*s }).collect();
		assert_eq!(agreement_ppb(&reversed, &combined), 0);
		// One adjacent swap of four: footrule 2 of a maximum of 8.
		let mut swapped = same.clone();
		swapped[0].loss_score = 15;
		assert_eq!(agreement_ppb(&swapped, &combined), 750_000_000);
		assert_eq!(agreement_ppb(&[], &combined), 0);
		assert_eq!(agreement_ppb(&same[..1], &combined), PPB);
	}

	#[test]
	fn emission_pays_by_weight_and_agreement() {
		let weights =
			Weights { burn_ppb: 500_000_000, miners: vec![(1, 300_000_000), (2, 200_000_000)] };
		let validators = [
			ValidatorClaim { uid: 10, stake: 300, agreement_ppb: PPB },
			ValidatorClaim { uid: 11, stake: 300, agreement_ppb: PPB / 2 },
			ValidatorClaim { uid: 12, stake: 900, agreement_ppb: 0 },
		];
		// Pot 400_000 over 1_500 staked: 266.67 per unit of stake at full agreement.
		let split = split_emission(1_000_000, 400_000_000, &weights, &validators, 1_500);
		assert_eq!(split.miners, [(1, 180_000), (2, 120_000)]);
		assert_eq!(split.validators, [(10, 80_000), (11, 40_000), (12, 0)]);
		assert_eq!(split.burned, 580_000);
		assert_eq!(split.total(), 1_000_000);
		// Bonded stake that did not submit still counts in the denominator: cheaters and
		// absentees never raise another validator's pay, and never lower it either.
		let alone = split_emission(1_000_000, 400_000_000, &weights, &validators[..1], 1_500);
		assert_eq!(alone.validators, [(10, 80_000)]);
		// A bonded total below the claims' stake is raised to it (payouts never exceed the pot).
		let low = split_emission(1_000_000, 400_000_000, &weights, &validators, 1);
		assert_eq!(low.validators, [(10, 80_000), (11, 40_000), (12, 0)]);
	}

	#[test]
	fn settle_ranks_rates_and_picks_sets() {
		let params = IncentiveParams::default();
		let skill = OpenSkillParams::default();
		let mut miners = fresh(5);
		let mut flagged = score(4, 900, 1);
		flagged.score.flags = ScoreFlags::MISSING;
		let scores = [score(0, 10, 1), score(1, 30, 1), score(2, 20, 1), flagged, score(77, 5, 1)];
		let out = settle(&params, &skill, 0, &mut miners, &scores).unwrap();
		// Warm-up: everyone aggregates, one miss or not; final score is the ordinal, clamped
		// at zero.
		assert_eq!(out.aggregation_set, [0, 1, 2, 3, 4]);
		assert!(miners[1].1.final_score > miners[2].1.final_score);
		assert_eq!(miners[4].1.final_score, Fixed::ZERO);
		assert_eq!(miners[4].1.consecutive_misses, 1);
		assert!(miners[4].1.rating.mu < miners[0].1.rating.mu);
		assert_eq!(miners[3].1, MinerState::new(&skill));
		assert_eq!(out.weights.total(), u64::from(PPB));
		assert!(out.weights.miners.iter().any(|m| m.0 == 1));

		// After warm-up only positive scores without a negative streak aggregate. Miner 1
		// has the best loss but trains on the wrong data (negative indicator).
		let mut bad = miners.clone();
		let round = [score(0, 10, 1), score(1, 30, -1), score(2, 20, 1), score(3, 5, 1)];
		for _ in 0..12 {
			settle(&params, &skill, 20, &mut bad, &round).unwrap();
		}
		let out = settle(&params, &skill, 20, &mut bad, &round).unwrap();
		assert_eq!(bad[1].1.final_score, Fixed::ZERO, "negative indicator average scores zero");
		assert!(bad[1].1.negative_streak(3));
		assert!(
			bad[1].1.rating.mu > bad[2].1.rating.mu,
			"the rating itself still follows the loss"
		);
		assert!(out.aggregation_set.contains(&2) && !out.aggregation_set.contains(&1));
		assert!(out
			.aggregation_set
			.iter()
			.all(|&u| bad[usize::from(u)].1.final_score.is_positive()));
		assert!(!out.weights.miners.iter().any(|m| m.0 == 1));
		let one = IncentiveParams { aggregation_set_size: 1, ..params };
		assert_eq!(settle(&one, &skill, 20, &mut bad, &round).unwrap().aggregation_set, [2]);

		// Still in warm-up, a miner whose misses have zeroed it (miner 4, third miss) or whose
		// last three indicators were negative (miner 1) no longer aggregates; one that was
		// never scored (miner 3) does. A good round brings a miner back.
		let mut warm = miners.clone();
		let round = [score(0, 10, 1), score(1, 30, -1), score(2, 20, 1), flagged];
		let sets: Vec<Vec<Uid>> = (1..=3)
			.map(|r| settle(&params, &skill, r, &mut warm, &round).unwrap().aggregation_set)
			.collect();
		assert_eq!(sets, [vec![0, 1, 2, 3, 4], vec![0, 1, 2, 3], vec![0, 2, 3]]);
		let back = [score(1, 30, 1), score(4, 900, 1)];
		assert_eq!(
			settle(&params, &skill, 4, &mut warm, &back).unwrap().aggregation_set,
			[0, 1, 2, 3, 4]
		);

		let mut unsorted = fresh(2);
		unsorted.reverse();
		assert_eq!(
			settle(&params, &skill, 0, &mut unsorted, &[]),
			Err(SettleError::MinersNotSorted)
		);
	}

	#[test]
	fn misses_escalate() {
		let params = IncentiveParams { warmup_rounds: 0, ..IncentiveParams::default() };
		let skill = OpenSkillParams::default();
		let mut state = MinerState::new(&skill);
		state.indicator_avg = Fixed::ONE;
		state.rating.mu = Fixed::from_int(50);
		let mut ok = score(0, 1, 1).score;
		let full = advance(&params, &state, state.rating, &ok).final_score;
		ok.flags = ScoreFlags::MISSING;
		let mut expected = [750_000_000u32, 500_000_000, 0, 0].into_iter();
		let mut current = state;
		for _ in 0..4 {
			current = advance(&params, &current, state.rating, &ok);
			let want = full.saturating_mul(ppb(expected.next().unwrap()));
			assert_eq!(current.final_score, want);
		}
	}

	proptest! {
		#![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

		#[test]
		fn emission_conserves_exactly(
			amount in any::<u128>(),
			share in any::<u32>(),
			miner_weights in proptest::collection::vec((any::<u16>(), any::<u32>()), 0..40),
			burn in any::<u32>(),
			validators in proptest::collection::vec((any::<u16>(), any::<u128>(), any::<u32>()), 0..20),
			bonded in any::<u128>(),
		) {
			let weights = Weights { burn_ppb: burn, miners: miner_weights };
			let claims: Vec<ValidatorClaim> = validators
				.iter()
				.map(|&(uid, stake, agreement_ppb)| ValidatorClaim { uid, stake, agreement_ppb })
				.collect();
			let split = split_emission(amount, share, &weights, &claims, bonded);
			let paid = split.miners.iter().chain(&split.validators).try_fold(0u128, |a, p| a.checked_add(p.1));
			prop_assert_eq!(paid.and_then(|p| p.checked_add(split.burned)), Some(amount));
		}

		#[test]
		fn weights_always_sum_to_one_billion(
			top_n in 0u16..40, next_m in 0u16..=MAX_NEXT_M, burn in 0u32..=PPB, top_frac in 0u32..=PPB,
			count in 0u16..200,
		) {
			let top_ppb = ((u64::from(PPB - burn) * u64::from(top_frac)) / u64::from(PPB)) as u32;
			let schedule = WeightSchedule { burn_ppb: burn, top_n, top_ppb, next_m, next_ppb: PPB - burn - top_ppb };
			let ranked: Vec<Uid> = (0..count).rev().collect();
			let w = emission_weights(&schedule, &ranked);
			prop_assert_eq!(w.total(), u64::from(PPB));
			prop_assert!(w.miners.len() <= usize::from(top_n) + usize::from(next_m));
			// Better rank never earns less within the top group.
			let top: Vec<u32> = ranked.iter().take(usize::from(top_n)).map(|u| w.miners.iter().find(|m| m.0 == *u).map_or(0, |m| m.1)).collect();
			prop_assert!(top.windows(2).all(|p| p[0] >= p[1]));
		}

		/// Arbitrary parameters and stored states (as a corrupt or hostile storage could hold)
		/// give a result or a named error, never a panic.
		#[test]
		fn settle_is_total(
			fractions in proptest::collection::vec(any::<u32>(), 11),
			sizes in (any::<u16>(), any::<u16>(), any::<u16>(), any::<u8>(), any::<u32>()),
			states in proptest::collection::vec(
				(any::<i128>(), any::<i128>(), any::<i128>(), any::<u8>(), any::<u8>(), any::<u8>(), any::<u32>()),
				0..12,
			),
			entries in proptest::collection::vec((0u16..12, any::<i64>(), any::<i8>(), any::<u32>(), any::<u8>()), 0..12),
			round in any::<u64>(),
		) {
			let f = |i: usize| fractions[i];
			let params = IncentiveParams {
				indicator_alpha_ppb: f(0),
				indicator_threshold_ppb: f(1),
				warmup_rounds: sizes.4,
				miss_penalty_ppb: [f(2), f(3), f(4)],
				negative_majority_penalty_ppb: f(5),
				exclude_after_negatives: sizes.3,
				aggregation_set_size: sizes.0,
				schedule: WeightSchedule { burn_ppb: f(6), top_n: sizes.1, top_ppb: f(7), next_m: sizes.2, next_ppb: f(8) },
				validator_share_ppb: f(9),
			};
			// Half the time, repair the schedule so that the deeper code paths run too.
			let mut params = params;
			if f(10) % 2 == 0 {
				params.schedule = WeightSchedule::default();
				params.exclude_after_negatives %= 9;
				for p in [&mut params.indicator_alpha_ppb, &mut params.indicator_threshold_ppb, &mut params.negative_majority_penalty_ppb] {
					*p %= PPB + 1;
				}
				for p in params.miss_penalty_ppb.iter_mut() {
					*p %= PPB + 1;
				}
				params.validator_share_ppb %= PPB + 1;
			}
			let mut miners: Vec<(Uid, MinerState)> = states
				.iter()
				.enumerate()
				.map(|(i, &(mu, sigma, avg, hist, len, misses, evals))| {
					let state = MinerState {
						rating: Rating::new(Fixed::from_raw(mu >> (i % 100)), Fixed::from_raw(sigma >> (i % 100))),
						indicator_avg: Fixed::from_raw(avg),
						negative_history: hist,
						history_len: len,
						consecutive_misses: misses,
						evaluations: evals,
						final_score: Fixed::ZERO,
					};
					(i as Uid, state)
				})
				.collect();
			let mut scores: Vec<AggregatedScore> = entries
				.iter()
				.map(|&(uid, loss_score, indicator, sync_ppm, flags)| AggregatedScore {
					score: MinerScore { uid, loss_score, indicator, sync_ppm, flags: ScoreFlags(flags) },
					stake: 1,
				})
				.collect();
			scores.sort_by_key(|s| s.score.uid);
			scores.dedup_by_key(|s| s.score.uid);
			let before = miners.clone();
			match settle(&params, &OpenSkillParams::default(), round, &mut miners, &scores) {
				Ok(out) => {
					if params.validate().is_ok() {
						prop_assert_eq!(out.weights.total(), u64::from(PPB));
					}
				},
				Err(_) => prop_assert_eq!(&miners, &before),
			}
		}

		/// Arbitrary scores and states never make settle panic, and ratings stay bounded over
		/// many rounds.
		#[test]
		fn settle_never_panics_and_stays_bounded(
			rounds in proptest::collection::vec(
				proptest::collection::vec((0u16..24, any::<i64>(), -1i8..=1, 0u32..=PPM, 0u8..8), 0..24),
				1..40,
			),
		) {
			let params = IncentiveParams::default();
			let skill = OpenSkillParams::default();
			let mut miners = fresh(20);
			for (round, entries) in rounds.iter().enumerate() {
				let mut scores: Vec<AggregatedScore> = entries
					.iter()
					.map(|&(uid, loss, indicator, sync_ppm, flags)| AggregatedScore {
						score: MinerScore { uid, loss_score: loss, indicator, sync_ppm, flags: ScoreFlags(flags) },
						stake: 1,
					})
					.collect();
				scores.sort_by_key(|s| s.score.uid);
				scores.dedup_by_key(|s| s.score.uid);
				let out = settle(&params, &skill, round as u64, &mut miners, &scores).unwrap();
				prop_assert_eq!(out.weights.total(), u64::from(PPB));
				prop_assert!(out.aggregation_set.windows(2).all(|w| w[0] < w[1]));
			}
			for (_, m) in &miners {
				prop_assert!(m.rating.sigma.is_positive() && m.rating.sigma <= Fixed::from_int(9));
				prop_assert!(m.rating.mu.saturating_abs() < Fixed::from_int(200));
				prop_assert!(!m.final_score.is_negative());
				prop_assert!(m.indicator_avg.saturating_abs() <= Fixed::ONE);
			}
		}
	}
}
