//! The BPE file: a small, diffable text format with a hash check.
//!
//! ```text
//! training-model-bpe v1
//! vocab_size 4096
//! blake2b <64 hex digits of Bpe::hash>
//! 32 116          <- merge 0 defines id 259 as token 32 followed by token 116
//! 259 104         <- merge 1 defines id 260, and so on
//! ```
//!
//! Lines end with `\n`. There are exactly `vocab_size - 259` merge lines. Loading is
//! bounded ([`MAX_FILE_BYTES`]), checks the hash before anything else (so a corrupted file
//! reports [`BpeError::HashMismatch`]) and then validates the merges with
//! [`Bpe::from_merges`].

use std::io::Read;
use std::path::Path;

use super::{hash_merges, Bpe, BpeError};
use crate::data::tokenizer::VOCAB_SIZE;

const MAGIC: &str = "training-model-bpe v1";

/// Largest BPE file accepted: room for a vocabulary of [`Bpe::MAX_VOCAB`] ids.
pub const MAX_FILE_BYTES: u64 = 24 << 20;

fn hex(bytes: &[u8]) -> String {
	bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes the file form of `merges` with the given hash, without validating anything.
fn render(merges: &[(u32, u32)], hash: &[u8; 32]) -> String {
	use std::fmt::Write;
	let mut out =
		format!("{MAGIC}\nvocab_size {}\nblake2b {}\n", VOCAB_SIZE + merges.len(), hex(hash));
	for (a, b) in merges {
		// Writing to a String cannot fail.
		let _ = writeln!(out, "{a} {b}");
	}
	out
}

/// A token id: 1 to 10 ASCII digits that fit a u32.
fn parse_id(s: &str) -> Option<u32> {
	if s.is_empty() || s.len() > 10 || !s.bytes().all(|b| b.is_ascii_digit()) {
		return None;
	}
	s.parse().ok()
}

impl Bpe {
	/// The file form of this BPE (see the module docs).
	pub fn to_file_string(&self) -> String {
		render(self.merges(), &self.hash())
	}

	/// Parses and validates the file form.
	pub fn parse(text: &str) -> Result<Self, BpeError> {
		if text.len() as u64 > MAX_FILE_BYTES {
			return Err(BpeError::TooLarge { limit: MAX_FILE_BYTES });
		}
		let body = text.strip_suffix('\n').unwrap_or(text);
		let mut lines = body.split('\n');
		const VOCAB: &str = "vocab_size <decimal>";
		const HASH: &str = "blake2b <64 hex digits>";
		if lines.next() != Some(MAGIC) {
			return Err(BpeError::BadHeader { line: 1, expected: MAGIC });
		}
		let mut field = |line: usize, prefix: &str, expected: &'static str| {
			lines
				.next()
				.and_then(|l| l.strip_prefix(prefix))
				.ok_or(BpeError::BadHeader { line, expected })
		};
		let vocab = parse_id(field(2, "vocab_size ", VOCAB)?)
			.ok_or(BpeError::BadHeader { line: 2, expected: VOCAB })? as usize;
		if !(VOCAB_SIZE..=Bpe::MAX_VOCAB).contains(&vocab) {
			return Err(BpeError::BadVocabSize {
				min: VOCAB_SIZE,
				max: Bpe::MAX_VOCAB,
				got: vocab,
			});
		}
		let declared_hash = field(3, "blake2b ", HASH)?;
		if declared_hash.len() != 64 || !declared_hash.bytes().all(|b| b.is_ascii_hexdigit()) {
			return Err(BpeError::BadHeader { line: 3, expected: HASH });
		}
		let merge_lines: Vec<&str> = lines.collect();
		let declared = vocab - VOCAB_SIZE;
		if merge_lines.len() != declared {
			return Err(BpeError::CountMismatch { declared, found: merge_lines.len() });
		}
		let merges = merge_lines
			.iter()
			.enumerate()
			.map(|(i, line)| {
				line.split_once(' ')
					.and_then(|(a, b)| Some((parse_id(a)?, parse_id(b)?)))
					.ok_or(BpeError::BadMergeLine { line: 4 + i })
			})
			.collect::<Result<Vec<_>, _>>()?;
		let computed = hex(&hash_merges(&merges));
		if !computed.eq_ignore_ascii_case(declared_hash) {
			return Err(BpeError::HashMismatch { declared: declared_hash.to_owned(), computed });
		}
		Bpe::from_merges(merges)
	}

	/// Reads and validates a BPE file of at most [`MAX_FILE_BYTES`].
	pub fn load(path: &Path) -> Result<Self, BpeError> {
		let mut bytes = Vec::new();
		std::fs::File::open(path)?.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes)?;
		if bytes.len() as u64 > MAX_FILE_BYTES {
			return Err(BpeError::TooLarge { limit: MAX_FILE_BYTES });
		}
		let text = String::from_utf8(bytes).map_err(|_| BpeError::NotUtf8)?;
		Self::parse(&text)
	}

	pub fn save(&self, path: &Path) -> Result<(), BpeError> {
		std::fs::write(path, self.to_file_string())?;
		Ok(())
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	fn sample() -> Bpe {
		Bpe::from_merges(vec![(116, 104), (259, 101), (32, 260)]).unwrap()
	}

	#[test]
	fn file_round_trip() {
		let bpe = sample();
		let text = bpe.to_file_string();
		assert!(text.starts_with("training-model-bpe v1\nvocab_size 262\nblake2b "));
		assert!(text.ends_with("\n116 104\n259 101\n32 260\n"));
		let back = Bpe::parse(&text).unwrap();
		assert_eq!(back.merges(), bpe.merges());
		let path = std::env::temp_dir().join(format!("bpe-{}.txt", std::process::id()));
		bpe.save(&path).unwrap();
		assert_eq!(Bpe::load(&path).unwrap().hash(), bpe.hash());
		std::fs::write(&path, b"\xff\xfe").unwrap();
		assert!(matches!(Bpe::load(&path), Err(BpeError::NotUtf8)));
		let _ = std::fs::remove_file(&path);
	}

	#[test]
	fn corrupt_files_are_refused_with_named_errors() {
		let good = sample().to_file_string();
		let corrupt = |from: &str, to: &str| Bpe::parse(&good.replacen(from, to, 1));
		assert!(matches!(corrupt("259 101", "259 102"), Err(BpeError::HashMismatch { .. })));
		assert!(matches!(
			corrupt("\n32 260\n", "\n"),
			Err(BpeError::CountMismatch { declared: 3, found: 2 })
		));
		assert!(matches!(
			corrupt("32 260\n", "32 260\n1 2\n"),
			Err(BpeError::CountMismatch { declared: 3, found: 4 })
		));
		assert!(matches!(corrupt("259 101", "259  101"), Err(BpeError::BadMergeLine { line: 5 })));
		assert!(matches!(corrupt("259 101", "259 -1"), Err(BpeError::BadMergeLine { line: 5 })));
		assert!(matches!(corrupt(" v1", " v2"), Err(BpeError::BadHeader { line: 1, .. })));
		assert!(matches!(
			corrupt("vocab_size 262", "vocab_size x"),
			Err(BpeError::BadHeader { line: 2, .. })
		));
		assert!(matches!(
			corrupt("vocab_size 262", "vocab_size 7"),
			Err(BpeError::BadVocabSize { got: 7, .. })
		));
		assert!(matches!(
			corrupt("blake2b ", "blake2b 00"),
			Err(BpeError::BadHeader { line: 3, .. })
		));
		assert!(matches!(Bpe::parse(""), Err(BpeError::BadHeader { line: 1, .. })));
		let huge = "x".repeat(MAX_FILE_BYTES as usize + 1);
		assert!(matches!(Bpe::parse(&huge), Err(BpeError::TooLarge { .. })));
	}

	#[test]
	fn well_hashed_but_invalid_merges_are_refused() {
		// A file whose hash matches but whose merges are structurally wrong.
		let forward = [(116, 260), (259, 101)];
		let text = render(&forward, &hash_merges(&forward));
		assert!(matches!(Bpe::parse(&text), Err(BpeError::UnknownToken { merge: 0, id: 260 })));
		let repeated = [(116, 104), (116, 104)];
		let text = render(&repeated, &hash_merges(&repeated));
		assert!(matches!(Bpe::parse(&text), Err(BpeError::DuplicateMerge { merge: 1, first: 0 })));
	}
}
