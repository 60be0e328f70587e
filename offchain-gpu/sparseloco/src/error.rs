//! Error types. Every failure on untrusted input is a named variant, never a panic.

use thiserror::Error;

/// An invalid model layout.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum LayoutError {
	#[error("a layout needs at least one tensor")]
	Empty,
	#[error("tensor name {0:?} is empty or too long")]
	BadName(String),
	#[error("tensor name {0:?} appears twice")]
	DuplicateName(String),
	#[error(
		"tensor {name:?} has shape {shape:?}; only non-empty 1-D and 2-D shapes are supported"
	)]
	BadShape { name: String, shape: Vec<usize> },
	#[error("tensor {0:?} is too large (at most 2^32 - 1 elements per tensor)")]
	TooLarge(String),
}

/// Invalid compression parameters.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ParamsError {
	#[error("chunk edge {0} is outside 1..=64")]
	ChunkEdge(u16),
	#[error("k = {k} is outside 1..={max} for chunk edge {edge}")]
	K { k: u16, edge: u16, max: usize },
}

/// Why compression refused its input. All but `NonFiniteTable` leave the residual untouched
/// (see [`crate::compress_in_place`]).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum CompressError {
	#[error("buffer length {got} does not match the layout's {expected} parameters")]
	Length { expected: usize, got: usize },
	#[error("delta holds a non-finite value at flat index {0}")]
	NonFiniteDelta(usize),
	#[error("the quantization table of tensor {0} is not finite (error feedback overflowed)")]
	NonFiniteTable(usize),
	#[error("beta must be finite")]
	BadBeta,
}

/// A blob (or an in-memory gradient about to be encoded) that violates the wire format.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum WireError {
	#[error("not a SparseLoCo gradient (wrong magic)")]
	WrongMagic,
	#[error("unsupported format version {0}")]
	UnsupportedVersion(u16),
	#[error("the blob was made for another model layout")]
	WrongLayout,
	#[error("chunking (edge {edge}, k {k}) differs from the expected one")]
	WrongChunking { edge: u16, k: u16 },
	#[error("unsupported quantization scheme {0}")]
	UnsupportedQuantScheme(u8),
	#[error("the model fingerprint holds a non-finite value")]
	NonFiniteFingerprint,
	#[error("blob truncated: {expected} bytes expected, {got} present")]
	Truncated { expected: usize, got: usize },
	#[error("{extra} trailing bytes after the last tensor")]
	TrailingBytes { extra: usize },
	#[error("tensor {tensor}: the quantization table is not finite")]
	NonFiniteTable { tensor: usize },
	#[error("tensor {tensor}: padding bits are not zero")]
	NonZeroPadding { tensor: usize },
	#[error("tensor {tensor}, chunk {chunk}: an index lies outside the chunk")]
	IndexOutOfRange { tensor: usize, chunk: usize },
	#[error("tensor {tensor}, chunk {chunk}: indices repeat or are not increasing")]
	DuplicateIndex { tensor: usize, chunk: usize },
	#[error("tensor {tensor}, chunk {chunk}: malformed index field")]
	MalformedIndices { tensor: usize, chunk: usize },
	#[error("tensor {tensor}: code {code} is not a 2-bit code")]
	CodeOutOfRange { tensor: usize, code: u8 },
	#[error("gradient has {got} tensors, the layout {expected}")]
	TensorCount { expected: usize, got: usize },
	#[error("tensor {tensor}: {got} kept values, the layout prescribes {expected}")]
	KeptCount { tensor: usize, expected: usize, got: usize },
}

/// Why aggregation refused to run (nothing was modified).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum AggregateError {
	#[error("parameter buffer has {got} values, the layout {expected}")]
	Length { expected: usize, got: usize },
	#[error("peer {peer}: {source}")]
	InvalidPeer { peer: usize, source: WireError },
	#[error("clip norm list has {got} entries, the layout has {expected} tensors")]
	ClipLength { expected: usize, got: usize },
}
