//! The committed BPE and the tokenizer interface, through the public API.

use proptest::prelude::*;
use training_model::data::shakespeare::{self, Works, HELDOUT_FRACTION};
use training_model::data::tokenizer::{EOS, VOCAB_SIZE};
use training_model::{Bpe, BpeError, ByteTokenizer, Corpus, Tokenizer};

/// Twelfth Night, Act I, Scene 1 (a held-out work: the BPE never saw it).
const PASSAGE: &str = "\
Duke.
If music be the food of love, play on;
Give me excess of it, that, surfeiting,
The appetite may sicken, and so die.
That strain again;--it had a dying fall:
O, it came o'er my ear like the sweet south,
That breathes upon a bank of violets,
Stealing and giving odour.--Enough; no more;
'Tis not so sweet now as it was before.
O spirit of love, how quick and fresh art thou!
That, notwithstanding thy capacity
Receiveth as the sea, nought enters there,
Of what validity and pitch soe'er,
But falls into abatement and low price,
Even in a minute! so full of shapes is fancy,
That it alone is high fantastical.
";

fn builtin() -> Bpe {
	Bpe::builtin_4k().expect("the committed BPE loads")
}

#[test]
fn builtin_is_the_pinned_4k_tokenizer() {
	let bpe = builtin();
	assert_eq!(bpe.vocab_size(), 4096);
	assert_eq!(bpe.merges().len(), 4096 - VOCAB_SIZE);
	let hex: String = bpe.hash().iter().map(|b| format!("{b:02x}")).collect();
	assert_eq!(hex, "47a2bc2d5a1c1e50a8638a3efabc4fca7213ea7d322ce710db3751d4ed0de0b0");
	const { assert!(shakespeare::MAX_CORPUS_BYTES > 5_000_000) };
	assert!(training_model::data::bpe::BUILTIN_4K.len() < 100 * 1024);
}

#[test]
fn corrupted_copies_of_the_builtin_are_refused() {
	let text = training_model::data::bpe::BUILTIN_4K;
	// Change one merge: the hash no longer matches.
	let flipped = text.replacen("\n104 101\n", "\n104 102\n", 1);
	assert_ne!(flipped, text);
	assert!(matches!(Bpe::parse(&flipped), Err(BpeError::HashMismatch { .. })));
	// Drop the last merge: the header's count no longer matches.
	let truncated = &text[..text.trim_end().rfind('\n').unwrap() + 1];
	assert!(matches!(
		Bpe::parse(truncated),
		Err(BpeError::CountMismatch { declared: 3837, found: 3836 })
	));
	// Windows line endings are not the format.
	assert!(matches!(
		Bpe::parse(&text.replace('\n', "\r\n")),
		Err(BpeError::BadHeader { line: 1, .. })
	));
}

#[test]
fn builtin_compresses_unseen_shakespeare() {
	let bpe = builtin();
	let ids = bpe.encode(PASSAGE);
	let ratio = PASSAGE.len() as f64 / ids.len() as f64;
	eprintln!("{} bytes -> {} tokens: {ratio:.2} bytes/token", PASSAGE.len(), ids.len());
	assert!(ratio > 2.5, "only {ratio:.2} bytes/token");
	assert!(ids.iter().all(|&id| (id as usize) < bpe.vocab_size()));
	assert_eq!(bpe.decode(&ids), PASSAGE);
}

#[test]
fn corpus_accepts_either_tokenizer() {
	let docs = ["If music be the food of love", "play on"];
	let bpe = builtin();
	let tokenizers: [&dyn Tokenizer; 2] = [&ByteTokenizer, &bpe];
	for tok in tokenizers {
		let corpus = Corpus::from_split_documents(&docs[..1], &docs[1..], tok).unwrap();
		assert_eq!(corpus.train().last(), Some(&EOS));
		assert_eq!(tok.decode(corpus.heldout()), "play on\n");
	}
}

proptest! {
	#[test]
	fn builtin_round_trips_any_string(text in any::<String>()) {
		let bpe = builtin();
		prop_assert_eq!(bpe.decode(&bpe.encode(&text)), text);
	}

	#[test]
	fn builtin_round_trips_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
		let bpe = builtin();
		let ids = bpe.encode_bytes(&bytes);
		prop_assert!(ids.iter().all(|&id| (id as usize) < bpe.vocab_size() && id != EOS));
		prop_assert_eq!(bpe.decode_bytes(&ids), bytes);
	}

	#[test]
	fn trained_bpe_round_trips_other_text(
		train in "[a-e .\\n]{0,200}",
		text in any::<String>(),
	) {
		let bpe = Bpe::train(&train, 320).unwrap();
		prop_assert_eq!(bpe.decode(&bpe.encode(&text)), text);
		let again = Bpe::parse(&bpe.to_file_string()).unwrap();
		prop_assert_eq!(again.merges(), bpe.merges());
	}
}

/// Needs the corpus, which `make test` installs first (`scripts/fetch-corpus.sh`).
#[test]
fn heldout_compression_on_the_corpus() {
	let path = shakespeare::default_path().expect("HOME or SHAKESPEARE_CORPUS is set");
	let text = shakespeare::read_corpus(&path)
		.unwrap_or_else(|e| panic!("{}: {e} (run scripts/fetch-corpus.sh)", path.display()));
	let works = Works::split(&text, HELDOUT_FRACTION).unwrap();
	assert_eq!(works.train.len() + works.heldout.len(), 42);
	assert_eq!(works.heldout.len(), 4);
	let bpe = builtin();
	let corpus = Corpus::from_shakespeare(&path, &bpe).unwrap();
	let heldout_bytes: usize = works.heldout.iter().map(|w| w.len() + 1).sum();
	let ratio = heldout_bytes as f64 / corpus.heldout().len() as f64;
	eprintln!(
		"held-out: {heldout_bytes} bytes (with one EOS per work) -> {} tokens: \
         {ratio:.3} bytes/token; training split: {} tokens",
		corpus.heldout().len(),
		corpus.train().len()
	);
	assert!(ratio > 2.7, "only {ratio:.3} bytes/token");
	// Retraining on the training split reproduces the committed merges exactly.
	let retrained = Bpe::train_documents(&works.train, bpe.vocab_size()).unwrap();
	assert_eq!(retrained.merges(), bpe.merges());
	let bytes = Corpus::from_shakespeare(&path, &ByteTokenizer).unwrap();
	assert_eq!(bytes.heldout().len(), heldout_bytes);
}
