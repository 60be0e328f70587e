//! What a validator reports per miner, and how several validators' reports are combined.
//!
//! Each field of a miner's combined score is the stake-weighted *lower* median of the
//! validators' values for that field ([`weighted_median`]). A median needs more than half of
//! the stake behind a value to move it: with three equal-stake validators, one liar cannot
//! push any field outside the range the two honest ones span.

use alloc::vec::Vec;

use crate::fixed::Fixed;

/// Miner identifier within a run.
pub type Uid = u16;

/// Problems a validator found with a miner's gradient, as a bitset.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
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
pub struct ScoreFlags(pub u8);

impl ScoreFlags {
	/// No blob was found for the commitment, or nothing was committed.
	pub const MISSING: ScoreFlags = ScoreFlags(1);
	/// The blob did not match its hash or failed to decode.
	pub const INVALID: ScoreFlags = ScoreFlags(1 << 1);
	/// The gradient duplicates another miner's.
	pub const COPIED: ScoreFlags = ScoreFlags(1 << 2);
	/// Every defined flag.
	pub const ALL: ScoreFlags = ScoreFlags(0b111);
	/// No flag.
	pub const NONE: ScoreFlags = ScoreFlags(0);

	/// Whether every flag of `other` is set.
	pub const fn contains(self, other: ScoreFlags) -> bool {
		self.0 & other.0 == other.0
	}

	/// Whether any flag of `other` is set.
	pub const fn intersects(self, other: ScoreFlags) -> bool {
		self.0 & other.0 != 0
	}

	/// Both sets of flags.
	pub const fn union(self, other: ScoreFlags) -> ScoreFlags {
		ScoreFlags(self.0 | other.0)
	}

	/// Flags that disqualify the gradient this round: it ranks last and earns nothing.
	pub const DISQUALIFYING: ScoreFlags = ScoreFlags(0b111);
}

/// One validator's verdict on one miner's gradient for one round.
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
pub struct MinerScore {
	/// The miner.
	pub uid: Uid,
	/// Relative loss decrease on the shared random batch, `(before - after) / before`, in
	/// parts per billion. Higher is better; negative means the gradient hurt.
	pub loss_score: i64,
	/// Assigned-vs-random indicator: `+1` if the gradient helped more on the miner's own
	/// assigned data than on random data, `-1` if not, `0` if not measured.
	pub indicator: i8,
	/// Sync score in parts per million (`1_000_000`: in sync), see [`sync_score_ppm`].
	pub sync_ppm: u32,
	/// Problems found.
	pub flags: ScoreFlags,
}

/// Why a score submission was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScoreError {
	/// `indicator` is not `-1`, `0` or `1`.
	IndicatorOutOfRange,
	/// `sync_ppm` is above one million.
	SyncOutOfRange,
	/// A flag bit outside [`ScoreFlags::ALL`] is set.
	UnknownFlags,
	/// The scores are not sorted by strictly increasing uid (duplicates included).
	NotSortedByUid,
}

impl MinerScore {
	/// Checks the ranges of the fields.
	pub fn validate(&self) -> Result<(), ScoreError> {
		if !(-1..=1).contains(&self.indicator) {
			return Err(ScoreError::IndicatorOutOfRange);
		}
		if self.sync_ppm > PPM {
			return Err(ScoreError::SyncOutOfRange);
		}
		if self.flags.0 & !ScoreFlags::ALL.0 != 0 {
			return Err(ScoreError::UnknownFlags);
		}
		Ok(())
	}

	/// The key miners are ranked by, higher is better: the loss score, or `None` (below
	/// every score) when a disqualifying flag is set.
	pub fn rank_key(&self) -> Option<i64> {
		(!self.flags.intersects(ScoreFlags::DISQUALIFYING)).then_some(self.loss_score)
	}
}

/// One million: parts per million.
pub const PPM: u32 = 1_000_000;

/// Checks every score and that uids strictly increase, as a submission must.
pub fn validate_scores(scores: &[MinerScore]) -> Result<(), ScoreError> {
	for score in scores {
		score.validate()?;
	}
	if scores.windows(2).any(|w| matches!(w, [a, b] if a.uid >= b.uid)) {
		return Err(ScoreError::NotSortedByUid);
	}
	Ok(())
}

/// The sync score `max(0, 1 - min(x, 3) / 3)^2.5` in parts per million, where `x >= 0` is
/// how far the miner's parameters are from the validator's, in units of the typical
/// per-round step. Computed in fixed point so that every node gets the same number; negative
/// `x` counts as zero.
pub fn sync_score_ppm(x: Fixed) -> u32 {
	let three = Fixed::from_int(3);
	let x = x.clamp_to(Fixed::ZERO, three);
	// y in [0, 1]; y^2.5 = y^2 * sqrt(y). None of these can fail on [0, 1].
	let y = Fixed::ONE.saturating_sub(x.checked_div(three).unwrap_or(Fixed::ONE));
	let y_sq = y.saturating_mul(y);
	let value = y_sq.saturating_mul(y.sqrt().unwrap_or(Fixed::ZERO));
	let ppm = value.to_ppb().saturating_add(500) / 1_000;
	u32::try_from(ppm.clamp(0, i64::from(PPM))).unwrap_or(0)
}

/// The stake-weighted lower median: the smallest value `v` such that the values `<= v` hold
/// at least half of the total weight. Zero-weight entries count for nothing; `None` if the
/// total weight is zero. The result is always one of the given values and does not depend on
/// their order.
pub fn weighted_median<T: Ord + Copy>(values: &[(T, u128)]) -> Option<T> {
	let shift = fitting_shift(values.iter().map(|v| v.1));
	let mut sorted: Vec<(T, u128)> =
		values.iter().map(|&(v, w)| (v, w >> shift)).filter(|v| v.1 > 0).collect();
	sorted.sort_unstable_by_key(|v| v.0);
	let total: u128 = sorted.iter().fold(0u128, |acc, v| acc.saturating_add(v.1));
	let mut cumulative: u128 = 0;
	for (value, weight) in sorted {
		cumulative = cumulative.saturating_add(weight);
		// cumulative >= total / 2, without overflow or rounding.
		if cumulative >= total.saturating_sub(cumulative) {
			return Some(value);
		}
	}
	None
}

/// The smallest right shift after which the weights sum without overflowing a `u128`.
/// Zero for any realistic stakes; it only matters for adversarial inputs.
pub(crate) fn fitting_shift(weights: impl Iterator<Item = u128> + Clone) -> u32 {
	(0..127u32)
		.find(|&s| weights.clone().try_fold(0u128, |acc, w| acc.checked_add(w >> s)).is_some())
		.unwrap_or(127)
}

/// For each key, how many keys are strictly better (higher): rank 0 is best, ties share
/// the better rank ("1224" ranking).
pub fn competition_ranks(keys: &[Option<i64>]) -> Vec<u32> {
	let mut sorted: Vec<Option<i64>> = keys.to_vec();
	sorted.sort_unstable_by(|a, b| b.cmp(a));
	keys.iter()
		.map(|key| {
			// Number of entries strictly greater than `key` in the descending list.
			let better = sorted.partition_point(|k| k > key);
			u32::try_from(better).unwrap_or(u32::MAX)
		})
		.collect()
}

/// One validator's submission for a round, with the stake behind it.
#[derive(Clone, Copy, Debug)]
pub struct Submission<'a> {
	/// The validator's stake.
	pub stake: u128,
	/// Its scores, sorted by uid (see [`validate_scores`]).
	pub scores: &'a [MinerScore],
}

/// The combined score of one miner and the total stake of the validators that scored it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AggregatedScore {
	/// Field-wise stake-weighted medians.
	pub score: MinerScore,
	/// Stake of the validators that scored this miner.
	pub stake: u128,
}

/// Combines submissions into one score per miner, sorted by uid. Each field is the weighted
/// median over the validators that scored that miner; each flag holds when validators with
/// more than half of that stake raised it. Miners only zero-stake validators scored are left
/// out.
pub fn aggregate(submissions: &[Submission<'_>]) -> Vec<AggregatedScore> {
	let mut entries: Vec<(u128, MinerScore)> = submissions
		.iter()
		.flat_map(|s| s.scores.iter().map(move |score| (s.stake, *score)))
		.filter(|e| e.0 > 0)
		.collect();
	entries.sort_by_key(|e| e.1.uid);
	let mut out = Vec::new();
	for group in entries.chunk_by(|a, b| a.1.uid == b.1.uid) {
		let Some(first) = group.first() else { continue };
		let median_of = |field: fn(&MinerScore) -> i64| {
			let values: Vec<(i64, u128)> = group.iter().map(|e| (field(&e.1), e.0)).collect();
			weighted_median(&values).unwrap_or(0)
		};
		let mut flags = ScoreFlags::NONE;
		for bit in [ScoreFlags::MISSING, ScoreFlags::INVALID, ScoreFlags::COPIED] {
			let votes: Vec<(bool, u128)> =
				group.iter().map(|e| (e.1.flags.contains(bit), e.0)).collect();
			if weighted_median(&votes) == Some(true) {
				flags = flags.union(bit);
			}
		}
		let score = MinerScore {
			uid: first.1.uid,
			loss_score: median_of(|s| s.loss_score),
			indicator: i8::try_from(median_of(|s| i64::from(s.indicator))).unwrap_or(0),
			sync_ppm: u32::try_from(median_of(|s| i64::from(s.sync_ppm))).unwrap_or(0),
			flags,
		};
		let stake = group.iter().fold(0u128, |acc, e| acc.saturating_add(e.0));
		out.push(AggregatedScore { score, stake });
	}
	out
}

#[cfg(test)]
mod tests {
	use super::*;
	use proptest::prelude::*;

	fn score(uid: Uid, loss: i64) -> MinerScore {
		MinerScore { uid, loss_score: loss, indicator: 1, sync_ppm: PPM, flags: ScoreFlags::NONE }
	}

	#[test]
	fn median_is_lower_and_weighted() {
		assert_eq!(weighted_median::<i64>(&[]), None);
		assert_eq!(weighted_median(&[(5, 0)]), None);
		assert_eq!(weighted_median(&[(1, 1), (2, 1)]), Some(1));
		assert_eq!(weighted_median(&[(1, 1), (2, 1), (3, 1)]), Some(2));
		assert_eq!(weighted_median(&[(9, 10), (1, 3), (2, 3)]), Some(9));
		assert_eq!(weighted_median(&[(1, 5), (9, 5)]), Some(1));
		assert_eq!(weighted_median(&[(1, 4), (9, 5)]), Some(9));
		assert_eq!(weighted_median(&[(1, u128::MAX), (9, u128::MAX), (9, 1)]), Some(1));
		assert_eq!(weighted_median(&[(1, u128::MAX - 1), (9, u128::MAX), (9, u128::MAX)]), Some(9));
	}

	#[test]
	fn validation() {
		assert_eq!(validate_scores(&[score(1, 0), score(2, 0)]), Ok(()));
		assert_eq!(validate_scores(&[score(2, 0), score(2, 0)]), Err(ScoreError::NotSortedByUid));
		let bad = MinerScore { indicator: 2, ..score(1, 0) };
		assert_eq!(validate_scores(&[bad]), Err(ScoreError::IndicatorOutOfRange));
		let bad = MinerScore { sync_ppm: PPM + 1, ..score(1, 0) };
		assert_eq!(bad.validate(), Err(ScoreError::SyncOutOfRange));
		let bad = MinerScore { flags: ScoreFlags(8), ..score(1, 0) };
		assert_eq!(bad.validate(), Err(ScoreError::UnknownFlags));
	}

	#[test]
	fn sync_score_curve() {
		assert_eq!(sync_score_ppm(Fixed::ZERO), PPM);
		assert_eq!(sync_score_ppm(Fixed::from_int(-2)), PPM);
		assert_eq!(sync_score_ppm(Fixed::from_int(3)), 0);
		assert_eq!(sync_score_ppm(Fixed::from_int(7)), 0);
		for x in [0.1f64, 0.5, 1.0, 1.5, 2.0, 2.9] {
			let want = ((1.0 - x / 3.0).powf(2.5) * 1e6).round() as u32;
			let got = sync_score_ppm(Fixed::from_raw((x * 1e18) as i128));
			assert!(got.abs_diff(want) <= 1, "x={x}: {got} vs {want}");
		}
	}

	#[test]
	fn ranks_put_flagged_last_and_share_ties() {
		assert_eq!(competition_ranks(&[Some(5), None, Some(7), Some(5), None]), [1, 3, 0, 1, 3]);
		assert_eq!(competition_ranks(&[]), Vec::<u32>::new());
		let flagged = MinerScore { flags: ScoreFlags::INVALID, ..score(1, 1_000) };
		assert_eq!(flagged.rank_key(), None);
	}

	#[test]
	fn aggregation_combines_per_field() {
		let a = [score(1, 10), MinerScore { flags: ScoreFlags::MISSING, ..score(2, 0) }];
		let b = [
			score(1, 30),
			MinerScore { flags: ScoreFlags::MISSING, indicator: -1, ..score(2, 0) },
			score(3, 5),
		];
		let c = [score(1, 20), MinerScore { indicator: -1, ..score(2, 0) }];
		let out = aggregate(&[
			Submission { stake: 1, scores: &a },
			Submission { stake: 1, scores: &b },
			Submission { stake: 1, scores: &c },
			Submission { stake: 0, scores: &[score(9, 1)] },
		]);
		let uids: Vec<Uid> = out.iter().map(|s| s.score.uid).collect();
		assert_eq!(uids, [1, 2, 3]);
		assert_eq!(out[0].score.loss_score, 20);
		assert_eq!(out[0].stake, 3);
		assert_eq!(out[1].score.flags, ScoreFlags::MISSING);
		assert_eq!(out[1].score.indicator, -1);
		assert_eq!(out[2].stake, 1);
	}

	proptest! {
		/// Two honest validators and one liar, equal stake: every field of the result lies
		/// between the honest values, whatever the liar says.
		#[test]
		fn one_liar_of_three_cannot_escape_honest_range(
			h1 in any::<i64>(), h2 in any::<i64>(), liar in any::<i64>(),
			i1 in -1i8..=1, i2 in -1i8..=1, il in any::<i8>(),
			s1 in 0u32..=PPM, s2 in 0u32..=PPM, sl in any::<u32>(),
			f1 in 0u8..8, f2 in 0u8..8, fl in any::<u8>(),
			stake in 1u128..u128::MAX / 3, order in 0usize..3,
		) {
			let honest1 = [MinerScore { uid: 4, loss_score: h1, indicator: i1, sync_ppm: s1, flags: ScoreFlags(f1) }];
			let honest2 = [MinerScore { uid: 4, loss_score: h2, indicator: i2, sync_ppm: s2, flags: ScoreFlags(f2) }];
			let lie = [MinerScore { uid: 4, loss_score: liar, indicator: il, sync_ppm: sl, flags: ScoreFlags(fl) }];
			let mut subs = [
				Submission { stake, scores: &honest1 },
				Submission { stake, scores: &honest2 },
				Submission { stake, scores: &lie },
			];
			subs.rotate_left(order);
			let out = aggregate(&subs);
			prop_assert_eq!(out.len(), 1);
			let got = out[0].score;
			prop_assert!(h1.min(h2) <= got.loss_score && got.loss_score <= h1.max(h2));
			prop_assert!(i1.min(i2) <= got.indicator && got.indicator <= i1.max(i2));
			prop_assert!(s1.min(s2) <= got.sync_ppm && got.sync_ppm <= s1.max(s2));
			// A flag both honest validators agree on is decided by them.
			let agreed = ScoreFlags(!(f1 ^ f2) & 0b111);
			prop_assert_eq!(got.flags.0 & agreed.0, f1 & agreed.0);
		}

		/// The weighted median is one of the inputs, ignores order and has at least half
		/// the weight on each side.
		#[test]
		fn median_properties(values in proptest::collection::vec((any::<i32>(), 0u128..1_000), 0..40)) {
			let total: u128 = values.iter().map(|v| v.1).sum();
			let got = weighted_median(&values);
			let mut reversed = values.clone();
			reversed.reverse();
			prop_assert_eq!(got, weighted_median(&reversed));
			match got {
				None => prop_assert_eq!(total, 0),
				Some(m) => {
					let at_most: u128 = values.iter().filter(|v| v.0 <= m).map(|v| v.1).sum();
					let below: u128 = values.iter().filter(|v| v.0 < m).map(|v| v.1).sum();
					prop_assert!(2 * at_most >= total);
					prop_assert!(2 * below < total);
				}
			}
		}
	}
}
