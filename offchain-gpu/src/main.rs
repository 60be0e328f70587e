//! `offchain-gpu`: the worker of the training chain.
//!
//! Subcommands today: `bench compress` (SparseLoCo throughput, wire size, reconstruction),
//! `bench speed` (training tokens per second, matmul share) and `bench train` (held-out loss
//! and bytes sent of AdamW, DiLoCo and SparseLoCo at the same token budget, see [`quality`]).
//! Miners, validators and the devnet
//! launcher build on the same crates: `sparseloco` (compression and aggregation) and
//! `training-model` (model, optimizer, corpus).

mod quality;

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use training_model::data::{shakespeare, tokenizer};
use training_model::{Corpus, ModelConfig};

use quality::QualityConfig;

#[derive(Parser)]
#[command(name = "offchain-gpu", version, about)]
struct Cli {
	#[command(subcommand)]
	command: Command,
}

#[derive(Subcommand)]
enum Command {
	/// Benchmarks; each prints figures as ratios against a baseline measured in the same run.
	#[command(subcommand)]
	Bench(Bench),
}

#[derive(Subcommand)]
enum Bench {
	/// SparseLoCo: compression throughput vs a memory copy, decode + aggregate for N peers,
	/// bytes on the wire vs fp32/bf16, reconstruction vs the reference scheme.
	Compress(CompressArgs),
	/// Training speed of the CPU backend: tokens/s and matmul share vs the matmul crate's peak.
	Speed(SpeedArgs),
	/// Training quality: held-out loss and bytes sent of AdamW (data-parallel), DiLoCo and
	/// SparseLoCo at the same token budget; writes a CSV, an SVG chart and a Markdown table.
	Train(TrainArgs),
}

#[derive(Args)]
struct CompressArgs {
	/// Model width of the synthetic LLaMA-like layout.
	#[arg(long, default_value_t = 1024)]
	dim: usize,
	/// Decoder layers.
	#[arg(long, default_value_t = 4)]
	layers: usize,
	/// Vocabulary size.
	#[arg(long, default_value_t = 4096)]
	vocab: usize,
	/// Peers whose gradients are decoded and aggregated.
	#[arg(long, default_value_t = 20)]
	peers: usize,
}

#[derive(Args)]
struct SpeedArgs {
	/// Model preset (`tiny`, `small`).
	#[arg(long, default_value = "small")]
	model: String,
	/// Sequences per batch.
	#[arg(long, default_value_t = 8)]
	batch: usize,
	/// Timed training steps.
	#[arg(long, default_value_t = 10)]
	steps: usize,
}

/// `bench train`. Unset tuning flags take the default (or `--quick`) configuration's value.
#[derive(Args)]
struct TrainArgs {
	/// A tiny configuration that finishes in about a minute.
	#[arg(long)]
	quick: bool,
	/// Model preset (`tiny`, `small`); its vocabulary is set to the tokenizer's.
	#[arg(long, default_value = "small")]
	model: String,
	/// Tokenizer (`byte`, `bpe-4k`).
	#[arg(long, default_value = "byte")]
	tokenizer: String,
	/// Replicas R [default: 4].
	#[arg(long, short = 'R')]
	replicas: Option<usize>,
	/// Inner AdamW steps H per round [default: 30; quick: 10].
	#[arg(long, short = 'H')]
	inner_steps: Option<u64>,
	/// Rounds [default: 20; quick: 12].
	#[arg(long)]
	rounds: Option<u64>,
	/// Sequences per replica batch [default: 4; quick: 2].
	#[arg(long)]
	batch: Option<usize>,
	/// Tokens per sequence, at most the model's context [default: 128; quick: 64].
	#[arg(long)]
	seq_len: Option<usize>,
	/// Held-out batches in the evaluation set [default: 8; quick: 4].
	#[arg(long)]
	eval_batches: Option<u64>,
	/// Peak inner AdamW learning rate [default: 3e-3].
	#[arg(long)]
	inner_lr: Option<f32>,
	/// DiLoCo's outer Nesterov learning rate [default: 0.7].
	#[arg(long)]
	diloco_outer_lr: Option<f32>,
	/// DiLoCo's outer Nesterov momentum [default: 0.9].
	#[arg(long)]
	diloco_momentum: Option<f32>,
	/// SparseLoCo's outer SGD learning rate [default: 1].
	#[arg(long)]
	sparseloco_outer_lr: Option<f32>,
	/// SparseLoCo's error-feedback decay [default: 0.95].
	#[arg(long)]
	beta: Option<f32>,
	/// Values SparseLoCo keeps per 64 x 64 chunk [default: 64, i.e. 1.5625 %].
	#[arg(long)]
	topk: Option<u16>,
	/// Corpus file [default: the location scripts/fetch-corpus.sh installs to].
	#[arg(long)]
	corpus: Option<PathBuf>,
	/// Output directory.
	#[arg(long, default_value = "bench-out/train")]
	out: PathBuf,
}

impl TrainArgs {
	/// The configuration these flags describe, for `model`.
	fn config(&self, model: ModelConfig) -> QualityConfig {
		let mut cfg =
			if self.quick { QualityConfig::quick(model) } else { QualityConfig::standard(model) };
		fn set<T>(target: &mut T, value: Option<T>) {
			if let Some(v) = value {
				*target = v;
			}
		}
		set(&mut cfg.replicas, self.replicas);
		set(&mut cfg.inner_steps, self.inner_steps);
		set(&mut cfg.rounds, self.rounds);
		set(&mut cfg.shape.batch_size, self.batch);
		set(&mut cfg.shape.seq_len, self.seq_len);
		set(&mut cfg.eval_batches, self.eval_batches);
		set(&mut cfg.inner_lr, self.inner_lr);
		set(&mut cfg.diloco.lr, self.diloco_outer_lr);
		set(&mut cfg.diloco.momentum, self.diloco_momentum);
		set(&mut cfg.sparse.outer_lr, self.sparseloco_outer_lr);
		set(&mut cfg.sparse.beta, self.beta);
		set(&mut cfg.sparse.chunk.k, self.topk);
		cfg
	}
}

fn bench_train(args: &TrainArgs) -> Result<()> {
	let tokenizer = tokenizer::by_name(&args.tokenizer)?;
	let mut model = ModelConfig::preset(&args.model)?;
	model.vocab_size = tokenizer.vocab_size();
	let cfg = args.config(model);
	cfg.validate()?;
	let path = match &args.corpus {
		Some(path) => path.clone(),
		None => shakespeare::default_path()
			.context("no corpus location: set SHAKESPEARE_CORPUS or HOME, or pass --corpus")?,
	};
	let corpus = Corpus::from_shakespeare(&path, tokenizer.as_ref()).with_context(|| {
		format!("cannot load the corpus at {} (run scripts/fetch-corpus.sh)", path.display())
	})?;
	eprintln!(
		"bench train: {} parameters, R = {}, H = {}, {} rounds, {} tokens per method",
		cfg.model.num_params(),
		cfg.replicas,
		cfg.inner_steps,
		cfg.rounds,
		cfg.rounds * cfg.tokens_per_round()
	);
	let outcome = quality::run(&cfg, &corpus, &mut |method, p| {
		eprintln!(
			"  {method:<10} round {:>3}  tokens {:>9}  held-out loss {:.4}  bytes/replica {}",
			p.round, p.tokens, p.heldout_loss, p.bytes_sent
		);
	})?;
	let written = quality::write_outputs(&args.out, &cfg, &outcome)?;
	print!("{}", written.summary);
	eprintln!(
		"wrote {}, {}, {}",
		written.csv.display(),
		written.svg.display(),
		written.markdown.display()
	);
	Ok(())
}

fn main() {
	if let Err(error) = run(Cli::parse()) {
		eprintln!("error: {error:#}");
		std::process::exit(1);
	}
}

fn run(cli: Cli) -> Result<()> {
	match cli.command {
		Command::Bench(Bench::Compress(a)) => {
			let mut cfg = sparseloco::bench::BenchConfig::llama_like(a.dim, a.layers, a.vocab)
				.context("invalid benchmark model shape")?;
			if a.peers == 0 {
				bail!("--peers must be at least 1");
			}
			cfg.peers = a.peers;
			print!("{}", sparseloco::bench::bench_report(&cfg));
		}
		Command::Bench(Bench::Speed(a)) => {
			let cfg = training_model::config::ModelConfig::preset(&a.model)
				.with_context(|| format!("unknown model preset `{}`", a.model))?;
			if a.batch == 0 || a.steps == 0 {
				bail!("--batch and --steps must be at least 1");
			}
			print!("{}", training_model::bench_train(&cfg, a.batch, a.steps));
		}
		Command::Bench(Bench::Train(a)) => bench_train(&a)?,
	}
	Ok(())
}
