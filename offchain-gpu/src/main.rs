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
	/// A local network: a dev node, a run created via sudo, miners and validators in-process;
	/// prints each settled round and writes `<out>/rounds.csv`.
	Devnet(DevnetArgs),
	/// Run one miner against a node and run.
	Miner(RoleArgs),
	/// Run one validator against a node and run.
	Validator(RoleArgs),
}

#[derive(Args)]
struct DevnetArgs {
	/// Honest miners.
	#[arg(long, default_value_t = 3)]
	miners: usize,
	/// Extra miners that commit but never publish their blob.
	#[arg(long, default_value_t = 0)]
	withholders: usize,
	#[arg(long, default_value_t = 1)]
	validators: usize,
	/// Training rounds to run to settlement.
	#[arg(long, default_value_t = 3)]
	rounds: u64,
	/// The node binary [default: `node` next to this binary].
	#[arg(long)]
	node_bin: Option<PathBuf>,
	#[arg(long, default_value = "devnet-out")]
	out: PathBuf,
	/// Model preset (devnet, tiny, small).
	#[arg(long, default_value = "devnet")]
	model: String,
	#[arg(long, default_value_t = 10)]
	round_length: u32,
	#[arg(long, default_value_t = 20)]
	inner_steps: u32,
	/// Values kept per 64 x 64 chunk.
	#[arg(long, default_value_t = 256)]
	topk: u32,
	#[arg(long)]
	verbose: bool,
}

#[derive(Args)]
struct RoleArgs {
	/// Node WebSocket URL.
	#[arg(long, default_value = "ws://127.0.0.1:9944")]
	url: String,
	#[arg(long, default_value_t = 0)]
	run: u32,
	/// Environment variable holding the secret URI or seed phrase (e.g. `//Bob` on a dev chain).
	#[arg(long, default_value = "WORKER_SECRET")]
	secret_env: String,
	/// Local store directory (published on chain as file:///dir).
	#[arg(long, default_value = "worker-store")]
	store: PathBuf,
	/// Model preset; must match the run's model hash.
	#[arg(long, default_value = "devnet")]
	model: String,
	/// Validator stake in UNIT.
	#[arg(long, default_value_t = 100)]
	stake: u128,
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

fn devnet(a: DevnetArgs) -> Result<()> {
	let node_bin = match a.node_bin {
		Some(p) => p,
		None => std::env::current_exe()?.with_file_name("node"),
	};
	let cfg = offchain_gpu::devnet::DevnetConfig {
		miners: a.miners,
		withholders: a.withholders,
		validators: a.validators,
		rounds: a.rounds,
		node_bin,
		out: a.out,
		model: a.model,
		round_length: a.round_length,
		inner_steps: a.inner_steps,
		topk: a.topk,
		verbose: a.verbose,
		..Default::default()
	};
	offchain_gpu::devnet::run(cfg).map(drop)
}

fn role(a: RoleArgs, miner: bool) -> Result<()> {
	use offchain_gpu::{chain, roles, store::BlobStore};
	let secret = std::env::var(&a.secret_env)
		.with_context(|| format!("set {} to the worker's secret URI or seed phrase", a.secret_env))?;
	let key = chain::keypair(&secret)?;
	std::fs::create_dir_all(&a.store)?;
	let store = BlobStore::new(std::fs::canonicalize(&a.store)?);
	let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
	rt.block_on(async move {
		let chain = chain::Chain::connect(&a.url, std::time::Duration::from_secs(30)).await?;
		let corpus = std::sync::Arc::new(roles::load_corpus()?);
		let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
		let ctx = roles::RunCtx::new(chain, a.run, &a.model, corpus, stop.clone(), roles::stderr_reporter()).await?;
		let work = async {
			if miner {
				roles::miner::run(ctx, key, store, Default::default()).await
			} else {
				let cfg = roles::validator::ValidatorConfig { stake: a.stake * chain::UNIT, ..Default::default() };
				roles::validator::run(ctx, key, store.url(), cfg).await
			}
		};
		tokio::select! {
			r = work => r,
			_ = tokio::signal::ctrl_c() => { stop.store(true, std::sync::atomic::Ordering::Relaxed); Ok(()) }
		}
	})
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
		Command::Devnet(a) => devnet(a)?,
		Command::Miner(a) => role(a, true)?,
		Command::Validator(a) => role(a, false)?,
	}
	Ok(())
}
