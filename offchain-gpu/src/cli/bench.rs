//! `bench compress`, `bench speed` and `bench train`: each prints figures as ratios against
//! a baseline measured in the same run.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use offchain_gpu::device::{Device, DeviceChoice};
use training_model::data::{shakespeare, tokenizer};
use training_model::{Corpus, ModelConfig};

use super::resolve_device;
use crate::quality::{self, QualityConfig};

#[derive(Subcommand)]
pub enum Bench {
	/// SparseLoCo: compression throughput vs a memory copy, decode + aggregate for N peers,
	/// bytes on the wire vs fp32/bf16, reconstruction vs the reference scheme.
	Compress(CompressArgs),
	/// Training speed of the CPU backend: tokens/s and matmul share vs the matmul crate's peak.
	Speed(SpeedArgs),
	/// Memory a training step holds for each run preset at its batch shape: parameters,
	/// gradients and AdamW state, and the CPU and GPU backends' workspaces.
	Memory,
	/// Training quality: held-out loss and bytes sent of AdamW (data-parallel), DiLoCo and
	/// SparseLoCo at the same token budget; writes a CSV, an SVG chart and a Markdown table.
	Train(TrainArgs),
}

#[derive(Args)]
pub struct CompressArgs {
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
pub struct SpeedArgs {
	/// Model preset (`tiny`, `small`, `medium`, `gpt2-124m`).
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
pub struct TrainArgs {
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
	tracing::info!(
		"bench train: {} parameters, R = {}, H = {}, {} rounds, {} tokens per method",
		cfg.model.num_params(),
		cfg.replicas,
		cfg.inner_steps,
		cfg.rounds,
		cfg.rounds * cfg.tokens_per_round()
	);
	let outcome = quality::run(&cfg, &corpus, &mut |method, p| {
		tracing::info!(
			"  {method:<10} round {:>3}  tokens {:>9}  held-out loss {:.4}  bytes/replica {}",
			p.round,
			p.tokens,
			p.heldout_loss,
			p.bytes_sent
		);
	})?;
	let written = quality::write_outputs(&args.out, &cfg, &outcome)?;
	print!("{}", written.summary);
	tracing::info!(
		"wrote {}, {}, {}",
		written.csv.display(),
		written.svg.display(),
		written.markdown.display()
	);
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

/// Runs one benchmark.
pub fn run(bench: Bench) -> Result<()> {
	match bench {
		Bench::Compress(a) => compress(&a),
		Bench::Speed(a) => speed(&a),
		Bench::Memory => {
			print!("{}", memory_table()?);
			Ok(())
		}
		Bench::Train(a) => bench_train(&a),
	}
}

fn compress(a: &CompressArgs) -> Result<()> {
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
	Ok(())
}

fn speed(a: &SpeedArgs) -> Result<()> {
	let cfg = ModelConfig::preset(&a.model)
		.with_context(|| format!("unknown model preset `{}`", a.model))?;
	if a.batch == 0 || a.steps == 0 {
		bail!("--batch and --steps must be at least 1");
	}
	let backend = resolve_device(a.device)?.backend(&cfg, Default::default())?;
	let report = training_model::run_bench_on(backend, a.batch, a.steps)
		.context("the speed benchmark failed")?;
	println!("{report}");
	let mib = |bytes: usize| bytes as f64 / (1u64 << 20) as f64;
	let memory = cfg.training_memory(a.batch, cfg.seq_len);
	println!(
		"training memory at {} x {} tokens: {:.0} MiB of parameters, gradients and AdamW state, \
		 workspace {:.0} MiB on the CPU, {:.0} MiB on a GPU ({:.0} MiB in all there)",
		a.batch,
		cfg.seq_len,
		mib(memory.state_bytes),
		mib(memory.cpu_workspace_bytes),
		mib(memory.gpu_workspace_bytes),
		mib(memory.gpu_total())
	);
	if let Some(peak) = peak_resident_bytes() {
		println!(
			"peak resident memory: {:.0} MiB (this process: parameters, optimizer state, activations)",
			peak as f64 / (1u64 << 20) as f64
		);
	}
	Ok(())
}

/// The run presets' training memory as a Markdown table.
fn memory_table() -> Result<String> {
	use std::fmt::Write;
	let mib = |bytes: usize| bytes as f64 / (1u64 << 20) as f64;
	let mut out = String::from(
		"| preset | parameters | batch | state MiB | CPU workspace MiB | GPU workspace MiB | GPU total MiB |\n|---|---|---|---|---|---|---|\n",
	);
	for name in offchain_gpu::roles::MODEL_PRESETS {
		let (cfg, shape) = offchain_gpu::roles::model_preset(name)?;
		let m = cfg.training_memory(shape.batch_size, shape.seq_len);
		writeln!(
			out,
			"| {name} | {} | {} x {} | {:.0} | {:.0} | {:.0} | {:.0} |",
			cfg.num_params(),
			shape.batch_size,
			shape.seq_len,
			mib(m.state_bytes),
			mib(m.cpu_workspace_bytes),
			mib(m.gpu_workspace_bytes),
			mib(m.gpu_total())
		)?;
	}
	Ok(out)
}

/// The process's peak resident set (`VmHWM`), where the system reports it (Linux).
fn peak_resident_bytes() -> Option<u64> {
	let status = std::fs::read_to_string("/proc/self/status").ok()?;
	let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
	let kib: u64 =
		line.trim_start_matches("VmHWM:").trim().trim_end_matches("kB").trim().parse().ok()?;
	Some(kib * 1024)
}
