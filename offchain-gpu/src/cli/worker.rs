//! `miner` and `validator`: one worker against a node and a run, with its log, metrics,
//! payouts and shutdown.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;
use offchain_gpu::device::{Device, DeviceChoice};
use tokio_util::sync::CancellationToken;

#[derive(Args)]
pub struct RoleArgs {
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
	/// A pre-tokenized dataset directory (`offchain-gpu data prepare`); it must be the one
	/// the run records [default: the built-in Shakespeare corpus].
	#[arg(long)]
	data: Option<PathBuf>,
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
	/// Peer blobs read at once when a round is fetched. Each read is bounded in size and
	/// time however many run, but all of a round's reads share one deadline: with fewer
	/// lanes than there are stalling stores, honest blobs queued behind them can miss it.
	#[arg(long, default_value_t = offchain_gpu::roles::FETCH_CONCURRENCY)]
	fetch_concurrency: usize,
}

/// Which worker to run.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Role {
	Miner,
	Validator,
}

/// How long a worker asked to stop may take to finish its step (a training step, an
/// upload) before the process leaves anyway; its local state is on disk either way.
const STOP_GRACE: Duration = Duration::from_secs(20);

/// Runs one worker until it is done or asked to stop (Ctrl-C, SIGTERM). One cancellation
/// token stops everything the worker started: its role, the payout watch and the metrics
/// endpoint.
pub fn run(a: RoleArgs, role: Role) -> Result<()> {
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
	if a.fetch_concurrency == 0 {
		bail!("--fetch-concurrency must be at least 1");
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
		let stop = CancellationToken::new();
		let on_signal = stop.clone();
		tokio::spawn(async move {
			let signal = roles::shutdown_signal().await;
			tracing::info!(
				signal,
				"{signal}: stopping; local state is on disk, start again to resume"
			);
			on_signal.cancel();
		});
		let chain = chain::Chain::connect(&a.url, Duration::from_secs(30)).await?;
		let (model, _) = roles::model_preset(&a.model)?;
		let data = roles::Dataset::open(a.data.as_deref(), model.vocab_size)?;
		let metrics = std::sync::Arc::new(std::sync::Mutex::new(metrics::Metrics::default()));
		if let Some(port) = a.prometheus_port {
			let ip = if a.prometheus_external { [0, 0, 0, 0] } else { [127, 0, 0, 1] };
			let addr = std::net::SocketAddr::from((ip, port));
			// Bound before the worker starts, so a taken port is an error at once.
			let listener = tokio::net::TcpListener::bind(addr)
				.await
				.with_context(|| format!("binding the Prometheus endpoint to {addr}"))?;
			tokio::spawn(metrics::serve(listener, metrics.clone(), stop.clone()));
		}
		let reporter = metrics::observing(metrics, roles::log_reporter());
		let mut ctx =
			roles::RunCtx::new(chain, a.run, &a.model, &data, stop.clone(), reporter).await?;
		ctx.allow_local_stores = a.allow_local_stores;
		ctx.device = device;
		ctx.fetch_concurrency = a.fetch_concurrency;
		let me = chain::account_of(&key);
		let who = match role {
			Role::Miner => "miner",
			Role::Validator => "validator",
		};
		tokio::spawn(roles::payouts::watch(ctx.clone(), me, who.to_owned()));
		let work = async {
			match role {
				Role::Miner => {
					let mut cfg = roles::miner::MinerConfig {
						state_dir: Some(a.state_dir),
						..Default::default()
					};
					if let Some(lr) = a.inner_lr {
						cfg.inner_lr = lr;
					}
					roles::miner::run(ctx, key, store, cfg).await
				}
				Role::Validator => {
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
			}
		};
		let outcome = tokio::select! {
			r = work => r,
			_ = async { stop.cancelled().await; tokio::time::sleep(STOP_GRACE).await } => {
				tracing::warn!("the worker did not finish its step within {STOP_GRACE:?}; leaving");
				Ok(())
			}
		};
		// Whatever ended the work also ends the payout watch and the metrics endpoint.
		stop.cancel();
		outcome
	})
}
