//! `devnet`: a local network in one command (see [`offchain_gpu::devnet`]), and the chart of
//! its held-out loss.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use offchain_gpu::device::DeviceChoice;

use super::resolve_device;
use crate::quality;

#[derive(Args)]
pub struct DevnetArgs {
	/// Honest miners.
	#[arg(long, default_value_t = 3)]
	miners: usize,
	/// Extra adversarial miners, comma-separated: withhold, random-data, other-data, garbage,
	/// wrong-hash, copier, replay, zero, sybil, stale, eval-fit, hostile-store, late. Only in
	/// a build with the `adversaries` feature (what `make build` and the tests build; an
	/// operator's build leaves them out).
	#[arg(long, value_delimiter = ',')]
	adversaries: Vec<offchain_gpu::roles::miner::Behaviour>,
	/// Honest validators.
	#[arg(long, default_value_t = 1)]
	validators: usize,
	/// Extra adversarial validators, comma-separated: random-scores, lazy, copycat,
	/// poison-checkpoints, just-in-time (feature `adversaries`, as above).
	#[arg(long, value_delimiter = ',')]
	validator_adversaries: Vec<offchain_gpu::roles::validator::Behaviour>,
	/// Extra honest miners that register once the run reaches `--late-round` and join from
	/// the newest agreed checkpoint.
	#[arg(long, default_value_t = 0)]
	late_miners: usize,
	#[arg(long, default_value_t = 6)]
	late_round: u64,
	/// An S3-compatible bucket for the miners' blobs, e.g.
	/// `s3://grads?endpoint=http://127.0.0.1:8333` [default: local directories under --out].
	#[arg(long)]
	store_url: Option<String>,
	/// Evaluations a miner is in warm-up for.
	#[arg(long, default_value_t = 3)]
	warmup_rounds: u32,
	/// Training rounds to run to settlement.
	#[arg(long, default_value_t = 3)]
	rounds: u64,
	/// The node binary [default: `node` next to this binary].
	#[arg(long)]
	node_bin: Option<PathBuf>,
	#[arg(long, default_value = "devnet-out")]
	out: PathBuf,
	/// A pre-tokenized dataset directory (`offchain-gpu data prepare`) to train on instead
	/// of the built-in Shakespeare corpus; the run records its manifest's hash.
	#[arg(long)]
	data: Option<PathBuf>,
	/// Model preset (devnet, tiny, small, medium, gpt2-124m).
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
	/// Where the workers train and evaluate: auto (GPU 0 when a driver and device are
	/// present, else the CPU), cpu, cuda, cuda:N, or sim (the simulated GPU).
	#[arg(long, default_value = "auto")]
	device: DeviceChoice,
	/// A TOML file whose keys are this command's flags (`store = "..."`,
	/// `prometheus_port = 9615`); flags on the command line win.
	#[arg(long)]
	config: Option<PathBuf>,
	/// Honest miners (of --miners) that train on the simulated GPU whatever --device says:
	/// the CUDA backend's whole path in a live run, on a machine without a GPU (slow).
	#[arg(long, default_value_t = 0)]
	sim_miners: usize,
}

pub fn run(a: DevnetArgs) -> Result<()> {
	let node_bin = match a.node_bin {
		Some(p) => p,
		None => std::env::current_exe()?.with_file_name("node"),
	};
	let cfg = offchain_gpu::devnet::DevnetConfig {
		miners: a.miners,
		adversaries: a.adversaries,
		validators: a.validators,
		validator_adversaries: a.validator_adversaries,
		late_miners: a.late_miners,
		late_round: a.late_round,
		store_url: a.store_url,
		warmup_rounds: a.warmup_rounds,
		rounds: a.rounds,
		node_bin,
		out: a.out,
		model: a.model,
		round_length: a.round_length,
		inner_steps: a.inner_steps,
		topk: a.topk,
		verbose: a.verbose,
		device: resolve_device(a.device)?,
		sim_miners: a.sim_miners,
		data: a.data,
		..Default::default()
	};
	let (miners, inner_steps, model, out) =
		(cfg.miners, cfg.inner_steps, cfg.model.clone(), cfg.out.clone());
	let summary = offchain_gpu::devnet::run(cfg)?;
	// The held-out loss of the synced model against the tokens the honest miners trained on.
	let (_, shape) = offchain_gpu::roles::model_preset(&model)?;
	let per_round = (miners * inner_steps as usize * shape.batch_size * shape.seq_len) as u64;
	let first = summary.rounds.first().map_or(0, |r| r.round);
	let points = summary
		.rounds
		.iter()
		.filter_map(|r| {
			let tokens = (r.round - first) * per_round;
			r.heldout_loss.map(|heldout_loss| quality::curve::Point {
				round: r.round,
				tokens,
				heldout_loss,
				bytes_sent: 0,
			})
		})
		.collect();
	let curve = quality::curve::Curve {
		method: quality::curve::Method::SparseLoCo,
		points,
		wall: Default::default(),
	};
	let svg = out.join("heldout-loss.svg");
	std::fs::write(&svg, quality::plot::svg(&[curve]))
		.with_context(|| format!("writing {}", svg.display()))?;
	tracing::info!("devnet: wrote {}", svg.display());
	Ok(())
}
