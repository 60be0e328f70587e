//! The miner: register, then per round sync, train H inner steps on the assigned batches,
//! compress with error feedback, commit the hash before the commit deadline and publish the
//! blob only after that deadline (commit-then-reveal: no one can copy a gradient that is not
//! readable before every commitment is fixed).
//!
//! A failed step (node restart, store outage) costs at most that round: the miner reports it,
//! reconnects if the node stopped answering and carries on from its local state. A committed
//! blob stays pending until it is published, so a store that comes back before the round is
//! applied still gets it.
//!
//! [`Behaviour`] has the adversaries the end-to-end tests run; each must end with zero weight.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use codec::Encode;
use sparseloco::{fingerprint, Header, SparseGradient, SparseTensor};
use subxt_signer::sr25519::Keypair;
use training_model::{
	AdamWConfig, Assignment, Batch, BatchShape, DynBackend, LrSchedule, ModelError, TrainConfig,
	Trainer,
};
use training_protocol::Round;

use super::{Report, RunCtx, Synced};
use crate::chain::{account_of, AccountId};
use crate::device::Compressor;
use crate::store::{gradient_key, BlobStore};

/// How a miner behaves: honestly, or (built with the `adversaries` feature, for the devnet and
/// the tests only) as one of the adversaries the protocol must defeat; see [`adversary`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Behaviour {
	#[default]
	Honest,
	#[cfg(feature = "adversaries")]
	/// Commits its hash but never publishes the blob.
	Withhold,
	#[cfg(feature = "adversaries")]
	/// Trains on uniformly random token ids instead of its assigned batches (caught by the
	/// validator's direction check).
	RandomData,
	#[cfg(feature = "adversaries")]
	/// Trains on corpus batches that are not its assignment (another account's, drawn per
	/// round). Not caught at devnet scale (docs/benchmarks.md), so not in the end-to-end test.
	OtherData,
	#[cfg(feature = "adversaries")]
	/// Publishes a blob whose quantization table is NaN (committed with its true hash).
	Garbage,
	#[cfg(feature = "adversaries")]
	/// Commits the hash of one blob and publishes a different one.
	WrongHash,
	#[cfg(feature = "adversaries")]
	/// Copies another miner's gradient. The current round's blobs are unreadable until every
	/// commitment is fixed, so the freshest it can take is the previous round's, which it
	/// re-heads as its own for this round; with nothing to copy it commits nothing.
	Copier,
	#[cfg(feature = "adversaries")]
	/// Trains nothing: sends the last outer step, which every peer can compute (the synced
	/// model's change since the round before), inflated and compressed as its own
	/// pseudo-gradient; with no step seen yet it commits nothing.
	Replay,
	#[cfg(feature = "adversaries")]
	/// Sends a gradient whose values are all zero.
	Zero,
	#[cfg(feature = "adversaries")]
	/// One of a group of accounts run by one operator: every member trains on the group's
	/// data from the same model, so all commit the same gradient under their own headers
	/// (one GPU's work paid once per account unless the copy check catches the group).
	Sybil,
	#[cfg(feature = "adversaries")]
	/// Trains once, then commits that same gradient under a new header every round.
	Stale,
	#[cfg(feature = "adversaries")]
	/// Trains every inner step on the batch validators computed the loss score on before
	/// evaluation batches were drawn from the round's seed
	/// ([`crate::adversaries::miner::old_evaluation_batch`]): a miner fitting the judge's data. Not caught as
	/// such; it must gain nothing over an honest miner.
	EvalFit,
	#[cfg(feature = "adversaries")]
	/// Trains honestly but registers a hostile store endpoint (`MinerConfig::advertised_url`)
	/// that lies about sizes, drips or never ends: readers must cut it off and go on.
	HostileStore,
	#[cfg(feature = "adversaries")]
	/// Trains honestly and publishes its blob [`crate::adversaries::miner::LATE_BY`] after the commit
	/// deadline, when some readers have given up on it and others have not: honest nodes
	/// must still end each round with the same model.
	Late,
}

impl Behaviour {
	/// Every behaviour, honest first.
	pub const ALL: &'static [Behaviour] = &[
		Behaviour::Honest,
		#[cfg(feature = "adversaries")]
		Behaviour::Withhold,
		#[cfg(feature = "adversaries")]
		Behaviour::RandomData,
		#[cfg(feature = "adversaries")]
		Behaviour::OtherData,
		#[cfg(feature = "adversaries")]
		Behaviour::Garbage,
		#[cfg(feature = "adversaries")]
		Behaviour::WrongHash,
		#[cfg(feature = "adversaries")]
		Behaviour::Copier,
		#[cfg(feature = "adversaries")]
		Behaviour::Replay,
		#[cfg(feature = "adversaries")]
		Behaviour::Zero,
		#[cfg(feature = "adversaries")]
		Behaviour::Sybil,
		#[cfg(feature = "adversaries")]
		Behaviour::Stale,
		#[cfg(feature = "adversaries")]
		Behaviour::EvalFit,
		#[cfg(feature = "adversaries")]
		Behaviour::HostileStore,
		#[cfg(feature = "adversaries")]
		Behaviour::Late,
	];

	/// The command-line name.
	pub fn name(self) -> &'static str {
		match self {
			Behaviour::Honest => "honest",
			#[cfg(feature = "adversaries")]
			Behaviour::Withhold => "withhold",
			#[cfg(feature = "adversaries")]
			Behaviour::RandomData => "random-data",
			#[cfg(feature = "adversaries")]
			Behaviour::OtherData => "other-data",
			#[cfg(feature = "adversaries")]
			Behaviour::Garbage => "garbage",
			#[cfg(feature = "adversaries")]
			Behaviour::WrongHash => "wrong-hash",
			#[cfg(feature = "adversaries")]
			Behaviour::Copier => "copier",
			#[cfg(feature = "adversaries")]
			Behaviour::Replay => "replay",
			#[cfg(feature = "adversaries")]
			Behaviour::Zero => "zero",
			#[cfg(feature = "adversaries")]
			Behaviour::Sybil => "sybil",
			#[cfg(feature = "adversaries")]
			Behaviour::Stale => "stale",
			#[cfg(feature = "adversaries")]
			Behaviour::EvalFit => "eval-fit",
			#[cfg(feature = "adversaries")]
			Behaviour::HostileStore => "hostile-store",
			#[cfg(feature = "adversaries")]
			Behaviour::Late => "late",
		}
	}

	/// Whether it commits but never publishes.
	fn withholds(self) -> bool {
		#[cfg(feature = "adversaries")]
		return self == Behaviour::Withhold;
		#[cfg(not(feature = "adversaries"))]
		false
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
			anyhow::anyhow!("unknown miner behaviour {s:?} (one of {}{built})", names.join(", "))
		})
	}
}

/// The store URL a miner registers: its store's, unless an adversary names another.
fn registered_url<'a>(cfg: &'a MinerConfig, store: &'a BlobStore) -> &'a str {
	#[cfg(feature = "adversaries")]
	if let Some(url) = &cfg.advertised_url {
		return url;
	}
	let _ = cfg;
	store.url()
}

/// How a miner behaves.
#[derive(Clone, Debug)]
pub struct MinerConfig {
	/// Peak inner AdamW learning rate.
	pub inner_lr: f32,
	/// Error-feedback decay.
	pub beta: f32,
	pub behaviour: Behaviour,
	/// Stop after this round has been revealed (None: run until stopped).
	pub last_round: Option<Round>,
	/// Where a committed, unpublished blob is kept until it is published, so that a miner
	/// restarted mid-round still reveals what it committed (None: memory only).
	pub state_dir: Option<std::path::PathBuf>,
	/// The store URL registered on chain instead of the store's own: a hostile endpoint that
	/// readers are sent to (the devnet's hostile-store miners).
	#[cfg(feature = "adversaries")]
	pub advertised_url: Option<String>,
}

impl MinerConfig {
	/// The inner loop for a run of `inner_steps` steps per round: AdamW, warm-up over the
	/// first round, cosine decay to a tenth of `inner_lr` over 200 rounds, global-norm clip 1.
	pub fn train_config(&self, inner_steps: u32) -> TrainConfig {
		let h = u64::from(inner_steps);
		TrainConfig {
			adamw: AdamWConfig::default(),
			schedule: LrSchedule {
				peak_lr: self.inner_lr,
				min_lr: self.inner_lr / 10.0,
				warmup_steps: h.max(1),
				total_steps: h * 200,
			},
			max_grad_norm: Some(1.0),
		}
	}
}

impl Default for MinerConfig {
	fn default() -> Self {
		Self {
			inner_lr: 3e-3,
			beta: 0.95,
			behaviour: Behaviour::Honest,
			last_round: None,
			state_dir: None,
			#[cfg(feature = "adversaries")]
			advertised_url: None,
		}
	}
}

/// A blob committed and not yet published.
#[derive(codec::Encode, codec::Decode)]
pub(crate) struct Pending {
	round: Round,
	/// The committed hash (the store key).
	hash: [u8; 32],
	/// What gets published (differs from the committed blob only for `WrongHash`).
	published: Vec<u8>,
}

/// Everything a miner keeps between rounds.
pub(crate) struct Miner {
	pub(crate) uid: training_protocol::Uid,
	pub(crate) me: AccountId,
	pub(crate) key: Keypair,
	pub(crate) store: BlobStore,
	pub(crate) cfg: MinerConfig,
	pub(crate) trainer: Trainer<DynBackend>,
	pub(crate) feedback: Compressor,
	pub(crate) synced: Synced,
	pub(crate) trained: Option<Round>,
	pub(crate) pending: Option<Pending>,
	/// The last gradient trained (kept by the stale adversary only).
	#[cfg(feature = "adversaries")]
	pub(crate) previous: Option<Vec<SparseTensor>>,
	/// The synced model of the last round produced (kept by the replay adversary only).
	#[cfg(feature = "adversaries")]
	pub(crate) previous_theta: Option<Vec<f32>>,
}

/// Registers (if needed) and runs a miner until `ctx.stop` is set (or `cfg.last_round` is
/// revealed).
pub async fn run(ctx: RunCtx, key: Keypair, store: BlobStore, cfg: MinerConfig) -> Result<()> {
	let me: AccountId = account_of(&key);
	let peer = match ctx.chain.peer(ctx.run, &me).await? {
		Some(p) => p,
		None => {
			ctx.chain
				.register_miner(&key, ctx.run, registered_url(&cfg, &store))
				.await
				.context("registering as a miner (is the key funded with the deposit and fees?)")?;
			ctx.chain.peer(ctx.run, &me).await?.context("registration not visible")?
		}
	};
	let mut m = Miner {
		uid: peer.uid,
		me,
		trainer: ctx.device.trainer(&ctx.model, cfg.train_config(ctx.params.inner_steps))?,
		feedback: ctx.device.compressor(&ctx.plan, cfg.beta)?,
		synced: Synced::join(&ctx, format!("miner {}", peer.uid)).await?,
		key,
		store,
		cfg,
		trained: None,
		pending: None,
		#[cfg(feature = "adversaries")]
		previous: None,
		#[cfg(feature = "adversaries")]
		previous_theta: None,
	};
	(ctx.report)(Report::Started {
		who: format!("miner {}", m.uid),
		device: ctx.device.to_string(),
	});
	if let Some(p) = m.load_pending()? {
		(ctx.report)(Report::Warning {
			who: format!("miner {}", m.uid),
			message: format!("resuming: round {} is committed and not yet published", p.round),
		});
		m.trained = Some(p.round);
		m.pending = Some(p);
	}
	let registered_at = peer.registered_at;
	while !ctx.stopped() {
		match m.step(&ctx, registered_at).await {
			Ok(Step::Again) => {}
			Ok(Step::Wait) => ctx.sleep(Duration::from_millis(700)).await,
			Ok(Step::Done) => return Ok(()),
			Err(e) => {
				(ctx.report)(Report::Warning {
					who: format!("miner {}", m.uid),
					message: format!("{e:#}"),
				});
				super::recover(&ctx).await;
			}
		}
	}
	Ok(())
}

enum Step {
	/// Look again at once.
	Again,
	/// Nothing to do yet.
	Wait,
	/// `last_round` is revealed.
	Done,
}

impl Miner {
	async fn step(&mut self, ctx: &RunCtx, registered_at: u64) -> Result<Step> {
		let status = ctx.status().await?;
		let now = status.now;
		// Reveal once the commit deadline of the pending round has passed.
		if let Some(p) = &self.pending {
			if now >= ctx.commit_deadline(p.round) {
				let round = p.round;
				let mut published = !self.cfg.behaviour.withholds();
				let uploading = Instant::now();
				#[cfg(feature = "adversaries")]
				if published {
					adversary::before_publishing(self.cfg.behaviour).await;
				}
				if published {
					let key = gradient_key(ctx.run, round, &self.me, &p.hash);
					if let Err(e) = self.store.put(&key, &p.published).await {
						// Retried on the next step until the round is settled; then it no longer
						// matters and training goes on.
						if now < ctx.settlement(round) {
							return Err(e.into());
						}
						(ctx.report)(Report::Warning {
							who: format!("miner {}", self.uid),
							message: format!(
								"round {round} settled before its blob could be published: {e}"
							),
						});
						published = false;
					}
				}
				self.pending = None;
				self.save_pending()?;
				let secs = uploading.elapsed().as_secs_f32();
				let landed = ctx
					.chain
					.round_commitments(ctx.run, round)
					.await?
					.iter()
					.any(|(uid, _)| *uid == self.uid);
				if !landed {
					(ctx.report)(Report::Warning {
						who: format!("miner {}", self.uid),
						message: format!("round {round}: the commitment did not make it on chain"),
					});
				}
				(ctx.report)(Report::Revealed { uid: self.uid, round, published, secs });
				if self.cfg.last_round.is_some_and(|last| round >= last) {
					return Ok(Step::Done);
				}
			}
		}
		let Some(round) = status.round else { return Ok(Step::Wait) };
		let eligible = registered_at <= ctx.round_start(round);
		// theta_round needs round-1's blobs: readable from its commit deadline (+1 block grace).
		let sync_ready = round == 0 || now > ctx.commit_deadline(round - 1);
		if !(eligible
			&& self.trained.is_none_or(|t| t < round)
			&& sync_ready
			&& self.pending.is_none())
		{
			return Ok(Step::Wait);
		}
		self.synced.advance_to(ctx, round).await?;
		let start = Instant::now();
		let Some((grad, first_loss, last_loss)) = self.produce(ctx, round).await? else {
			// A copier or replayer with nothing to copy has no gradient of its own: it skips
			// the round.
			self.trained = Some(round);
			(ctx.report)(Report::Warning {
				who: format!("miner {}", self.uid),
				message: format!("round {round}: nothing to copy or replay, nothing committed"),
			});
			return Ok(Step::Wait);
		};
		let blob = sparseloco::encode(&ctx.plan, &grad)?;
		#[cfg(feature = "adversaries")]
		let (committed, published) = adversary::disguise(self.cfg.behaviour, blob, round);
		#[cfg(not(feature = "adversaries"))]
		let (committed, published) = (blob.clone(), blob);
		let hash = sparseloco::blob_hash(&committed);
		self.trained = Some(round);
		(ctx.report)(Report::Trained {
			uid: self.uid,
			round,
			first_loss,
			last_loss,
			blob_len: committed.len(),
			secs: start.elapsed().as_secs_f32(),
		});
		self.report_standing(ctx).await;
		let now = ctx.status().await?.now;
		let deadline = ctx.commit_deadline(round);
		if now + 1 >= deadline {
			(ctx.report)(Report::Warning {
				who: format!("miner {}", self.uid),
				message: format!(
					"round {round} trained too late to commit (block {now}, deadline {deadline})"
				),
			});
			return Ok(Step::Again);
		}
		// Kept (on disk too, with a state directory) before the hash goes on chain: neither a
		// restart nor a commit whose confirmation was lost may lose a commitment. Publishing a
		// blob whose commitment never landed is harmless: nobody reads it.
		self.pending = Some(Pending { round, hash, published });
		self.save_pending()?;
		let committing = Instant::now();
		ctx.chain.commit_gradient(&self.key, ctx.run, round, hash, committed.len() as u32).await?;
		(ctx.report)(Report::Committed {
			uid: self.uid,
			round,
			secs: committing.elapsed().as_secs_f32(),
		});
		Ok(Step::Again)
	}

	fn pending_path(&self) -> Option<std::path::PathBuf> {
		self.cfg
			.state_dir
			.as_ref()
			.map(|d| d.join(format!("pending-{}.scale", hex::encode(self.me))))
	}

	/// Writes (or, with nothing pending, removes) the pending blob file.
	fn save_pending(&self) -> Result<()> {
		let Some(path) = self.pending_path() else { return Ok(()) };
		match &self.pending {
			Some(p) => {
				let dir = path.parent().unwrap_or(&path);
				std::fs::create_dir_all(dir)
					.with_context(|| format!("creating {}", dir.display()))?;
				let tmp = path.with_extension("tmp");
				std::fs::write(&tmp, p.encode())
					.with_context(|| format!("writing {}", tmp.display()))?;
				std::fs::rename(&tmp, &path)
					.with_context(|| format!("writing {}", path.display()))?;
			}
			None => match std::fs::remove_file(&path) {
				Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
					return Err(e).with_context(|| format!("removing {}", path.display()))
				}
				_ => {}
			},
		}
		Ok(())
	}

	fn load_pending(&self) -> Result<Option<Pending>> {
		let Some(path) = self.pending_path() else { return Ok(None) };
		match std::fs::read(&path) {
			Ok(bytes) => {
				Ok(Some(<Pending as codec::Decode>::decode(&mut &bytes[..]).with_context(
					|| format!("{} is corrupt: remove it to continue", path.display()),
				)?))
			}
			Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
			Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
		}
	}

	/// This round's gradient (and the first and last inner-step losses); `None` for a copier
	/// or replayer that finds nothing to copy.
	async fn produce(
		&mut self,
		ctx: &RunCtx,
		round: Round,
	) -> Result<Option<(SparseGradient, f32, f32)>> {
		let sample = fingerprint::sample(&ctx.plan, round, &self.synced.theta)
			.context("the plan does not match the model")?;
		let header = Header::new(&ctx.plan, ctx.run, round, self.me, sample);
		#[cfg(feature = "adversaries")]
		if self.cfg.behaviour != Behaviour::Honest {
			return adversary::produce(self, ctx, round, header).await;
		}
		let assignment = Assignment { run_seed: ctx.params.run_seed, round, miner: self.me };
		let (corpus, shape) = (&ctx.corpus, ctx.shape);
		let batches = move |step: u64| -> Result<Batch, ModelError> {
			Ok(corpus.assigned_batch(&assignment, step, shape)?)
		};
		let (tensors, first, last) = self.train(ctx, batches)?;
		Ok(Some((SparseGradient { header, tensors }, first, last)))
	}

	/// Reports the chain's rating and weight of this miner (for the operator's metrics); a
	/// failed query is skipped, the next round asks again.
	async fn report_standing(&self, ctx: &RunCtx) {
		let (Ok(states), Ok((_, weights))) =
			(ctx.chain.miner_states(ctx.run).await, ctx.chain.run_weights(ctx.run).await)
		else {
			return;
		};
		let Some((_, record)) = states.iter().find(|(u, _)| *u == self.uid) else { return };
		let weight_ppb = weights.iter().find(|(u, _)| *u == self.uid).map_or(0, |(_, w)| *w);
		let ordinal = record.state.rating.ordinal().into_raw() as f64 / 1e18;
		(ctx.report)(Report::Standing { who: format!("miner {}", self.uid), ordinal, weight_ppb });
	}

	/// H inner steps from the synced model on `batches`, then error feedback and compression:
	/// the compressed pseudo-gradient and the first and last inner-step losses.
	pub(crate) fn train(
		&mut self,
		ctx: &RunCtx,
		mut batches: impl FnMut(u64) -> Result<Batch, ModelError>,
	) -> Result<(Vec<SparseTensor>, f32, f32)> {
		let h = u64::from(ctx.params.inner_steps);
		let (trainer, feedback, plan, theta) =
			(&mut self.trainer, &mut self.feedback, &ctx.plan, &self.synced.theta);
		let (losses, tensors) = tokio::task::block_in_place(|| -> Result<_> {
			let outcome = trainer.inner_steps(theta, h, &mut batches)?;
			let delta: Vec<f32> = theta.iter().zip(&outcome.params).map(|(a, b)| a - b).collect();
			Ok((outcome.losses, feedback.compress(plan, &delta)?))
		})?;
		let first = losses.first().copied().unwrap_or(f32::NAN);
		let last = losses.last().copied().unwrap_or(f32::NAN);
		Ok((tensors, first, last))
	}
}

#[cfg(feature = "adversaries")]
use crate::adversaries::miner as adversary;

/// `shape` windows of uniformly random token ids below `vocab`, a pure function of `seed`
/// (what the random-data adversary trains on, and what tests use as data with no signal).
pub fn noise_batch(vocab: usize, shape: BatchShape, seed: &impl Encode) -> Batch {
	let n = shape.batch_size * (shape.seq_len + 1);
	let vocab = u32::try_from(vocab).unwrap_or(u32::MAX).max(1);
	let mut tokens = Vec::with_capacity(n);
	let mut block = 0u64;
	while tokens.len() < n {
		let bytes = sp_crypto_hashing::blake2_256(&(seed, block).encode());
		block += 1;
		let words =
			bytes.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]) % vocab);
		tokens.extend(words.take(n - tokens.len()));
	}
	Batch::from_windows(shape.seq_len, tokens.chunks_exact(shape.seq_len + 1))
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn noise_batches_are_reproducible_in_vocabulary_and_differ_by_seed() {
		let shape = BatchShape { batch_size: 3, seq_len: 17 };
		let a = noise_batch(300, shape, &(1u64, 2u64));
		assert_eq!((a.batch_size, a.seq_len, a.inputs.len()), (3, 17, 51));
		a.validate(300, 17).expect("a valid batch");
		assert_eq!(a.inputs, noise_batch(300, shape, &(1u64, 2u64)).inputs);
		assert_ne!(a.inputs, noise_batch(300, shape, &(1u64, 3u64)).inputs);
		// Roughly uniform: most of a small vocabulary shows up.
		let b = noise_batch(16, BatchShape { batch_size: 8, seq_len: 63 }, &0u8);
		let seen: std::collections::BTreeSet<u32> = b.inputs.iter().copied().collect();
		assert_eq!(seen.len(), 16);
	}
}
