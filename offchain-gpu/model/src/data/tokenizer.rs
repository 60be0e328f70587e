//! The tokenizer interface and the byte-level tokenizer.
//!
//! Every tokenizer of this crate shares one id layout: ids `0..=255` are the single bytes,
//! then the three specials [`BOS`], [`EOS`], [`PAD`]; a [BPE](super::bpe::Bpe) appends its
//! merged tokens after them. So byte ids and special ids mean the same thing whichever
//! tokenizer produced them, and the model only has to know `vocab_size`.

/// Marks the start of a document (never added by encoding).
pub const BOS: u32 = 256;
/// Ends every document of a corpus.
pub const EOS: u32 = 257;
/// Padding; never produced by encoding.
pub const PAD: u32 = 258;
/// 256 byte tokens + BOS, EOS, PAD: the byte tokenizer's vocabulary, and the first id a
/// BPE merge is given.
pub const VOCAB_SIZE: usize = 259;

/// Text (or arbitrary bytes) to token ids and back. `decode_bytes(encode_bytes(b)) == b`
/// for every byte string `b`.
pub trait Tokenizer: Send + Sync {
	/// Number of ids this tokenizer can produce or accept (specials included).
	fn vocab_size(&self) -> usize;

	/// Token ids of `bytes`; never emits a special token.
	fn encode_bytes(&self, bytes: &[u8]) -> Vec<u32>;

	/// Bytes of `ids`: [`EOS`] is rendered as a newline; [`BOS`], [`PAD`] and ids outside
	/// the vocabulary are dropped.
	fn decode_bytes(&self, ids: &[u32]) -> Vec<u8>;

	fn encode(&self, text: &str) -> Vec<u32> {
		self.encode_bytes(text.as_bytes())
	}

	/// The tokens of `text` followed by [`EOS`].
	fn encode_document(&self, text: &str) -> Vec<u32> {
		let mut ids = self.encode(text);
		ids.push(EOS);
		ids
	}

	/// [`Tokenizer::decode_bytes`] as text, invalid UTF-8 replaced by U+FFFD.
	fn decode(&self, ids: &[u32]) -> String {
		String::from_utf8_lossy(&self.decode_bytes(ids)).into_owned()
	}
}

/// The tokenizer a worker config names: `byte` ([`ByteTokenizer`], 259 ids) or `bpe-4k`
/// (the committed [`Bpe::builtin_4k`](super::bpe::Bpe::builtin_4k), 4096 ids).
pub fn by_name(name: &str) -> Result<Box<dyn Tokenizer>, super::DataError> {
	match name {
		"byte" => Ok(Box::new(ByteTokenizer)),
		"bpe-4k" => Ok(Box::new(super::bpe::Bpe::builtin_4k()?)),
		other => Err(super::DataError::UnknownTokenizer(other.to_owned())),
	}
}

/// One token per byte: no vocabulary file, exact round trip, ~4x longer sequences than a
/// BPE.
#[derive(Clone, Copy, Debug, Default)]
pub struct ByteTokenizer;

impl Tokenizer for ByteTokenizer {
	fn vocab_size(&self) -> usize {
		VOCAB_SIZE
	}

	fn encode_bytes(&self, bytes: &[u8]) -> Vec<u32> {
		bytes.iter().map(|&b| u32::from(b)).collect()
	}

	fn decode_bytes(&self, ids: &[u32]) -> Vec<u8> {
		ids.iter()
			.filter_map(|&id| match id {
				0..=255 => Some(id as u8),
				EOS => Some(b'\n'),
				_ => None,
			})
			.collect()
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn round_trips_utf8() {
		let t = ByteTokenizer;
		let text = "To be, or not to be — ça va? 学";
		let ids = t.encode(text);
		assert_eq!(ids.len(), text.len());
		assert!(ids.iter().all(|&i| (i as usize) < VOCAB_SIZE));
		assert_eq!(t.decode(&ids), text);
		assert_eq!(t.encode_document("ab"), vec![97, 98, EOS]);
		assert_eq!(t.decode(&[BOS, 104, 105, EOS, PAD, 9999]), "hi\n");
	}

	#[test]
	fn tokenizers_by_name() {
		assert_eq!(by_name("byte").unwrap().vocab_size(), VOCAB_SIZE);
		assert_eq!(by_name("bpe-4k").unwrap().vocab_size(), 4096);
		assert!(matches!(by_name("gpt2"), Err(super::super::DataError::UnknownTokenizer(_))));
	}
}
