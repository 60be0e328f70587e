//! The validator: register with stake, keep the synced model and, during round `r + 1`'s
//! score window, score every miner eligible for round `r` (Gauntlet, simplest correct form):
//!
//! - **loss_score**: the miner's decoded gradient alone, clipped to the round's per-tensor
//!   median norms, applied to `theta_r` with step `eval_lr_factor * outer_lr`; relative loss
//!   drop `(before - after) / before` on one random batch shared by all miners of the round
//!   (`Corpus::round_batch(run_seed, r, 0)`), in parts per billion.
//! - **indicator**: `+1` if the relative drop on one of the miner's own assigned batches (a
//!   step drawn from the round seed) beats the drop on the random batch, else `-1`.
//! - **sync**: the blob header's 16 fingerprint values against the validator's `theta_r` at
//!   the same positions, in units of the last outer step's mean |change|; `x` is the
//!   interquartile mean of those ratios and `sync = training_protocol::sync_score_ppm(x)`.
//! - **flags**: `MISSING` (committed nothing, or the blob is not in its store), `INVALID`
//!   (length/hash mismatch, undecodable, wrong header). Copying is prevented by
//!   commit-then-reveal; the index-overlap check is not run yet (simplification).
//!
//! Scores go on chain sorted by uid. The smoothing of the indicator, the OpenSkill update
//! and penalties are the chain's job.

use std::time::Duration;

use anyhow::Result;
use subxt_signer::sr25519::Keypair;
use training_model::{eval_loss, eval_loss_many, Assignment, Batch};
use training_protocol::{Fixed, MinerScore, Round, ScoreFlags};

use super::{fetch_round, BlobFault, Report, RunCtx, Synced};
use crate::chain::{account_of, Balance};

/// How a validator behaves.
#[derive(Clone, Debug)]
pub struct ValidatorConfig {
	/// Stake to hold at registration.
	pub stake: Balance,
	/// The evaluation step is `eval_lr_factor * outer_lr` (reference 0.2).
	pub eval_lr_factor: f32,
	/// Held-out batches for the reported held-out loss.
	pub heldout_batches: u64,
}

impl Default for ValidatorConfig {
	fn default() -> Self {
		Self { stake: 100 * crate::chain::UNIT, eval_lr_factor: 0.5, heldout_batches: 4 }
	}
}

/// Runs a validator until `ctx.stop` is set.
pub async fn run(ctx: RunCtx, key: Keypair, store_url: String, cfg: ValidatorConfig) -> Result<()> {
	let me = account_of(&key);
	let peer = match ctx.chain.peer(ctx.run, &me).await? {
		Some(p) => p,
		None => {
			ctx.chain.register_validator(&key, ctx.run, cfg.stake, &store_url).await?;
			ctx.chain.peer(ctx.run, &me).await?.ok_or_else(|| anyhow::anyhow!("registration not visible"))?
		}
	};
	let vuid = peer.uid;
	let who = format!("validator {vuid}");
	let mut synced = Synced::new(&ctx, who.clone());
	let heldout: Vec<Batch> =
		(0..cfg.heldout_batches).map(|i| ctx.corpus.heldout_batch(i, ctx.shape)).collect::<Result<_, _>>()?;
	let mut scored: Option<Round> = None;

	while !ctx.stopped() {
		let status = ctx.status().await?;
		let Some(round) = status.round else {
			ctx.sleep(Duration::from_millis(500)).await;
			continue;
		};
		// Score round s = round - 1 once its blobs are readable (one block of grace).
		if round >= 1 {
			let s = round - 1;
			let open = status.now > ctx.commit_deadline(&status, s);
			let close = ctx.settlement(&status, s);
			if open && scored.is_none_or(|t| t < s) && status.now + 1 < close {
				synced.advance_to(&ctx, s).await?;
				let heldout_loss = tokio::task::block_in_place(|| eval_loss_many(&ctx.model, &synced.theta, &heldout))?;
				let scores = score_round(&ctx, &synced, &status, s, &cfg).await?;
				scored = Some(s);
				if scores.is_empty() {
					(ctx.report)(Report::Scored { validator: vuid, round: s, heldout_loss, scores });
					continue;
				}
				match ctx.chain.submit_scores(&key, ctx.run, s, &scores).await {
					Ok(()) => (ctx.report)(Report::Scored { validator: vuid, round: s, heldout_loss, scores }),
					Err(e) => (ctx.report)(Report::Warning { who: who.clone(), message: format!("{e:#}") }),
				}
				continue;
			}
		}
		ctx.sleep(Duration::from_millis(700)).await;
	}
	Ok(())
}

/// Scores every miner eligible for round `s` (registered by its start), sorted by uid.
async fn score_round(
	ctx: &RunCtx,
	synced: &Synced,
	status: &pallet_training::RunStatus<Balance>,
	s: Round,
	cfg: &ValidatorConfig,
) -> Result<Vec<MinerScore>> {
	let start = ctx.round_start(status, s);
	let miners: Vec<_> = ctx
		.chain
		.peers(ctx.run)
		.await?
		.into_iter()
		.filter(|p| p.role == pallet_training::Role::Miner && p.registered_at <= start)
		.collect();
	let fetched = fetch_round(ctx, s, None).await?;
	let valid: Vec<sparseloco::SparseGradient> =
		fetched.iter().filter_map(|f| f.outcome.as_ref().ok().cloned()).collect();
	let clip = sparseloco::median_norms(&ctx.plan, &valid);
	let random = ctx.corpus.round_batch(ctx.params.run_seed, s, 0, ctx.shape)?;
	let theta = &synced.theta;
	let lr = cfg.eval_lr_factor * ctx.outer_lr();
	let positions = sparseloco::fingerprint::positions(&ctx.plan, s);

	let mut scores = Vec::new();
	for m in miners {
		let missing = MinerScore { uid: m.uid, loss_score: 0, indicator: 0, sync_ppm: 0, flags: ScoreFlags::MISSING };
		let Some(f) = fetched.iter().find(|f| f.uid == m.uid) else {
			scores.push(missing);
			continue;
		};
		let grad = match &f.outcome {
			Ok(g) => g,
			Err(BlobFault::Missing) => {
				scores.push(missing);
				continue;
			}
			Err(BlobFault::Invalid(_)) => {
				scores.push(MinerScore { flags: ScoreFlags::INVALID, ..missing });
				continue;
			}
		};
		// The step this miner's assigned data is checked on: drawn from the round, not chosen
		// by the miner.
		let step = u64::from(s as u32 ^ u32::from(m.uid)) % u64::from(ctx.params.inner_steps.max(1));
		let own = ctx.corpus.assigned_batch(
			&Assignment { run_seed: ctx.params.run_seed, round: s, miner: m.who },
			step,
			ctx.shape,
		)?;
		let measured = tokio::task::block_in_place(|| -> Result<(f32, f32, f32, f32)> {
			let mut after = theta.clone();
			sparseloco::aggregate_with_clip(&ctx.plan, std::slice::from_ref(grad), &clip, &mut after, lr)?;
			Ok((
				eval_loss(&ctx.model, theta, &random)?,
				eval_loss(&ctx.model, &after, &random)?,
				eval_loss(&ctx.model, theta, &own)?,
				eval_loss(&ctx.model, &after, &own)?,
			))
		});
		let (rand_before, rand_after, own_before, own_after) = match measured {
			Ok(v) => v,
			Err(_) => {
				scores.push(MinerScore { flags: ScoreFlags::INVALID, ..missing });
				continue;
			}
		};
		let rand_rel = (rand_before - rand_after) / rand_before;
		let own_rel = (own_before - own_after) / own_before;
		let loss_score = (f64::from(rand_rel) * 1e9).round().clamp(-1e18, 1e18) as i64;
		let indicator = if own_rel > rand_rel { 1 } else { -1 };
		let sync_ppm = sync_ppm(&grad.header.fingerprint, &positions.map(|p| theta[p]), synced.step_scale);
		scores.push(MinerScore { uid: m.uid, loss_score, indicator, sync_ppm, flags: ScoreFlags::NONE });
	}
	scores.sort_by_key(|s| s.uid);
	Ok(scores)
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
