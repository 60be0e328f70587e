//! Deterministic batch samplers.
//!
//! **Assigned batches.** The batch a miner trains on at inner step `step` of `round` is a
//! pure function of public fields, so any validator can rebuild it:
//!
//! ```text
//! seed     = blake2b-256("training-model/sampler/assigned/v1" || run_seed u64le
//!                        || round u64le || miner [u8; 32] || step u64le)
//! offset_i = u64le(blake2b-256(seed || i u64le)[0..8]) mod (train_len - seq_len)
//! window_i = train[offset_i .. offset_i + seq_len + 1]      for i in 0..batch_size
//! ```
//!
//! `train_len - seq_len` is the number of windows of `seq_len + 1` tokens inside the
//! training split, so no window ever reaches the held-out tokens. The modulo bias is at most
//! `windows / 2^64` (below `2^-24` for any split under `2^40` tokens).
//!
//! **Round batches** use the same construction with the tag
//! `"training-model/sampler/round/v1"` and no miner: a batch every validator draws alike for
//! a round (e.g. to compare a miner's improvement on its own data against random data).
//!
//! **Held-out batches** are consecutive windows of the held-out split, `window j` starting
//! at `(j * seq_len) mod (heldout_len - seq_len)`.

use blake2::digest::consts::U32;
use blake2::{Blake2b, Digest};

use super::corpus::Corpus;
use super::DataError;
use crate::batch::Batch;
use crate::error::ModelError;

/// `batch_size` windows of `seq_len` predicted tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchShape {
	pub batch_size: usize,
	pub seq_len: usize,
}

impl BatchShape {
	fn check(&self) -> Result<(), DataError> {
		if self.batch_size == 0 || self.seq_len == 0 {
			return Err(DataError::EmptyShape {
				batch_size: self.batch_size,
				seq_len: self.seq_len,
			});
		}
		Ok(())
	}
}

/// Who trains on what: the public fields an assigned batch is derived from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Assignment {
	pub run_seed: u64,
	pub round: u64,
	pub miner: [u8; 32],
}

const ASSIGNED_TAG: &[u8] = b"training-model/sampler/assigned/v1";
const ROUND_TAG: &[u8] = b"training-model/sampler/round/v1";

fn blake2b256(parts: &[&[u8]]) -> [u8; 32] {
	let mut h = Blake2b::<U32>::new();
	for p in parts {
		h.update(p);
	}
	h.finalize().into()
}

/// Number of `seq_len + 1` windows in a split of `len` tokens, or an error if none fits.
fn window_count(split: &'static str, len: usize, seq_len: usize) -> Result<usize, DataError> {
	if len <= seq_len {
		return Err(DataError::SplitTooShort { split, tokens: len, needed: seq_len + 1 });
	}
	Ok(len - seq_len)
}

fn offsets_from_seed(seed: &[u8; 32], batch_size: usize, windows: usize) -> Vec<usize> {
	(0..batch_size as u64)
		.map(|i| {
			let h = blake2b256(&[seed, &i.to_le_bytes()]);
			let mut first = [0u8; 8];
			first.copy_from_slice(&h[..8]);
			(u64::from_le_bytes(first) % windows as u64) as usize
		})
		.collect()
}

/// Training-split offsets of a miner's batch at `step` (see the module docs).
pub fn assigned_offsets(
	a: &Assignment,
	step: u64,
	shape: BatchShape,
	train_len: usize,
) -> Result<Vec<usize>, DataError> {
	shape.check()?;
	let windows = window_count("training", train_len, shape.seq_len)?;
	let seed = blake2b256(&[
		ASSIGNED_TAG,
		&a.run_seed.to_le_bytes(),
		&a.round.to_le_bytes(),
		&a.miner,
		&step.to_le_bytes(),
	]);
	Ok(offsets_from_seed(&seed, shape.batch_size, windows))
}

/// Training-split offsets of the `index`-th shared batch of a round.
pub fn round_offsets(
	run_seed: u64,
	round: u64,
	index: u64,
	shape: BatchShape,
	train_len: usize,
) -> Result<Vec<usize>, DataError> {
	shape.check()?;
	let windows = window_count("training", train_len, shape.seq_len)?;
	let seed = blake2b256(&[
		ROUND_TAG,
		&run_seed.to_le_bytes(),
		&round.to_le_bytes(),
		&index.to_le_bytes(),
	]);
	Ok(offsets_from_seed(&seed, shape.batch_size, windows))
}

fn batch_at(tokens: &[u32], offsets: &[usize], seq_len: usize) -> Batch {
	Batch::from_windows(seq_len, offsets.iter().map(|&o| &tokens[o..o + seq_len + 1]))
}

impl Corpus {
	/// The batch `a.miner` trains on at inner step `step`.
	pub fn assigned_batch(
		&self,
		a: &Assignment,
		step: u64,
		shape: BatchShape,
	) -> Result<Batch, DataError> {
		let offsets = assigned_offsets(a, step, shape, self.train().len())?;
		Ok(batch_at(self.train(), &offsets, shape.seq_len))
	}

	/// The `index`-th batch of `round` shared by all validators (training split).
	pub fn round_batch(
		&self,
		run_seed: u64,
		round: u64,
		index: u64,
		shape: BatchShape,
	) -> Result<Batch, DataError> {
		let offsets = round_offsets(run_seed, round, index, shape, self.train().len())?;
		Ok(batch_at(self.train(), &offsets, shape.seq_len))
	}

	/// The `index`-th evaluation batch from the held-out split.
	pub fn heldout_batch(&self, index: u64, shape: BatchShape) -> Result<Batch, DataError> {
		shape.check()?;
		let windows = window_count("held-out", self.heldout().len(), shape.seq_len)? as u64;
		let offsets: Vec<usize> = (0..shape.batch_size as u64)
			.map(|i| {
				let j = index.wrapping_mul(shape.batch_size as u64).wrapping_add(i);
				(j.wrapping_mul(shape.seq_len as u64) % windows) as usize
			})
			.collect();
		Ok(batch_at(self.heldout(), &offsets, shape.seq_len))
	}
}

/// Anything that hands the trainer one batch per inner step.
pub trait BatchSource {
	fn batch(&mut self, step: u64) -> Result<Batch, ModelError>;
}

/// A miner's assigned batches for one round: step `s` yields
/// [`Corpus::assigned_batch`]`(assignment, s, shape)`.
#[derive(Clone, Debug)]
pub struct AssignedBatches<'a> {
	pub corpus: &'a Corpus,
	pub assignment: Assignment,
	pub shape: BatchShape,
}

impl BatchSource for AssignedBatches<'_> {
	fn batch(&mut self, step: u64) -> Result<Batch, ModelError> {
		Ok(self.corpus.assigned_batch(&self.assignment, step, self.shape)?)
	}
}

impl<F: FnMut(u64) -> Result<Batch, ModelError>> BatchSource for F {
	fn batch(&mut self, step: u64) -> Result<Batch, ModelError> {
		self(step)
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	const SHAPE: BatchShape = BatchShape { batch_size: 8, seq_len: 16 };

	fn corpus() -> Corpus {
		// Token value == position, so a batch reveals exactly which positions it read.
		Corpus::new((0..5_000).collect(), 0.2).unwrap()
	}

	fn assignment(miner: u8) -> Assignment {
		Assignment { run_seed: 42, round: 7, miner: [miner; 32] }
	}

	#[test]
	fn assigned_batches_are_reproducible_and_distinct() {
		let c = corpus();
		let a = c.assigned_batch(&assignment(1), 3, SHAPE).unwrap();
		assert_eq!(a, c.assigned_batch(&assignment(1), 3, SHAPE).unwrap());
		assert_ne!(a, c.assigned_batch(&assignment(2), 3, SHAPE).unwrap());
		assert_ne!(a, c.assigned_batch(&assignment(1), 4, SHAPE).unwrap());
		let next_round = Assignment { round: 8, ..assignment(1) };
		assert_ne!(a, c.assigned_batch(&next_round, 3, SHAPE).unwrap());
		let other_run = Assignment { run_seed: 43, ..assignment(1) };
		assert_ne!(a, c.assigned_batch(&other_run, 3, SHAPE).unwrap());
		assert_ne!(a, c.round_batch(42, 7, 3, SHAPE).unwrap());
		assert_eq!(
			c.round_batch(42, 7, 3, SHAPE).unwrap(),
			c.round_batch(42, 7, 3, SHAPE).unwrap()
		);
	}

	#[test]
	fn offsets_are_pinned() {
		// Golden values: changing the derivation breaks every validator's reproduction.
		let offsets =
			assigned_offsets(&assignment(1), 0, BatchShape { batch_size: 3, seq_len: 16 }, 4_000)
				.unwrap();
		assert_eq!(offsets, GOLDEN_OFFSETS);
	}
	/// Computed independently with Python's `hashlib.blake2b(digest_size=32)` from the
	/// derivation in the module docs.
	const GOLDEN_OFFSETS: [usize; 3] = [1086, 2188, 1903];

	#[test]
	fn training_samplers_never_touch_heldout() {
		let c = corpus();
		let train_end = c.train_end() as u32;
		let mut seen_max = 0;
		for step in 0..200 {
			for batch in [
				c.assigned_batch(&assignment((step % 5) as u8), step, SHAPE).unwrap(),
				c.round_batch(1, step, 0, SHAPE).unwrap(),
			] {
				for (i, t) in batch.inputs.iter().zip(&batch.targets) {
					assert_eq!(i + 1, *t, "targets are the next token");
					assert!(*t < train_end, "token {t} is held out");
					seen_max = seen_max.max(*t);
				}
			}
		}
		// The sampler does reach the end of the training split.
		assert!(seen_max > train_end - 50, "{seen_max}");
		for index in 0..50 {
			let b = c.heldout_batch(index, SHAPE).unwrap();
			assert!(b.inputs.iter().all(|&t| t >= train_end));
		}
	}

	#[test]
	fn short_splits_and_empty_shapes_are_errors() {
		let c = Corpus::new((0..20).collect(), 0.5).unwrap();
		assert!(matches!(
			c.assigned_batch(&assignment(1), 0, SHAPE),
			Err(DataError::SplitTooShort { .. })
		));
		assert!(matches!(
			c.heldout_batch(0, SHAPE),
			Err(DataError::SplitTooShort { split: "held-out", .. })
		));
		let empty = BatchShape { batch_size: 0, seq_len: 4 };
		assert!(matches!(c.round_batch(0, 0, 0, empty), Err(DataError::EmptyShape { .. })));
	}
}
