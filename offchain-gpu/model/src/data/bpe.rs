//! Byte-level BPE: the byte tokens, then merged tokens learned from text.
//!
//! **Ids.** `0..=255` are the bytes and `256..=258` the specials ([`BOS`], [`EOS`],
//! [`PAD`]), exactly as in [`ByteTokenizer`](super::tokenizer::ByteTokenizer); merge `r`
//! (0-based, in training order) defines id `259 + r` as the concatenation of its two
//! parts. The vocabulary size is `259 + merges`.
//!
//! **Encoding.** Text is cut into [chunks](pretokenize) on whitespace and punctuation
//! boundaries; in each chunk the adjacent pair with the lowest merge rank is merged
//! (all its non-overlapping occurrences, left to right) until no pair has a rank. Every
//! byte stays encodable, so any byte string round-trips exactly.
//!
//! The committed tokenizer ([`Bpe::builtin_4k`], 4096 ids) was trained with
//! [`Bpe::train`] on the training split of the [Shakespeare corpus](super::shakespeare) by
//! `cargo run --release -p training-model --example train-bpe`.

mod format;
pub mod pretokenize;
mod train;

use std::collections::HashMap;

use blake2::digest::consts::U32;
use blake2::{Blake2b, Digest};

pub use format::MAX_FILE_BYTES;
use pretokenize::{chunks, MAX_CHUNK};

use super::tokenizer::{Tokenizer, BOS, EOS, PAD, VOCAB_SIZE};
use crate::config::limits::MAX_VOCAB;

/// The committed 4096-token BPE, in the [file format](Bpe::to_file_string).
pub const BUILTIN_4K: &str = include_str!("../../assets/bpe-4k.txt");

/// Why a BPE could not be trained, parsed or loaded.
#[derive(Debug, thiserror::Error)]
pub enum BpeError {
	#[error("vocabulary size must be in {min}..={max}, got {got}")]
	BadVocabSize { min: usize, max: usize, got: usize },
	#[error("BPE file is larger than the limit of {limit} bytes")]
	TooLarge { limit: u64 },
	#[error("BPE file is not UTF-8")]
	NotUtf8,
	#[error("BPE file line {line}: expected {expected}")]
	BadHeader { line: usize, expected: &'static str },
	#[error("BPE file line {line}: a merge must be two decimal token ids and one space")]
	BadMergeLine { line: usize },
	#[error("header declares {declared} merges, the file has {found}")]
	CountMismatch { declared: usize, found: usize },
	#[error("merge {merge} uses token {id}, which is a special or not yet defined")]
	UnknownToken { merge: usize, id: u32 },
	#[error("merge {merge} repeats merge {first}")]
	DuplicateMerge { merge: usize, first: usize },
	#[error("merge {merge} makes a token of {len} bytes, the limit is {max}")]
	TokenTooLong { merge: usize, len: usize, max: usize },
	#[error("merges hash to {computed}, the header says {declared}")]
	HashMismatch { declared: String, computed: String },
	#[error("cannot read or write BPE file: {0}")]
	Io(#[from] std::io::Error),
}

/// A validated list of merges with the tables encoding and decoding need.
#[derive(Clone, Debug)]
pub struct Bpe {
	merges: Vec<(u32, u32)>,
	/// Pair key (see [`pair_key`]) to merge rank.
	ranks: HashMap<u64, u32>,
	/// Bytes of merged token `VOCAB_SIZE + r` at index `r`.
	merged: Vec<Vec<u8>>,
}

/// Packs a pair so that key order is lexicographic pair order.
pub(crate) fn pair_key(a: u32, b: u32) -> u64 {
	(u64::from(a) << 32) | u64::from(b)
}

/// See [`Bpe::hash`].
pub(crate) fn hash_merges(merges: &[(u32, u32)]) -> [u8; 32] {
	let mut h = Blake2b::<U32>::new();
	h.update(b"training-model/bpe/v1");
	h.update((merges.len() as u64).to_le_bytes());
	for &(a, b) in merges {
		h.update(a.to_le_bytes());
		h.update(b.to_le_bytes());
	}
	h.finalize().into()
}

/// Replaces every non-overlapping `(a, b)` in `symbols`, left to right, by `new`.
/// Returns whether anything was merged.
pub(crate) fn merge_pair(symbols: &mut Vec<u32>, a: u32, b: u32, new: u32) -> bool {
	let mut write = 0;
	let mut read = 0;
	let mut merged = false;
	while read < symbols.len() {
		if read + 1 < symbols.len() && symbols[read] == a && symbols[read + 1] == b {
			symbols[write] = new;
			read += 2;
			merged = true;
		} else {
			symbols[write] = symbols[read];
			read += 1;
		}
		write += 1;
	}
	symbols.truncate(write);
	merged
}

impl Bpe {
	/// Largest vocabulary a BPE may have (the model config's limit).
	pub const MAX_VOCAB: usize = MAX_VOCAB;

	/// Checks `merges` (each part a byte or an earlier merge, no repeats, tokens of at most
	/// [`MAX_CHUNK`] bytes, vocabulary within [`Bpe::MAX_VOCAB`]) and builds the tables.
	pub fn from_merges(merges: Vec<(u32, u32)>) -> Result<Self, BpeError> {
		let vocab = VOCAB_SIZE + merges.len();
		if vocab > Self::MAX_VOCAB {
			return Err(BpeError::BadVocabSize {
				min: VOCAB_SIZE,
				max: Self::MAX_VOCAB,
				got: vocab,
			});
		}
		let mut ranks = HashMap::with_capacity(merges.len());
		let mut merged: Vec<Vec<u8>> = Vec::with_capacity(merges.len());
		for (merge, &(a, b)) in merges.iter().enumerate() {
			let bytes_of = |id: u32| -> Result<&[u8], BpeError> {
				match id {
					0..=255 => Ok(std::slice::from_ref(&BYTES[id as usize])),
					_ => (id as usize)
						.checked_sub(VOCAB_SIZE)
						.and_then(|r| merged.get(r))
						.map(Vec::as_slice)
						.ok_or(BpeError::UnknownToken { merge, id }),
				}
			};
			let token = [bytes_of(a)?, bytes_of(b)?].concat();
			if token.len() > MAX_CHUNK {
				return Err(BpeError::TokenTooLong { merge, len: token.len(), max: MAX_CHUNK });
			}
			if let Some(first) = ranks.insert(pair_key(a, b), merge as u32) {
				return Err(BpeError::DuplicateMerge { merge, first: first as usize });
			}
			merged.push(token);
		}
		Ok(Self { merges, ranks, merged })
	}

	/// Trains a BPE of at most `vocab_size` ids on `text`: repeatedly merges the most
	/// frequent adjacent pair inside chunks (ties to the lowest pair ids) and stops early
	/// when no pair occurs twice. Deterministic; see the `train` module for the method.
	pub fn train(text: &str, vocab_size: usize) -> Result<Self, BpeError> {
		train::train(&[text.as_bytes()], vocab_size)
	}

	/// [`Bpe::train`] on several documents; no chunk spans two documents.
	pub fn train_documents(docs: &[&str], vocab_size: usize) -> Result<Self, BpeError> {
		let docs: Vec<&[u8]> = docs.iter().map(|d| d.as_bytes()).collect();
		train::train(&docs, vocab_size)
	}

	/// The committed 4096-id tokenizer ([`BUILTIN_4K`]).
	pub fn builtin_4k() -> Result<Self, BpeError> {
		Self::parse(BUILTIN_4K)
	}

	/// Merges in rank order; merge `r` defines id `259 + r`.
	pub fn merges(&self) -> &[(u32, u32)] {
		&self.merges
	}

	/// Bytes of token `id`, `None` for specials and ids outside the vocabulary.
	pub fn token_bytes(&self, id: u32) -> Option<&[u8]> {
		match id {
			0..=255 => Some(std::slice::from_ref(&BYTES[id as usize])),
			BOS | EOS | PAD => None,
			_ => self.merged.get(id as usize - VOCAB_SIZE).map(Vec::as_slice),
		}
	}

	/// blake2b-256 over a domain tag, the merge count (u64 LE) and every merge as two u32
	/// LE: the identity of this tokenizer, independent of file formatting.
	pub fn hash(&self) -> [u8; 32] {
		hash_merges(&self.merges)
	}

	fn encode_chunk(&self, chunk: &[u8]) -> Vec<u32> {
		let mut symbols: Vec<u32> = chunk.iter().map(|&b| u32::from(b)).collect();
		while let Some(rank) =
			symbols.windows(2).filter_map(|p| self.ranks.get(&pair_key(p[0], p[1]))).min().copied()
		{
			let (a, b) = self.merges[rank as usize];
			merge_pair(&mut symbols, a, b, VOCAB_SIZE as u32 + rank);
		}
		symbols
	}
}

/// Every byte value, so a byte token can be borrowed as a one-byte slice.
const BYTES: [u8; 256] = {
	let mut all = [0u8; 256];
	let mut i = 0;
	while i < 256 {
		all[i] = i as u8;
		i += 1;
	}
	all
};

impl Tokenizer for Bpe {
	fn vocab_size(&self) -> usize {
		VOCAB_SIZE + self.merges.len()
	}

	fn encode_bytes(&self, bytes: &[u8]) -> Vec<u32> {
		// Natural text repeats few distinct chunks, so each is encoded once per call.
		let mut cache: HashMap<&[u8], Vec<u32>> = HashMap::new();
		let mut ids = Vec::with_capacity(bytes.len() / 3 + 1);
		for chunk in chunks(bytes) {
			let encoded = cache.entry(chunk).or_insert_with(|| self.encode_chunk(chunk));
			ids.extend_from_slice(encoded);
		}
		ids
	}

	fn decode_bytes(&self, ids: &[u32]) -> Vec<u8> {
		let mut bytes = Vec::with_capacity(ids.len() * 4);
		for &id in ids {
			match id {
				EOS => bytes.push(b'\n'),
				_ => bytes.extend_from_slice(self.token_bytes(id).unwrap_or_default()),
			}
		}
		bytes
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn merge_pair_is_left_to_right_and_non_overlapping() {
		let mut s = vec![1, 1, 1, 2, 1, 1];
		assert!(merge_pair(&mut s, 1, 1, 9));
		assert_eq!(s, [9, 1, 2, 9]);
		assert!(!merge_pair(&mut s, 1, 1, 9));
	}

	#[test]
	fn hand_made_merges_encode_and_decode() {
		// 259 = "t" "h", 260 = "th" "e", 261 = " " "the"
		let bpe = Bpe::from_merges(vec![(116, 104), (259, 101), (32, 260)]).unwrap();
		assert_eq!(bpe.vocab_size(), 262);
		assert_eq!(bpe.token_bytes(261), Some(&b" the"[..]));
		assert_eq!(bpe.token_bytes(EOS), None);
		assert_eq!(bpe.token_bytes(262), None);
		let ids = bpe.encode("the theme");
		assert_eq!(ids, [260, 261, 109, 101]);
		assert_eq!(bpe.decode(&ids), "the theme");
		assert_eq!(bpe.decode(&[BOS, 260, EOS, PAD, 5000]), "the\n");
	}

	#[test]
	fn invalid_merges_are_refused() {
		assert!(matches!(
			Bpe::from_merges(vec![(116, 259)]),
			Err(BpeError::UnknownToken { merge: 0, id: 259 })
		));
		assert!(matches!(
			Bpe::from_merges(vec![(EOS, 104)]),
			Err(BpeError::UnknownToken { merge: 0, id: EOS })
		));
		assert!(matches!(
			Bpe::from_merges(vec![(116, 104), (116, 104)]),
			Err(BpeError::DuplicateMerge { merge: 1, first: 0 })
		));
		// Doubling a token each merge: 2, 4, ..., 128 bytes.
		let doubling: Vec<(u32, u32)> =
			std::iter::once((97, 97)).chain((0..6).map(|r| (259 + r, 259 + r))).collect();
		assert!(matches!(
			Bpe::from_merges(doubling),
			Err(BpeError::TokenTooLong { merge: 6, len: 128, .. })
		));
	}
}
