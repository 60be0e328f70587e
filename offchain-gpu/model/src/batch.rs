//! A training or evaluation batch: `batch_size` sequences of `seq_len` input tokens, each
//! with its next-token targets.

use crate::error::ModelError;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Batch {
	pub batch_size: usize,
	pub seq_len: usize,
	/// `[batch_size, seq_len]` row-major.
	pub inputs: Vec<u32>,
	/// `inputs` shifted by one: `targets[b, t]` is the token after `inputs[b, t]`.
	pub targets: Vec<u32>,
}

impl Batch {
	/// Cuts `batch_size` windows of `seq_len + 1` tokens into inputs and targets.
	pub fn from_windows<'a>(seq_len: usize, windows: impl IntoIterator<Item = &'a [u32]>) -> Self {
		let (mut inputs, mut targets, mut batch_size) = (Vec::new(), Vec::new(), 0);
		for w in windows {
			debug_assert_eq!(w.len(), seq_len + 1);
			inputs.extend_from_slice(&w[..seq_len]);
			targets.extend_from_slice(&w[1..=seq_len]);
			batch_size += 1;
		}
		Self { batch_size, seq_len, inputs, targets }
	}

	/// Number of predicted positions.
	pub fn tokens(&self) -> usize {
		self.batch_size * self.seq_len
	}

	/// Checks the shape, the context limit and that every id is inside the vocabulary.
	pub fn validate(&self, vocab: usize, max_seq: usize) -> Result<(), ModelError> {
		if self.batch_size == 0 || self.seq_len == 0 {
			return Err(ModelError::BadBatch("empty batch".into()));
		}
		if self.seq_len > max_seq {
			return Err(ModelError::SequenceTooLong { max: max_seq, got: self.seq_len });
		}
		let n = self.batch_size.checked_mul(self.seq_len);
		if n != Some(self.inputs.len()) || n != Some(self.targets.len()) {
			return Err(ModelError::BadBatch(format!(
				"{} x {} batch with {} inputs and {} targets",
				self.batch_size,
				self.seq_len,
				self.inputs.len(),
				self.targets.len()
			)));
		}
		if let Some(&token) =
			self.inputs.iter().chain(&self.targets).find(|&&t| t as usize >= vocab)
		{
			return Err(ModelError::TokenOutOfRange { token, vocab });
		}
		Ok(())
	}
}
