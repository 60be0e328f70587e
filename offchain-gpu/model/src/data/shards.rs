//! Pre-tokenized datasets: a directory of token shards and a manifest that names them with
//! their lengths and hashes. `offchain-gpu data prepare` writes one ([`prepare`]); workers
//! load it ([`load`]) and refuse it unless the manifest's blake2b-256 ([`manifest_hash`]) is
//! the one they were told to train on and every shard matches the manifest.
//!
//! **Layout.** `manifest.json` and the shards it lists, each a flat array of token ids in
//! little-endian `u16` (vocabularies up to 65,536) or `u32`. Documents are written one after
//! the other, each followed by [`EOS`](super::tokenizer::EOS). Training shards come first,
//! then held-out shards: the held-out documents are the shortest suffix of whole documents
//! holding the held-out fraction of the text (the rule of [`super::Works::split`]), so no
//! window mixes them with training text.
//!
//! **Same data, same batches.** Loading concatenates the training shards, then the held-out
//! shards, into a [`Corpus`] split between them. Shards built from the shipped corpus with
//! the worker's held-out fraction give exactly the tokens and split of
//! [`Corpus::from_shakespeare`], so the sampler's assignments work over shards unchanged.
//!
//! **Hostile directories.** A manifest is read only up to [`MAX_MANIFEST_BYTES`]; shard file
//! names must be plain names inside the directory; a shard is read only up to the length its
//! entry gives, and its hash and every token id are checked before it is used; the whole
//! dataset is held in memory, so it is bounded by [`MAX_TOKENS`].

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use blake2::digest::consts::U32;
use blake2::{Blake2b, Digest};
use serde::{Deserialize, Serialize};

use super::corpus::Corpus;
use super::tokenizer::Tokenizer;
use super::Works;

/// The manifest's file name inside a dataset directory.
pub const MANIFEST_FILE: &str = "manifest.json";
/// The format tag a manifest carries.
pub const FORMAT: &str = "training-model/shards/v1";
/// Larger manifests are refused unread.
pub const MAX_MANIFEST_BYTES: u64 = 16 << 20;
/// Most tokens a dataset may hold (they are loaded into memory: 8 GiB of `u32`).
pub const MAX_TOKENS: u64 = 1 << 31;

/// Why a dataset could not be written or loaded.
#[derive(Debug, thiserror::Error)]
pub enum ShardError {
	#[error("{path}: {source}")]
	Io { path: PathBuf, source: std::io::Error },
	#[error("the manifest is larger than {MAX_MANIFEST_BYTES} bytes")]
	ManifestTooLarge,
	#[error("the manifest is not valid: {0}")]
	BadManifest(String),
	#[error(
		"the dataset's manifest has blake2b-256 {got}, the run trains on {expected}: \
         this is not the run's dataset"
	)]
	WrongDataset { expected: String, got: String },
	#[error("shard {file}: {problem}")]
	BadShard { file: String, problem: String },
	#[error(
		"the dataset's vocabulary ({dataset}) is larger than the model's ({model}): \
         tokenize it for this model"
	)]
	VocabTooLarge { dataset: u32, model: usize },
	#[error("the dataset holds more than {MAX_TOKENS} tokens")]
	TooManyTokens,
	#[error(transparent)]
	Data(#[from] super::DataError),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ShardError + '_ {
	move |source| ShardError::Io { path: path.to_owned(), source }
}

/// What `manifest.json` says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
	/// [`FORMAT`].
	pub format: String,
	/// The tokenizer's name (`byte`, `bpe-4k`, or an external one's).
	pub tokenizer: String,
	/// Every token id is below this.
	pub vocab_size: u32,
	/// Bytes per token id in the shards: 2 or 4.
	pub token_bytes: u8,
	pub train: Vec<ShardEntry>,
	pub heldout: Vec<ShardEntry>,
}

/// One shard: its file name, its token count and the blake2b-256 of its bytes (hex).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShardEntry {
	pub file: String,
	pub tokens: u64,
	pub blake2b256: String,
}

/// The blake2b-256 of a manifest file's bytes: what a run records and workers check.
pub fn manifest_hash(bytes: &[u8]) -> [u8; 32] {
	Blake2b::<U32>::digest(bytes).into()
}

fn hex(bytes: &[u8]) -> String {
	bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// How [`prepare`] cuts its input.
#[derive(Clone, Debug)]
pub struct PrepareConfig {
	/// Tokens per shard (the last shard of each split may hold fewer).
	pub shard_tokens: usize,
	/// Fraction of the text (in bytes) held out, as whole documents at the end.
	pub heldout_fraction: f64,
}

/// Tokenizes `documents` (in order; the held-out ones are the last, see the module docs)
/// into shards under `dir` and writes the manifest last. `progress` is told the bytes
/// tokenized so far and the total. Returns the manifest and its hash.
pub fn prepare(
	documents: &[&str],
	tokenizer: &dyn Tokenizer,
	tokenizer_name: &str,
	dir: &Path,
	cfg: &PrepareConfig,
	progress: &mut dyn FnMut(u64, u64),
) -> Result<(Manifest, [u8; 32]), ShardError> {
	if cfg.shard_tokens == 0 {
		return Err(ShardError::BadManifest("shard_tokens must be at least 1".into()));
	}
	let joined = documents.join(&super::shakespeare::WORK_SEPARATOR.to_string());
	let works = Works::split(&joined, cfg.heldout_fraction)?;
	let vocab_size = u32::try_from(tokenizer.vocab_size())
		.map_err(|_| ShardError::BadManifest("vocabulary too large".into()))?;
	let token_bytes: u8 = if vocab_size <= 1 << 16 { 2 } else { 4 };
	std::fs::create_dir_all(dir).map_err(io(dir))?;
	let total: u64 = (works.train.iter().chain(&works.heldout)).map(|d| d.len() as u64).sum();
	let mut done = 0u64;
	progress(done, total);
	let mut write_split = |docs: &[&str], prefix: &str| -> Result<Vec<ShardEntry>, ShardError> {
		let mut writer = SplitWriter::new(dir, prefix, token_bytes, cfg.shard_tokens);
		for doc in docs {
			writer.push(&tokenizer.encode_document(doc))?;
			done += doc.len() as u64;
			progress(done, total);
		}
		writer.finish()
	};
	let train = write_split(&works.train, "train")?;
	let heldout = write_split(&works.heldout, "heldout")?;
	let manifest = Manifest {
		format: FORMAT.into(),
		tokenizer: tokenizer_name.into(),
		vocab_size,
		token_bytes,
		train,
		heldout,
	};
	let mut bytes =
		serde_json::to_vec_pretty(&manifest).map_err(|e| ShardError::BadManifest(e.to_string()))?;
	bytes.push(b'\n');
	let path = dir.join(MANIFEST_FILE);
	std::fs::write(&path, &bytes).map_err(io(&path))?;
	Ok((manifest, manifest_hash(&bytes)))
}

/// Writes one split's tokens as numbered shards of `shard_tokens` each.
struct SplitWriter<'a> {
	dir: &'a Path,
	prefix: &'a str,
	token_bytes: u8,
	shard_tokens: usize,
	pending: Vec<u32>,
	entries: Vec<ShardEntry>,
}

impl<'a> SplitWriter<'a> {
	fn new(dir: &'a Path, prefix: &'a str, token_bytes: u8, shard_tokens: usize) -> Self {
		Self { dir, prefix, token_bytes, shard_tokens, pending: Vec::new(), entries: Vec::new() }
	}

	fn push(&mut self, tokens: &[u32]) -> Result<(), ShardError> {
		self.pending.extend_from_slice(tokens);
		while self.pending.len() >= self.shard_tokens {
			let rest = self.pending.split_off(self.shard_tokens);
			let full = std::mem::replace(&mut self.pending, rest);
			self.write(&full)?;
		}
		Ok(())
	}

	fn finish(mut self) -> Result<Vec<ShardEntry>, ShardError> {
		if !self.pending.is_empty() {
			let last = std::mem::take(&mut self.pending);
			self.write(&last)?;
		}
		Ok(self.entries)
	}

	fn write(&mut self, tokens: &[u32]) -> Result<(), ShardError> {
		let file = format!("{}-{:06}.bin", self.prefix, self.entries.len());
		let bytes = encode_tokens(tokens, self.token_bytes);
		let path = self.dir.join(&file);
		let mut out = std::fs::File::create(&path).map_err(io(&path))?;
		out.write_all(&bytes).map_err(io(&path))?;
		self.entries.push(ShardEntry {
			file,
			tokens: tokens.len() as u64,
			blake2b256: hex(&Blake2b::<U32>::digest(&bytes)),
		});
		Ok(())
	}
}

fn encode_tokens(tokens: &[u32], token_bytes: u8) -> Vec<u8> {
	match token_bytes {
		2 => tokens.iter().flat_map(|&t| (t as u16).to_le_bytes()).collect(),
		_ => tokens.iter().flat_map(|&t| t.to_le_bytes()).collect(),
	}
}

/// A loaded dataset: its corpus, its manifest and the manifest's hash.
#[derive(Clone, Debug)]
pub struct Dataset {
	pub corpus: Corpus,
	pub manifest: Manifest,
	pub hash: [u8; 32],
}

/// Loads the dataset in `dir` for a model with `model_vocab` token ids. With `expected`,
/// a manifest with another hash is refused before any shard is read.
pub fn load(
	dir: &Path,
	expected: Option<[u8; 32]>,
	model_vocab: usize,
) -> Result<Dataset, ShardError> {
	let path = dir.join(MANIFEST_FILE);
	let mut bytes = Vec::new();
	std::fs::File::open(&path)
		.and_then(|f| f.take(MAX_MANIFEST_BYTES + 1).read_to_end(&mut bytes))
		.map_err(io(&path))?;
	if bytes.len() as u64 > MAX_MANIFEST_BYTES {
		return Err(ShardError::ManifestTooLarge);
	}
	let hash = manifest_hash(&bytes);
	if let Some(expected) = expected {
		if hash != expected {
			return Err(ShardError::WrongDataset { expected: hex(&expected), got: hex(&hash) });
		}
	}
	let manifest: Manifest =
		serde_json::from_slice(&bytes).map_err(|e| ShardError::BadManifest(e.to_string()))?;
	if manifest.format != FORMAT {
		return Err(ShardError::BadManifest(format!(
			"format {:?}, this worker reads {FORMAT:?}",
			manifest.format
		)));
	}
	if !matches!(manifest.token_bytes, 2 | 4) {
		return Err(ShardError::BadManifest(format!(
			"token_bytes {} (2 or 4)",
			manifest.token_bytes
		)));
	}
	if manifest.vocab_size as usize > model_vocab {
		return Err(ShardError::VocabTooLarge { dataset: manifest.vocab_size, model: model_vocab });
	}
	let total = (manifest.train.iter().chain(&manifest.heldout))
		.try_fold(0u64, |sum, e| sum.checked_add(e.tokens))
		.filter(|&t| t <= MAX_TOKENS)
		.ok_or(ShardError::TooManyTokens)?;
	let mut tokens = Vec::with_capacity(total as usize);
	for entry in &manifest.train {
		read_shard(dir, entry, &manifest, &mut tokens)?;
	}
	let train_end = tokens.len();
	for entry in &manifest.heldout {
		read_shard(dir, entry, &manifest, &mut tokens)?;
	}
	let corpus = Corpus::from_split(tokens, train_end)?;
	Ok(Dataset { corpus, manifest, hash })
}

/// Appends one shard's tokens to `out` after checking its name, length, hash and ids.
fn read_shard(
	dir: &Path,
	entry: &ShardEntry,
	manifest: &Manifest,
	out: &mut Vec<u32>,
) -> Result<(), ShardError> {
	let bad = |problem: String| ShardError::BadShard { file: entry.file.clone(), problem };
	let plain = Path::new(&entry.file).file_name().is_some_and(|n| n == entry.file.as_str());
	if !plain || entry.file.starts_with('.') {
		return Err(bad("not a plain file name inside the dataset directory".into()));
	}
	let width = u64::from(manifest.token_bytes);
	let len = entry.tokens * width;
	let path = dir.join(&entry.file);
	let mut bytes = Vec::with_capacity(len as usize);
	std::fs::File::open(&path)
		.and_then(|f| f.take(len + 1).read_to_end(&mut bytes))
		.map_err(io(&path))?;
	if bytes.len() as u64 != len {
		return Err(bad(format!("{} bytes, the manifest says {len}", bytes.len())));
	}
	let got = hex(&Blake2b::<U32>::digest(&bytes));
	if got != entry.blake2b256 {
		return Err(bad(format!("blake2b-256 {got}, the manifest says {}", entry.blake2b256)));
	}
	let before = out.len();
	match manifest.token_bytes {
		2 => out.extend(bytes.chunks_exact(2).map(|c| u32::from(u16::from_le_bytes([c[0], c[1]])))),
		_ => {
			out.extend(bytes.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])))
		}
	}
	if let Some(t) = out[before..].iter().find(|&&t| t >= manifest.vocab_size) {
		return Err(bad(format!(
			"token id {t} is outside the vocabulary of {}",
			manifest.vocab_size
		)));
	}
	Ok(())
}

#[cfg(test)]
mod tests {
	use super::*;
	use crate::data::ByteTokenizer;

	fn temp_dir(name: &str) -> PathBuf {
		let dir = std::env::temp_dir().join(format!("shards-{name}-{}", std::process::id()));
		let _ = std::fs::remove_dir_all(&dir);
		dir
	}

	fn prepared(name: &str, shard_tokens: usize) -> (PathBuf, [u8; 32]) {
		let dir = temp_dir(name);
		let docs = ["first document", "second one", "third", "the held-out tail"];
		let cfg = PrepareConfig { shard_tokens, heldout_fraction: 0.3 };
		let (_, hash) = prepare(&docs, &ByteTokenizer, "byte", &dir, &cfg, &mut |_, _| {}).unwrap();
		(dir, hash)
	}

	#[test]
	fn shards_load_back_as_the_documents_with_their_split() {
		let (dir, hash) = prepared("roundtrip", 7);
		let set = load(&dir, Some(hash), 259).unwrap();
		let want = Corpus::from_split_documents(
			&["first document", "second one", "third"],
			&["the held-out tail"],
			&ByteTokenizer,
		)
		.unwrap();
		assert_eq!(set.corpus.train(), want.train());
		assert_eq!(set.corpus.heldout(), want.heldout());
		assert!(set.manifest.train.len() > 1, "7-token shards: several files");
		assert_eq!(set.manifest.token_bytes, 2);
		let _ = std::fs::remove_dir_all(&dir);
	}

	#[test]
	fn another_dataset_or_a_changed_shard_is_refused() {
		let (dir, hash) = prepared("tamper", 1000);
		let mut other = hash;
		other[0] ^= 1;
		assert!(matches!(load(&dir, Some(other), 259), Err(ShardError::WrongDataset { .. })));
		assert!(matches!(load(&dir, Some(hash), 100), Err(ShardError::VocabTooLarge { .. })));
		// Same length, one token changed: the manifest's hash of the shard catches it.
		let shard = dir.join("train-000000.bin");
		let mut bytes = std::fs::read(&shard).unwrap();
		bytes[0] ^= 1;
		std::fs::write(&shard, &bytes).unwrap();
		assert!(matches!(load(&dir, Some(hash), 259), Err(ShardError::BadShard { .. })));
		// A truncated shard.
		std::fs::write(&shard, &bytes[..3]).unwrap();
		assert!(matches!(load(&dir, Some(hash), 259), Err(ShardError::BadShard { .. })));
		let _ = std::fs::remove_dir_all(&dir);
	}

	#[test]
	fn a_hostile_manifest_cannot_name_files_outside_or_absurd_sizes() {
		let dir = temp_dir("hostile");
		std::fs::create_dir_all(&dir).unwrap();
		let entry = |file: &str, tokens: u64| ShardEntry {
			file: file.into(),
			tokens,
			blake2b256: String::new(),
		};
		let write = |m: &Manifest| {
			std::fs::write(dir.join(MANIFEST_FILE), serde_json::to_vec(m).unwrap()).unwrap();
		};
		let mut m = Manifest {
			format: FORMAT.into(),
			tokenizer: "byte".into(),
			vocab_size: 259,
			token_bytes: 2,
			train: vec![entry("../../etc/passwd", 1)],
			heldout: Vec::new(),
		};
		write(&m);
		assert!(matches!(load(&dir, None, 259), Err(ShardError::BadShard { .. })));
		m.train = vec![entry("a.bin", u64::MAX / 2), entry("b.bin", u64::MAX / 2)];
		write(&m);
		assert!(matches!(load(&dir, None, 259), Err(ShardError::TooManyTokens)));
		m.train = Vec::new();
		m.token_bytes = 3;
		write(&m);
		assert!(matches!(load(&dir, None, 259), Err(ShardError::BadManifest(_))));
		std::fs::write(dir.join(MANIFEST_FILE), b"{\"format\": 1}").unwrap();
		assert!(matches!(load(&dir, None, 259), Err(ShardError::BadManifest(_))));
		let _ = std::fs::remove_dir_all(&dir);
	}
}
