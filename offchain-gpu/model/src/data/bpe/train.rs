//! Deterministic BPE training with incremental pair counts.
//!
//! The text is cut into [chunks](super::pretokenize) and identical chunks are counted once
//! ("words" with a multiplicity). Each step merges the most frequent adjacent pair, ties
//! broken by the lowest `(left id, right id)`, and stops early when no pair occurs twice.
//!
//! Instead of recounting all pairs per merge, it keeps the pair counts, an index from each
//! pair to the words that (may) contain it, and a max-heap of `(count, pair)` entries with
//! lazy deletion: a merge rewrites only the words holding the pair, subtracts their old
//! pairs, adds their new ones and pushes every changed count; a popped entry whose count is
//! no longer current is skipped. The result depends only on the text, never on hash-map
//! iteration order.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use super::pretokenize::chunks;
use super::{merge_pair, pair_key, Bpe, BpeError};
use crate::data::tokenizer::VOCAB_SIZE;

struct Word {
	symbols: Vec<u32>,
	count: i64,
}

struct PairStats {
	counts: HashMap<u64, i64>,
	/// Words that contained the pair when it was counted; may hold stale or repeated entries.
	words: HashMap<u64, Vec<u32>>,
	heap: BinaryHeap<(i64, Reverse<u64>)>,
}

impl PairStats {
	/// Adds (`sign` 1) or removes (`sign` -1) the pairs of word `index`, spelled `symbols`
	/// and occurring `count` times; records every pair it touched.
	fn count_pairs(
		&mut self,
		index: u32,
		symbols: &[u32],
		count: i64,
		sign: i64,
		touched: &mut Vec<u64>,
	) {
		for p in symbols.windows(2) {
			let key = pair_key(p[0], p[1]);
			*self.counts.entry(key).or_default() += sign * count;
			if sign > 0 {
				self.words.entry(key).or_default().push(index);
			}
			touched.push(key);
		}
	}

	/// Pushes the current count of every touched pair (dropping pairs that reached zero).
	fn refresh(&mut self, touched: &mut Vec<u64>) {
		touched.sort_unstable();
		touched.dedup();
		for key in touched.drain(..) {
			match self.counts.get(&key).copied() {
				Some(c) if c > 0 => self.heap.push((c, Reverse(key))),
				_ => {
					self.counts.remove(&key);
					self.words.remove(&key);
				}
			}
		}
	}

	/// The most frequent pair (lowest key among equals) still occurring at least twice.
	fn pop_best(&mut self) -> Option<u64> {
		while let Some((count, Reverse(key))) = self.heap.pop() {
			if self.counts.get(&key) == Some(&count) {
				return (count >= 2).then_some(key);
			}
		}
		None
	}
}

/// Trains on `docs` until the vocabulary reaches `vocab_size` ids or no pair repeats.
pub(super) fn train(docs: &[&[u8]], vocab_size: usize) -> Result<Bpe, BpeError> {
	if !(VOCAB_SIZE..=Bpe::MAX_VOCAB).contains(&vocab_size) {
		return Err(BpeError::BadVocabSize {
			min: VOCAB_SIZE,
			max: Bpe::MAX_VOCAB,
			got: vocab_size,
		});
	}
	let mut chunk_counts: HashMap<&[u8], i64> = HashMap::new();
	for chunk in docs.iter().flat_map(|doc| chunks(doc)) {
		*chunk_counts.entry(chunk).or_default() += 1;
	}
	let mut unique: Vec<(&[u8], i64)> = chunk_counts.into_iter().collect();
	unique.sort_unstable();
	let mut words: Vec<Word> = unique
		.into_iter()
		.map(|(chunk, count)| Word {
			symbols: chunk.iter().map(|&b| u32::from(b)).collect(),
			count,
		})
		.collect();

	let mut stats =
		PairStats { counts: HashMap::new(), words: HashMap::new(), heap: BinaryHeap::new() };
	let mut touched = Vec::new();
	for (index, word) in words.iter().enumerate() {
		stats.count_pairs(index as u32, &word.symbols, word.count, 1, &mut touched);
	}
	stats.refresh(&mut touched);

	let mut merges = Vec::with_capacity(vocab_size - VOCAB_SIZE);
	while merges.len() < vocab_size - VOCAB_SIZE {
		let Some(key) = stats.pop_best() else { break };
		let (a, b) = ((key >> 32) as u32, key as u32);
		let new = (VOCAB_SIZE + merges.len()) as u32;
		merges.push((a, b));
		let mut holders = stats.words.remove(&key).unwrap_or_default();
		holders.sort_unstable();
		holders.dedup();
		for index in holders {
			let word = &mut words[index as usize];
			let before = word.symbols.clone();
			if merge_pair(&mut word.symbols, a, b, new) {
				stats.count_pairs(index, &before, word.count, -1, &mut touched);
				stats.count_pairs(index, &word.symbols, word.count, 1, &mut touched);
			}
		}
		stats.refresh(&mut touched);
	}
	Bpe::from_merges(merges)
}

#[cfg(test)]
mod tests {
	use super::*;
	use crate::data::tokenizer::Tokenizer;

	/// The obvious algorithm: recount every pair before each merge.
	fn naive_merges(text: &[u8], n: usize) -> Vec<(u32, u32)> {
		let mut words: Vec<Vec<u32>> =
			chunks(text).map(|c| c.iter().map(|&b| u32::from(b)).collect()).collect();
		let mut merges = Vec::new();
		while merges.len() < n {
			let mut counts: HashMap<(u32, u32), i64> = HashMap::new();
			for w in &words {
				for p in w.windows(2) {
					*counts.entry((p[0], p[1])).or_default() += 1;
				}
			}
			let best = counts
				.into_iter()
				.filter(|&(_, c)| c >= 2)
				.max_by_key(|&(pair, c)| (c, Reverse(pair)));
			let Some(((a, b), _)) = best else { break };
			let new = (VOCAB_SIZE + merges.len()) as u32;
			for w in &mut words {
				merge_pair(w, a, b, new);
			}
			merges.push((a, b));
		}
		merges
	}

	const TEXT: &str = "To be, or not to be, that is the question:\n\
        Whether 'tis nobler in the mind to suffer\n\
        The slings and arrows of outrageous fortune,\n\
        Or to take arms against a sea of troubles\n\
        And by opposing end them. To die-to sleep,\n\
        No more; and by a sleep to say we end\n\
        The heart-ache and the thousand natural shocks\n\
        That flesh is heir to: 'tis a consummation\n\
        Devoutly to be wish'd. aaaaaaa bbbbbb";

	#[test]
	fn matches_the_naive_trainer_and_is_deterministic() {
		let bpe = Bpe::train(TEXT, 400).unwrap();
		let naive = naive_merges(TEXT.as_bytes(), 400 - VOCAB_SIZE);
		assert_eq!(bpe.merges(), &naive[..]);
		assert!(bpe.merges().len() > 40, "{}", bpe.merges().len());
		let again = Bpe::train(TEXT, 400).unwrap();
		assert_eq!(again.merges(), bpe.merges());
		assert_eq!(again.hash(), bpe.hash());
		// Stops early once no pair repeats.
		assert!(bpe.vocab_size() < 400, "{}", bpe.vocab_size());
		assert_eq!(bpe.decode(&bpe.encode(TEXT)), TEXT);
		let tokens = bpe.encode(TEXT).len();
		assert!(tokens * 3 < TEXT.len() * 2, "{tokens} tokens for {} bytes", TEXT.len());
	}

	proptest::proptest! {
		#[test]
		fn incremental_counts_match_recounting(text in "[ab c\n,]{0,300}") {
			let bpe = Bpe::train(&text, 330).unwrap();
			proptest::prop_assert_eq!(bpe.merges(), &naive_merges(text.as_bytes(), 71)[..]);
		}
	}

	#[test]
	fn ties_go_to_the_lowest_pair() {
		// "cd" and "ab" both occur twice; (a, b) < (c, d) wins although "cd" comes first.
		let bpe = Bpe::train("cd\nab\ncd\nab", VOCAB_SIZE + 1).unwrap();
		assert_eq!(bpe.merges(), [(b'a'.into(), b'b'.into())]);
	}

	#[test]
	fn rejects_bad_vocab_sizes() {
		assert!(matches!(Bpe::train("abc", 10), Err(BpeError::BadVocabSize { got: 10, .. })));
		assert!(matches!(
			Bpe::train("abc", Bpe::MAX_VOCAB + 1),
			Err(BpeError::BadVocabSize { .. })
		));
		assert_eq!(Bpe::train("", 1000).unwrap().vocab_size(), VOCAB_SIZE);
	}
}
