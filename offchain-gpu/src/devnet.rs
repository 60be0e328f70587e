//! `offchain-gpu devnet`: a whole training network on this machine.
//!
//! Starts `node --dev --tmp` on free loopback ports, creates a run through sudo (Alice) with
//! dev-sized parameters, and runs miners and validators as threads of this process (each
//! with its own tokio runtime and chain connection, exactly the code `offchain-gpu miner` /
//! `offchain-gpu validator` run). Miners publish into per-miner directories under one local
//! store root. The launcher follows finalized blocks, collects `Paid` / `Settled` events and
//! prints one summary per settled round (held-out loss of the synced model, ratings, weights,
//! payouts), appends it to `<out>/rounds.csv`, and stops everything it started when the
//! requested number of rounds has settled, or on Ctrl-C or SIGTERM (the node also gets
//! SIGTERM from Linux if the devnet is killed outright).
//!
//! Stores: by default each miner publishes into its own directory under `<out>/store`; with
//! `store_url` (an `s3://bucket?endpoint=...` URL) each miner publishes under its own prefix
//! of that bucket instead.
//!
//! Adversaries ([`miner::Behaviour`]) run as extra miners and random-score validators as
//! extra validators with less stake than the honest ones, so that the stake-weighted median
//! is honest.
//!
//! Dev accounts (endowed in the dev genesis): validators `//Ferdie`, then `//Alice` (also
//! sudo); miners `//Dave`, `//Eve`, `//One`, `//Two`, the `//stash` accounts, then the
//! council members `//Bob` and `//Charlie`. With `node_url` the devnet attaches to a running
//! node instead of starting one (the upgrade test drives governance beside it). Miners are registered after the run is created, so they first train the first
//! round that starts after their registration (round 1 usually).

use std::collections::BTreeMap;
use std::io::Write;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use pallet_training::{Role, RunParams};
use training_protocol::{Fixed, IncentiveParams, OpenSkillParams, Round, ScoreFlags, Uid};

use crate::chain::{account_of, keypair, AccountId, Balance, Chain, UNIT};
use crate::device::Device;
use crate::roles::{self, miner, validator, Report, Reporter, RunCtx};
use crate::store::BlobStore;
use tokio_util::sync::CancellationToken;

// Alice (sudo) and the council members Bob and Charlie come last, so that a devnet of up to
// ten miners and one validator leaves their keys free for governance (a second process
// signing with the same key at the same time would race it for nonces).
const VALIDATOR_KEYS: [&str; 2] = ["//Ferdie", "//Alice"];
const MINER_KEYS: [&str; 12] = [
	"//Dave",
	"//Eve",
	"//One",
	"//Two",
	"//Dave//stash",
	"//Eve//stash",
	"//Alice//stash",
	"//Ferdie//stash",
	"//Bob//stash",
	"//Charlie//stash",
	"//Bob",
	"//Charlie",
];

/// What to run.
#[derive(Clone, Debug)]
pub struct DevnetConfig {
	/// Honest miners.
	pub miners: usize,
	/// Extra miners, one per adversarial behaviour listed.
	pub adversaries: Vec<miner::Behaviour>,
	/// Extra miners that train honestly but register these store URLs (hostile endpoints
	/// the test runs), one miner per URL.
	pub hostile_stores: Vec<String>,
	/// Honest miners that register only once the chain reaches round `late_round`: they
	/// join from the newest agreed checkpoint.
	pub late_miners: usize,
	pub late_round: Round,
	/// Honest validators.
	pub validators: usize,
	/// Extra validators, one per adversarial behaviour listed. Random-score ones hold less
	/// stake than an honest one, and so do checkpoint poisoners; lazy ones and copycats the
	/// same.
	pub validator_adversaries: Vec<validator::Behaviour>,
	/// Validators record a checkpoint every this many rounds.
	pub checkpoint_every: u64,
	/// Committers outside the aggregation set each validator is due to score per round
	/// (drawn from the round's seed).
	pub eval_sample: u16,
	/// Base URL of an S3-compatible store for the miners' blobs (None: local directories).
	pub store_url: Option<String>,
	/// Rounds with training miners to run to settlement.
	pub rounds: u64,
	pub node_bin: PathBuf,
	/// Attach to this node (`ws://...`) instead of starting `node_bin`.
	pub node_url: Option<String>,
	/// Validators connect to this node instead (another node of the same chain), so that
	/// miners and validators talk to the chain through different nodes.
	pub validator_url: Option<String>,
	/// Output directory: store root, node log, rounds.csv.
	pub out: PathBuf,
	pub model: String,
	pub round_length: u32,
	pub commit_window: u32,
	/// Blocks into round r+2 during which round r is still scored. With `round_length` 10
	/// and `commit_window` 3, the default 7 gives a 14-block score window: validators commit
	/// to their scores in the first 10 (time to fetch the round, wait out a withholder and
	/// evaluate), reveal in the last 4.
	pub score_window: u32,
	pub inner_steps: u32,
	/// Values kept per 64 x 64 chunk.
	pub topk: u32,
	pub outer_lr: f32,
	/// Evaluations a miner (and settled rounds a run) is in warm-up for.
	pub warmup_rounds: u32,
	/// Smoothing factor of the assigned-vs-random indicator, in parts per billion.
	pub indicator_alpha_ppb: u32,
	/// Print every role report.
	pub verbose: bool,
	/// Where the workers train and evaluate.
	pub device: Device,
	/// How many of the honest miners (the first ones) run on the simulated GPU instead, so
	/// that the CUDA backend's whole path trains alongside the others.
	pub sim_miners: usize,
	/// A pre-tokenized dataset (`offchain-gpu data prepare`) the run trains on instead of
	/// the built-in corpus; the run records its manifest's hash.
	pub data: Option<PathBuf>,
}

impl Default for DevnetConfig {
	fn default() -> Self {
		Self {
			miners: 3,
			adversaries: Vec::new(),
			hostile_stores: Vec::new(),
			late_miners: 0,
			late_round: 0,
			validators: 1,
			validator_adversaries: Vec::new(),
			checkpoint_every: 4,
			eval_sample: 8,
			store_url: None,
			rounds: 3,
			node_bin: PathBuf::from("node"),
			node_url: None,
			validator_url: None,
			out: PathBuf::from("devnet-out"),
			model: "devnet".into(),
			round_length: 10,
			commit_window: 3,
			score_window: 7,
			inner_steps: 20,
			topk: 256,
			outer_lr: 1.0,
			warmup_rounds: 3,
			indicator_alpha_ppb: 200_000_000,
			verbose: false,
			device: Device::Cpu,
			sim_miners: 0,
			data: None,
		}
	}
}

impl DevnetConfig {
	/// The run parameters the devnet creates. Differences from the reference, all governance
	/// choices: 30 s rounds, 6.25 % density (k = 256 of 4096) so that a ~100k-parameter model
	/// learns visibly in a few rounds, outer lr 1 (the paper's small-scale setting), and
	/// OpenSkill `sigma0 = 2` so that ordinals (`mu - 3 sigma`) start positive and honest
	/// miners earn from their first settled round instead of after many games, and a short
	/// warm-up (3 instead of 10) with a faster indicator average (alpha 0.2 instead of 0.05)
	/// so that miners who fail the assigned-vs-random check drop to zero within a few rounds.
	/// Validators: a quorum of half the bonded stake, 8 sampled miners beyond the aggregation
	/// set per validator and round, and an unbonding period of three rounds.
	pub fn run_params(&self, model_hash: [u8; 32]) -> Result<RunParams<Balance>> {
		let skill = OpenSkillParams { sigma0: Fixed::from_int(2), ..OpenSkillParams::default() };
		let incentive = IncentiveParams {
			warmup_rounds: self.warmup_rounds,
			indicator_alpha_ppb: self.indicator_alpha_ppb,
			..IncentiveParams::default()
		};
		let mut params = RunParams {
			round_length: self.round_length,
			commit_window: self.commit_window,
			score_window: self.score_window,
			inner_steps: self.inner_steps,
			chunk_size: 4096,
			topk_per_chunk: self.topk,
			quant_bits: 2,
			outer_lr_ppb: (f64::from(self.outer_lr) * 1e9) as u64,
			incentive,
			skill,
			emission_per_block: UNIT,
			model_hash,
			dataset_hash: training_model::data::shakespeare::builtin_dataset_hash(),
			run_seed: 42,
			blob_len: 0,
			quorum_ppb: training_protocol::PPB / 2,
			eval_sample: self.eval_sample,
			unbonding_blocks: 3 * self.round_length,
		};
		// Every gradient blob of the run has the length the model and the chunking fix.
		let (model, _) = crate::roles::model_preset(&self.model)?;
		params.blob_len = u32::try_from(crate::roles::plan_for(&model, &params)?.blob_len())?;
		Ok(params)
	}
}

/// One settled round.
#[derive(Clone, Debug, Default)]
pub struct RoundRow {
	pub round: Round,
	/// Held-out loss of `theta_round` as measured by the first validator.
	pub heldout_loss: Option<f32>,
	/// Mean over miners of the last inner-step training loss.
	pub train_loss: Option<f32>,
	pub scored: u32,
	pub minted: Balance,
	pub burned: Balance,
	/// Miner uid -> paid this settlement.
	pub miner_paid: BTreeMap<Uid, Balance>,
	pub validator_paid: Balance,
	/// Miner uid -> weight (ppb) after this settlement.
	pub weights: BTreeMap<Uid, u32>,
	/// Miner uid -> ordinal after this settlement.
	pub ordinals: BTreeMap<Uid, f64>,
	/// Miner uid -> loss score (ppb) of the first validator.
	pub loss_scores: BTreeMap<Uid, i64>,
	/// Miner uid -> sync score (ppm) of the first validator: how close the model the miner
	/// trained from is to the validator's.
	pub sync_ppm: BTreeMap<Uid, u32>,
}

/// A miner of the devnet and how it ended.
#[derive(Clone, Debug)]
pub struct MinerSummary {
	pub uid: Uid,
	pub key: String,
	pub behaviour: miner::Behaviour,
	/// Registered late, joining from a checkpoint.
	pub late: bool,
	pub total_paid: Balance,
	pub final_weight_ppb: u32,
	pub final_ordinal: f64,
}

/// One validator's part in the devnet.
#[derive(Clone, Debug)]
pub struct ValidatorSummary {
	pub key: String,
	pub behaviour: validator::Behaviour,
	pub stake: Balance,
	pub total_paid: Balance,
}

/// What the devnet did.
#[derive(Clone, Debug)]
pub struct DevnetSummary {
	pub run: u32,
	pub rounds: Vec<RoundRow>,
	pub miners: Vec<MinerSummary>,
	pub validators_paid: Balance,
	/// Each validator's behaviour, stake and total pay, by uid.
	pub validators: BTreeMap<Uid, ValidatorSummary>,
	/// Every node that started from a checkpoint: (who, round, URL it loaded from, the
	/// copies it could not use before that).
	pub joins: Vec<(String, Round, String, Vec<String>)>,
	/// Round -> every node's model once the round's applied set settled (see
	/// `roles::Synced`): honest nodes must agree.
	pub settled: BTreeMap<Round, Vec<SettledModel>>,
	pub overhead: Overhead,
	pub csv: PathBuf,
}

/// A node's model after a settled round.
#[derive(Clone, Debug)]
pub struct SettledModel {
	pub who: String,
	pub params_hash: [u8; 32],
	/// The node's own view of the round differed from the settled set: it redid the round.
	pub replayed: bool,
}

/// The [`Report::Settled`] reports by round.
fn settled_models(reports: &[Report]) -> BTreeMap<Round, Vec<SettledModel>> {
	let mut out: BTreeMap<Round, Vec<SettledModel>> = BTreeMap::new();
	for r in reports {
		if let Report::Settled { who, round, params_hash, replayed } = r {
			let model =
				SettledModel { who: who.clone(), params_hash: *params_hash, replayed: *replayed };
			out.entry(*round).or_default().push(model);
		}
	}
	out
}

/// Where a round's time went, averaged over every report of the run (seconds).
#[derive(Clone, Debug, Default)]
pub struct Overhead {
	/// Wall time of one round: `round_length` blocks of the dev runtime's 3 s.
	pub round_secs: f64,
	/// A miner's H inner steps and compression.
	pub train_secs: f64,
	/// Submitting a commitment until it is in a block.
	pub commit_secs: f64,
	/// Uploading a blob.
	pub reveal_secs: f64,
	/// Fetching and checking a round's aggregation set (per node).
	pub fetch_secs: f64,
	/// Aggregating and the outer step (per node).
	pub apply_secs: f64,
	/// A validator's evaluation time (compute, not fetching) per miner whose blob it
	/// evaluated.
	pub eval_secs_per_miner: f64,
	/// Bytes of blobs one node downloads per round.
	pub bytes_down_per_node: f64,
	/// Bytes one miner uploads per round.
	pub bytes_up_per_miner: f64,
}

impl Overhead {
	/// Commit, reveal, fetch, aggregate and outer step, as a share of the round: the time a
	/// miner is not training. Only the commit and reveal are on a miner's critical path in
	/// this design (fetching happens while the chain waits for the commit deadline), but all
	/// of it is counted.
	pub fn share(&self) -> f64 {
		(self.commit_secs + self.reveal_secs + self.fetch_secs + self.apply_secs) / self.round_secs
	}

	fn from_reports(reports: &[Report], round_length: u32) -> Self {
		fn mean(v: &[f64]) -> f64 {
			if v.is_empty() {
				0.0
			} else {
				v.iter().sum::<f64>() / v.len() as f64
			}
		}
		let (mut train, mut commit, mut reveal, mut fetch, mut apply, mut eval, mut down, mut up) =
			(vec![], vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
		for r in reports {
			match r {
				Report::Trained { secs, blob_len, .. } => {
					train.push(f64::from(*secs));
					up.push(*blob_len as f64);
				}
				Report::Committed { secs, .. } => commit.push(f64::from(*secs)),
				Report::Revealed { secs, published: true, .. } => reveal.push(f64::from(*secs)),
				Report::Applied { fetch_secs, apply_secs, bytes, .. } => {
					fetch.push(f64::from(*fetch_secs));
					apply.push(f64::from(*apply_secs));
					down.push(*bytes as f64);
				}
				Report::Scored { eval_secs, scores, .. } => {
					let evaluated = scores
						.iter()
						.filter(|s| {
							!s.flags.intersects(ScoreFlags::MISSING.union(ScoreFlags::INVALID))
						})
						.count();
					if evaluated > 0 {
						eval.push(f64::from(*eval_secs) / evaluated as f64)
					}
				}
				_ => {}
			}
		}
		Overhead {
			round_secs: f64::from(round_length) * 3.0,
			train_secs: mean(&train),
			commit_secs: mean(&commit),
			reveal_secs: mean(&reveal),
			fetch_secs: mean(&fetch),
			apply_secs: mean(&apply),
			eval_secs_per_miner: mean(&eval),
			bytes_down_per_node: mean(&down),
			bytes_up_per_miner: mean(&up),
		}
	}
}

/// A child process killed on drop.
struct NodeProcess {
	child: Child,
	rpc_port: u16,
}

impl Drop for NodeProcess {
	fn drop(&mut self) {
		let _ = self.child.kill();
		let _ = self.child.wait();
	}
}

fn free_port() -> Result<u16> {
	Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn start_node(bin: &PathBuf, log: &PathBuf) -> Result<NodeProcess> {
	let rpc_port = free_port()?;
	let p2p_port = free_port()?;
	let log_file =
		std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
	let mut command = Command::new(bin);
	die_with_parent(&mut command);
	let child = command
		.args(["--dev", "--tmp", "--no-prometheus", "--no-telemetry", "--no-mdns"])
		.args(["--rpc-port", &rpc_port.to_string()])
		.args(["--listen-addr", &format!("/ip4/127.0.0.1/tcp/{p2p_port}")])
		.stdout(Stdio::null())
		.stderr(log_file)
		.spawn()
		.with_context(|| format!("cannot start the node binary {}", bin.display()))?;
	Ok(NodeProcess { child, rpc_port })
}

/// Asks Linux to send the child SIGTERM when the thread that started it exits (for the
/// command line, the main thread: the process), so that a devnet killed outright (SIGKILL,
/// out of memory) does not leave its node running. Elsewhere [`NodeProcess`]'s drop and
/// the signal handler are all there is.
fn die_with_parent(command: &mut Command) {
	#[cfg(target_os = "linux")]
	{
		use std::os::unix::process::CommandExt;
		// SAFETY: runs in the forked child before exec and only calls `prctl`, which is
		// async-signal-safe.
		unsafe {
			command.pre_exec(|| {
				if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
					return Err(std::io::Error::last_os_error());
				}
				Ok(())
			});
		}
	}
	#[cfg(not(target_os = "linux"))]
	let _ = command;
}

/// `uid:loss_score` with the flags that stand out: `M`issing, `I`nvalid, `C`opied, and `-`
/// for a negative assigned-vs-random indicator.
fn fmt_score(s: &training_protocol::MinerScore) -> String {
	let mut marks = String::new();
	for (flag, mark) in
		[(ScoreFlags::MISSING, 'M'), (ScoreFlags::INVALID, 'I'), (ScoreFlags::COPIED, 'C')]
	{
		if s.flags.contains(flag) {
			marks.push(mark);
		}
	}
	if s.indicator < 0 {
		marks.push('-');
	}
	format!("{}:{:+.4}{marks}", s.uid, s.loss_score as f64 / 1e9)
}

/// `base` (an `s3://bucket[/prefix][?query]` URL) with `/name` appended to its path.
fn with_prefix(base: &str, name: &str) -> String {
	match base.split_once('?') {
		Some((path, query)) => format!("{}/{name}?{query}", path.trim_end_matches('/')),
		None => format!("{}/{name}", base.trim_end_matches('/')),
	}
}

fn ordinal_f64(x: Fixed) -> f64 {
	x.into_raw() as f64 / 1e18
}

/// Runs the devnet to completion (or Ctrl-C) and returns what happened.
pub fn run(cfg: DevnetConfig) -> Result<DevnetSummary> {
	// The devnet's console is its log: the text one, unless the caller installed another.
	crate::log::init(crate::log::LogFormat::Text);
	let total_miners =
		cfg.miners + cfg.adversaries.len() + cfg.hostile_stores.len() + cfg.late_miners;
	let total_validators = cfg.validators + cfg.validator_adversaries.len();
	let keys = MINER_KEYS.len() + VALIDATOR_KEYS.len();
	if !cfg.hostile_stores.is_empty() && !cfg!(feature = "adversaries") {
		bail!("hostile-store miners are test tooling: build with the `adversaries` feature");
	}
	if total_miners == 0 || cfg.validators == 0 || total_miners + total_validators > keys {
		bail!("at least one honest miner and one honest validator, and at most {keys} miners and validators in all");
	}
	if let Some(url) = &cfg.store_url {
		BlobStore::from_url(url)?;
	}
	std::fs::create_dir_all(&cfg.out)?;
	let out = std::fs::canonicalize(&cfg.out)?;
	// The chain is new every time (`--tmp`): so are the stores and the miners' pending state.
	for dir in ["store", "state"] {
		let _ = std::fs::remove_dir_all(out.join(dir));
	}
	let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
	let (node, url) = match &cfg.node_url {
		Some(url) => (None, url.clone()),
		None => {
			let log = out.join("node.log");
			let mut node = start_node(&cfg.node_bin, &log)?;
			let url = format!("ws://127.0.0.1:{}", node.rpc_port);
			tracing::info!(
				"devnet: node {} on {url} (log {})",
				cfg.node_bin.display(),
				log.display()
			);
			if let Ok(Some(status)) = node.child.try_wait() {
				bail!("node exited at once with {status}; see {}", log.display());
			}
			(Some(node), url)
		}
	};
	let stop = CancellationToken::new();
	let role_threads = Mutex::new(Vec::new());
	let result = rt.block_on(async {
		tokio::select! {
			r = drive(&cfg, &out, &url, &stop, &role_threads) => r,
			signal = roles::shutdown_signal() => Err(anyhow::anyhow!("interrupted ({signal}): stopped every process the devnet started")),
		}
	});
	// Roles see `stop` between steps; one in the middle of a training step gets a few
	// seconds, and a second Ctrl-C stops waiting for it.
	stop.cancel();
	let role_threads = role_threads.into_inner().unwrap_or_else(|e| e.into_inner());
	rt.block_on(async {
		tokio::select! {
			_ = join_within(role_threads, Duration::from_secs(15)) => {}
			_ = roles::shutdown_signal() => tracing::warn!("devnet: not waiting for the workers"),
		}
	});
	rt.shutdown_timeout(Duration::from_secs(2));
	drop(node);
	result
}

/// Joins the threads that finish within `limit`; the rest end with the process.
async fn join_within(threads: Vec<std::thread::JoinHandle<()>>, limit: Duration) {
	let deadline = Instant::now() + limit;
	for t in threads {
		while !t.is_finished() && Instant::now() < deadline {
			tokio::time::sleep(Duration::from_millis(100)).await;
		}
		if t.is_finished() {
			let _ = t.join();
		}
	}
}

async fn drive(
	cfg: &DevnetConfig,
	out: &std::path::Path,
	url: &str,
	stop: &CancellationToken,
	threads: &Mutex<Vec<std::thread::JoinHandle<()>>>,
) -> Result<DevnetSummary> {
	let chain = Chain::connect(url, Duration::from_secs(120)).await?;
	let (model, _) = roles::model_preset(&cfg.model)?;
	let data = tokio::task::block_in_place(|| {
		roles::Dataset::open(cfg.data.as_deref(), model.vocab_size)
	})?;
	let mut params = cfg.run_params(model.config_hash())?;
	params.dataset_hash = data.hash;
	let sudo = keypair("//Alice")?;
	let (run, start) = chain.create_run(&sudo, &params).await?;
	tracing::info!(
		"devnet: run {run} created, round 0 at block {start}; L={} C={} S={} H={} k={}/4096, model {} ({} params)",
		params.round_length,
		params.commit_window,
		params.score_window,
		params.inner_steps,
		params.topk_per_chunk,
		cfg.model,
		model.num_params()
	);

	let reports: Arc<Mutex<Vec<Report>>> = Arc::default();
	let reporter: Reporter = {
		let reports = reports.clone();
		let verbose = cfg.verbose;
		Arc::new(move |r: Report| {
			match &r {
				Report::Trained { uid, round, first_loss, last_loss, blob_len, secs } => tracing::info!(
					"  round {round:>3} miner {uid}: trained, loss {first_loss:.3} -> {last_loss:.3}, blob {blob_len} B, {secs:.1}s"
				),
				Report::Scored { validator, round, heldout_loss, scores, details, eval_secs, fetch_secs } => {
					tracing::info!(
						"  round {round:>3} validator {validator}: held-out loss {heldout_loss:.4}, fetch {fetch_secs:.1}s, eval {eval_secs:.1}s, scores {}",
						scores.iter().map(fmt_score).collect::<Vec<_>>().join(" ")
					);
					if verbose {
						for d in details {
							tracing::info!(
								"      uid {}: random {:+.5} own {:+.5} advantage {:+.5} direction {:+.3} overlap {:.3}",
								d.uid, d.rand_rel, d.own_rel, d.advantage, d.direction, d.overlap
							);
						}
					}
				}
				Report::Warning { who, message } => tracing::warn!(who, "{message}"),
				Report::Started { who, device } => tracing::info!("  {who}: started on {device}"),
				Report::Settled { who, round, params_hash, replayed: true } => tracing::info!(
					"  round {round:>3} {who}: the settled applied set differed from its view; redid the round (params {})",
					hex::encode(&params_hash[..4])
				),
				Report::Checkpointed { who, round, params_hash, url } => tracing::info!(
					"  {who}: recorded the checkpoint of round {round} (params {}) at {url}",
					hex::encode(&params_hash[..4])
				),
				Report::Joined { who, round, url, failed } => {
					tracing::info!("  {who}: joined from the checkpoint of round {round} ({url})");
					for f in failed {
						tracing::warn!("    could not use {f}");
					}
				}
				other if verbose => roles::log_report(other),
				_ => {}
			}
			reports.lock().unwrap().push(r);
		})
	};

	// Roles, each on its own thread and runtime.
	let store_root = out.join("store");
	let mut miner_keys = BTreeMap::<AccountId, (String, miner::Behaviour)>::new();
	let mut late_keys = Vec::new();
	for (i, (key_uri, behaviour, advertised)) in miner_roles(cfg).enumerate() {
		let key = keypair(key_uri)?;
		miner_keys.insert(account_of(&key), (key_uri.to_string(), behaviour));
		let name = key_uri.trim_start_matches('/').replace('/', "-");
		let store = match &cfg.store_url {
			Some(base) => BlobStore::from_url(&with_prefix(base, &name))?,
			None => BlobStore::new(store_root.join(&name)),
		};
		#[cfg_attr(not(feature = "adversaries"), allow(unused_mut))]
		let mut mcfg = miner::MinerConfig {
			behaviour,
			state_dir: Some(out.join("state")),
			..Default::default()
		};
		#[cfg(feature = "adversaries")]
		{
			mcfg.advertised_url = advertised;
		}
		#[cfg(not(feature = "adversaries"))]
		let _ = advertised;
		let late = i >= cfg.miners + cfg.adversaries.len() + cfg.hostile_stores.len();
		if late {
			late_keys.push(account_of(&key));
		}
		let late_round = cfg.late_round;
		let device =
			if i < cfg.sim_miners.min(cfg.miners) { Device::Sim } else { cfg.device.clone() };
		let role = spawn_role(
			format!("miner {key_uri}"),
			url,
			run,
			cfg,
			device,
			&data,
			stop,
			&reporter,
			move |ctx| {
				Box::pin(async move {
					if late {
						wait_for_round(&ctx, late_round).await?;
					}
					miner::run(ctx, key, store, mcfg).await
				})
			},
		);
		threads.lock().unwrap_or_else(|e| e.into_inner()).push(role);
	}
	for (key_uri, behaviour) in validator_roles(cfg) {
		let key = keypair(key_uri)?;
		let store = BlobStore::new(store_root.join(key_uri.trim_start_matches('/')));
		let vcfg = validator::ValidatorConfig {
			stake: stake_of(behaviour),
			behaviour,
			checkpoint_every: cfg.checkpoint_every,
			..Default::default()
		};
		let role = spawn_role(
			format!("validator {key_uri}"),
			cfg.validator_url.as_deref().unwrap_or(url),
			run,
			cfg,
			cfg.device.clone(),
			&data,
			stop,
			&reporter,
			move |ctx| Box::pin(validator::run(ctx, key, store, vcfg)),
		);
		threads.lock().unwrap_or_else(|e| e.into_inner()).push(role);
	}

	monitor(cfg, &chain, run, start, &params, &miner_keys, &late_keys, &reports, out).await
}

/// Each miner's key and behaviour: honest ones, adversaries, then late joiners (honest),
/// from the front of [`MINER_KEYS`].
fn miner_roles(
	cfg: &DevnetConfig,
) -> impl Iterator<Item = (&'static str, miner::Behaviour, Option<String>)> + '_ {
	let honest = |n| std::iter::repeat_n((miner::Behaviour::Honest, None), n);
	let behaviours = honest(cfg.miners)
		.chain(cfg.adversaries.iter().map(|b| (*b, None)))
		.chain(hostile_store_roles(cfg))
		.chain(honest(cfg.late_miners));
	MINER_KEYS.iter().copied().zip(behaviours).map(|(key, (behaviour, url))| (key, behaviour, url))
}

/// The directory the `i`-th hostile-store miner publishes into (with local stores, the
/// default): what a test's endpoint serves from when it serves the blobs to some readers.
pub fn hostile_store_dir(cfg: &DevnetConfig, i: usize) -> Option<PathBuf> {
	let key = MINER_KEYS.get(cfg.miners + cfg.adversaries.len() + i)?;
	let name = key.trim_start_matches('/').replace('/', "-");
	cfg.store_url.is_none().then(|| cfg.out.join("store").join(name))
}

/// The hostile-store miners: honest training, a hostile endpoint registered as their store.
#[cfg(feature = "adversaries")]
fn hostile_store_roles(
	cfg: &DevnetConfig,
) -> impl Iterator<Item = (miner::Behaviour, Option<String>)> + '_ {
	cfg.hostile_stores.iter().map(|url| (miner::Behaviour::HostileStore, Some(url.clone())))
}

#[cfg(not(feature = "adversaries"))]
fn hostile_store_roles(_: &DevnetConfig) -> std::iter::Empty<(miner::Behaviour, Option<String>)> {
	std::iter::empty()
}

/// Each validator's key and behaviour: honest ones first, then the adversaries. Keys come
/// from [`VALIDATOR_KEYS`], then from the back of [`MINER_KEYS`] (what miners leave free).
fn validator_roles(
	cfg: &DevnetConfig,
) -> impl Iterator<Item = (&'static str, validator::Behaviour)> + '_ {
	let behaviours = std::iter::repeat_n(validator::Behaviour::Honest, cfg.validators)
		.chain(cfg.validator_adversaries.iter().copied());
	VALIDATOR_KEYS.iter().chain(MINER_KEYS.iter().rev()).copied().zip(behaviours)
}

/// A validator's stake by behaviour: honest validators hold more than random-score ones, so
/// that the stake-weighted median follows the honest majority; lazy ones and copycats hold
/// as much as an honest one (their pay per stake compares directly); a checkpoint poisoner
/// the minimum, like a random-score one.
fn stake_of(behaviour: validator::Behaviour) -> Balance {
	match behaviour {
		validator::Behaviour::Honest => 150 * UNIT,
		#[cfg(feature = "adversaries")]
		validator::Behaviour::Lazy | validator::Behaviour::Copycat => 150 * UNIT,
		// Ten honest validators' worth, for one round.
		#[cfg(feature = "adversaries")]
		validator::Behaviour::JustInTime => 1_500 * UNIT,
		#[cfg(feature = "adversaries")]
		validator::Behaviour::RandomScores | validator::Behaviour::PoisonCheckpoints => 100 * UNIT,
	}
}

/// Returns once the run has reached `round` (or the devnet stops).
async fn wait_for_round(ctx: &RunCtx, round: Round) -> Result<()> {
	while !ctx.stopped() {
		if ctx.status().await?.round.is_some_and(|r| r >= round) {
			return Ok(());
		}
		ctx.sleep(Duration::from_secs(1)).await;
	}
	Ok(())
}

type RoleFuture = std::pin::Pin<Box<dyn std::future::Future<Output = Result<()>> + Send>>;

#[allow(clippy::too_many_arguments)]
fn spawn_role(
	name: String,
	url: &str,
	run: u32,
	cfg: &DevnetConfig,
	device: Device,
	data: &roles::Dataset,
	stop: &CancellationToken,
	reporter: &Reporter,
	body: impl FnOnce(RunCtx) -> RoleFuture + Send + 'static,
) -> std::thread::JoinHandle<()> {
	let (url, model, data, stop, reporter) =
		(url.to_string(), cfg.model.clone(), data.clone(), stop.clone(), reporter.clone());
	std::thread::spawn(move || {
		let rt = match tokio::runtime::Builder::new_multi_thread()
			.worker_threads(2)
			.enable_all()
			.build()
		{
			Ok(rt) => rt,
			Err(e) => return reporter(Report::Warning { who: name, message: e.to_string() }),
		};
		let result = rt.block_on(async {
			let chain = Chain::connect(&url, Duration::from_secs(60)).await?;
			let mut ctx =
				RunCtx::new(chain, run, &model, &data, stop.clone(), reporter.clone()).await?;
			// The devnet's stores are local directories or a bucket on loopback.
			ctx.allow_local_stores = true;
			ctx.device = device;
			body(ctx).await
		});
		if let Err(e) = result {
			if !stop.is_cancelled() {
				reporter(Report::Warning { who: name, message: format!("stopped: {e:#}") });
			}
		}
	})
}

#[allow(clippy::too_many_arguments)]
async fn monitor(
	cfg: &DevnetConfig,
	chain: &Chain,
	run: u32,
	start: u64,
	params: &RunParams<Balance>,
	miner_keys: &BTreeMap<AccountId, (String, miner::Behaviour)>,
	late_keys: &[AccountId],
	reports: &Arc<Mutex<Vec<Report>>>,
	out: &std::path::Path,
) -> Result<DevnetSummary> {
	let clock = training_protocol::RoundClock::new(
		start,
		u64::from(params.round_length),
		u64::from(params.commit_window),
		u64::from(params.score_window),
	)
	.map_err(|e| anyhow::anyhow!("the run's round clock is inconsistent: {e:?}"))?;
	// Wait for every registration; the first training round starts after the last one.
	// Everyone but the late miners and a just-in-time whale, who register after the start.
	let expected = cfg.miners
		+ cfg.adversaries.len()
		+ cfg.hostile_stores.len()
		+ cfg.validators
		+ cfg.validator_adversaries.iter().filter(|b| b.registers_at_start()).count();
	let wait = Instant::now();
	let peers = loop {
		let peers = chain.peers(run).await?;
		if peers.len() >= expected {
			break peers;
		}
		if wait.elapsed() > Duration::from_secs(120) {
			bail!("only {} of {expected} peers registered after 2 minutes", peers.len());
		}
		tokio::time::sleep(Duration::from_secs(1)).await;
	};
	let last_reg = peers.iter().map(|p| p.registered_at).max().unwrap_or(start);
	let first_round = clock.first_round_from(last_reg).unwrap_or(0);
	let last_round = first_round + cfg.rounds - 1;
	let uid_of: BTreeMap<AccountId, Uid> =
		peers.iter().filter(|p| p.role == Role::Miner).map(|p| (p.who, p.uid)).collect();
	let mut validators: BTreeMap<Uid, ValidatorSummary> = BTreeMap::new();
	for (key_uri, behaviour) in validator_roles(cfg) {
		let who = account_of(&keypair(key_uri)?);
		if let Some(p) = peers.iter().find(|p| p.role == Role::Validator && p.who == who) {
			let summary =
				ValidatorSummary { key: key_uri.into(), behaviour, stake: p.held, total_paid: 0 };
			validators.insert(p.uid, summary);
		}
	}
	tracing::info!(
		"devnet: {} miners, {} validators registered; training rounds {first_round}..={last_round}, last settlement at block {}",
		uid_of.len(),
		expected - uid_of.len(),
		clock.settlement_block(last_round).unwrap_or(u64::MAX)
	);

	let csv = out.join("rounds.csv");
	let mut csv_file = std::fs::File::create(&csv)?;
	writeln!(csv_file, "round,heldout_loss,train_loss,scored,minted,burned,validator_paid,miner_paid,weights_ppb,ordinals,loss_scores_ppb")?;

	let mut rows: Vec<RoundRow> = Vec::new();
	let mut totals: BTreeMap<Uid, Balance> = BTreeMap::new();
	let mut validators_paid: Balance = 0;
	let mut pending_paid: BTreeMap<Round, RoundRow> = BTreeMap::new();
	// Finalized blocks by number, so that a node restart (or a dropped connection) loses
	// nothing: the next block read is the one after the last one counted.
	let mut next = chain.api().at_current_block().await?.block_number() + 1;
	let mut failing_since: Option<Instant> = None;
	loop {
		let block = match read_block(chain, run, next).await {
			Ok(Some(block)) => {
				failing_since = None;
				next += 1;
				block
			}
			Ok(None) => {
				tokio::time::sleep(Duration::from_millis(500)).await;
				continue;
			}
			Err(e) => {
				let since = *failing_since.get_or_insert_with(Instant::now);
				if since.elapsed() > Duration::from_secs(180) {
					return Err(e.context(format!(
						"the node at {} has not answered for 3 minutes",
						chain.url()
					)));
				}
				tracing::warn!("devnet: reading block {next}: {e:#}; reconnecting");
				tokio::time::sleep(Duration::from_secs(1)).await;
				let _ = chain.recover(Duration::from_secs(10)).await;
				continue;
			}
		};
		for (round, role, uid, amount) in block.paid {
			let row = pending_paid.entry(round).or_default();
			match role {
				Role::Miner => {
					*row.miner_paid.entry(uid).or_default() += amount;
					*totals.entry(uid).or_default() += amount;
				}
				Role::Validator => {
					row.validator_paid += amount;
					validators_paid += amount;
					if let Some(v) = validators.get_mut(&uid) {
						v.total_paid += amount;
					}
				}
			}
		}
		for Settlement { round, scored, minted, burned, weights, ordinals } in block.settled {
			let mut row = pending_paid.remove(&round).unwrap_or_default();
			row.round = round;
			row.scored = scored;
			row.minted = minted;
			row.burned = burned;
			row.weights = weights;
			row.ordinals = ordinals;
			{
				let reports = reports.lock().unwrap();
				let mut train = Vec::new();
				for r in reports.iter() {
					match r {
						Report::Trained { round: tr, last_loss, .. }
							if *tr == round && last_loss.is_finite() =>
						{
							train.push(*last_loss)
						}
						Report::Scored { round: sr, heldout_loss, scores, .. }
							if *sr == round && row.heldout_loss.is_none() =>
						{
							row.heldout_loss = Some(*heldout_loss);
							row.loss_scores =
								scores.iter().map(|s| (s.uid, s.loss_score)).collect();
							row.sync_ppm = scores.iter().map(|s| (s.uid, s.sync_ppm)).collect();
						}
						_ => {}
					}
				}
				if !train.is_empty() {
					row.train_loss = Some(train.iter().sum::<f32>() / train.len() as f32);
				}
			}
			let fmt_map = |m: &BTreeMap<Uid, String>| {
				m.iter().map(|(k, v)| format!("{k}:{v}")).collect::<Vec<_>>().join(" ")
			};
			let paid: BTreeMap<Uid, String> = row
				.miner_paid
				.iter()
				.map(|(u, a)| (*u, format!("{:.3}", *a as f64 / UNIT as f64)))
				.collect();
			let weights: BTreeMap<Uid, String> =
				row.weights.iter().map(|(u, w)| (*u, format!("{:.3}", *w as f64 / 1e9))).collect();
			let ords: BTreeMap<Uid, String> =
				row.ordinals.iter().map(|(u, o)| (*u, format!("{o:.2}"))).collect();
			tracing::info!(
				"devnet: round {round} settled (block {}): held-out loss {}, train loss {}, scored {scored}, minted {:.3} burned {:.3} UNIT\n         paid {{{}}} validators {:.3}; weights {{{}}}; ordinals {{{}}}",
				block.number,
				row.heldout_loss.map_or("-".into(), |l| format!("{l:.4}")),
				row.train_loss.map_or("-".into(), |l| format!("{l:.4}")),
				minted as f64 / UNIT as f64,
				burned as f64 / UNIT as f64,
				fmt_map(&paid),
				row.validator_paid as f64 / UNIT as f64,
				fmt_map(&weights),
				fmt_map(&ords),
			);
			let semi = |m: &BTreeMap<Uid, String>| {
				m.iter().map(|(k, v)| format!("{k}:{v}")).collect::<Vec<_>>().join(";")
			};
			let scores: BTreeMap<Uid, String> =
				row.loss_scores.iter().map(|(u, s)| (*u, s.to_string())).collect();
			let paid_raw: BTreeMap<Uid, String> =
				row.miner_paid.iter().map(|(u, a)| (*u, a.to_string())).collect();
			let weights_raw: BTreeMap<Uid, String> =
				row.weights.iter().map(|(u, w)| (*u, w.to_string())).collect();
			writeln!(
				csv_file,
				"{round},{},{},{scored},{minted},{burned},{},{},{},{},{}",
				row.heldout_loss.map_or(String::new(), |l| l.to_string()),
				row.train_loss.map_or(String::new(), |l| l.to_string()),
				row.validator_paid,
				semi(&paid_raw),
				semi(&weights_raw),
				semi(&ords),
				semi(&scores),
			)?;
			csv_file.flush()?;
			let done = round >= last_round;
			rows.push(row);
			if done {
				let last = rows.last().cloned().unwrap_or_default();
				// Late miners registered after the first look at the peers.
				let uid_of: BTreeMap<AccountId, Uid> = chain
					.peers(run)
					.await?
					.into_iter()
					.filter(|p| p.role == Role::Miner)
					.map(|p| (p.who, p.uid))
					.collect();
				let miners = miner_keys
					.iter()
					.filter_map(|(acc, (key, behaviour))| {
						let uid = *uid_of.get(acc)?;
						Some(MinerSummary {
							uid,
							key: key.clone(),
							behaviour: *behaviour,
							late: late_keys.contains(acc),
							total_paid: totals.get(&uid).copied().unwrap_or(0),
							final_weight_ppb: last.weights.get(&uid).copied().unwrap_or(0),
							final_ordinal: last.ordinals.get(&uid).copied().unwrap_or(0.0),
						})
					})
					.collect::<Vec<_>>();
				tracing::info!(
					"devnet: done after {} settled rounds; wrote {}",
					rows.len(),
					csv.display()
				);
				for m in &miners {
					tracing::info!(
						"  miner uid {} {} ({}): paid {:.3} UNIT, final weight {:.3}, ordinal {:.2}",
						m.uid,
						m.key,
						m.behaviour.name(),
						m.total_paid as f64 / UNIT as f64,
						m.final_weight_ppb as f64 / 1e9,
						m.final_ordinal
					);
				}
				tracing::info!(
					"  validators paid {:.3} UNIT",
					validators_paid as f64 / UNIT as f64
				);
				for (uid, v) in &validators {
					tracing::info!(
						"  validator uid {uid} {} ({:?}, stake {} UNIT): paid {:.3} UNIT",
						v.key,
						v.behaviour,
						v.stake / UNIT,
						v.total_paid as f64 / UNIT as f64
					);
				}
				let overhead =
					Overhead::from_reports(&reports.lock().unwrap(), params.round_length);
				tracing::info!(
					"  per round ({:.0} s): train {:.2} s, commit {:.2} s, reveal {:.3} s, fetch {:.2} s, aggregate {:.3} s: overhead {:.1} % of the round",
					overhead.round_secs,
					overhead.train_secs,
					overhead.commit_secs,
					overhead.reveal_secs,
					overhead.fetch_secs,
					overhead.apply_secs,
					100.0 * overhead.share()
				);
				tracing::info!(
					"  validator evaluation {:.3} s per miner; bytes per round: {:.0} down per node, {:.0} up per miner",
					overhead.eval_secs_per_miner, overhead.bytes_down_per_node, overhead.bytes_up_per_miner
				);
				let joins = reports
					.lock()
					.unwrap()
					.iter()
					.filter_map(|r| match r {
						Report::Joined { who, round, url, failed } => {
							Some((who.clone(), *round, url.clone(), failed.clone()))
						}
						_ => None,
					})
					.collect();
				let settled = settled_models(&reports.lock().unwrap());
				let replays = settled.values().flatten().filter(|m| m.replayed).count();
				let split = settled
					.values()
					.filter(|models| models.iter().any(|m| m.params_hash != models[0].params_hash))
					.count();
				tracing::info!(
					"  settled models: {} rounds, {split} with nodes that disagree, {replays} rounds redone by a node whose view differed",
					settled.len()
				);
				return Ok(DevnetSummary {
					run,
					rounds: rows,
					miners,
					validators_paid,
					validators,
					joins,
					settled,
					overhead,
					csv,
				});
			}
		}
	}
}

/// One settlement as a finalized block records it, with the weights and ordinals as the
/// chain holds them when the block is read.
struct Settlement {
	round: Round,
	scored: u32,
	minted: Balance,
	burned: Balance,
	weights: BTreeMap<Uid, u32>,
	ordinals: BTreeMap<Uid, f64>,
}

/// What one finalized block says about `run`.
struct BlockFacts {
	number: u64,
	/// `(round, role, uid, amount)` of each `Paid` event.
	paid: Vec<(Round, Role, Uid, Balance)>,
	settled: Vec<Settlement>,
}

/// Reads finalized block `number` (None: not finalized yet), with the weights and ratings
/// after each settlement in it.
async fn read_block(chain: &Chain, run: u32, number: u64) -> Result<Option<BlockFacts>> {
	let Some(events) = chain.run_events(run, number).await? else { return Ok(None) };
	let paid = events.paid.into_iter().map(|p| (p.round, p.role, p.uid, p.amount)).collect();
	let mut facts = BlockFacts { number, paid, settled: Vec::new() };
	for s in events.settled {
		let (_burn, weights) = chain.run_weights(run).await?;
		let ordinals = chain
			.miner_states(run)
			.await?
			.into_iter()
			.map(|(uid, rec)| (uid, ordinal_f64(rec.state.rating.ordinal())))
			.collect();
		facts.settled.push(Settlement {
			round: s.round,
			scored: s.scored,
			minted: s.minted,
			burned: s.burned,
			weights: weights.into_iter().collect(),
			ordinals,
		});
	}
	Ok(Some(facts))
}
