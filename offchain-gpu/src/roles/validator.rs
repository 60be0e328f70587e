//! The validator: register with stake, keep the synced model and, during round `r + 1`'s
//! score window, score every miner eligible for round `r` with the Gauntlet
//! ([`super::gauntlet`]: loss score, gain and direction indicators, sync, copy, missing and
//! invalid flags). This module does the chain and store side: it reads the eligible miners,
//! fetches the round's blobs (and the previous round's, for the copy check) and derives the
//! evaluation seed from the chain's round seed; the scoring itself is pure.
//!
//! Scores go on chain sorted by uid. The smoothing of the indicator, the OpenSkill update
//! and penalties are the chain's job. Every `checkpoint_every` rounds the validator also
//! publishes the settled `theta_r` in its store and records its hash on chain, for late
//! joiners, and it mirrors the aggregation set's blobs it read, for nodes that could not
//! read one the validators vouched for.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use subxt_signer::sr25519::Keypair;
use training_model::{eval_loss_many, Batch};
use training_protocol::{MinerScore, Round, Uid};

use super::copies::Thresholds;
use super::gauntlet::{self, Bars, RoundInputs, RunInputs};
pub use super::gauntlet::{cosine, eval_seed, ScoreDetail};
use super::{fetch_round, Fetched, Report, RunCtx, Synced};
use crate::chain::{account_of, AccountId, Balance};
use crate::store::{checkpoint_key, gradient_key, BlobStore};

/// How a validator behaves: honestly, or (built with the `adversaries` feature, for the
/// devnet and the tests only) as one of the adversaries the end-to-end tests run; see
/// [`adversary`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Behaviour {
	#[default]
	Honest,
	#[cfg(feature = "adversaries")]
	/// Posts scores drawn at random (stake-weighted medians must ignore it).
	RandomScores,
	#[cfg(feature = "adversaries")]
	/// Evaluates one miner and posts that single score (pay must follow coverage).
	Lazy,
	#[cfg(feature = "adversaries")]
	/// Evaluates nothing: commits to a placeholder, waits for the others' reveals and
	/// submits their median as late as it can (the score commitment must refuse it).
	Copycat,
	#[cfg(feature = "adversaries")]
	/// Scores honestly but records a checkpoint every round as soon as the round ends: a
	/// poisoned model (in its store, with that model's hash) in most rounds, and in the
	/// honest validators' checkpoint rounds the true hash at a URI where nothing answers
	/// (neither may stop or poison a joiner).
	PoisonCheckpoints,
	#[cfg(feature = "adversaries")]
	/// The just-in-time whale: registers with a large stake in a score window, after the
	/// round's commit deadline, flags every committed miner MISSING, reveals and leaves at
	/// once (its scores must count for nothing).
	JustInTime,
}

impl Behaviour {
	/// Every behaviour, honest first.
	pub const ALL: &'static [Behaviour] = &[
		Behaviour::Honest,
		#[cfg(feature = "adversaries")]
		Behaviour::RandomScores,
		#[cfg(feature = "adversaries")]
		Behaviour::Lazy,
		#[cfg(feature = "adversaries")]
		Behaviour::Copycat,
		#[cfg(feature = "adversaries")]
		Behaviour::PoisonCheckpoints,
		#[cfg(feature = "adversaries")]
		Behaviour::JustInTime,
	];

	/// The name the command line uses.
	pub fn name(self) -> &'static str {
		match self {
			Behaviour::Honest => "honest",
			#[cfg(feature = "adversaries")]
			Behaviour::RandomScores => "random-scores",
			#[cfg(feature = "adversaries")]
			Behaviour::Lazy => "lazy",
			#[cfg(feature = "adversaries")]
			Behaviour::Copycat => "copycat",
			#[cfg(feature = "adversaries")]
			Behaviour::PoisonCheckpoints => "poison-checkpoints",
			#[cfg(feature = "adversaries")]
			Behaviour::JustInTime => "just-in-time",
		}
	}

	/// Whether it registers when it starts (a just-in-time whale waits for its moment).
	pub fn registers_at_start(self) -> bool {
		#[cfg(feature = "adversaries")]
		return self != Behaviour::JustInTime;
		#[cfg(not(feature = "adversaries"))]
		true
	}

	/// Whether it records the honest checkpoints (a poisoner records its own instead).
	fn records_checkpoints(self) -> bool {
		#[cfg(feature = "adversaries")]
		return self != Behaviour::PoisonCheckpoints;
		#[cfg(not(feature = "adversaries"))]
		true
	}
}

impl std::str::FromStr for Behaviour {
	type Err = anyhow::Error;
	fn from_str(s: &str) -> Result<Self> {
		Behaviour::ALL.iter().copied().find(|b| b.name() == s).ok_or_else(|| {
			let names: Vec<_> = Behaviour::ALL.iter().map(|b| b.name()).collect();
			let built = if cfg!(feature = "adversaries") {
				""
			} else {
				"; adversaries need the `adversaries` feature"
			};
			anyhow::anyhow!(
				"unknown validator behaviour {s:?} (one of {}{built})",
				names.join(", ")
			)
		})
	}
}

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

impl ValidatorConfig {
	/// The Gauntlet's bars from this configuration.
	pub fn bars(&self) -> Bars {
		Bars {
			eval_lr_factor: self.eval_lr_factor,
			own_batches: self.own_batches,
			indicator_tolerance: self.indicator_tolerance,
			copies: Thresholds { copy: self.copy_overlap, stale: self.stale_overlap },
		}
	}
}

/// Registers (if needed) and runs a validator until `ctx.stop` is set. The validator's store
/// holds its checkpoints.
pub async fn run(ctx: RunCtx, key: Keypair, store: BlobStore, cfg: ValidatorConfig) -> Result<()> {
	#[cfg(feature = "adversaries")]
	if cfg.behaviour == Behaviour::JustInTime {
		return adversary::just_in_time(&ctx, &key, &store, cfg.stake).await;
	}
	let me = account_of(&key);
	let peer = match ctx.chain.peer(ctx.run, &me).await? {
		Some(p) => p,
		None => {
			ctx.chain.register_validator(&key, ctx.run, cfg.stake, store.url()).await.context(
				"registering as a validator (is the key funded with the stake and fees?)",
			)?;
			ctx.chain.peer(ctx.run, &me).await?.context("registration not visible")?
		}
	};
	let vuid = peer.uid;
	let who = format!("validator {vuid}");
	(ctx.report)(Report::Started { who: who.clone(), device: ctx.device.to_string() });
	let mut synced = Synced::join(&ctx, who.clone()).await?;
	let heldout: Vec<Batch> = (0..cfg.heldout_batches)
		.map(|i| ctx.corpus.heldout_batch(i, ctx.shape))
		.collect::<Result<_, _>>()?;
	let mut scored: Option<Round> = None;
	let mut checkpointed: Option<Round> = None;
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
			let open = status.now > ctx.commit_deadline(s);
			// Scores are committed before the round's reveal phase and revealed in it.
			let reveal_at = ctx.score_reveal_start(s);
			if !(open && scored.is_none_or(|t| t < s) && status.now + 1 < reveal_at) {
				return Ok(false);
			}
			// The round's seed is recorded at its commit deadline (visible a block later).
			let Some(round_seed) = ctx.chain.round_seed(ctx.run, s).await? else {
				return Ok(false);
			};
			let eval_seed = eval_seed(ctx.params.run_seed, &round_seed);
			#[cfg(feature = "adversaries")]
			if cfg.behaviour == Behaviour::Copycat {
				scored = Some(s);
				adversary::copy_scores(&ctx, &key, s, reveal_at, ctx.settlement(s)).await?;
				return Ok(true);
			}
			// Round s-1's blobs were read when it was scored: the model steps with those reads.
			let known = last_round.as_ref().map(|(r, reads)| (*r, reads.as_slice()));
			synced.advance_with(&ctx, s, known).await?;
			#[cfg(feature = "adversaries")]
			if cfg.behaviour == Behaviour::PoisonCheckpoints && s > 0 {
				adversary::poison_checkpoint(&ctx, &key, &store, &synced, s, cfg.checkpoint_every)
					.await?;
			}
			let evaluating = Instant::now();
			let heldout_loss = tokio::task::block_in_place(|| {
				eval_loss_many(&ctx.model, &synced.theta, &heldout)
			})?;
			// The previous round's gradients for the copy check: what a copier could have read
			// before this round's commitments closed. Those kept from scoring that round, and
			// the ones it could not read then fetched again (at once, no patience), so that a
			// store down at either time alone does not blind the check. Read beside this
			// round's blobs: a stalling store costs one read deadline, not two.
			let fetching = Instant::now();
			let kept =
				last_round.as_ref().filter(|(r, _)| *r + 1 == s).map(|(_, reads)| reads.clone());
			let retry: Option<Vec<Uid>> = kept
				.as_ref()
				.map(|k| k.iter().filter(|f| f.outcome.is_err()).map(|f| f.uid).collect());
			let earlier = async {
				match (s.checked_sub(1), &retry) {
					(None, _) => Ok(Vec::new()),
					(Some(_), Some(uids)) if uids.is_empty() => Ok(Vec::new()),
					(Some(prev), uids) => {
						super::fetch_round_within(&ctx, prev, uids.as_deref(), Duration::ZERO).await
					}
				}
			};
			let (earlier, fetched) = tokio::join!(earlier, fetch_round(&ctx, s, None));
			let mut earlier = earlier?;
			if let Some(kept) = &kept {
				merge_fetched(&mut earlier, kept);
			}
			let mut fetched = fetched?;
			ask_again_for_missing(&ctx, s, reveal_at, &mut fetched).await?;
			#[cfg(feature = "adversaries")]
			adversary::narrow(cfg.behaviour, &mut fetched);
			let fetch_secs = fetching.elapsed().as_secs_f32();
			last_round = Some((s, fetched.clone()));
			mirror(&ctx, &store, s, &fetched).await?;
			#[cfg_attr(not(feature = "adversaries"), allow(unused_mut))]
			let (mut scores, details) = score_round(
				&ctx,
				&synced,
				(s, &round_seed, vuid),
				eval_seed,
				&cfg,
				&fetched,
				&earlier,
			)
			.await?;
			#[cfg(feature = "adversaries")]
			adversary::tamper(cfg.behaviour, &mut scores, &fetched, s, vuid);
			let eval_secs = (evaluating.elapsed().as_secs_f32() - fetch_secs).max(0.0);
			scored = Some(s);
			if !scores.is_empty() {
				commit_and_reveal(&ctx, &key, s, &scores, reveal_at).await?;
			}
			(ctx.report)(Report::Scored {
				validator: vuid,
				round: s,
				heldout_loss,
				scores,
				details,
				eval_secs,
				fetch_secs,
			});
			// Checkpoints are of the settled model (the same on every honest node), which lags
			// the round being scored by one round.
			let k = synced.settled_round();
			let due = cfg.checkpoint_every > 0 && k > 0 && k % cfg.checkpoint_every == 0;
			if cfg.behaviour.records_checkpoints() && due && checkpointed.is_none_or(|c| c < k) {
				checkpointed = Some(k);
				record_checkpoint(&ctx, &key, &store, &synced).await?;
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
pub(crate) async fn commit_and_reveal(
	ctx: &RunCtx,
	key: &Keypair,
	s: Round,
	scores: &[MinerScore],
	reveal_at: u64,
) -> Result<()> {
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
pub(crate) fn fresh_salt() -> Result<[u8; 32]> {
	use std::io::Read;
	let mut salt = [0u8; 32];
	std::fs::File::open("/dev/urandom")
		.and_then(|mut f| f.read_exact(&mut salt))
		.context("reading /dev/urandom for a score salt")?;
	Ok(salt)
}

/// Publishes the settled model `theta_k` (every round below `k = synced.settled_round()`
/// applied as settled) in the validator's store and records its hash on chain.
async fn record_checkpoint(
	ctx: &RunCtx,
	key: &Keypair,
	store: &BlobStore,
	synced: &Synced,
) -> Result<()> {
	let (k, theta) = (synced.settled_round(), synced.settled_theta());
	let bytes = training_model::checkpoint::encode(&ctx.model, theta)?;
	let hash = training_model::params_hash(theta);
	store.put(&checkpoint_key(ctx.run, k, &hash), &bytes).await?;
	ctx.chain.commit_checkpoint(key, ctx.run, k, hash, store.url()).await?;
	(ctx.report)(Report::Checkpointed {
		who: synced.who.clone(),
		round: k,
		params_hash: hash,
		url: store.url().to_string(),
	});
	Ok(())
}

/// Copies the blobs of round `s`'s aggregation set that this validator read into its own
/// store, under the miners' keys, in the background: a node whose own read of a blob the
/// validators vouched for failed (a store that served some readers only) finds it here
/// when the round settles ([`super::fetch_applied`]). Readers check every copy against
/// the commitment, so a mirror needs no trust.
async fn mirror(ctx: &RunCtx, store: &BlobStore, s: Round, fetched: &[Fetched]) -> Result<()> {
	let set = ctx.chain.aggregation_set(ctx.run, s).await?.unwrap_or_default();
	let copies: Vec<(String, std::sync::Arc<Vec<u8>>)> = fetched
		.iter()
		.filter(|f| set.contains(&f.uid))
		.filter_map(|f| {
			let blob = f.blob.clone()?;
			Some((gradient_key(ctx.run, s, &f.account, &sparseloco::blob_hash(&blob)), blob))
		})
		.collect();
	let (store, report) = (store.clone(), ctx.report.clone());
	tokio::spawn(async move {
		for (key, blob) in copies {
			if let Err(e) = store.put(&key, &blob).await {
				report(Report::Warning {
					who: "validator".into(),
					message: format!("mirroring {key}: {e}"),
				});
			}
		}
	});
	Ok(())
}

/// Scores the miners this validator is due to score in round `s`, sorted by uid: the
/// eligible committers (registered by the round's start) from the chain, narrowed to the due
/// set, then the Gauntlet ([`gauntlet::score_round`]) on the CPU.
///
/// The due set is what the chain pays coverage on ([`training_protocol::due_set`]): every
/// committed member of the round's aggregation set plus `eval_sample` other committers drawn
/// from the round's seed. Evaluating more would cost compute and earn nothing, so a
/// validator's work per round is at most `aggregation set + eval_sample` evaluations however
/// many miners there are. The copy check still compares every gradient of the round (index
/// overlaps are cheap next to an evaluation).
#[allow(clippy::too_many_arguments)]
async fn score_round(
	ctx: &RunCtx,
	synced: &Synced,
	(s, round_seed, vuid): (Round, &[u8; 32], Uid),
	eval_seed: u64,
	cfg: &ValidatorConfig,
	fetched: &[Fetched],
	earlier: &[Fetched],
) -> Result<(Vec<MinerScore>, Vec<ScoreDetail>)> {
	let start = ctx.round_start(s);
	let eligible: Vec<(Uid, AccountId)> = ctx
		.chain
		.peers(ctx.run)
		.await?
		.into_iter()
		.filter(|p| p.role == pallet_training::Role::Miner && p.registered_at <= start)
		.map(|p| (p.uid, p.who))
		.collect();
	let mut committed: Vec<Uid> = eligible
		.iter()
		.map(|(uid, _)| *uid)
		.filter(|uid| fetched.iter().any(|f| f.uid == *uid))
		.collect();
	committed.sort_unstable();
	let mut set = ctx.chain.aggregation_set(ctx.run, s).await?.unwrap_or_default();
	set.sort_unstable();
	let due =
		training_protocol::due_set(round_seed, s, vuid, &set, &committed, ctx.params.eval_sample);
	let miners: Vec<(Uid, AccountId)> =
		eligible.into_iter().filter(|(uid, _)| due.binary_search(uid).is_ok()).collect();
	let run = RunInputs {
		model: &ctx.model,
		device: &ctx.device,
		plan: &ctx.plan,
		corpus: &ctx.corpus,
		shape: ctx.shape,
		run_seed: ctx.params.run_seed,
		inner_steps: ctx.params.inner_steps,
		outer_lr: ctx.outer_lr(),
	};
	let round = RoundInputs {
		round: s,
		theta: &synced.theta,
		step_scale: synced.step_scale,
		eval_seed,
		miners: &miners,
		fetched,
		earlier,
	};
	tokio::task::block_in_place(|| gauntlet::score_round(&run, &round, &cfg.bars()))
}

/// Blocks before the reveal phase that a validator keeps for evaluating and committing once
/// it stops asking for missing blobs.
const BLOCKS_TO_COMMIT: u64 = 4;

/// Asks again for the blobs of round `s` that were missing, until [`BLOCKS_TO_COMMIT`]
/// blocks before the reveal phase (`reveal_at`): a blob the validator flags MISSING is then
/// one it could not read during its whole scoring window, not just at its first read (a
/// store back from an outage a few seconds after the deadline, a miner whose upload was
/// retried). What the chain applies follows these flags, so a flag from a read too early
/// would drop a round the miners built on.
async fn ask_again_for_missing(
	ctx: &RunCtx,
	s: Round,
	reveal_at: u64,
	fetched: &mut [Fetched],
) -> Result<()> {
	loop {
		let missing: Vec<Uid> = fetched
			.iter()
			.filter(|f| matches!(f.outcome, Err(super::BlobFault::Missing)))
			.map(|f| f.uid)
			.collect();
		if missing.is_empty()
			|| ctx.stopped()
			|| ctx.chain.best_block_number().await? + BLOCKS_TO_COMMIT >= reveal_at
		{
			return Ok(());
		}
		for found in super::fetch_round_within(ctx, s, Some(&missing), Duration::ZERO).await? {
			if found.outcome.is_ok() {
				if let Some(f) = fetched.iter_mut().find(|f| f.uid == found.uid) {
					*f = found;
				}
			}
		}
		ctx.sleep(Duration::from_secs(1)).await;
	}
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

#[cfg(feature = "adversaries")]
use crate::adversaries::validator as adversary;
