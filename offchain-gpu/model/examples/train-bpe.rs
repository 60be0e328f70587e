//! Trains the committed BPE on the training split of the Shakespeare corpus and reports
//! its compression on the held-out split.
//!
//! ```text
//! scripts/fetch-corpus.sh
//! cargo run --release -p training-model --example train-bpe -- \
//!     ~/.cache/sparseloco-chain/corpus/shakespeare.txt offchain-gpu/model/assets/bpe-4k.txt
//! ```
//!
//! An optional third argument sets the vocabulary size (default 4096).

use std::error::Error;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use training_model::data::shakespeare::{read_corpus, HELDOUT_FRACTION};
use training_model::{Bpe, Tokenizer, Works};

const USAGE: &str = "usage: train-bpe <corpus.txt> <out.txt> [vocab_size]";

fn run() -> Result<(), Box<dyn Error>> {
	let mut args = std::env::args_os().skip(1);
	let corpus = PathBuf::from(args.next().ok_or(USAGE)?);
	let out = PathBuf::from(args.next().ok_or(USAGE)?);
	let vocab_size: usize = match args.next() {
		Some(v) => v.to_str().ok_or(USAGE)?.parse()?,
		None => 4096,
	};

	let text = read_corpus(&corpus)?;
	let works = Works::split(&text, HELDOUT_FRACTION)?;
	let start = Instant::now();
	let bpe = Bpe::train_documents(&works.train, vocab_size)?;
	let train_secs = start.elapsed().as_secs_f64();
	bpe.save(&out)?;

	let heldout_bytes: usize = works.heldout.iter().map(|w| w.len()).sum();
	let heldout_tokens: usize = works.heldout.iter().map(|w| bpe.encode(w).len()).sum();
	let hash: String = bpe.hash().iter().map(|b| format!("{b:02x}")).collect();
	println!("wrote {} ({} ids, blake2b {hash})", out.display(), bpe.vocab_size());
	println!(
		"trained on {} works in {train_secs:.1} s; held-out: {} works, {heldout_bytes} bytes, \
         {heldout_tokens} tokens, {:.3} bytes/token",
		works.train.len(),
		works.heldout.len(),
		heldout_bytes as f64 / heldout_tokens as f64
	);
	Ok(())
}

fn main() -> ExitCode {
	match run() {
		Ok(()) => ExitCode::SUCCESS,
		Err(e) => {
			eprintln!("train-bpe: {e}");
			ExitCode::FAILURE
		}
	}
}
