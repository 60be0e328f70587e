//! `offchain-gpu`: the worker of the training chain.
//!
//! Runtime upgrades: `propose-upgrade`, `council-vote`, `council-close`, `apply-upgrade` (see
//! [`offchain_gpu::upgrade`]).
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
use offchain_gpu::device::{Device, DeviceChoice};
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
	/// Upgrade the runtime: checks the wasm's spec_name and spec_version against the live
	/// runtime, then `sudo(System.set_code)` (`--sudo`) or a two-thirds council motion
	/// `Governance.authorize_upgrade(hash)`; with `--approve-with` it also votes, closes,
	/// applies the code and waits for the new version (see docs/runtime-upgrades.md).
	ProposeUpgrade(ProposeUpgradeArgs),
	/// Vote on an open council motion (`Council.vote`).
	CouncilVote(MotionArgs),
	/// Close a council motion that has enough ayes (`Council.close`): executes its call.
	CouncilClose(CloseArgs),
	/// Submit an authorized runtime (`System.apply_authorized_upgrade`) and wait until it is live.
	ApplyUpgrade(ApplyUpgradeArgs),
}

/// Who signs: a secret URI or seed phrase from the environment or from a file only its owner
/// can read (never from the command line, where every user of the machine can see it).
#[derive(Args)]
struct KeyArgs {
	/// Environment variable holding the signer's secret URI or seed phrase.
	#[arg(long, default_value = "SIGNER_SECRET")]
	key_env: String,
	/// A file holding it instead (mode 0600 or stricter).
	#[arg(long)]
	key_file: Option<PathBuf>,
}

impl KeyArgs {
	fn keypair(&self) -> Result<subxt_signer::sr25519::Keypair> {
		let secret = offchain_gpu::secrets::read_secret(&self.key_env, self.key_file.as_deref())?;
		offchain_gpu::chain::keypair(&secret)
	}
}

#[derive(Args)]
struct ProposeUpgradeArgs {
	/// Node WebSocket URL.
	#[arg(long, default_value = "ws://127.0.0.1:9944")]
	url: String,
	/// The runtime blob (`training_runtime.compact.compressed.wasm`).
	#[arg(long)]
	wasm: PathBuf,
	/// The proposer (a council member; the sudo key with `--sudo`).
	#[command(flatten)]
	key: KeyArgs,
	/// Dev chain: `Sudo.sudo(System.set_code(code))` instead of a council motion.
	#[arg(long)]
	sudo: bool,
	/// Comma-separated environment variables holding the secrets of council members that
	/// vote aye (dev testing, e.g. `BOB,CHARLIE` with `BOB=//Bob`); then the motion is closed
	/// and the code applied.
	#[arg(long, value_delimiter = ',')]
	approve_with_env: Vec<String>,
	/// Seconds to wait for the new spec_version to be live.
	#[arg(long, default_value_t = 120)]
	timeout: u64,
}

/// Which council motion, and who signs.
#[derive(Args)]
struct MotionRef {
	#[arg(long, default_value = "ws://127.0.0.1:9944")]
	url: String,
	/// Motion hash (0x...), as printed by propose-upgrade.
	#[arg(long)]
	motion: String,
	/// Motion index.
	#[arg(long)]
	index: u32,
	/// The signer (a council member to vote; any funded account to close).
	#[command(flatten)]
	key: KeyArgs,
}

#[derive(Args)]
struct MotionArgs {
	#[command(flatten)]
	m: MotionRef,
	/// Vote nay instead of aye.
	#[arg(long)]
	nay: bool,
}

#[derive(Args)]
struct CloseArgs {
	#[command(flatten)]
	m: MotionRef,
	/// Encoded length of the proposed call, as printed by propose-upgrade.
	#[arg(long)]
	length: u32,
}

#[derive(Args)]
struct ApplyUpgradeArgs {
	#[arg(long, default_value = "ws://127.0.0.1:9944")]
	url: String,
	#[arg(long)]
	wasm: PathBuf,
	/// Any funded account.
	#[command(flatten)]
	key: KeyArgs,
	#[arg(long, default_value_t = 120)]
	timeout: u64,
}

#[derive(Args)]
struct DevnetArgs {
	/// Honest miners.
	#[arg(long, default_value_t = 3)]
	miners: usize,
	/// Extra adversarial miners, comma-separated: withhold, random-data, other-data, garbage,
	/// wrong-hash, copier, zero, sybil, stale, eval-fit. Only in a build with the
	/// `adversaries` feature (what `make build` and the tests build; an operator's build
	/// leaves them out).
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
	/// A file holding it instead (mode 0600 or stricter).
	#[arg(long)]
	secret_file: Option<PathBuf>,
	/// Where this worker publishes: a local directory (published on chain as file:///dir) or
	/// an S3-compatible bucket URL, `s3://bucket[/prefix]?endpoint=http://host:port` or
	/// `http(s)://host[:port]/bucket[/prefix]` (credentials from AWS_ACCESS_KEY_ID /
	/// AWS_SECRET_ACCESS_KEY; readers need public read).
	#[arg(long, default_value = "worker-store")]
	store: String,
	/// Also read other workers' stores that are local directories or at loopback, private,
	/// link-local or unique-local addresses. Only for a devnet or a private test network:
	/// store URLs come from chain data, and by default such stores are refused.
	#[arg(long)]
	allow_local_stores: bool,
	/// Local state (a miner's committed, unpublished blob), so that a restart loses nothing.
	#[arg(long, default_value = "worker-state")]
	state_dir: PathBuf,
	/// Model preset; must match the run's model hash.
	#[arg(long, default_value = "devnet")]
	model: String,
	/// Validator stake in UNIT.
	#[arg(long, default_value_t = 100)]
	stake: u128,
	/// A TOML file whose keys are this command's flags (`store = "..."`,
	/// `prometheus_port = 9615`); flags on the command line win.
	#[arg(long)]
	config: Option<PathBuf>,
	/// Serve Prometheus metrics on this port at /metrics (off unless given).
	#[arg(long)]
	prometheus_port: Option<u16>,
	/// Listen for Prometheus on every interface instead of loopback only.
	#[arg(long, requires = "prometheus_port")]
	prometheus_external: bool,
	/// Miner: peak inner AdamW learning rate [default: the worker's, 3e-3].
	#[arg(long)]
	inner_lr: Option<f32>,
	/// Validator: index overlap with another gradient above which a miner is flagged as a
	/// copier [default: the worker's].
	#[arg(long)]
	copy_overlap: Option<f64>,
	/// Validator: record a checkpoint every this many rounds [default: the worker's].
	#[arg(long)]
	checkpoint_every: Option<u64>,
	/// Where training and evaluation run: auto (GPU 0 when a driver and device are present,
	/// else the CPU), cpu, cuda, cuda:N, or sim (the CUDA backend on the host simulator:
	/// slow, for checking the GPU path without a GPU).
	#[arg(long, default_value = "auto")]
	device: DeviceChoice,
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
	/// Also compress on this device (cuda, cuda:N or sim; auto picks a GPU if there is one):
	/// on a GPU the fused error-feedback + top-k kernel's bandwidth against a device-to-device
	/// copy of the same bytes; on any device, one compression's time and whether its bytes
	/// are the CPU's.
	#[arg(long, default_value = "cpu")]
	device: DeviceChoice,
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
	/// Where training and evaluation run: auto (GPU 0 when a driver and device are present,
	/// else the CPU), cpu, cuda, cuda:N, or sim (the CUDA backend on the host simulator:
	/// slow, for checking the GPU path without a GPU).
	#[arg(long, default_value = "auto")]
	device: DeviceChoice,
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
	/// Where the replicas train: auto (GPU 0 when a driver and device are present,
	/// else the CPU), cpu, cuda, cuda:N, or sim (the CUDA backend on the host simulator:
	/// slow, for checking the GPU path without a GPU).
	#[arg(long, default_value = "auto")]
	device: DeviceChoice,
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
	let mut cfg = args.config(model);
	cfg.validate()?;
	cfg.device = resolve_device(args.device)?;
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
	eprintln!("devnet: wrote {}", svg.display());
	Ok(())
}

/// `bench compress --device`: one compression on the device against the CPU's (time, and
/// whether the bytes agree) and, on a GPU, the fused kernel's bandwidth against a copy.
fn bench_device_compress(device: &Device, cfg: &sparseloco::bench::BenchConfig) -> Result<String> {
	use std::fmt::Write;
	use std::time::Instant;
	let plan = sparseloco::Plan::new(cfg.layout.clone(), cfg.params)?;
	let delta: Vec<f32> = (0..plan.len() as u32)
		.map(|i| (i.wrapping_mul(2654435761) >> 8) as f32 * 1e-7 - 0.8)
		.collect();
	let (mut cpu, mut dev) =
		(Device::Cpu.compressor(&plan, cfg.beta)?, device.compressor(&plan, cfg.beta)?);
	let start = Instant::now();
	let want = cpu.compress(&plan, &delta)?;
	let cpu_s = start.elapsed().as_secs_f64();
	let start = Instant::now();
	let got = dev.compress(&plan, &delta)?;
	let dev_s = start.elapsed().as_secs_f64();
	let mut out = String::new();
	writeln!(
		out,
		"compress on {device}: {:.1} ms vs {:.1} ms on the CPU (ratio {:.2}), wire bytes {}",
		dev_s * 1e3,
		cpu_s * 1e3,
		cpu_s / dev_s,
		if got == want { "identical" } else { "DIFFERENT" }
	)?;
	if let Device::Cuda { ordinal, .. } = device {
		let gpu = training_cuda::sparseloco::gpu::SparseLocoGpu::open_on(
			training_cuda::DeviceKind::Gpu(*ordinal),
		)?;
		let f = gpu.bench_fused(&plan, 20)?;
		writeln!(
			out,
			"fused error feedback + top-k: {:.1} GB/s vs {:.1} GB/s device-to-device copy (ratio {:.2}), {} elements",
			f.fused_gb_s,
			f.copy_gb_s,
			f.fused_gb_s / f.copy_gb_s,
			f.elements
		)?;
	}
	if got != want {
		bail!("{out}the device's compressed bytes differ from the CPU's");
	}
	Ok(out)
}

/// Resolves `--device` and says which device the command uses.
fn resolve_device(choice: DeviceChoice) -> Result<Device> {
	let device = Device::resolve(choice)?;
	eprintln!("device: {device}");
	Ok(device)
}

fn role(a: RoleArgs, miner: bool) -> Result<()> {
	use offchain_gpu::{chain, metrics, roles, store::BlobStore};
	// Resolved first, so that `--device cuda` without a GPU fails at once; the worker names
	// its device in its first report (`Started`).
	let device = Device::resolve(a.device)?;
	if a.inner_lr.is_some_and(|lr| !(lr.is_finite() && lr > 0.0)) {
		bail!("--inner-lr must be a positive number");
	}
	if a.copy_overlap.is_some_and(|o| !(o > 0.0 && o <= 1.0)) {
		bail!("--copy-overlap must be in (0, 1]");
	}
	if a.checkpoint_every == Some(0) {
		bail!("--checkpoint-every must be at least 1");
	}
	let secret = offchain_gpu::secrets::read_secret(&a.secret_env, a.secret_file.as_deref())?;
	let key = chain::keypair(&secret)?;
	let store = if a.store.contains("://") {
		BlobStore::from_url(&a.store)?
	} else {
		std::fs::create_dir_all(&a.store)
			.with_context(|| format!("creating the store directory {}", a.store))?;
		BlobStore::new(std::fs::canonicalize(&a.store)?)
	};
	let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
	rt.block_on(async move {
		let chain = chain::Chain::connect(&a.url, std::time::Duration::from_secs(30)).await?;
		let corpus = std::sync::Arc::new(roles::load_corpus()?);
		let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
		let metrics = std::sync::Arc::new(std::sync::Mutex::new(metrics::Metrics::default()));
		let _exporter = match a.prometheus_port {
			Some(port) => {
				let ip = if a.prometheus_external { [0, 0, 0, 0] } else { [127, 0, 0, 1] };
				let addr = std::net::SocketAddr::from((ip, port));
				// Bound before the worker starts, so a taken port is an error at once.
				let listener = tokio::net::TcpListener::bind(addr)
					.await
					.with_context(|| format!("binding the Prometheus endpoint to {addr}"))?;
				Some(AbortOnDrop(tokio::spawn(metrics::serve(listener, metrics.clone()))))
			}
			None => None,
		};
		let reporter = metrics::observing(metrics, roles::stderr_reporter());
		let mut ctx =
			roles::RunCtx::new(chain, a.run, &a.model, corpus, stop.clone(), reporter).await?;
		ctx.allow_local_stores = a.allow_local_stores;
		ctx.device = device;
		let work = async {
			if miner {
				let mut cfg = roles::miner::MinerConfig {
					state_dir: Some(a.state_dir),
					..Default::default()
				};
				if let Some(lr) = a.inner_lr {
					cfg.inner_lr = lr;
				}
				roles::miner::run(ctx, key, store, cfg).await
			} else {
				let mut cfg = roles::validator::ValidatorConfig {
					stake: a.stake * chain::UNIT,
					..Default::default()
				};
				if let Some(overlap) = a.copy_overlap {
					cfg.copy_overlap = overlap;
				}
				if let Some(every) = a.checkpoint_every {
					cfg.checkpoint_every = every;
				}
				roles::validator::run(ctx, key, store, cfg).await
			}
		};
		tokio::select! {
			r = work => r,
			signal = roles::shutdown_signal() => {
				stop.store(true, std::sync::atomic::Ordering::Relaxed);
				eprintln!("{signal}: stopping; local state is on disk, start again to resume");
				Ok(())
			}
		}
	})
}

/// Stops a spawned task when dropped (the metrics exporter ends with the worker).
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
	fn drop(&mut self) {
		self.0.abort();
	}
}

fn block_on<F: std::future::Future<Output = Result<()>>>(f: F) -> Result<()> {
	tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?.block_on(f)
}

async fn connect(url: &str) -> Result<offchain_gpu::chain::Chain> {
	offchain_gpu::chain::Chain::connect(url, std::time::Duration::from_secs(30)).await
}

fn motion_hash(s: &str) -> Result<[u8; 32]> {
	let bytes = hex::decode(s.trim_start_matches("0x")).context("--motion is not hex")?;
	bytes.try_into().map_err(|_| anyhow::anyhow!("--motion must be 32 bytes"))
}

fn propose_upgrade(a: ProposeUpgradeArgs) -> Result<()> {
	use offchain_gpu::{chain, upgrade};
	let wasm = upgrade::Wasm::read(&a.wasm)?;
	let key = a.key.keypair()?;
	let approvers = a
		.approve_with_env
		.iter()
		.map(|var| chain::keypair(&offchain_gpu::secrets::read_secret(var, None)?))
		.collect::<Result<Vec<_>>>()?;
	block_on(async move {
		let chain = connect(&a.url).await?;
		let p = upgrade::ProposeUpgrade {
			wasm: &wasm,
			key: &key,
			sudo: a.sudo,
			approve_with: &approvers,
			timeout: std::time::Duration::from_secs(a.timeout),
		};
		let outcome = upgrade::propose_upgrade(&chain, p, &mut |line| println!("{line}")).await?;
		if let upgrade::Outcome::MotionOpen(m) = outcome {
			let hash = hex::encode(m.hash);
			println!("next: council members vote, then anyone closes and applies:");
			println!(
				"  offchain-gpu council-vote --url {} --motion 0x{hash} --index {} (SIGNER_SECRET: a member)",
				a.url, m.index
			);
			println!(
				"  offchain-gpu council-close --url {} --motion 0x{hash} --index {} --length {} (SIGNER_SECRET: anyone)",
				a.url, m.index, m.length
			);
			println!(
				"  offchain-gpu apply-upgrade --url {} --wasm {} (SIGNER_SECRET: anyone)",
				a.url,
				a.wasm.display()
			);
		}
		Ok(())
	})
}

fn council_vote(a: MotionArgs) -> Result<()> {
	let key = a.m.key.keypair()?;
	let hash = motion_hash(&a.m.motion)?;
	block_on(async move {
		connect(&a.m.url).await?.vote_motion(&key, hash, a.m.index, !a.nay).await?;
		println!("voted {} on motion {}", if a.nay { "nay" } else { "aye" }, a.m.index);
		Ok(())
	})
}

fn council_close(a: CloseArgs) -> Result<()> {
	let key = a.m.key.keypair()?;
	let hash = motion_hash(&a.m.motion)?;
	block_on(async move {
		connect(&a.m.url).await?.close_motion(&key, hash, a.m.index, a.length).await?;
		println!("motion {} closed and executed", a.m.index);
		Ok(())
	})
}

fn apply_upgrade(a: ApplyUpgradeArgs) -> Result<()> {
	use offchain_gpu::upgrade;
	let wasm = upgrade::Wasm::read(&a.wasm)?;
	let key = a.key.keypair()?;
	block_on(async move {
		let chain = connect(&a.url).await?;
		upgrade::check_upgrade(&chain.runtime_version().await?, &wasm.version)?;
		chain.apply_authorized_upgrade(&key, &wasm.code).await?;
		chain
			.wait_for_spec_version(
				wasm.version.spec_version,
				std::time::Duration::from_secs(a.timeout),
			)
			.await?;
		println!("spec_version {} is live", wasm.version.spec_version);
		Ok(())
	})
}

fn main() {
	let args = match offchain_gpu::config_file::with_config(std::env::args().collect()) {
		Ok(args) => args,
		Err(error) => {
			eprintln!("error: {error:#}");
			std::process::exit(1);
		}
	};
	if let Err(error) = run(Cli::parse_from(args)) {
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
			let device = resolve_device(a.device)?;
			if device != Device::Cpu {
				println!();
				print!("{}", bench_device_compress(&device, &cfg)?);
			}
		}
		Command::Bench(Bench::Speed(a)) => {
			let cfg = training_model::config::ModelConfig::preset(&a.model)
				.with_context(|| format!("unknown model preset `{}`", a.model))?;
			if a.batch == 0 || a.steps == 0 {
				bail!("--batch and --steps must be at least 1");
			}
			let backend = resolve_device(a.device)?.backend(&cfg, Default::default())?;
			let report = training_model::run_bench_on(backend, a.batch, a.steps)
				.context("the speed benchmark failed")?;
			println!("{report}");
		}
		Command::Bench(Bench::Train(a)) => bench_train(&a)?,
		Command::Devnet(a) => devnet(a)?,
		Command::Miner(a) => role(a, true)?,
		Command::Validator(a) => role(a, false)?,
		Command::ProposeUpgrade(a) => propose_upgrade(a)?,
		Command::CouncilVote(a) => council_vote(a)?,
		Command::CouncilClose(a) => council_close(a)?,
		Command::ApplyUpgrade(a) => apply_upgrade(a)?,
	}
	Ok(())
}
