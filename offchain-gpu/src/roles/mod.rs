//! The worker roles ([`miner`], [`validator`], whose scoring is the pure [`gauntlet`]) and
//! what they share: the run's parameters as the workers use them ([`RunCtx`]), blob fetching
//! with hash verification ([`fetch_round`]) and the synced model ([`Synced`]).
//!
//! # Reading peers' stores
//!
//! Store URLs come from chain data, so every read of a peer's store assumes a hostile
//! store: it goes through [`crate::store::PeerStores`] (never signed, local and private
//! addresses refused unless `--allow-local-stores`), takes at most the length the run fixes
//! for a blob, and runs concurrently with the other reads of its round under one deadline
//! ([`FetchLimits`]), so that stores that stall cost a round a known, bounded time.
//!
//! # Round timing (see ARCHITECTURE.md section 3 and `training_protocol::round`)
//!
//! Round `r`'s blobs become readable only after its commit deadline `end(r) + C`, so the
//! synced model `theta_{r+1}` (round `r`'s aggregate applied) exists from offset `C` of round
//! `r + 1` on. A miner therefore trains round `r + 1` from offset `C` (+1 block of grace for
//! reveals) until round `r + 1`'s own commit deadline `end(r+1) + C`: a full round length.
//! Round 0 has no predecessor and starts at once. A validator scores round `r` in the same
//! window (from `end(r) + C + 1` until `end(r+1) + S`), on `theta_r`.
//!
//! Every node applies round `r` identically: the aggregation set fixed on chain when round
//! `r` opened, each member's committed blob fetched from its registered store, its length
//! and blake2b-256 checked against the commitment, decoded, header checked (run, round,
//! miner); missing or invalid blobs are dropped; the rest go through
//! `sparseloco::aggregate` (median-norm clipping, per-coordinate mean) and the plain SGD
//! outer step with the run's outer learning rate.

pub mod copies;
pub mod gauntlet;
pub mod join;
pub mod miner;
pub mod payouts;
mod report;
pub mod validator;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use futures::StreamExt;
use pallet_training::{RunId, RunParams, RunStatus};
use sparseloco::{ChunkParams, Layout, Plan, SparseGradient};
use tokio_util::sync::CancellationToken;
use training_model::data::{shakespeare, ByteTokenizer};
use training_model::{BatchShape, Corpus, ModelConfig, ParamLayout};
use training_protocol::{Round, RoundClock, Uid};

use crate::chain::{AccountId, Balance, Chain};
use crate::store::{gradient_key, EndpointPolicy, PeerStores, StoreError};

pub use report::{log as log_report, log_reporter, Report, Reporter};

/// The names [`model_preset`] knows, smallest first.
pub const MODEL_PRESETS: [&str; 5] = ["devnet", "tiny", "small", "medium", "gpt2-124m"];

/// The model presets a run can name (its hash goes on chain as `model_hash`) and the batch
/// shape every worker of the run uses with it.
pub fn model_preset(name: &str) -> Result<(ModelConfig, BatchShape)> {
	let (cfg, shape) = match name {
		// ~110k parameters, byte vocabulary: a round of 20 inner steps takes well under a
		// second on one core, so several miners and a validator fit on a 2-core machine.
		"devnet" => (
			ModelConfig {
				d_model: 64,
				n_layers: 2,
				n_heads: 4,
				d_ff: 128,
				seq_len: 64,
				..ModelConfig::tiny()
			},
			BatchShape { batch_size: 4, seq_len: 64 },
		),
		"tiny" => (ModelConfig::tiny(), BatchShape { batch_size: 4, seq_len: 16 }),
		"small" => (ModelConfig::small(), BatchShape { batch_size: 4, seq_len: 128 }),
		// For GPUs: 8 x 512 tokens a step (about 3 GB to train, see docs/benchmarks.md).
		"medium" => (ModelConfig::medium(), BatchShape { batch_size: 8, seq_len: 512 }),
		// GPT-2-small scale: 8 x 1024 tokens a step fits a 24 GB GPU.
		"gpt2-124m" => (ModelConfig::gpt2_124m(), BatchShape { batch_size: 8, seq_len: 1024 }),
		other => bail!("unknown model preset {other:?} (devnet, tiny, small, medium, gpt2-124m)"),
	};
	cfg.validate().map_err(|e| anyhow::anyhow!("model preset {name}: {e}"))?;
	Ok((cfg, shape))
}

/// The data a worker trains and evaluates on, and the hash a run records for it.
#[derive(Clone, Debug)]
pub struct Dataset {
	pub corpus: Arc<Corpus>,
	pub hash: [u8; 32],
	/// What it is, for messages: the built-in corpus or a shard directory.
	pub name: String,
}

impl Dataset {
	/// The built-in data: the pinned Shakespeare corpus with the byte tokenizer.
	pub fn builtin() -> Result<Self> {
		Ok(Self {
			corpus: Arc::new(load_corpus()?),
			hash: shakespeare::builtin_dataset_hash(),
			name: "the built-in Shakespeare corpus".into(),
		})
	}

	/// A pre-tokenized dataset (`offchain-gpu data prepare`) for a model with `vocab` token
	/// ids; every shard is checked against the manifest.
	pub fn shards(dir: &std::path::Path, vocab: usize) -> Result<Self> {
		let set = training_model::data::shards::load(dir, None, vocab)
			.with_context(|| format!("loading the dataset in {}", dir.display()))?;
		Ok(Self {
			corpus: Arc::new(set.corpus),
			hash: set.hash,
			name: format!("the dataset in {}", dir.display()),
		})
	}

	/// [`Self::shards`] if `dir` is given, else [`Self::builtin`].
	pub fn open(dir: Option<&std::path::Path>, vocab: usize) -> Result<Self> {
		match dir {
			Some(dir) => Self::shards(dir, vocab),
			None => Self::builtin(),
		}
	}
}

/// Loads the pinned Shakespeare corpus with the byte tokenizer.
pub fn load_corpus() -> Result<Corpus> {
	let path = shakespeare::default_path()
		.context("no corpus location: set SHAKESPEARE_CORPUS or HOME")?;
	Corpus::from_shakespeare(&path, &ByteTokenizer).with_context(|| {
		format!("cannot load the corpus at {} (run scripts/fetch-corpus.sh)", path.display())
	})
}

/// The sparsification plan of a model for the run's chunking (`chunk_size` must be a square
/// `edge * edge`).
pub fn plan_for(model: &ModelConfig, params: &RunParams<Balance>) -> Result<Plan> {
	let edge = (params.chunk_size as f64).sqrt().round() as u32;
	if edge * edge != params.chunk_size || edge > u16::MAX as u32 {
		bail!("chunk_size {} is not a square tile", params.chunk_size);
	}
	if params.quant_bits != 2 {
		bail!("only 2-bit quantization is implemented, the run asks for {}", params.quant_bits);
	}
	let specs = ParamLayout::new(model)
		.specs()
		.iter()
		.map(|s| sparseloco::TensorSpec::new(s.name.clone(), &s.shape))
		.collect();
	let chunk = ChunkParams { edge: edge as u16, k: u16::try_from(params.topk_per_chunk)? };
	Ok(Plan::new(Layout::new(specs)?, chunk)?)
}

/// Resolves when the process is asked to stop: Ctrl-C (SIGINT) or, on Unix, SIGTERM (what
/// `kill`, systemd and `docker stop` send). Returns the signal's name for the log line.
pub async fn shutdown_signal() -> &'static str {
	#[cfg(unix)]
	{
		use tokio::signal::unix::{signal, SignalKind};
		match signal(SignalKind::terminate()) {
			Ok(mut term) => tokio::select! {
				_ = tokio::signal::ctrl_c() => "Ctrl-C",
				_ = term.recv() => "SIGTERM",
			},
			Err(_) => {
				let _ = tokio::signal::ctrl_c().await;
				"Ctrl-C"
			}
		}
	}
	#[cfg(not(unix))]
	{
		let _ = tokio::signal::ctrl_c().await;
		"Ctrl-C"
	}
}

/// What every role needs about its run.
#[derive(Clone)]
pub struct RunCtx {
	pub chain: Chain,
	pub run: RunId,
	pub params: RunParams<Balance>,
	pub model: ModelConfig,
	pub shape: BatchShape,
	pub plan: Arc<Plan>,
	pub corpus: Arc<Corpus>,
	/// Cancelled when the worker is asked to stop: roles finish their step and return,
	/// sleeps end at once.
	pub stop: CancellationToken,
	pub report: Reporter,
	/// How long to keep polling for a blob that is not in its store yet after the deadline.
	pub fetch_patience: Duration,
	/// Peer reads in flight at once ([`FETCH_CONCURRENCY`] unless set).
	pub fetch_concurrency: usize,
	/// Also read peer stores that are local directories or at loopback, private or
	/// link-local addresses (`--allow-local-stores`; the devnet sets it). Off by default:
	/// peer store URLs come from chain data.
	pub allow_local_stores: bool,
	/// Where training and evaluation run (the CPU unless set).
	pub device: crate::device::Device,
	/// The peer stores read so far, one client per URL, shared by clones of this context.
	pub peer_stores: PeerStores,
	/// The run's round clock: the chain's rule for every round's blocks and deadlines
	/// (fixed when the run was created; governance cannot change its windows).
	pub clock: RoundClock,
}

impl RunCtx {
	/// Reads the run's parameters and checks the model preset against its `model_hash` and
	/// the data against its `dataset_hash`.
	pub async fn new(
		chain: Chain,
		run: RunId,
		model_name: &str,
		data: &Dataset,
		stop: CancellationToken,
		report: Reporter,
	) -> Result<Self> {
		let status =
			chain.run_status(run).await?.with_context(|| format!("run {run} does not exist"))?;
		let (model, shape) = model_preset(model_name)?;
		if status.params.model_hash != model.config_hash() {
			bail!("model preset {model_name} does not match run {run}'s model hash");
		}
		match status.params.dataset_hash {
			// Runs created before storage version 4 name no dataset: unchecked.
			hash if hash == [0; 32] => report(Report::Warning {
				who: "worker".into(),
				message: format!(
					"run {run} names no dataset (created before storage version 4): training on {} unchecked",
					data.name
				),
			}),
			hash if hash != data.hash => bail!(
				"run {run} trains on the dataset {}, but this worker has {} ({}): pass --data DIR \
				 with the run's dataset (see `offchain-gpu data prepare`)",
				hex::encode(hash),
				data.name,
				hex::encode(data.hash)
			),
			_ => {}
		}
		let p = &status.params;
		let clock = RoundClock::new(
			status.start,
			u64::from(p.round_length),
			u64::from(p.commit_window),
			u64::from(p.score_window),
		)
		.map_err(|e| anyhow::anyhow!("run {run}'s round clock is inconsistent: {e:?}"))?;
		let plan = Arc::new(plan_for(&model, &status.params)?);
		// Runs created before storage version 3 have no blob length (zero): unchecked.
		let expected = status.params.blob_len;
		if expected != 0 && expected as usize != plan.blob_len() {
			bail!(
				"run {run} expects gradient blobs of {expected} bytes, but model preset {model_name} with the run's \
				 chunking gives {} bytes: this worker and the run disagree on the model or the wire format",
				plan.blob_len()
			);
		}
		Ok(Self {
			chain,
			run,
			params: status.params,
			model,
			shape,
			plan,
			corpus: data.corpus.clone(),
			stop,
			report,
			fetch_patience: Duration::from_secs(6),
			fetch_concurrency: FETCH_CONCURRENCY,
			allow_local_stores: false,
			device: crate::device::Device::Cpu,
			peer_stores: PeerStores::default(),
			clock,
		})
	}

	/// Which peer stores this worker reads.
	pub fn store_policy(&self) -> EndpointPolicy {
		EndpointPolicy { allow_local: self.allow_local_stores }
	}

	pub fn stopped(&self) -> bool {
		self.stop.is_cancelled()
	}

	pub async fn status(&self) -> Result<RunStatus<Balance>> {
		self.chain.run_status(self.run).await?.with_context(|| format!("run {} vanished", self.run))
	}

	pub fn outer_lr(&self) -> f32 {
		self.params.outer_lr_ppb as f32 / 1e9
	}

	/// First block of round `r` (the protocol's clock, as the chain reads it; the deadlines
	/// below are "never" past the end of `u64`).
	pub fn round_start(&self, r: Round) -> u64 {
		self.clock.round_start(r).unwrap_or(u64::MAX)
	}

	/// First block at which commits for round `r` are refused (blobs readable from here).
	pub fn commit_deadline(&self, r: Round) -> u64 {
		self.clock.commit_deadline(r).unwrap_or(u64::MAX)
	}

	/// First block at which scores of round `r` are revealed; commitments come before it.
	pub fn score_reveal_start(&self, r: Round) -> u64 {
		self.clock.score_reveal_start(r).unwrap_or(u64::MAX)
	}

	/// Settlement block of round `r` (end of its score window).
	pub fn settlement(&self, r: Round) -> u64 {
		self.clock.settlement_block(r).unwrap_or(u64::MAX)
	}

	/// The initial model every node starts from: seeded by the run seed.
	pub fn initial_params(&self) -> Vec<f32> {
		training_model::init_params(&self.model, self.params.run_seed)
	}

	/// Sleeps `d`, or less if the worker is asked to stop.
	pub async fn sleep(&self, d: Duration) {
		tokio::select! {
			_ = tokio::time::sleep(d) => {}
			_ = self.stop.cancelled() => {}
		}
	}
}

/// After a failed step: waits a moment and reconnects if the node stopped answering (a node
/// restart); a node that stays away is reported and retried on the next step.
pub async fn recover(ctx: &RunCtx) {
	tokio::time::sleep(Duration::from_secs(1)).await;
	match ctx.chain.recover(Duration::from_secs(30)).await {
		Ok(true) => (ctx.report)(Report::Reconnected { who: "worker".into() }),
		Ok(false) => {}
		Err(e) => (ctx.report)(Report::Warning { who: "worker".into(), message: format!("{e:#}") }),
	}
}

/// Why a committed gradient could not be used.
#[derive(Clone, Debug, PartialEq)]
pub enum BlobFault {
	/// Not in the miner's store (never revealed, or unreachable).
	Missing,
	/// Wrong length/hash, undecodable, or a header for another run/round/miner.
	Invalid(String),
}

/// One miner's committed gradient for a round, fetched and checked.
#[derive(Clone)]
pub struct Fetched {
	pub uid: Uid,
	pub account: AccountId,
	/// Block of the commitment.
	pub committed_at: u64,
	pub outcome: Result<SparseGradient, BlobFault>,
	/// The blob's bytes when it checked out (what a validator mirrors).
	pub blob: Option<Arc<Vec<u8>>>,
}

/// Fetches and checks the committed blobs of `uids` (all committers if `None`) for `round`.
/// Polls each store until `ctx.fetch_patience` has passed for blobs not there yet.
pub async fn fetch_round(ctx: &RunCtx, round: Round, uids: Option<&[Uid]>) -> Result<Vec<Fetched>> {
	fetch_round_within(ctx, round, uids, ctx.fetch_patience).await
}

/// [`fetch_round`] that waits at most `patience` for blobs not in their store yet (zero:
/// take what is there now). The reads run concurrently and all end within `patience +
/// TRANSFER_ALLOWANCE` (see [`FetchLimits`]). A commitment whose length is not the run's
/// blob length (`ctx.plan.blob_len()`) is invalid without a request.
pub async fn fetch_round_within(
	ctx: &RunCtx,
	round: Round,
	uids: Option<&[Uid]>,
	patience: Duration,
) -> Result<Vec<Fetched>> {
	let commitments = ctx.chain.round_commitments(ctx.run, round).await?;
	let peers: BTreeMap<Uid, (AccountId, Vec<u8>)> = ctx
		.chain
		.peers(ctx.run)
		.await?
		.into_iter()
		.filter(|p| p.role == pallet_training::Role::Miner)
		.map(|p| (p.uid, (p.who, p.store_url)))
		.collect();
	let blob_len = ctx.plan.blob_len();
	let mut wanted = Vec::new();
	let mut requests = Vec::new();
	for (uid, c) in commitments {
		if uids.is_some_and(|set| !set.contains(&uid)) {
			continue;
		}
		let Some((account, url)) = peers.get(&uid) else { continue };
		let key = gradient_key(ctx.run, round, account, &c.blob_hash);
		let fetch = match blob_request(blob_len, c.blob_len, url, key) {
			Ok(r) => {
				requests.push(r);
				None
			}
			Err(fault) => Some(fault),
		};
		wanted.push((uid, *account, c, fetch));
	}
	let limits =
		FetchLimits { patience, transfer: TRANSFER_ALLOWANCE, concurrency: ctx.fetch_concurrency };
	let mut blobs =
		fetch_blobs(&ctx.peer_stores, ctx.store_policy(), &requests, limits).await.into_iter();
	let mut out = Vec::with_capacity(wanted.len());
	for (uid, account, c, fault) in wanted {
		let (outcome, blob) = match fault {
			Some(fault) => (Err(fault), None),
			None => match blobs.next().unwrap_or(Err(BlobFault::Missing)) {
				Ok(blob) => match check_blob(ctx, round, &account, &c, &blob) {
					Ok(grad) => (Ok(grad), Some(Arc::new(blob))),
					Err(fault) => (Err(fault), None),
				},
				Err(fault) => (Err(fault), None),
			},
		};
		out.push(Fetched { uid, account, committed_at: c.at, outcome, blob });
	}
	Ok(out)
}

/// The reads of `round`'s blobs of `uids` (every committer with `None`): those in `reads`
/// that succeeded or found an invalid blob as they were; the missing and the unread ones
/// fetched now, without patience.
async fn reuse_reads(
	ctx: &RunCtx,
	round: Round,
	uids: Option<&[Uid]>,
	reads: &[Fetched],
) -> Result<Vec<Fetched>> {
	let wanted = |uid: &Uid| uids.is_none_or(|set| set.contains(uid));
	let settled = |f: &&Fetched| wanted(&f.uid) && !matches!(f.outcome, Err(BlobFault::Missing));
	let mut out: Vec<Fetched> = reads.iter().filter(settled).cloned().collect();
	let unread: Vec<Uid> = ctx
		.chain
		.round_commitments(ctx.run, round)
		.await?
		.into_iter()
		.map(|(uid, _)| uid)
		.filter(|uid| wanted(uid) && !out.iter().any(|f| f.uid == *uid))
		.collect();
	if !unread.is_empty() {
		out.extend(fetch_round_within(ctx, round, Some(&unread), Duration::ZERO).await?);
	}
	out.sort_by_key(|f| f.uid);
	Ok(out)
}

/// The read of a committed blob, or why there is none to make: a committed length other
/// than the run's `blob_len` can not be a valid blob, so nothing is downloaded for it.
fn blob_request(
	blob_len: usize,
	committed_len: u32,
	url: &[u8],
	key: String,
) -> Result<BlobRequest, BlobFault> {
	if committed_len as usize != blob_len {
		return Err(BlobFault::Invalid(format!(
			"committed length {committed_len} is not the run's blob length {blob_len}"
		)));
	}
	// A URL that is not UTF-8 becomes one that does not parse: Missing.
	Ok(BlobRequest { url: String::from_utf8_lossy(url).into_owned(), key, cap: blob_len as u64 })
}

/// Length, hash, decoding and header of a fetched blob against its commitment.
fn check_blob(
	ctx: &RunCtx,
	round: Round,
	account: &AccountId,
	c: &pallet_training::Commitment,
	blob: &[u8],
) -> Result<SparseGradient, BlobFault> {
	if blob.len() != c.blob_len as usize || sparseloco::blob_hash(blob) != c.blob_hash {
		return Err(BlobFault::Invalid("length or hash differs from the commitment".into()));
	}
	let grad =
		sparseloco::decode(&ctx.plan, blob).map_err(|e| BlobFault::Invalid(e.to_string()))?;
	let h = &grad.header;
	if h.run != ctx.run || h.round != round || &h.miner != account {
		return Err(BlobFault::Invalid("header names another run, round or miner".into()));
	}
	Ok(grad)
}

/// The time a round's reads get on top of their patience: a read that starts at the end of
/// the patience (with zero patience: the only read) still has this long to download.
pub const TRANSFER_ALLOWANCE: Duration = Duration::from_secs(5);

/// Reads of a round in flight at once unless the operator says otherwise
/// (`--fetch-concurrency`). More stalling stores than this delay the others' start, but not
/// the common deadline.
pub const FETCH_CONCURRENCY: usize = 16;

/// Between two reads of a blob that is not there yet.
const POLL_INTERVAL: Duration = Duration::from_millis(300);

/// How long the blob reads of one round may take, counted from the start of
/// [`fetch_blobs`]:
///
/// - a blob not in its store (or a store that fails) is asked for again until `patience`
///   has passed, and not after;
/// - every request (opening the store, the GET and its whole body) is cut off at
///   `patience + transfer`, however many stores stall.
///
/// So all reads of a round end within `patience + transfer`, and zero patience (take what
/// is there now) still permits one GET of up to `transfer`.
#[derive(Clone, Copy, Debug)]
pub struct FetchLimits {
	pub patience: Duration,
	pub transfer: Duration,
	/// Reads in flight at once (at least one).
	pub concurrency: usize,
}

/// One blob to read from a peer's store: `key` in the store at `url`, at most `cap` bytes.
#[derive(Clone, Debug)]
pub struct BlobRequest {
	pub url: String,
	pub key: String,
	pub cap: u64,
}

/// Reads `requests` from their peers' stores under `policy`, `limits.concurrency` at a
/// time, within `limits`; the results are in the order of `requests`. A blob is
/// [`BlobFault::Missing`] if it is not there in time, its store is refused, unreachable or
/// too slow, and [`BlobFault::Invalid`] if it is larger than its `cap`.
pub async fn fetch_blobs(
	stores: &PeerStores,
	policy: EndpointPolicy,
	requests: &[BlobRequest],
	limits: FetchLimits,
) -> Vec<Result<Vec<u8>, BlobFault>> {
	let start = tokio::time::Instant::now();
	let poll_until = start + limits.patience;
	let cut_off = poll_until + limits.transfer;
	// Futures of owned values, collected first: a closure that returns a future borrowing
	// its argument would not be `Send` for every lifetime, which the roles' tasks need.
	let reads: Vec<_> = requests
		.iter()
		.enumerate()
		.map(|(i, r)| {
			indexed(i, cut_off, fetch_blob(stores.clone(), policy, r.clone(), poll_until))
		})
		.collect();
	let mut done: Vec<(usize, Result<Vec<u8>, BlobFault>)> =
		futures::stream::iter(reads).buffer_unordered(limits.concurrency.max(1)).collect().await;
	done.sort_by_key(|(i, _)| *i);
	done.into_iter().map(|(_, r)| r).collect()
}

/// `read` cut off at `cut_off` (as Missing), with its index.
async fn indexed(
	i: usize,
	cut_off: tokio::time::Instant,
	read: impl std::future::Future<Output = Result<Vec<u8>, BlobFault>>,
) -> (usize, Result<Vec<u8>, BlobFault>) {
	(i, tokio::time::timeout_at(cut_off, read).await.unwrap_or(Err(BlobFault::Missing)))
}

/// One blob, polled for until `poll_until` (the caller bounds it in time).
async fn fetch_blob(
	stores: PeerStores,
	policy: EndpointPolicy,
	r: BlobRequest,
	poll_until: tokio::time::Instant,
) -> Result<Vec<u8>, BlobFault> {
	loop {
		let read = match stores.open(&r.url, &policy).await {
			Ok(store) => store.get(&r.key, r.cap).await,
			Err(e) => Err(e),
		};
		match read {
			Ok(Some(blob)) => return Ok(blob),
			Err(e @ StoreError::TooLarge { .. }) => return Err(BlobFault::Invalid(e.to_string())),
			// A refused or malformed URL stays so: no point asking again.
			Err(e) if e.is_refusal() => return Err(BlobFault::Missing),
			// Not there yet, or the store is unreachable: the miner's availability is its own
			// responsibility.
			Ok(None) | Err(_) => {}
		}
		if tokio::time::Instant::now() + POLL_INTERVAL > poll_until {
			return Err(BlobFault::Missing);
		}
		tokio::time::sleep(POLL_INTERVAL).await;
	}
}

/// How long reading a checkpoint of `len` bytes may take: a minute, plus a second per MB (a
/// store slower than 1 MB/s is not one to join from).
fn checkpoint_time_limit(len: u64) -> Duration {
	Duration::from_secs(60 + len / 1_000_000)
}

/// The synced model: `theta_{next_round}`, i.e. every round below `next_round` applied.
///
/// # One model for every honest node
///
/// A node applies each round as soon as its blobs are readable, with the blobs of the
/// aggregation set it could read ([`fetch_round`]): its own view. Views can differ (a blob
/// published at the deadline, a store that serves some readers only), so the chain fixes
/// each round's *applied set* at settlement from the validators' verdicts
/// ([`training_protocol::applied`]). Until then the node keeps, per unsettled round, the
/// model before it and the gradients it applied; when the settled set differs from its
/// view it redoes the round from that model with the settled set (fetching what it lacked
/// from the miner's store or from a validator's mirror, hash-checked) and reapplies the
/// later unsettled rounds. Every honest node therefore holds the same parameters, bit for
/// bit, for every settled round ([`Report::Settled`] carries their hash). The cost: about
/// two rounds of model copies in memory (a round settles a round and a bit after its
/// blobs are applied) and, when views differed, one replay of the outer steps since; no
/// waiting, since nobody trains on a settled model only.
pub struct Synced {
	pub theta: Vec<f32>,
	pub next_round: Round,
	/// Mean |change| of the parameters the last non-empty outer step moved (the sync check's
	/// unit of distance).
	pub step_scale: f32,
	who: String,
	/// The rounds applied with this node's own view whose applied set is not settled yet,
	/// oldest first.
	unsettled: std::collections::VecDeque<Unsettled>,
}

/// A round applied with this node's view, awaiting the chain's applied set.
struct Unsettled {
	round: Round,
	/// The model before the round.
	before: Vec<f32>,
	/// The gradients applied, by uid (sorted).
	applied: Vec<(Uid, SparseGradient)>,
}

/// Applies `grads` (sorted by uid, as every node orders them) to `theta` with the run's
/// aggregation and outer step; returns the mean |change| of the parameters that moved
/// (`None` when there was nothing to apply).
fn outer_step(ctx: &RunCtx, theta: &mut [f32], grads: &[SparseGradient]) -> Result<Option<f32>> {
	if grads.is_empty() {
		return Ok(None);
	}
	let before = theta.to_vec();
	tokio::task::block_in_place(|| sparseloco::aggregate(&ctx.plan, grads, theta, ctx.outer_lr()))?;
	let (mut moved, mut count) = (0f64, 0usize);
	for (a, b) in before.iter().zip(theta.iter()) {
		if a != b {
			moved += (a - b).abs() as f64;
			count += 1;
		}
	}
	Ok(Some(if count == 0 { 0.0 } else { (moved / count as f64) as f32 }))
}

/// The blobs of `uids` for a round whose applied set is settled: from each miner's store,
/// and for those it does not serve (or serves wrong), from the stores of the validators,
/// which mirror the aggregation set's blobs they read (largest stake first). Every copy is
/// checked against the commitment. No patience: the round is long over.
pub async fn fetch_applied(ctx: &RunCtx, round: Round, uids: &[Uid]) -> Result<Vec<Fetched>> {
	let mut got = fetch_round_within(ctx, round, Some(uids), Duration::ZERO).await?;
	let lacking: Vec<usize> = (0..got.len()).filter(|&i| got[i].outcome.is_err()).collect();
	if lacking.is_empty() {
		return Ok(got);
	}
	let commitments: BTreeMap<Uid, pallet_training::Commitment> =
		ctx.chain.round_commitments(ctx.run, round).await?.into_iter().collect();
	let mut mirrors: Vec<_> = ctx
		.chain
		.peers(ctx.run)
		.await?
		.into_iter()
		.filter(|p| p.role == pallet_training::Role::Validator)
		.collect();
	mirrors.sort_by_key(|m| std::cmp::Reverse(m.held));
	let blob_len = ctx.plan.blob_len();
	let mut asked = Vec::new();
	let mut requests = Vec::new();
	for &i in &lacking {
		let Some(c) = commitments.get(&got[i].uid) else { continue };
		let key = gradient_key(ctx.run, round, &got[i].account, &c.blob_hash);
		for m in &mirrors {
			if let Ok(r) = blob_request(blob_len, c.blob_len, &m.store_url, key.clone()) {
				asked.push((i, *c));
				requests.push(r);
			}
		}
	}
	let limits = FetchLimits {
		patience: Duration::ZERO,
		transfer: TRANSFER_ALLOWANCE,
		concurrency: ctx.fetch_concurrency,
	};
	let copies = fetch_blobs(&ctx.peer_stores, ctx.store_policy(), &requests, limits).await;
	for ((i, c), copy) in asked.into_iter().zip(copies) {
		let f = &mut got[i];
		if f.outcome.is_ok() {
			continue;
		}
		if let Ok(blob) = copy {
			if let Ok(grad) = check_blob(ctx, round, &f.account, &c, &blob) {
				f.outcome = Ok(grad);
				f.blob = Some(Arc::new(blob));
			}
		}
	}
	Ok(got)
}

impl Synced {
	pub fn new(ctx: &RunCtx, who: impl Into<String>) -> Self {
		Self {
			theta: ctx.initial_params(),
			next_round: 0,
			step_scale: 0.0,
			who: who.into(),
			unsettled: Default::default(),
		}
	}

	/// Rounds below this one are applied exactly as the chain settled them.
	pub fn settled_round(&self) -> Round {
		self.unsettled.front().map_or(self.next_round, |u| u.round)
	}

	/// The model with every round below [`Self::settled_round`] applied as settled: the same,
	/// bit for bit, on every honest node.
	pub fn settled_theta(&self) -> &[f32] {
		self.unsettled.front().map_or(&self.theta, |u| &u.before)
	}

	/// Where a node that joins late starts: the newest checkpoint agreed by a stake majority
	/// of validators that it can load from one of the validators that recorded it (bounded
	/// reads, hash checked, see [`join`]), or the initial model while the chain still keeps
	/// round 0. The rounds after it are then replayed by [`Self::advance_to`].
	pub async fn join(ctx: &RunCtx, who: impl Into<String>) -> Result<Self> {
		let mut synced = Self::new(ctx, who);
		let agreed = ctx.chain.agreed_checkpoints(ctx.run).await?;
		let first_kept = ctx.chain.first_kept_round(ctx.run).await?;
		let max = (training_model::checkpoint::HEADER_LEN + 4 * ctx.model.num_params()) as u64;
		let load = |a: join::Attempt| async move {
			// A validator's store, named on chain: read as a peer's, bounded in size and time.
			let store = ctx.peer_stores.open(&a.url, &ctx.store_policy()).await?;
			let key = crate::store::checkpoint_key(ctx.run, a.round, &a.hash);
			let bytes = store
				.get_within(&key, max, checkpoint_time_limit(max))
				.await?
				.context("not in that store")?;
			let theta = training_model::checkpoint::decode(&ctx.model, &bytes)?;
			if training_model::params_hash(&theta) != a.hash {
				bail!("the parameters do not match the agreed hash");
			}
			Ok(theta)
		};
		let (start, failed) =
			join::first_loadable(join::attempts(&agreed, first_kept), first_kept, load).await?;
		match start {
			join::Start::Checkpoint(a, theta) => {
				(ctx.report)(Report::Joined {
					who: synced.who.clone(),
					round: a.round,
					url: a.url,
					failed,
				});
				synced.theta = theta;
				synced.next_round = a.round;
			}
			join::Start::Initial => {
				for f in failed {
					(ctx.report)(Report::Warning {
						who: synced.who.clone(),
						message: format!("starting from the initial model: {f}"),
					});
				}
			}
		}
		Ok(synced)
	}

	/// A node that fell behind the rounds the chain keeps (offline for longer than the
	/// retention) cannot replay them: it starts again from an agreed checkpoint no later than
	/// `target`.
	async fn rejoin_if_pruned(&mut self, ctx: &RunCtx, target: Round) -> Result<()> {
		let first_kept = ctx.chain.first_kept_round(ctx.run).await?;
		if self.next_round >= first_kept {
			return Ok(());
		}
		(ctx.report)(Report::Warning {
			who: self.who.clone(),
			message: format!(
				"round {} is pruned on chain (it keeps rounds from {first_kept}): rejoining from a checkpoint",
				self.next_round
			),
		});
		let joined = Self::join(ctx, self.who.clone()).await?;
		if joined.next_round > target {
			bail!(
				"the newest loadable checkpoint (round {}) is past round {target}",
				joined.next_round
			);
		}
		*self = joined;
		Ok(())
	}

	/// Applies rounds `next_round .. target` (each round's commit deadline must have passed).
	pub async fn advance_to(&mut self, ctx: &RunCtx, target: Round) -> Result<()> {
		self.advance_with(ctx, target, None).await
	}

	/// [`Self::advance_to`] reusing `known`, the reads a node already made of one round's
	/// blobs right after its commit deadline (a validator's, from scoring it): a blob already
	/// read, or found invalid, is not read again; one that was missing is asked for once more
	/// without patience (a store that was down may be back: the node must not drop what the
	/// miners applied), so a stalling store costs a validator one deadline and one transfer
	/// allowance per round instead of two deadlines.
	///
	/// First brings the unsettled rounds in line with the applied sets the chain settled
	/// since (see the type's docs); a round already settled when it is reached (a node
	/// catching up) is applied with its settled set directly.
	pub async fn advance_with(
		&mut self,
		ctx: &RunCtx,
		target: Round,
		known: Option<(Round, &[Fetched])>,
	) -> Result<()> {
		if self.next_round < target {
			self.rejoin_if_pruned(ctx, target).await?;
		}
		self.settle(ctx).await?;
		while self.next_round < target {
			let round = self.next_round;
			let fetching = Instant::now();
			let settled = if self.unsettled.is_empty() && round < ctx.status().await?.next_settle {
				Some(ctx.chain.applied_set(ctx.run, round).await?)
			} else {
				None
			};
			let fetched = match &settled {
				Some(Some(set)) => fetch_applied(ctx, round, set).await?,
				_ => {
					let set = ctx.chain.aggregation_set(ctx.run, round).await?;
					match known.filter(|(r, _)| *r == round) {
						Some((_, reads)) => reuse_reads(ctx, round, set.as_deref(), reads).await?,
						None => fetch_round(ctx, round, set.as_deref()).await?,
					}
				}
			};
			if let Some(Some(set)) = &settled {
				self.warn_lacking(ctx, round, set, &fetched);
			}
			let dropped = fetched.iter().filter(|f| f.outcome.is_err()).count();
			let applied: Vec<(Uid, SparseGradient)> =
				fetched.into_iter().filter_map(|f| f.outcome.ok().map(|g| (f.uid, g))).collect();
			let bytes = (applied.len() * ctx.plan.blob_len()) as u64;
			let fetch_secs = fetching.elapsed().as_secs_f32();
			let applying = Instant::now();
			let before = settled.is_none().then(|| self.theta.clone());
			let grads: Vec<SparseGradient> = applied.iter().map(|(_, g)| g.clone()).collect();
			if let Some(scale) = outer_step(ctx, &mut self.theta, &grads)? {
				self.step_scale = scale;
			}
			let apply_secs = applying.elapsed().as_secs_f32();
			let used = applied.len();
			(ctx.report)(Report::Applied {
				who: self.who.clone(),
				round,
				used,
				dropped,
				bytes,
				fetch_secs,
				apply_secs,
			});
			self.next_round += 1;
			match before {
				Some(before) => self.unsettled.push_back(Unsettled { round, before, applied }),
				None => self.report_settled(ctx, round, false),
			}
		}
		Ok(())
	}

	/// Settles the unsettled rounds the chain has settled since: a round whose applied set
	/// is the one this node applied needs nothing; otherwise the round is redone from the
	/// model before it with the settled set, and the later unsettled rounds are reapplied
	/// on top. A round settled without an applied set (settled before the chain kept them)
	/// keeps this node's view.
	async fn settle(&mut self, ctx: &RunCtx) -> Result<()> {
		if self.unsettled.is_empty() {
			return Ok(());
		}
		let next_settle = ctx.status().await?.next_settle;
		while let Some(round) = self.unsettled.front().map(|u| u.round).filter(|r| *r < next_settle)
		{
			let verdict = ctx.chain.applied_set(ctx.run, round).await?;
			let Some(front) = self.unsettled.pop_front() else { break };
			let mine: Vec<Uid> = front.applied.iter().map(|(uid, _)| *uid).collect();
			let set = match verdict {
				Some(set) if set != mine => set,
				_ => {
					self.report_settled(ctx, round, false);
					continue;
				}
			};
			let lacking: Vec<Uid> = set.iter().copied().filter(|uid| !mine.contains(uid)).collect();
			let fetched = if lacking.is_empty() {
				Vec::new()
			} else {
				fetch_applied(ctx, round, &lacking).await?
			};
			self.warn_lacking(ctx, round, &lacking, &fetched);
			let mut grads: Vec<(Uid, SparseGradient)> =
				front.applied.into_iter().filter(|(uid, _)| set.contains(uid)).collect();
			grads.extend(fetched.into_iter().filter_map(|f| f.outcome.ok().map(|g| (f.uid, g))));
			grads.sort_by_key(|(uid, _)| *uid);
			let mut theta = front.before;
			let settled: Vec<SparseGradient> = grads.into_iter().map(|(_, g)| g).collect();
			let mut scale = outer_step(ctx, &mut theta, &settled)?;
			for later in self.unsettled.iter_mut() {
				later.before.clone_from(&theta);
				let grads: Vec<SparseGradient> =
					later.applied.iter().map(|(_, g)| g.clone()).collect();
				scale = outer_step(ctx, &mut theta, &grads)?.or(scale);
			}
			self.theta = theta;
			if let Some(scale) = scale {
				self.step_scale = scale;
			}
			self.report_settled(ctx, round, true);
		}
		Ok(())
	}

	/// Reports the settled model after `round`.
	fn report_settled(&self, ctx: &RunCtx, round: Round, replayed: bool) {
		let params_hash = training_model::params_hash(self.settled_theta());
		(ctx.report)(Report::Settled { who: self.who.clone(), round, params_hash, replayed });
	}

	/// Warns when a blob of a settled applied set could not be obtained from anyone: this
	/// node's model then departs from the others' (until it rejoins from a checkpoint).
	fn warn_lacking(&self, ctx: &RunCtx, round: Round, set: &[Uid], fetched: &[Fetched]) {
		let lacking: Vec<Uid> = set
			.iter()
			.copied()
			.filter(|uid| !fetched.iter().any(|f| f.uid == *uid && f.outcome.is_ok()))
			.collect();
		if !lacking.is_empty() {
			(ctx.report)(Report::Warning {
				who: self.who.clone(),
				message: format!(
					"round {round}: no store or validator mirror serves the settled blobs of miners {lacking:?}; \
					 this node's model departs from the run's"
				),
			});
		}
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	/// Every run preset resolves, and each trains within a 24 GB GPU at its batch shape
	/// (the CUDA context and cuBLAS workspace take well under the 2 GiB left over).
	#[test]
	fn run_presets_resolve_and_fit_a_24_gb_gpu() {
		for name in MODEL_PRESETS {
			let (cfg, shape) = model_preset(name).unwrap();
			let total = cfg.training_memory(shape.batch_size, shape.seq_len).gpu_total();
			assert!(total < 22 << 30, "{name}: {total} bytes");
		}
		assert!(model_preset("gpt2-xl").is_err());
	}

	/// A committed length other than the run's is invalid before any request; the cap of a
	/// read is the run's length, not the committed one.
	#[test]
	fn fetch_blob_request_takes_the_runs_length() {
		let url = b"http://8.8.8.8/grads";
		match blob_request(1000, u32::MAX, url, "k".into()) {
			Err(BlobFault::Invalid(why)) => assert!(why.contains("1000"), "{why}"),
			other => panic!("expected Invalid, got {other:?}"),
		}
		assert!(matches!(blob_request(1000, 999, url, "k".into()), Err(BlobFault::Invalid(_))));
		let r = blob_request(1000, 1000, url, "k".into()).unwrap();
		assert_eq!((r.url.as_str(), r.key.as_str(), r.cap), ("http://8.8.8.8/grads", "k", 1000));
	}

	/// Zero patience still reads what is there; refused and absent blobs are Missing at
	/// once.
	#[tokio::test]
	async fn fetch_blobs_with_zero_patience() {
		let dir = std::env::temp_dir().join(format!("fetch-blobs-{}", std::process::id()));
		let store = crate::store::BlobStore::new(&dir);
		store.put("run/0/a", b"hello").await.unwrap();
		let url = format!("file://{}", dir.display());
		let request = |key: &str, cap| BlobRequest { url: url.clone(), key: key.into(), cap };
		let requests = [request("run/0/a", 5), request("run/0/absent", 5), request("run/0/a", 4)];
		let limits = FetchLimits {
			patience: Duration::ZERO,
			transfer: Duration::from_secs(5),
			concurrency: FETCH_CONCURRENCY,
		};
		let stores = PeerStores::default();
		let started = Instant::now();
		let got = fetch_blobs(&stores, EndpointPolicy::ALLOW_LOCAL, &requests, limits).await;
		assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
		assert_eq!(got[0], Ok(b"hello".to_vec()));
		assert_eq!(got[1], Err(BlobFault::Missing));
		assert!(matches!(&got[2], Err(BlobFault::Invalid(_))), "{:?}", got[2]);
		let refused = fetch_blobs(&stores, EndpointPolicy::PUBLIC, &requests[..1], limits).await;
		assert_eq!(refused, vec![Err(BlobFault::Missing)]);
		let _ = std::fs::remove_dir_all(&dir);
	}
}
