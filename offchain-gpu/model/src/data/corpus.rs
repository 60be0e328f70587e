//! A tokenized corpus split once into a training prefix and a held-out suffix. Samplers
//! only ever read windows that lie entirely inside one split.

use std::io::Read;
use std::path::Path;

use rayon::prelude::*;

use super::tokenizer::{ByteTokenizer, Tokenizer};
use super::DataError;

#[derive(Clone, Debug)]
pub struct Corpus {
	tokens: Vec<u32>,
	train_end: usize,
}

impl Corpus {
	/// Keeps the last `heldout_fraction` of the tokens (rounded down) for evaluation.
	pub fn new(tokens: Vec<u32>, heldout_fraction: f64) -> Result<Self, DataError> {
		if !(0.0..1.0).contains(&heldout_fraction) {
			return Err(DataError::BadHeldOutFraction(heldout_fraction));
		}
		let heldout = (tokens.len() as f64 * heldout_fraction) as usize;
		let train_end = tokens.len() - heldout;
		Ok(Self { tokens, train_end })
	}

	/// Splits at token `train_end`: `tokens[..train_end]` train, the rest is held out.
	pub fn from_split(tokens: Vec<u32>, train_end: usize) -> Result<Self, DataError> {
		if train_end > tokens.len() {
			return Err(DataError::BadSplit { train_end, tokens: tokens.len() });
		}
		Ok(Self { tokens, train_end })
	}

	/// Tokenizes documents with the byte tokenizer, each followed by EOS.
	pub fn from_documents<'a>(
		docs: impl IntoIterator<Item = &'a str>,
		heldout_fraction: f64,
	) -> Result<Self, DataError> {
		let tok = ByteTokenizer;
		let tokens = docs.into_iter().flat_map(|d| tok.encode_document(d)).collect();
		Self::new(tokens, heldout_fraction)
	}

	/// Tokenizes training and held-out documents (in parallel, each followed by EOS) and
	/// splits between them, so no held-out document shares a window with training text.
	pub fn from_split_documents(
		train: &[&str],
		heldout: &[&str],
		tokenizer: &dyn Tokenizer,
	) -> Result<Self, DataError> {
		let encode = |docs: &[&str]| -> Vec<u32> {
			let parts: Vec<Vec<u32>> =
				docs.par_iter().map(|d| tokenizer.encode_document(d)).collect();
			parts.concat()
		};
		let mut tokens = encode(train);
		let train_end = tokens.len();
		tokens.extend(encode(heldout));
		Self::from_split(tokens, train_end)
	}

	/// Reads a UTF-8 (lossy) text file of at most `max_bytes` as one document.
	pub fn from_text_file(
		path: &Path,
		max_bytes: u64,
		heldout_fraction: f64,
	) -> Result<Self, DataError> {
		let mut bytes = Vec::new();
		std::fs::File::open(path)?.take(max_bytes + 1).read_to_end(&mut bytes)?;
		if bytes.len() as u64 > max_bytes {
			return Err(DataError::TooLarge { limit: max_bytes });
		}
		Self::from_documents([String::from_utf8_lossy(&bytes).as_ref()], heldout_fraction)
	}

	pub fn len(&self) -> usize {
		self.tokens.len()
	}

	pub fn is_empty(&self) -> bool {
		self.tokens.is_empty()
	}

	/// Tokens available for training.
	pub fn train(&self) -> &[u32] {
		&self.tokens[..self.train_end]
	}

	/// Tokens reserved for evaluation; never sampled for training.
	pub fn heldout(&self) -> &[u32] {
		&self.tokens[self.train_end..]
	}

	/// Index of the first held-out token.
	pub fn train_end(&self) -> usize {
		self.train_end
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use crate::data::tokenizer::EOS;

	#[test]
	fn split_is_a_prefix_and_suffix() {
		let c = Corpus::new((0..100).collect(), 0.1).unwrap();
		assert_eq!(c.train().len(), 90);
		assert_eq!(c.heldout(), &(90..100).collect::<Vec<u32>>()[..]);
		assert!(matches!(Corpus::new(vec![1], 1.0), Err(DataError::BadHeldOutFraction(_))));
		assert!(matches!(Corpus::new(vec![1], f64::NAN), Err(DataError::BadHeldOutFraction(_))));
		let c = Corpus::from_split((0..10).collect(), 7).unwrap();
		assert_eq!((c.train().len(), c.heldout()), (7, &[7, 8, 9][..]));
		assert!(matches!(
			Corpus::from_split(vec![1], 2),
			Err(DataError::BadSplit { train_end: 2, tokens: 1 })
		));
	}

	#[test]
	fn split_documents_keep_their_side() {
		let c = Corpus::from_split_documents(&["ab", "c"], &["de"], &ByteTokenizer).unwrap();
		assert_eq!(c.train(), &[97, 98, EOS, 99, EOS]);
		assert_eq!(c.heldout(), &[100, 101, EOS]);
	}

	#[test]
	fn reads_files_with_a_size_limit() {
		let path = std::env::temp_dir().join(format!("corpus-{}.txt", std::process::id()));
		std::fs::write(&path, "hello world").unwrap();
		let c = Corpus::from_text_file(&path, 100, 0.0).unwrap();
		assert_eq!(c.len(), 12);
		assert!(matches!(
			Corpus::from_text_file(&path, 5, 0.0),
			Err(DataError::TooLarge { limit: 5 })
		));
		let _ = std::fs::remove_file(&path);
	}
}
