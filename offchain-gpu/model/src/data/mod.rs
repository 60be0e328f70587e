//! Training data: tokenizers (byte-level and BPE), the Shakespeare corpus with its held-out
//! split, and the deterministic samplers that let any validator reproduce a miner's batches.

pub mod bpe;
pub mod corpus;
pub mod sampler;
pub mod shakespeare;
pub mod shards;
pub mod tokenizer;

pub use bpe::{Bpe, BpeError};
pub use corpus::Corpus;
pub use sampler::{AssignedBatches, Assignment, BatchShape, BatchSource};
pub use shakespeare::Works;
pub use tokenizer::{ByteTokenizer, Tokenizer};

/// Why a corpus could not be built or sampled.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
	#[error("held-out fraction must be in [0, 1), got {0}")]
	BadHeldOutFraction(f64),
	#[error("training split end {train_end} is past the {tokens} tokens of the corpus")]
	BadSplit { train_end: usize, tokens: usize },
	#[error("{works} works cannot hold out {heldout_fraction} and still leave one to train on")]
	TooFewWorks { works: usize, heldout_fraction: f64 },
	#[error("the {split} split has {tokens} tokens, a window needs at least {needed}")]
	SplitTooShort { split: &'static str, tokens: usize, needed: usize },
	#[error("batch shape must be non-zero, got {batch_size} x {seq_len}")]
	EmptyShape { batch_size: usize, seq_len: usize },
	#[error("corpus file is larger than the limit of {limit} bytes")]
	TooLarge { limit: u64 },
	#[error(
		"corpus file has blake2b-256 {got}, expected {expected} \
         (run scripts/fetch-corpus.sh to install the pinned corpus)"
	)]
	CorpusHashMismatch { expected: &'static str, got: String },
	#[error("corpus file is not UTF-8")]
	NotUtf8,
	#[error("unknown tokenizer {0:?} (known: byte, bpe-4k)")]
	UnknownTokenizer(String),
	#[error("tokenizer error: {0}")]
	Bpe(#[from] BpeError),
	#[error("cannot read corpus: {0}")]
	Io(#[from] std::io::Error),
}
