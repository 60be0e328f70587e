//! `offchain-gpu`: the worker of the training chain.
//!
//! Subcommands today: `bench compress` (SparseLoCo throughput, wire size, reconstruction) and
//! `bench speed` (training tokens per second, matmul share). Miners, validators and the devnet
//! launcher build on the same crates: `sparseloco` (compression and aggregation) and
//! `training-model` (model, optimizer, corpus).

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};

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
		},
		Command::Bench(Bench::Speed(a)) => {
			let cfg = training_model::config::ModelConfig::preset(&a.model)
				.with_context(|| format!("unknown model preset `{}`", a.model))?;
			if a.batch == 0 || a.steps == 0 {
				bail!("--batch and --steps must be at least 1");
			}
			print!("{}", training_model::bench_train(&cfg, a.batch, a.steps));
		},
	}
	Ok(())
}
