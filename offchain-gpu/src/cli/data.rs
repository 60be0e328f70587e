//! `data prepare`: tokenizes text files into a pre-tokenized dataset (shards and a manifest,
//! see [`training_model::data::shards`]) with a progress bar, and prints the manifest's hash
//! that a run records.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use training_model::data::shakespeare::HELDOUT_FRACTION;
use training_model::data::shards::{self, PrepareConfig};
use training_model::data::tokenizer;

#[derive(Subcommand)]
pub enum Data {
	/// Tokenize text files into shards and a manifest (`manifest.json`); prints the
	/// manifest's blake2b-256, which a run records and workers check.
	Prepare(PrepareArgs),
}

#[derive(Args)]
pub struct PrepareArgs {
	/// Text files, in order (UTF-8; invalid bytes are replaced). Each is one document, or
	/// several cut at form feeds (how the shipped Shakespeare corpus separates its works).
	#[arg(required = true)]
	inputs: Vec<PathBuf>,
	/// The dataset directory to write.
	#[arg(long)]
	out: PathBuf,
	/// Tokenizer (`byte`, `bpe-4k`).
	#[arg(long, default_value = "byte")]
	tokenizer: String,
	/// Tokens per shard.
	#[arg(long, default_value_t = 1 << 24)]
	shard_tokens: usize,
	/// Fraction of the text held out for evaluation, as whole documents at the end.
	#[arg(long, default_value_t = HELDOUT_FRACTION)]
	heldout_fraction: f64,
}

/// Runs a `data` subcommand.
pub fn run(data: Data) -> Result<()> {
	match data {
		Data::Prepare(a) => prepare(&a),
	}
}

fn prepare(a: &PrepareArgs) -> Result<()> {
	if a.shard_tokens == 0 {
		bail!("--shard-tokens must be at least 1");
	}
	if a.out.join(shards::MANIFEST_FILE).exists() {
		bail!("{} already holds a dataset: choose another --out", a.out.display());
	}
	let tokenizer = tokenizer::by_name(&a.tokenizer)?;
	let texts = a
		.inputs
		.iter()
		.map(|p| {
			let bytes = std::fs::read(p).with_context(|| format!("reading {}", p.display()))?;
			Ok(String::from_utf8_lossy(&bytes).into_owned())
		})
		.collect::<Result<Vec<_>>>()?;
	let docs: Vec<&str> = texts.iter().map(String::as_str).collect();
	let cfg = PrepareConfig { shard_tokens: a.shard_tokens, heldout_fraction: a.heldout_fraction };
	let mut bar = ProgressBar::new();
	let (manifest, hash) = shards::prepare(
		&docs,
		tokenizer.as_ref(),
		&a.tokenizer,
		&a.out,
		&cfg,
		&mut |done, total| bar.show(done, total),
	)?;
	bar.finish();
	let count = |e: &[shards::ShardEntry]| e.iter().map(|s| s.tokens).sum::<u64>();
	println!(
		"{}: {} training tokens (shard files: {}), {} held-out tokens (shard files: {}), tokenizer {} (vocabulary {})",
		a.out.display(),
		count(&manifest.train),
		manifest.train.len(),
		count(&manifest.heldout),
		manifest.heldout.len(),
		manifest.tokenizer,
		manifest.vocab_size
	);
	println!("manifest blake2b-256: {}", hex::encode(hash));
	Ok(())
}

/// Bytes tokenized so far: a bar redrawn in place on a terminal (at most ten times a
/// second), a log line every 10 % otherwise.
struct ProgressBar {
	terminal: bool,
	last_draw: Option<Instant>,
	last_decile: u64,
}

impl ProgressBar {
	fn new() -> Self {
		Self { terminal: std::io::stderr().is_terminal(), last_draw: None, last_decile: 0 }
	}

	fn show(&mut self, done: u64, total: u64) {
		let percent = (done * 100).checked_div(total).unwrap_or(100);
		if !self.terminal {
			if percent / 10 > self.last_decile {
				self.last_decile = percent / 10;
				tracing::info!(done, total, "tokenized {percent} %");
			}
			return;
		}
		if self.last_draw.is_some_and(|t| t.elapsed() < Duration::from_millis(100)) && done < total
		{
			return;
		}
		self.last_draw = Some(Instant::now());
		let filled = (percent as usize * 30) / 100;
		let mb = |b: u64| b as f64 / 1e6;
		eprint!(
			"\r[{}{}] {percent:>3} %  {:.1} / {:.1} MB",
			"#".repeat(filled),
			".".repeat(30 - filled),
			mb(done),
			mb(total)
		);
		let _ = std::io::stderr().flush();
	}

	fn finish(&self) {
		if self.terminal {
			eprintln!();
		}
	}
}
