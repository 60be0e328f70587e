//! Shards built from the shipped corpus (`scripts/fetch-corpus.sh`, which `make test` runs
//! first) load back as exactly the worker's Shakespeare corpus, so every sampler assignment
//! is the same over shards as over the corpus file.

use training_model::data::shakespeare::{self, HELDOUT_FRACTION};
use training_model::data::shards::{self, PrepareConfig};
use training_model::data::{Assignment, BatchShape, ByteTokenizer, Corpus, Tokenizer};

#[test]
fn shards_of_the_shipped_corpus_are_the_corpus() {
	let path = shakespeare::default_path().expect("HOME or SHAKESPEARE_CORPUS is set");
	let text = shakespeare::read_corpus(&path)
		.unwrap_or_else(|e| panic!("{}: {e} (run scripts/fetch-corpus.sh)", path.display()));
	let dir = std::env::temp_dir().join(format!("shards-corpus-{}", std::process::id()));
	let _ = std::fs::remove_dir_all(&dir);
	let cfg = PrepareConfig { shard_tokens: 1 << 20, heldout_fraction: HELDOUT_FRACTION };
	let mut calls = 0;
	let (manifest, hash) =
		shards::prepare(&[&text], &ByteTokenizer, "byte", &dir, &cfg, &mut |done, total| {
			calls += 1;
			assert!(done <= total);
		})
		.unwrap();
	assert!(calls > 40, "progress after each work");
	assert!(manifest.train.len() >= 4 && !manifest.heldout.is_empty(), "{manifest:?}");

	let set = shards::load(&dir, Some(hash), ByteTokenizer.vocab_size()).unwrap();
	let corpus = Corpus::from_shakespeare(&path, &ByteTokenizer).unwrap();
	assert_eq!(set.corpus.train_end(), corpus.train_end());
	assert_eq!(set.corpus.train(), corpus.train());
	assert_eq!(set.corpus.heldout(), corpus.heldout());
	let shape = BatchShape { batch_size: 4, seq_len: 64 };
	for miner in [[1u8; 32], [2; 32], [3; 32]] {
		let a = Assignment { run_seed: 7, round: 2, miner };
		let (x, y) = (set.corpus.assigned_batch(&a, 5, shape), corpus.assigned_batch(&a, 5, shape));
		assert_eq!(x.unwrap(), y.unwrap());
	}
	let _ = std::fs::remove_dir_all(&dir);
}
