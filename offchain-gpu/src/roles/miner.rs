//! The miner: register, then per round sync, train H inner steps on the assigned batches,
//! compress with error feedback, commit the hash before the commit deadline and publish the
//! blob only after that deadline (commit-then-reveal: no one can copy a gradient that is not
//! readable before every commitment is fixed).

use std::time::{Duration, Instant};

use anyhow::Result;
use sparseloco::{fingerprint, ErrorFeedback, Header, SparseGradient};
use subxt_signer::sr25519::Keypair;
use training_model::{AdamWConfig, AssignedBatches, Assignment, LrSchedule, TrainConfig, Trainer};
use training_protocol::Round;

use super::{Report, RunCtx, Synced};
use crate::chain::{account_of, AccountId};
use crate::store::{gradient_key, BlobStore};

/// How a miner behaves.
#[derive(Clone, Debug)]
pub struct MinerConfig {
	/// Peak inner AdamW learning rate.
	pub inner_lr: f32,
	/// Error-feedback decay.
	pub beta: f32,
	/// Adversarial switch for tests: commit but never publish the blob.
	pub withhold_reveal: bool,
	/// Stop after this round has been committed (None: run until stopped).
	pub last_round: Option<Round>,
}

impl Default for MinerConfig {
	fn default() -> Self {
		Self { inner_lr: 3e-3, beta: 0.95, withhold_reveal: false, last_round: None }
	}
}

/// A blob committed and not yet published.
struct Pending {
	round: Round,
	hash: [u8; 32],
	blob: Vec<u8>,
}

/// Runs a miner until `ctx.stop` is set (or `cfg.last_round` is revealed).
pub async fn run(ctx: RunCtx, key: Keypair, store: BlobStore, cfg: MinerConfig) -> Result<()> {
	let me: AccountId = account_of(&key);
	let peer = match ctx.chain.peer(ctx.run, &me).await? {
		Some(p) => p,
		None => {
			ctx.chain.register_miner(&key, ctx.run, &store.url()).await?;
			ctx.chain.peer(ctx.run, &me).await?.ok_or_else(|| anyhow::anyhow!("registration not visible"))?
		}
	};
	let uid = peer.uid;
	let h = u64::from(ctx.params.inner_steps);
	let train_cfg = TrainConfig {
		adamw: AdamWConfig::default(),
		schedule: LrSchedule {
			peak_lr: cfg.inner_lr,
			min_lr: cfg.inner_lr / 10.0,
			warmup_steps: h.max(1),
			total_steps: h * 200,
		},
		max_grad_norm: Some(1.0),
	};
	let mut trainer = Trainer::cpu(&ctx.model, train_cfg)?;
	let mut feedback = ErrorFeedback::new(&ctx.plan, cfg.beta)?;
	let mut synced = Synced::new(&ctx, format!("miner {uid}"));
	let mut trained: Option<Round> = None;
	let mut pending: Option<Pending> = None;

	while !ctx.stopped() {
		let status = ctx.status().await?;
		let now = status.now;
		// Reveal once the commit deadline of the pending round has passed.
		if let Some(p) = pending.take() {
			if now >= ctx.commit_deadline(&status, p.round) {
				if cfg.withhold_reveal {
					(ctx.report)(Report::Revealed { uid, round: p.round, published: false });
				} else {
					store.put(&gradient_key(ctx.run, p.round, &me, &p.hash), &p.blob)?;
					(ctx.report)(Report::Revealed { uid, round: p.round, published: true });
				}
				if cfg.last_round.is_some_and(|last| p.round >= last) {
					return Ok(());
				}
			} else {
				pending = Some(p);
			}
		}
		let Some(round) = status.round else {
			ctx.sleep(Duration::from_millis(500)).await;
			continue;
		};
		let eligible = peer.registered_at <= ctx.round_start(&status, round);
		// theta_round needs round-1's blobs: readable from its commit deadline (+1 block grace).
		let sync_ready = round == 0 || now > ctx.commit_deadline(&status, round - 1);
		let deadline = ctx.commit_deadline(&status, round);
		if eligible && trained.is_none_or(|t| t < round) && sync_ready && pending.is_none() {
			synced.advance_to(&ctx, round).await?;
			let start = Instant::now();
			let assignment = Assignment { run_seed: ctx.params.run_seed, round, miner: me };
			let mut batches = AssignedBatches { corpus: &ctx.corpus, assignment, shape: ctx.shape };
			let theta = &synced.theta;
			let (outcome, tensors) = tokio::task::block_in_place(|| -> Result<_> {
				let outcome = trainer.inner_steps(theta, h, &mut batches)?;
				let delta: Vec<f32> = theta.iter().zip(&outcome.params).map(|(a, b)| a - b).collect();
				let tensors = feedback.compress(&ctx.plan, &delta)?;
				Ok((outcome, tensors))
			})?;
			let sample = fingerprint::sample(&ctx.plan, round, theta).expect("plan matches the model");
			let header = Header::new(&ctx.plan, ctx.run, round, me, sample);
			let blob = sparseloco::encode(&ctx.plan, &SparseGradient { header, tensors })?;
			let hash = sparseloco::blob_hash(&blob);
			trained = Some(round);
			(ctx.report)(Report::Trained {
				uid,
				round,
				first_loss: outcome.losses.first().copied().unwrap_or(f32::NAN),
				last_loss: outcome.losses.last().copied().unwrap_or(f32::NAN),
				blob_len: blob.len(),
				secs: start.elapsed().as_secs_f32(),
			});
			let now = ctx.status().await?.now;
			if now + 1 >= deadline {
				(ctx.report)(Report::Warning {
					who: format!("miner {uid}"),
					message: format!("round {round} trained too late to commit (block {now}, deadline {deadline})"),
				});
				continue;
			}
			match ctx.chain.commit_gradient(&key, ctx.run, round, hash, blob.len() as u32).await {
				Ok(()) => {
					(ctx.report)(Report::Committed { uid, round });
					pending = Some(Pending { round, hash, blob });
				}
				Err(e) => (ctx.report)(Report::Warning { who: format!("miner {uid}"), message: format!("{e:#}") }),
			}
			continue;
		}
		ctx.sleep(Duration::from_millis(700)).await;
	}
	Ok(())
}
