//! The copy check as a pure rule over gradients and an overlap measure: which miners of a
//! round submitted someone else's work, or their own old work again.
//!
//! A gradient `x` of the round is **copied** when its overlap (the share of kept indices in
//! common, [`sparseloco::index_overlap`] in the validator) reaches the copy threshold with:
//!
//! 1. another miner's gradient of the previous round (readable before this round's
//!    commitments closed: the freshest thing a copier can take);
//! 2. its own gradient of the previous round, against the (lower) stale threshold: stale
//!    work under a new header. Error feedback resets the coordinates a miner just sent, so an
//!    honest miner's consecutive gradients barely overlap (measured on the devnet model:
//!    at most 0.03), far less than two honest miners of one round do (at most 0.44);
//! 3. another gradient `y` of the same round, unless `x` was committed in a strictly earlier
//!    block than `y` (then `y` is the copy). Same block: the chain cannot tell which came
//!    first, so every member of the group is flagged; this is what catches N accounts that
//!    commit one GPU's gradient together. A pair is not held against `x` when `y` is itself
//!    a copy of `x`'s previous gradient: an attacker that re-submits an honest miner's old
//!    gradient is caught by rule 1 and cannot get the honest miner flagged through rule 3.
//!
//! Every pair of the round is compared (`n (n - 1) / 2` overlaps) plus `n` against the
//! previous round's gradients.

use training_protocol::Uid;

/// One submission: the miner, the block of its commitment, and its gradient.
#[derive(Clone, Copy, Debug)]
pub struct Submission<'a, G> {
	pub uid: Uid,
	pub committed_at: u64,
	pub grad: &'a G,
}

/// The check's outcome for one miner of the round.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CopyVerdict {
	pub uid: Uid,
	/// The largest overlap among the comparisons the rules make for this miner.
	pub overlap: f64,
	pub copied: bool,
}

/// The overlaps at which the check flags a gradient.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Thresholds {
	/// With another miner's gradient (this round or the previous one).
	pub copy: f64,
	/// With the miner's own gradient of the previous round.
	pub stale: f64,
}

/// Applies the rules (module docs) to `current` (one round) against `previous` (the round
/// before), with `overlap(a, b)` in `[0, 1]`. Output in the order of `current`.
pub fn copy_check<G>(
	current: &[Submission<'_, G>],
	previous: &[Submission<'_, G>],
	overlap: impl Fn(&G, &G) -> f64,
	thresholds: Thresholds,
) -> Vec<CopyVerdict> {
	let threshold = thresholds.copy;
	let previous_of = |uid: Uid| previous.iter().find(|p| p.uid == uid);
	current
		.iter()
		.map(|x| {
			let mut largest = 0.0f64;
			let mut copied = false;
			let mut consider = |o: f64, flags: bool, at: f64| {
				largest = largest.max(o);
				copied |= flags && o >= at;
			};
			for p in previous {
				// Rules 1 and 2: anyone's previous gradient, its own against the stale bar.
				let bar = if p.uid == x.uid { thresholds.stale } else { threshold };
				consider(overlap(x.grad, p.grad), true, bar);
			}
			let own_previous = previous_of(x.uid);
			for y in current.iter().filter(|y| y.uid != x.uid) {
				let o = overlap(x.grad, y.grad);
				let y_is_x_old_work =
					own_previous.is_some_and(|p| overlap(y.grad, p.grad) >= threshold);
				consider(o, y.committed_at <= x.committed_at && !y_is_x_old_work, threshold);
			}
			CopyVerdict { uid: x.uid, overlap: largest, copied }
		})
		.collect()
}

#[cfg(test)]
mod tests {
	use super::*;

	/// Gradients as sets of kept indices; overlap is the shared share.
	#[allow(clippy::ptr_arg)] // `copy_check` passes its `&G`, here `&Vec<u32>`
	fn overlap(a: &Vec<u32>, b: &Vec<u32>) -> f64 {
		a.iter().filter(|i| b.contains(i)).count() as f64 / a.len().max(1) as f64
	}

	fn sub(uid: Uid, at: u64, grad: &Vec<u32>) -> Submission<'_, Vec<u32>> {
		Submission { uid, committed_at: at, grad }
	}

	fn t(both: f64) -> Thresholds {
		Thresholds { copy: both, stale: both }
	}

	fn flagged(v: &[CopyVerdict]) -> Vec<Uid> {
		v.iter().filter(|c| c.copied).map(|c| c.uid).collect()
	}

	#[test]
	fn sybils_in_one_block_are_all_flagged_and_an_earlier_original_is_not() {
		let (g, other) = (vec![1, 2, 3, 4], vec![5, 6, 7, 8]);
		// Three accounts commit the same gradient in block 10; an honest miner differs.
		let current = [sub(0, 10, &g), sub(1, 10, &g), sub(2, 10, &g), sub(3, 10, &other)];
		assert_eq!(flagged(&copy_check(&current, &[], overlap, t(0.5))), vec![0, 1, 2]);
		// The first committed in an earlier block: it is the original.
		let current = [sub(0, 9, &g), sub(1, 10, &g), sub(2, 11, &g)];
		assert_eq!(flagged(&copy_check(&current, &[], overlap, t(0.5))), vec![1, 2]);
		// Near copies count too.
		let near = vec![1, 2, 3, 9];
		let current = [sub(0, 10, &g), sub(1, 10, &near)];
		assert_eq!(flagged(&copy_check(&current, &[], overlap, t(0.5))), vec![0, 1]);
		assert_eq!(flagged(&copy_check(&current, &[], overlap, t(0.9))), Vec::<Uid>::new());
	}

	#[test]
	fn stale_work_and_copies_of_the_previous_round_are_flagged() {
		let (old, fresh) = (vec![1, 2, 3, 4], vec![5, 6, 7, 8]);
		let previous = [sub(0, 1, &old)];
		// Miner 0 resubmits its own previous gradient.
		let v = copy_check(&[sub(0, 12, &old)], &previous, overlap, t(0.5));
		assert_eq!(v, vec![CopyVerdict { uid: 0, overlap: 1.0, copied: true }]);
		// Miner 1 submits miner 0's previous gradient; miner 0's fresh one is fine.
		let v = copy_check(&[sub(0, 12, &fresh), sub(1, 12, &old)], &previous, overlap, t(0.5));
		assert_eq!(flagged(&v), vec![1]);
	}

	#[test]
	fn copying_an_honest_miners_old_gradient_cannot_get_it_flagged() {
		// Error feedback makes an honest miner's consecutive gradients overlap (here 3/4,
		// below the threshold, as the measured honest figures are) and the attacker,
		// committing first, re-submits the old one.
		let (old, fresh) = (vec![1, 2, 3, 4], vec![1, 2, 3, 9]);
		let previous = [sub(0, 1, &old)];
		let v = copy_check(&[sub(0, 13, &fresh), sub(1, 12, &old)], &previous, overlap, t(0.9));
		assert_eq!(flagged(&v), vec![1], "{v:?}");
		assert_eq!(v[0].overlap, 0.75);
		// A near copy of the old gradient that happens to overlap the fresh one more than the
		// old one does is still held against the attacker, not the honest miner.
		let near_fresh = vec![1, 2, 3, 9, 4];
		let fresh5 = vec![1, 2, 3, 9, 7];
		let old5 = vec![1, 2, 3, 4, 5];
		let previous = [sub(0, 1, &old5)];
		let v =
			copy_check(&[sub(0, 13, &fresh5), sub(1, 12, &near_fresh)], &previous, overlap, t(0.8));
		assert_eq!(flagged(&v), vec![1], "{v:?}");
	}

	#[test]
	fn the_stale_bar_catches_a_perturbed_resubmission_of_ones_own_work() {
		// Half of miner 0's previous indices again: far above an honest miner's consecutive
		// overlap, below the bar for two different miners.
		let (old, half) = (vec![1, 2, 3, 4], vec![1, 2, 8, 9]);
		let bars = Thresholds { copy: 0.7, stale: 0.3 };
		let own = copy_check(&[sub(0, 12, &half)], &[sub(0, 1, &old)], overlap, bars);
		assert_eq!(flagged(&own), vec![0]);
		let other = copy_check(&[sub(1, 12, &half)], &[sub(0, 1, &old)], overlap, bars);
		assert_eq!(flagged(&other), Vec::<Uid>::new());
	}
}
