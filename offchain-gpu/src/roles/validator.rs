//! The validator: register with stake, keep the synced model and, during round `r + 1`'s
//! score window, score every miner eligible for round `r` (Gauntlet):
//!
//! - **loss_score**: the miner's decoded gradient alone, clipped to the round's per-tensor
//!   median norms, applied to `theta_r` with step `eval_lr_factor * outer_lr`; relative loss
//!   drop `(before - after) / before` on one random batch shared by all miners of the round
//!   (`Corpus::round_batch(eval_seed, r, 0)`), in parts per billion.
//! - **indicator**: `+1` if the gradient passes two checks, else `-1`. *Gain*: on a few of
//!   the miner's own assigned batches it lowers the loss at least `1 - indicator_tolerance`
//!   times as much as the median peer's gradient does. *Direction*: its cosine with a
//!   reference update, which the validator trains itself from `theta_r` (the miners' inner
//!   loop, H steps on the round's random batches), is at least `1 - indicator_tolerance`
//!   times the median peer's. The second catches a miner that trains on random tokens: its
//!   update lowers the loss on text early in training (it flattens the output
//!   distribution) but points elsewhere (measured: docs/benchmarks.md).
//! - **sync**: the blob header's 16 fingerprint values against the validator's `theta_r` at
//!   the same positions, in units of the last outer step's mean |change|; `x` is the
//!   interquartile mean of those ratios and `sync = training_protocol::sync_score_ppm(x)`.
//! - **flags**: `MISSING` (committed nothing, or the blob is not in its store), `INVALID`
//!   (length/hash mismatch, undecodable, wrong header), `COPIED` (kept indices overlap, by
//!   at least `copy_overlap`, another miner's gradient of the previous round, or by at least
//!   `stale_overlap` its own (stale work), or another of the same round not committed in a strictly later block: every
//!   pair is compared and sybils committing together are all flagged; see
//!   [`super::copies`]). Commit-then-reveal makes copying the current round's published
//!   blobs impossible, so the freshest a copier can take is the previous round's.
//!
//! Every batch the validator evaluates on (the loss score's, the reference update's and which
//! of a miner's assigned steps the gain check probes) is drawn with `eval_seed`
//! ([`eval_seed`]): the run seed mixed with the round's seed, the hash of the last block
//! that accepted the round's commitments (the chain's `round_seed`). It exists only after
//! every miner has committed and is the same for every validator, so no miner can fit the
//! batches it will be judged on.
//!
//! Scores go on chain sorted by uid. The smoothing of the indicator, the OpenSkill update
//! and penalties are the chain's job. Every `checkpoint_every` rounds the validator also
//! publishes `theta_r` in its store and records its hash on chain, for late joiners.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use subxt_signer::sr25519::Keypair;
use training_model::{eval_loss, eval_loss_many, Assignment, Batch};
use training_protocol::{Fixed, MinerScore, Round, ScoreFlags, Uid};

use super::copies::{copy_check, CopyVerdict, Submission, Thresholds};
use super::{fetch_round, BlobFault, Fetched, Report, RunCtx, Synced};
use crate::chain::{account_of, Balance};
use crate::store::{checkpoint_key, BlobStore};

/// How a validator behaves: honestly, or as one of the adversaries the end-to-end tests run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Behaviour {
	#[default]
	Honest,
	/// Posts scores drawn at random (stake-weighted medians must ignore it).
	RandomScores,
	/// Evaluates one miner and posts that single score (pay must follow coverage).
	Lazy,
	/// Evaluates nothing: commits to a placeholder, waits for the others' reveals and
	/// submits their median as late as it can (the score commitment must refuse it).
	Copycat,
	/// Scores honestly but records a checkpoint every round as soon as the round ends: a
	/// poisoned model (in its store, with that model's hash) in most rounds, and in the
	/// honest validators' checkpoint rounds the true hash at a URI where nothing answers
	/// (neither may stop or poison a joiner).
	PoisonCheckpoints,
}

impl Behaviour {
	/// Every behaviour, honest first.
	pub const ALL: [Behaviour; 5] =
		[Behaviour::Honest, Behaviour::RandomScores, Behaviour::Lazy, Behaviour::Copycat, Behaviour::PoisonCheckpoints];

	/// The name the command line uses.
	pub fn name(self) -> &'static str {
		match self {
			Behaviour::Honest => "honest",
			Behaviour::RandomScores => "random-scores",
			Behaviour::Lazy => "lazy",
			Behaviour::Copycat => "copycat",
			Behaviour::PoisonCheckpoints => "poison-checkpoints",
		}
	}
}

impl std::str::FromStr for Behaviour {
	type Err = anyhow::Error;
	fn from_str(s: &str) -> Result<Self> {
		Behaviour::ALL.into_iter().find(|b| b.name() == s).ok_or_else(|| {
			let names: Vec<_> = Behaviour::ALL.iter().map(|b| b.name()).collect();
			anyhow::anyhow!("unknown validator behaviour {s:?} (one of {})", names.join(", "))
		})
	}
}

/// Where a poisoning validator says its true checkpoints are: a port nothing listens on.
pub const DEAD_CHECKPOINT_URL: &str = "http://127.0.0.1:9/checkpoints";

/// How a validator works.
#[derive(Clone, Debug)]
pub struct ValidatorConfig {
	/// Stake to hold at registration.
	pub stake: Balance,
	/// The evaluation step is `eval_lr_factor * outer_lr` (reference 0.2).
	pub eval_lr_factor: f32,
	/// Held-out batches for the reported held-out loss.
	pub heldout_batches: u64,
	/// Assigned batches (steps drawn from the round) the indicator's own-data improvement is
	/// measured on.
	pub own_batches: u64,
	/// The indicator is `+1` when the miner's gain on its own batches is at least
	/// `1 - indicator_tolerance` times the reference gradient's gain on them.
	pub indicator_tolerance: f32,
	/// Index overlap with another miner's gradient (of the round, or of the previous one) at
	/// or above which a gradient is flagged as copied. Honest pairs on the devnet model
	/// overlap 0.22-0.44 (median 0.31); a copy overlaps 1.0 (docs/benchmarks.md).
	pub copy_overlap: f64,
	/// Index overlap with the miner's own previous gradient at or above which it is flagged
	/// as stale. Honest consecutive gradients overlap at most 0.03 on the devnet model.
	pub stale_overlap: f64,
	/// Record a checkpoint every this many rounds (0: never).
	pub checkpoint_every: u64,
	pub behaviour: Behaviour,
}

impl Default for ValidatorConfig {
	fn default() -> Self {
		Self {
			stake: 100 * crate::chain::UNIT,
			eval_lr_factor: 0.5,
			heldout_batches: 4,
			own_batches: 4,
			indicator_tolerance: 0.5,
			copy_overlap: 0.7,
			stale_overlap: 0.3,
			checkpoint_every: 10,
			behaviour: Behaviour::Honest,
		}
	}
}

/// Registers (if needed) and runs a validator until `ctx.stop` is set. The validator's store
/// holds its checkpoints.
pub async fn run(ctx: RunCtx, key: Keypair, store: BlobStore, cfg: ValidatorConfig) -> Result<()> {
	let me = account_of(&key);
	let peer = match ctx.chain.peer(ctx.run, &me).await? {
		Some(p) => p,
		None => {
			ctx.chain
				.register_validator(&key, ctx.run, cfg.stake, store.url())
				.await
				.context("registering as a validator (is the key funded with the stake and fees?)")?;
			ctx.chain.peer(ctx.run, &me).await?.context("registration not visible")?
		}
	};
	let vuid = peer.uid;
	let who = format!("validator {vuid}");
	let mut synced = Synced::join(&ctx, who.clone()).await?;
	let heldout: Vec<Batch> =
		(0..cfg.heldout_batches).map(|i| ctx.corpus.heldout_batch(i, ctx.shape)).collect::<Result<_, _>>()?;
	let mut scored: Option<Round> = None;
	// The gradients of the round scored last, kept for the next round's copy check.
	let mut last_round: Option<(Round, Vec<Fetched>)> = None;

	while !ctx.stopped() {
		let step = async {
			let status = ctx.status().await?;
			let Some(round) = status.round else { return Ok(false) };
			// Score round s = round - 1 once its blobs are readable (one block of grace).
			if round == 0 {
				return Ok(false);
			}
			let s = round - 1;
			let open = status.now > ctx.commit_deadline(&status, s);
			// Scores are committed before the round's reveal phase and revealed in it.
			let reveal_at = ctx.score_reveal_start(&status, s);
			if !(open && scored.is_none_or(|t| t < s) && status.now + 1 < reveal_at) {
				return Ok(false);
			}
			// The round's seed is recorded at its commit deadline (visible a block later).
			let Some(round_seed) = ctx.chain.round_seed(ctx.run, s).await? else { return Ok(false) };
			let eval_seed = eval_seed(ctx.params.run_seed, &round_seed);
			if cfg.behaviour == Behaviour::Copycat {
				scored = Some(s);
				copy_scores(&ctx, &key, s, reveal_at, ctx.settlement(&status, s)).await?;
				return Ok(true);
			}
			synced.advance_to(&ctx, s).await?;
			if cfg.behaviour == Behaviour::PoisonCheckpoints && s > 0 {
				poison_checkpoint(&ctx, &key, &store, &synced, s, cfg.checkpoint_every).await?;
			}
			let evaluating = Instant::now();
			let heldout_loss = tokio::task::block_in_place(|| eval_loss_many(&ctx.model, &synced.theta, &heldout))?;
			// The previous round's gradients for the copy check: what a copier could have read
			// before this round's commitments closed. Those kept from scoring that round, and
			// the rest fetched afresh, so that a store down at either time alone does not blind
			// the check.
			let fetching = Instant::now();
			let mut earlier = if s > 0 {
				super::fetch_round_within(&ctx, s - 1, None, Duration::ZERO).await?
			} else {
				Vec::new()
			};
			if let Some((r, kept)) = &last_round {
				if *r + 1 == s {
					merge_fetched(&mut earlier, kept);
				}
			}
			let mut fetched = fetch_round(&ctx, s, None).await?;
			if cfg.behaviour == Behaviour::Lazy {
				fetched.truncate(1);
			}
			let fetch_secs = fetching.elapsed().as_secs_f32();
			last_round = Some((s, fetched.clone()));
			let (mut scores, details) =
				score_round(&ctx, &synced, &status, s, eval_seed, &cfg, &fetched, &earlier).await?;
			if cfg.behaviour == Behaviour::RandomScores {
				randomize(&mut scores, s, vuid);
			}
			if cfg.behaviour == Behaviour::Lazy {
				// Only the one miner it looked at (not MISSING flags for all the others).
				scores.retain(|sc| fetched.iter().any(|f| f.uid == sc.uid));
			}
			let eval_secs = (evaluating.elapsed().as_secs_f32() - fetch_secs).max(0.0);
			scored = Some(s);
			if !scores.is_empty() {
				commit_and_reveal(&ctx, &key, s, &scores, reveal_at).await?;
			}
			(ctx.report)(Report::Scored { validator: vuid, round: s, heldout_loss, scores, details, eval_secs, fetch_secs });
			let records = cfg.behaviour != Behaviour::PoisonCheckpoints;
			if records && cfg.checkpoint_every > 0 && s > 0 && s % cfg.checkpoint_every == 0 {
				record_checkpoint(&ctx, &key, &store, &synced, s).await?;
			}
			anyhow::Ok(true)
		};
		match step.await {
			Ok(true) => {}
			Ok(false) => ctx.sleep(Duration::from_millis(700)).await,
			Err(e) => {
				(ctx.report)(Report::Warning { who: who.clone(), message: format!("{e:#}") });
				super::recover(&ctx).await;
			}
		}
	}
	Ok(())
}

/// Commits to `scores` for round `s` (hash of the scores and a fresh random salt), waits
/// for the round's reveal phase (block `reveal_at`) and reveals them. One extra transaction
/// per round; the salt never leaves this function before the reveal.
async fn commit_and_reveal(ctx: &RunCtx, key: &Keypair, s: Round, scores: &[MinerScore], reveal_at: u64) -> Result<()> {
	let salt = fresh_salt()?;
	let hash = pallet_training::score_commitment(scores, &salt);
	ctx.chain.commit_scores(key, ctx.run, s, hash).await.context("committing scores")?;
	// A transaction sent now lands in the next block at the earliest: send the reveal once
	// the best block is the one before the reveal phase (finalized state lags behind, and the
	// reveal phase is only a few blocks long).
	loop {
		if ctx.chain.best_block_number().await? + 1 >= reveal_at {
			break;
		}
		if ctx.stopped() {
			bail!("stopped before revealing the scores of round {s}");
		}
		ctx.sleep(Duration::from_millis(500)).await;
	}
	ctx.chain.submit_scores(key, ctx.run, s, scores, salt).await.context("revealing scores")
}

/// 32 bytes from the operating system's random source: the salt must be unguessable, or
/// anyone could test likely score lists against a commitment.
fn fresh_salt() -> Result<[u8; 32]> {
	use std::io::Read;
	let mut salt = [0u8; 32];
	std::fs::File::open("/dev/urandom")
		.and_then(|mut f| f.read_exact(&mut salt))
		.context("reading /dev/urandom for a score salt")?;
	Ok(salt)
}

/// Publishes `theta_s` (the synced model before round `s` is applied) in the validator's
/// store and records its hash on chain.
async fn record_checkpoint(ctx: &RunCtx, key: &Keypair, store: &BlobStore, synced: &Synced, s: Round) -> Result<()> {
	debug_assert_eq!(synced.next_round, s);
	let bytes = training_model::checkpoint::encode(&ctx.model, &synced.theta)?;
	let hash = training_model::params_hash(&synced.theta);
	store.put(&checkpoint_key(ctx.run, s, &hash), &bytes).await?;
	ctx.chain.commit_checkpoint(key, ctx.run, s, hash, store.url()).await
}

/// The copycat's round: a commitment to an empty list (it has nothing of its own), then,
/// in the last block of the reveal phase, the median of every score revealed so far, sent
/// with that commitment's salt. The chain refuses it (the hash binds the empty list), so
/// the copycat is paid nothing; the refusal is reported, not an error.
async fn copy_scores(ctx: &RunCtx, key: &Keypair, s: Round, reveal_at: u64, close: u64) -> Result<()> {
	let salt = fresh_salt()?;
	ctx.chain.commit_scores(key, ctx.run, s, pallet_training::score_commitment(&[], &salt)).await?;
	while ctx.chain.best_block_number().await? + 2 < close.max(reveal_at + 1) {
		if ctx.stopped() {
			return Ok(());
		}
		ctx.sleep(Duration::from_millis(500)).await;
	}
	let revealed = ctx.chain.revealed_scores(ctx.run, s).await?;
	let copied = median_scores(revealed.iter().map(|(_, list)| list.as_slice()));
	if let Err(e) = ctx.chain.submit_scores(key, ctx.run, s, &copied, salt).await {
		(ctx.report)(Report::Warning {
			who: "copycat".into(),
			message: format!("round {s}: copied scores of {} validators refused: {e:#}", revealed.len()),
		});
	}
	Ok(())
}

/// Per miner, the median of each field over the lists that score it (what a copycat posts).
fn median_scores<'a>(lists: impl Iterator<Item = &'a [MinerScore]>) -> Vec<MinerScore> {
	let mut by_uid: BTreeMap<Uid, Vec<MinerScore>> = BTreeMap::new();
	for list in lists {
		for sc in list {
			by_uid.entry(sc.uid).or_default().push(*sc);
		}
	}
	by_uid
		.into_iter()
		.map(|(uid, mut v)| {
			let mid = v.len() / 2;
			v.sort_by_key(|sc| sc.loss_score);
			let loss_score = v[mid].loss_score;
			v.sort_by_key(|sc| sc.sync_ppm);
			let sync_ppm = v[mid].sync_ppm;
			v.sort_by_key(|sc| sc.indicator);
			MinerScore { uid, loss_score, indicator: v[mid].indicator, sync_ppm, flags: v[mid].flags }
		})
		.collect()
}

/// The poisoning validator's checkpoint for round `s` (see [`Behaviour::PoisonCheckpoints`]):
/// recorded before it scores, so before any honest validator records the round.
async fn poison_checkpoint(
	ctx: &RunCtx,
	key: &Keypair,
	store: &BlobStore,
	synced: &Synced,
	s: Round,
	every: u64,
) -> Result<()> {
	if every > 0 && s % every == 0 {
		let hash = training_model::params_hash(&synced.theta);
		return ctx.chain.commit_checkpoint(key, ctx.run, s, hash, DEAD_CHECKPOINT_URL).await;
	}
	let poisoned: Vec<f32> = synced.theta.iter().map(|x| x + 1.0).collect();
	let bytes = training_model::checkpoint::encode(&ctx.model, &poisoned)?;
	let hash = training_model::params_hash(&poisoned);
	store.put(&checkpoint_key(ctx.run, s, &hash), &bytes).await?;
	ctx.chain.commit_checkpoint(key, ctx.run, s, hash, store.url()).await
}

/// Replaces every score by a random one (a deterministic stream per validator and round).
fn randomize(scores: &mut [MinerScore], round: Round, vuid: Uid) {
	let mut state = u64::from_le_bytes(
		sp_crypto_hashing::blake2_256(&codec::Encode::encode(&(b"random-scores", round, vuid)))[..8]
			.try_into()
			.unwrap_or([0; 8]),
	);
	let mut next = move || {
		// xorshift64*
		state ^= state >> 12;
		state ^= state << 25;
		state ^= state >> 27;
		state.wrapping_mul(0x2545_f491_4f6c_dd1d)
	};
	for s in scores {
		let r = next();
		s.loss_score = (r % 200_000_000) as i64 - 100_000_000;
		s.indicator = if r & (1 << 40) != 0 { 1 } else { -1 };
		s.sync_ppm = (next() % 1_000_001) as u32;
		s.flags = ScoreFlags::NONE;
	}
}

/// Scores every miner eligible for round `s` (registered by its start), sorted by uid.
#[allow(clippy::too_many_arguments)]
async fn score_round(
	ctx: &RunCtx,
	synced: &Synced,
	status: &pallet_training::RunStatus<Balance>,
	s: Round,
	eval_seed: u64,
	cfg: &ValidatorConfig,
	fetched: &[Fetched],
	earlier: &[Fetched],
) -> Result<(Vec<MinerScore>, Vec<ScoreDetail>)> {
	let start = ctx.round_start(status, s);
	let miners: Vec<_> = ctx
		.chain
		.peers(ctx.run)
		.await?
		.into_iter()
		.filter(|p| p.role == pallet_training::Role::Miner && p.registered_at <= start)
		.collect();
	let thresholds = Thresholds { copy: cfg.copy_overlap, stale: cfg.stale_overlap };
	let overlaps = copy_verdicts(ctx, fetched, earlier, thresholds);
	let copied: Vec<Uid> = overlaps.iter().filter(|v| v.copied).map(|v| v.uid).collect();
	let valid: Vec<sparseloco::SparseGradient> =
		fetched.iter().filter_map(|f| f.outcome.as_ref().ok().cloned()).collect();
	let clip = sparseloco::median_norms(&ctx.plan, &valid);
	let random = ctx.corpus.round_batch(eval_seed, s, 0, ctx.shape)?;
	let theta = &synced.theta;
	let lr = cfg.eval_lr_factor * ctx.outer_lr();
	let positions = sparseloco::fingerprint::positions(&ctx.plan, s);

	let rand_before = tokio::task::block_in_place(|| eval_loss(&ctx.model, theta, &random))?;
	let reference = tokio::task::block_in_place(|| reference_update(ctx, theta, s, eval_seed))?;

	// Pass 1: every miner's gradient alone on the random batch and on its own batches.
	let mut scores = Vec::new();
	let mut measured: Vec<Measured> = Vec::new();
	for m in miners {
		let missing = MinerScore { uid: m.uid, loss_score: 0, indicator: 0, sync_ppm: 0, flags: ScoreFlags::MISSING };
		let grad = match fetched.iter().find(|f| f.uid == m.uid).map(|f| &f.outcome) {
			None | Some(Err(BlobFault::Missing)) => {
				scores.push(missing);
				continue;
			}
			Some(Err(BlobFault::Invalid(_))) => {
				scores.push(MinerScore { flags: ScoreFlags::INVALID, ..missing });
				continue;
			}
			Some(Ok(g)) => g,
		};
		let assignment = Assignment { run_seed: ctx.params.run_seed, round: s, miner: m.who };
		let own: Vec<Batch> = own_steps(s, m.uid, ctx.params.inner_steps, cfg.own_batches, eval_seed)
			.into_iter()
			.map(|step| ctx.corpus.assigned_batch(&assignment, step, ctx.shape))
			.collect::<Result<_, _>>()?;
		let losses = tokio::task::block_in_place(|| -> Result<[f32; 3]> {
			let after = stepped(ctx, theta, grad, &clip, lr)?;
			Ok([
				eval_loss(&ctx.model, &after, &random)?,
				eval_loss_many(&ctx.model, theta, &own)?,
				eval_loss_many(&ctx.model, &after, &own)?,
			])
		});
		let [rand_after, own_before, own_after] = match losses {
			Ok(v) if v.iter().all(|l| l.is_finite()) && rand_before.is_finite() => v,
			_ => {
				scores.push(MinerScore { flags: ScoreFlags::INVALID, ..missing });
				continue;
			}
		};
		let sync_ppm = sync_ppm(&grad.header.fingerprint, &positions.map(|p| theta[p]), synced.step_scale);
		let flags = if copied.contains(&m.uid) { ScoreFlags::COPIED } else { ScoreFlags::NONE };
		let rand_rel = (rand_before - rand_after) / rand_before;
		let loss_score = (f64::from(rand_rel) * 1e9).round().clamp(-1e18, 1e18) as i64;
		let direction = cosine(&grad.to_dense(&ctx.plan), &reference);
		measured.push(Measured {
			score: MinerScore { uid: m.uid, loss_score, indicator: 0, sync_ppm, flags },
			grad,
			rand_rel,
			direction,
			own,
			own_before,
			own_after,
		});
	}

	// Pass 2, the assigned-data indicator: does the miner's gradient lower the loss on its
	// own batches at least `1 - indicator_tolerance` times as much as a typical peer's
	// gradient does on the same batches? The reference is the gradient with the median loss
	// score (the next one up for the median miner itself); comparing two gradients on the
	// same batches cancels how hard the batches are. A zero, stale or harmful gradient fails;
	// one trained on other data passes when its data-specific gain is below the noise, as it
	// is at the devnet's scale (measured: docs/benchmarks.md). With a single valid gradient:
	// own data against the random batch, as the reference system does.
	let mut ranked: Vec<usize> = (0..measured.len()).collect();
	ranked.sort_by(|&a, &b| measured[a].rand_rel.total_cmp(&measured[b].rand_rel).then(a.cmp(&b)));
	// With n >= 2 the (lower) median has a neighbour above it.
	let (median, neighbour) = match ranked.len() {
		0 | 1 => (None, None),
		n => (Some(ranked[(n - 1) / 2]), Some(ranked[(n - 1) / 2 + 1])),
	};
	let (theta_median, theta_neighbour) = tokio::task::block_in_place(|| -> Result<_> {
		let step = |i: Option<usize>| i.map(|i| stepped(ctx, theta, measured[i].grad, &clip, lr)).transpose();
		Ok((step(median)?, step(neighbour)?))
	})?;
	// The direction check's bar: the median cosine with the reference update.
	let mut directions: Vec<f64> = measured.iter().map(|m| m.direction).collect();
	directions.sort_by(f64::total_cmp);
	let direction_bar = directions.get(directions.len().saturating_sub(1) / 2).map_or(0.0, |d| d.max(0.0));
	let mut details = Vec::new();
	for (idx, m) in measured.iter().enumerate() {
		let reference =
			if Some(idx) == median { neighbour.zip(theta_neighbour.as_ref()) } else { median.zip(theta_median.as_ref()) };
		let (indicator, advantage) = match reference {
			Some((r, t)) => {
				let ref_after = tokio::task::block_in_place(|| eval_loss_many(&ctx.model, t, &m.own))?;
				let own_gain = (m.own_before - m.own_after) / m.own_before;
				let ref_gain = (m.own_before - ref_after) / m.own_before;
				// The double difference (gain over the reference on its own batches, less that
				// on the random batch) is reported for diagnosis.
				let advantage = (own_gain - ref_gain) - (m.rand_rel - measured[r].rand_rel);
				(if own_gain > 0.0 && own_gain >= (1.0 - cfg.indicator_tolerance) * ref_gain { 1 } else { -1 }, advantage)
			}
			None => {
				let own_rel = (m.own_before - m.own_after) / m.own_before;
				(if own_rel > m.rand_rel { 1 } else { -1 }, own_rel - m.rand_rel)
			}
		};
		let aligned = m.direction > 0.0 && m.direction >= (1.0 - f64::from(cfg.indicator_tolerance)) * direction_bar;
		let indicator = if aligned { indicator } else { -1 };
		scores.push(MinerScore { indicator, ..m.score });
		let overlap = overlaps.iter().find(|v| v.uid == m.score.uid).map_or(0.0, |v| v.overlap);
		details.push(ScoreDetail {
			uid: m.score.uid,
			rand_rel: m.rand_rel,
			own_rel: (m.own_before - m.own_after) / m.own_before,
			advantage,
			direction: m.direction,
			overlap,
		});
	}
	scores.sort_by_key(|s| s.uid);
	Ok((scores, details))
}

/// A valid gradient's measurements from the first pass of [`score_round`].
struct Measured<'a> {
	score: MinerScore,
	grad: &'a sparseloco::SparseGradient,
	rand_rel: f32,
	/// Cosine with the validator's reference update.
	direction: f64,
	own: Vec<Batch>,
	own_before: f32,
	own_after: f32,
}

/// The update an honest miner would send without error feedback, trained from `theta` on the
/// round's random batches (`round_batch` 1..=H; 0 is the loss score's) with the miners' inner
/// loop from a fresh optimizer: `theta - theta_after`.
fn reference_update(ctx: &RunCtx, theta: &[f32], s: Round, eval_seed: u64) -> Result<Vec<f32>> {
	let inner = super::miner::MinerConfig::default().train_config(ctx.params.inner_steps);
	let mut trainer = training_model::Trainer::cpu(&ctx.model, inner)?;
	let h = u64::from(ctx.params.inner_steps);
	trainer.set_global_step(s.saturating_mul(h));
	let (corpus, seed, shape) = (&ctx.corpus, eval_seed, ctx.shape);
	let mut batches = |step: u64| -> Result<Batch, training_model::ModelError> { Ok(corpus.round_batch(seed, s, step + 1, shape)?) };
	let out = trainer.inner_steps(theta, h, &mut batches)?;
	Ok(theta.iter().zip(&out.params).map(|(a, b)| a - b).collect())
}

/// Cosine of two vectors, in f64; 0 when either is zero (or not finite).
pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
	let (mut ab, mut aa, mut bb) = (0.0f64, 0.0f64, 0.0f64);
	for (x, y) in a.iter().zip(b) {
		let (x, y) = (f64::from(*x), f64::from(*y));
		ab += x * y;
		aa += x * x;
		bb += y * y;
	}
	let c = ab / (aa * bb).sqrt();
	if c.is_finite() {
		c
	} else {
		0.0
	}
}

/// `theta` after `grad` alone, clipped to the round's median norms, with step `lr`.
fn stepped(
	ctx: &RunCtx,
	theta: &[f32],
	grad: &sparseloco::SparseGradient,
	clip: &[Option<f64>],
	lr: f32,
) -> Result<Vec<f32>> {
	let mut after = theta.to_vec();
	sparseloco::aggregate_with_clip(&ctx.plan, std::slice::from_ref(grad), clip, &mut after, lr)?;
	Ok(after)
}

/// What a validator measured for one miner, beyond the score it posts.
#[derive(Clone, Debug)]
pub struct ScoreDetail {
	pub uid: Uid,
	/// Relative loss drop on the round's random batch.
	pub rand_rel: f32,
	/// Relative loss drop on the miner's own assigned batches.
	pub own_rel: f32,
	/// How much more its gradient lowers the loss on its own batches than the reference
	/// peer's gradient does, less the same difference on the random batch (relative losses):
	/// the data-specific gain, reported for diagnosis.
	pub advantage: f32,
	/// Cosine between its decoded gradient and the validator's reference update.
	pub direction: f64,
	/// Largest index overlap the copy check measured for it (see [`super::copies`]).
	pub overlap: f64,
}

/// The seed of every batch a validator evaluates round `r` on: the run seed mixed (blake2b)
/// with the round's seed from the chain, which no one knows before `r`'s commit deadline.
pub fn eval_seed(run_seed: u64, round_seed: &[u8; 32]) -> u64 {
	let h = sp_crypto_hashing::blake2_256(&codec::Encode::encode(&(b"eval-seed", run_seed, round_seed)));
	u64::from_le_bytes(h[..8].try_into().unwrap_or([0; 8]))
}

/// The assigned steps whose batches a miner's own-data improvement is measured on: `n`
/// distinct steps of `0..inner_steps`, drawn from the round, the miner's uid and the
/// evaluation seed (so a miner cannot know which of its steps will be probed).
fn own_steps(round: Round, uid: Uid, inner_steps: u32, n: u64, eval_seed: u64) -> Vec<u64> {
	let h = u64::from(inner_steps.max(1));
	let first = (u64::from(round as u32 ^ u32::from(uid)) ^ eval_seed).wrapping_mul(0x9e37_79b9) % h;
	// A stride coprime to nothing in particular: distinct steps while n <= h.
	(0..n.min(h)).map(|i| (first + i * (h / n.min(h)).max(1)) % h).collect()
}

/// Adds to `fresh` every valid gradient of `kept` (the same round, fetched earlier) that
/// `fresh` lacks or could not read now.
fn merge_fetched(fresh: &mut Vec<Fetched>, kept: &[Fetched]) {
	for k in kept.iter().filter(|k| k.outcome.is_ok()) {
		match fresh.iter_mut().find(|f| f.uid == k.uid) {
			Some(f) if f.outcome.is_err() => *f = k.clone(),
			Some(_) => {}
			None => fresh.push(k.clone()),
		}
	}
}

/// The copy check ([`super::copies::copy_check`]) over the round's valid gradients against
/// the previous round's, by index overlap.
fn copy_verdicts(ctx: &RunCtx, current: &[Fetched], earlier: &[Fetched], thresholds: Thresholds) -> Vec<CopyVerdict> {
	let valid = |list: &[Fetched]| -> Vec<(Uid, u64, sparseloco::SparseGradient)> {
		list.iter().filter_map(|f| f.outcome.as_ref().ok().map(|g| (f.uid, f.committed_at, g.clone()))).collect()
	};
	let (now, before) = (valid(current), valid(earlier));
	fn submissions(list: &[(Uid, u64, sparseloco::SparseGradient)]) -> Vec<Submission<'_, sparseloco::SparseGradient>> {
		list.iter().map(|(uid, at, g)| Submission { uid: *uid, committed_at: *at, grad: g }).collect()
	}
	let ratio = |a: &sparseloco::SparseGradient, b: &sparseloco::SparseGradient| {
		sparseloco::index_overlap(&ctx.plan, &a.tensors, &b.tensors).map_or(0.0, |o| o.ratio())
	};
	copy_check(&submissions(&now), &submissions(&before), ratio, thresholds)
}

/// Sync score from the miner's fingerprint and the validator's values at the same positions.
fn sync_ppm(theirs: &[f32], mine: &[f32], step_scale: f32) -> u32 {
	let mut ratios: Vec<f64> = theirs
		.iter()
		.zip(mine)
		.map(|(a, b)| {
			let d = f64::from((a - b).abs());
			if d == 0.0 {
				0.0
			} else if step_scale > 0.0 {
				d / f64::from(step_scale)
			} else {
				3.0
			}
		})
		.collect();
	ratios.sort_by(|a, b| a.total_cmp(b));
	let n = ratios.len();
	let mid = &ratios[n / 4..n - n / 4];
	let x = mid.iter().sum::<f64>() / mid.len().max(1) as f64;
	let x = Fixed::from_rational((x.min(3.0) * 1e9) as i128, 1_000_000_000).unwrap_or(Fixed::from_int(3));
	training_protocol::sync_score_ppm(x)
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn cosine_is_bounded_and_zero_for_a_zero_or_broken_vector() {
		assert!((cosine(&[1.0, 2.0], &[2.0, 4.0]) - 1.0).abs() < 1e-12);
		assert!((cosine(&[1.0, 0.0], &[-3.0, 0.0]) + 1.0).abs() < 1e-12);
		assert_eq!(cosine(&[0.0, 0.0], &[1.0, 1.0]), 0.0);
		assert_eq!(cosine(&[f32::NAN, 1.0], &[1.0, 1.0]), 0.0);
		assert_eq!(cosine(&[1.0, 0.0], &[0.0, 1.0]), 0.0);
	}

	/// The evaluation batches follow the round's seed: a miner that knew only the run seed
	/// (all it has before the commit deadline) cannot tell which batches or probed steps
	/// come, and every validator derives the same ones.
	#[test]
	fn evaluation_data_follows_the_round_seed() {
		let (a, b) = (eval_seed(42, &[1; 32]), eval_seed(42, &[2; 32]));
		assert_ne!(a, b);
		assert_ne!(a, 42, "not the run seed the old way used");
		assert_eq!(a, eval_seed(42, &[1; 32]));
		// Over many seeds the probed steps of one miner cover all of its 20 steps.
		let mut seen = [false; 20];
		for i in 0..64u8 {
			let steps = own_steps(3, 7, 20, 2, eval_seed(42, &[i; 32]));
			assert_eq!(steps.len(), 2);
			assert_ne!(steps[0], steps[1]);
			for s in steps {
				seen[s as usize] = true;
			}
		}
		assert!(seen.iter().all(|&x| x), "{seen:?}");
	}
}
