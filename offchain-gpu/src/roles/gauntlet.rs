//! The Gauntlet: a validator's scores for one round as a pure function of the synced model
//! `theta_r`, the round's decoded gradients (and the previous round's), the run's data and
//! the validator's bars. No chain and no store: [`super::validator`] reads the eligible
//! miners and fetches the blobs, then calls [`score_round`].
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
//!   (length/hash mismatch, undecodable, wrong header, or a step that does not fit the plan
//!   or makes the loss non-finite), `COPIED` (kept indices overlap, by at least
//!   `copy_overlap`, another miner's gradient of the previous round, or by at least
//!   `stale_overlap` its own (stale work), or another of the same round not committed in a
//!   strictly later block: every pair is compared and sybils committing together are all
//!   flagged; see [`super::copies`]). Commit-then-reveal makes copying the current round's
//!   published blobs impossible, so the freshest a copier can take is the previous round's.
//!
//! Every batch the validator evaluates on (the loss score's, the reference update's and which
//! of a miner's assigned steps the gain check probes) is drawn with `eval_seed`
//! ([`eval_seed`]): the run seed mixed with the round's seed, the hash of the last block
//! that accepted the round's commitments (the chain's `round_seed`). It exists only after
//! every miner has committed and is the same for every validator, so no miner can fit the
//! batches it will be judged on.

use anyhow::Result;
use sparseloco::{Plan, SparseGradient};
use training_model::{Assignment, Batch, BatchShape, Corpus, ModelConfig};
use training_protocol::{Fixed, MinerScore, Round, ScoreFlags, Uid};

use super::copies::{copy_check, CopyVerdict, Submission, Thresholds};
use super::{BlobFault, Fetched};
use crate::chain::AccountId;

/// The run's side of the evaluation: the model, its data and the run parameters the checks
/// use (what a validator's `RunCtx` holds).
#[derive(Clone, Copy)]
pub struct RunInputs<'a> {
	pub model: &'a ModelConfig,
	/// Where the evaluations and the reference update run.
	pub device: &'a crate::device::Device,
	pub plan: &'a Plan,
	pub corpus: &'a Corpus,
	pub shape: BatchShape,
	pub run_seed: u64,
	/// Inner steps per round (H).
	pub inner_steps: u32,
	/// The run's outer learning rate.
	pub outer_lr: f32,
}

/// One round to score: the validator's model and what the miners submitted.
#[derive(Clone, Copy)]
pub struct RoundInputs<'a> {
	pub round: Round,
	/// `theta_round`: the synced model before the round is applied.
	pub theta: &'a [f32],
	/// Mean |change| of the last non-empty outer step (the sync check's unit).
	pub step_scale: f32,
	/// The seed of the evaluation batches ([`eval_seed`]).
	pub eval_seed: u64,
	/// The miners eligible for the round (registered by its start): uid and account.
	pub miners: &'a [(Uid, AccountId)],
	/// The round's committed gradients, fetched and checked.
	pub fetched: &'a [Fetched],
	/// The previous round's, for the copy check.
	pub earlier: &'a [Fetched],
}

/// The validator's bars (its `ValidatorConfig`).
#[derive(Clone, Copy, Debug)]
pub struct Bars {
	/// The evaluation step is `eval_lr_factor * outer_lr`.
	pub eval_lr_factor: f32,
	/// Assigned batches the gain check is measured on.
	pub own_batches: u64,
	/// Both indicator checks pass at `1 - indicator_tolerance` times the typical peer's (the
	/// median of the gradients that lower the loss on the random batch and are not copies).
	pub indicator_tolerance: f32,
	/// The copy check's overlaps.
	pub copies: Thresholds,
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

/// Scores every miner of `input.miners`, sorted by uid, with the details of those whose
/// gradient was valid (in the order of `input.miners`). Fails only when the validator's own
/// side fails (its model's loss, the corpus); a miner's hostile data yields a flag.
pub fn score_round(
	run: &RunInputs<'_>,
	input: &RoundInputs<'_>,
	bars: &Bars,
) -> Result<(Vec<MinerScore>, Vec<ScoreDetail>)> {
	let (s, eval_seed, theta) = (input.round, input.eval_seed, input.theta);
	let (fetched, earlier) = (input.fetched, input.earlier);
	let overlaps = copy_verdicts(run.plan, fetched, earlier, bars.copies);
	let copied: Vec<Uid> = overlaps.iter().filter(|v| v.copied).map(|v| v.uid).collect();
	let valid: Vec<SparseGradient> =
		fetched.iter().filter_map(|f| f.outcome.as_ref().ok().cloned()).collect();
	let clip = sparseloco::median_norms(run.plan, &valid);
	let random = run.corpus.round_batch(eval_seed, s, 0, run.shape)?;
	let lr = bars.eval_lr_factor * run.outer_lr;
	let positions = sparseloco::fingerprint::positions(run.plan, s);

	let mut eval = run.device.evaluator(run.model)?;
	let rand_before = eval.loss(theta, &random)?;
	let reference = reference_update(run, theta, s, eval_seed)?;

	// Pass 1: every miner's gradient alone on the random batch and on its own batches.
	let mut scores = Vec::new();
	let mut measured: Vec<Measured> = Vec::new();
	for &(uid, who) in input.miners {
		let missing = MinerScore {
			uid,
			loss_score: 0,
			indicator: 0,
			sync_ppm: 0,
			flags: ScoreFlags::MISSING,
		};
		let grad = match fetched.iter().find(|f| f.uid == uid).map(|f| &f.outcome) {
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
		let assignment = Assignment { run_seed: run.run_seed, round: s, miner: who };
		let own: Vec<Batch> = own_steps(s, uid, run.inner_steps, bars.own_batches, eval_seed)
			.into_iter()
			.map(|step| run.corpus.assigned_batch(&assignment, step, run.shape))
			.collect::<Result<_, _>>()?;
		let losses = (|| -> Result<[f32; 3]> {
			let after = stepped(run.plan, theta, grad, &clip, lr)?;
			Ok([
				eval.loss(&after, &random)?,
				eval.loss_many(theta, &own)?,
				eval.loss_many(&after, &own)?,
			])
		})();
		let [rand_after, own_before, own_after] = match losses {
			Ok(v) if v.iter().all(|l| l.is_finite()) && rand_before.is_finite() => v,
			_ => {
				scores.push(MinerScore { flags: ScoreFlags::INVALID, ..missing });
				continue;
			}
		};
		let sync_ppm =
			sync_ppm(&grad.header.fingerprint, &positions.map(|p| theta[p]), input.step_scale);
		let flags = if copied.contains(&uid) { ScoreFlags::COPIED } else { ScoreFlags::NONE };
		let rand_rel = (rand_before - rand_after) / rand_before;
		let loss_score = (f64::from(rand_rel) * 1e9).round().clamp(-1e18, 1e18) as i64;
		let direction = cosine(&grad.to_dense(run.plan), &reference);
		measured.push(Measured {
			score: MinerScore { uid, loss_score, indicator: 0, sync_ppm, flags },
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
	//
	// "Typical" is taken over the peers that could be honest work: a gradient that does not
	// lower the loss on the random batch, or that is flagged as a copy, is judged but does
	// not set the bars. Otherwise free gradients (zeros, copies of zeros) outnumbering the
	// honest ones would pull both bars to zero and let a weak gradient through.
	let typical: Vec<usize> = (0..measured.len())
		.filter(|&i| measured[i].rand_rel > 0.0 && measured[i].score.flags == ScoreFlags::NONE)
		.collect();
	let mut ranked = typical.clone();
	ranked.sort_by(|&a, &b| measured[a].rand_rel.total_cmp(&measured[b].rand_rel).then(a.cmp(&b)));
	// With n >= 2 the (lower) median has a neighbour above it.
	let (median, neighbour) = match ranked.len() {
		0 => (None, None),
		1 => (Some(ranked[0]), None),
		n => (Some(ranked[(n - 1) / 2]), Some(ranked[(n - 1) / 2 + 1])),
	};
	let step = |i: Option<usize>| {
		i.map(|i| stepped(run.plan, theta, measured[i].grad, &clip, lr)).transpose()
	};
	let (theta_median, theta_neighbour) = (step(median)?, step(neighbour)?);
	// The direction check's bar: the upper median cosine of the typical peers with the
	// reference update (the upper one, so that one weak gradient beside one honest one does
	// not set it).
	let mut directions: Vec<f64> = typical.iter().map(|&i| measured[i].direction).collect();
	directions.sort_by(f64::total_cmp);
	let direction_bar = directions.get(directions.len() / 2).map_or(0.0, |d| d.max(0.0));
	let mut details = Vec::new();
	for (idx, m) in measured.iter().enumerate() {
		let reference = if Some(idx) == median {
			neighbour.zip(theta_neighbour.as_ref())
		} else {
			median.zip(theta_median.as_ref())
		};
		let (indicator, advantage) = match reference {
			Some((r, t)) => {
				let ref_after = eval.loss_many(t, &m.own)?;
				let own_gain = (m.own_before - m.own_after) / m.own_before;
				let ref_gain = (m.own_before - ref_after) / m.own_before;
				// The double difference (gain over the reference on its own batches, less that
				// on the random batch) is reported for diagnosis.
				let advantage = (own_gain - ref_gain) - (m.rand_rel - measured[r].rand_rel);
				(
					if own_gain > 0.0 && own_gain >= (1.0 - bars.indicator_tolerance) * ref_gain {
						1
					} else {
						-1
					},
					advantage,
				)
			}
			None => {
				let own_rel = (m.own_before - m.own_after) / m.own_before;
				(if own_rel > m.rand_rel { 1 } else { -1 }, own_rel - m.rand_rel)
			}
		};
		let aligned = m.direction > 0.0
			&& m.direction >= (1.0 - f64::from(bars.indicator_tolerance)) * direction_bar;
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
	grad: &'a SparseGradient,
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
fn reference_update(
	run: &RunInputs<'_>,
	theta: &[f32],
	s: Round,
	eval_seed: u64,
) -> Result<Vec<f32>> {
	let inner = super::miner::MinerConfig::default().train_config(run.inner_steps);
	let mut trainer = run.device.trainer(run.model, inner)?;
	let h = u64::from(run.inner_steps);
	trainer.set_global_step(s.saturating_mul(h));
	let (corpus, seed, shape) = (run.corpus, eval_seed, run.shape);
	let mut batches = |step: u64| -> Result<Batch, training_model::ModelError> {
		Ok(corpus.round_batch(seed, s, step + 1, shape)?)
	};
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
	plan: &Plan,
	theta: &[f32],
	grad: &SparseGradient,
	clip: &[Option<f64>],
	lr: f32,
) -> Result<Vec<f32>> {
	let mut after = theta.to_vec();
	sparseloco::aggregate_with_clip(plan, std::slice::from_ref(grad), clip, &mut after, lr)?;
	Ok(after)
}

/// The seed of every batch a validator evaluates round `r` on: the run seed mixed (blake2b)
/// with the round's seed from the chain, which no one knows before `r`'s commit deadline.
pub fn eval_seed(run_seed: u64, round_seed: &[u8; 32]) -> u64 {
	let h = sp_crypto_hashing::blake2_256(&codec::Encode::encode(&(
		b"eval-seed",
		run_seed,
		round_seed,
	)));
	u64::from_le_bytes(h[..8].try_into().unwrap_or([0; 8]))
}

/// The assigned steps whose batches a miner's own-data improvement is measured on: `n`
/// distinct steps of `0..inner_steps`, drawn from the round, the miner's uid and the
/// evaluation seed (so a miner cannot know which of its steps will be probed).
fn own_steps(round: Round, uid: Uid, inner_steps: u32, n: u64, eval_seed: u64) -> Vec<u64> {
	let h = u64::from(inner_steps.max(1));
	let first =
		(u64::from(round as u32 ^ u32::from(uid)) ^ eval_seed).wrapping_mul(0x9e37_79b9) % h;
	// A stride coprime to nothing in particular: distinct steps while n <= h.
	(0..n.min(h)).map(|i| (first + i * (h / n.min(h)).max(1)) % h).collect()
}

/// The copy check ([`super::copies::copy_check`]) over the round's valid gradients against
/// the previous round's, by index overlap.
fn copy_verdicts(
	plan: &Plan,
	current: &[Fetched],
	earlier: &[Fetched],
	thresholds: Thresholds,
) -> Vec<CopyVerdict> {
	let valid = |list: &[Fetched]| -> Vec<(Uid, u64, SparseGradient)> {
		list.iter()
			.filter_map(|f| f.outcome.as_ref().ok().map(|g| (f.uid, f.committed_at, g.clone())))
			.collect()
	};
	let (now, before) = (valid(current), valid(earlier));
	fn submissions(list: &[(Uid, u64, SparseGradient)]) -> Vec<Submission<'_, SparseGradient>> {
		list.iter()
			.map(|(uid, at, g)| Submission { uid: *uid, committed_at: *at, grad: g })
			.collect()
	}
	let ratio = |a: &SparseGradient, b: &SparseGradient| {
		sparseloco::index_overlap(plan, &a.tensors, &b.tensors).map_or(0.0, |o| o.ratio())
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
	let x = Fixed::from_rational((x.min(3.0) * 1e9) as i128, 1_000_000_000)
		.unwrap_or(Fixed::from_int(3));
	training_protocol::sync_score_ppm(x)
}

#[cfg(test)]
mod tests {
	use std::sync::OnceLock;

	use sparseloco::{fingerprint, ErrorFeedback, Header, QuantTable, SparseTensor};
	use training_model::{ModelError, Trainer};

	use super::*;
	use crate::roles::miner::noise_batch;
	use crate::roles::miner::MinerConfig;
	use crate::roles::validator::ValidatorConfig;

	/// Inner steps per round: few, so that the fixture trains in well under a second.
	const H: u32 = 8;
	/// The round scored: past the inner loop's warm-up (round 0), as most rounds are.
	const ROUND: Round = 2;
	const RUN_SEED: u64 = 42;
	const EVAL_SEED: u64 = 7;

	/// The devnet model, its plan and corpus, `theta` (the initial model) and gradients
	/// trained from it the way miners train them, shared by the tests.
	struct Fixture {
		model: ModelConfig,
		shape: BatchShape,
		plan: Plan,
		corpus: Corpus,
		theta: Vec<f32>,
		/// Honest gradients of `account(0..4)` (tensors only: headers are per test).
		honest: Vec<Vec<SparseTensor>>,
		/// `account(4)`'s gradient trained on uniformly random tokens.
		noise: Vec<SparseTensor>,
	}

	fn account(i: u8) -> AccountId {
		[i + 1; 32]
	}

	fn fixture() -> &'static Fixture {
		static FIXTURE: OnceLock<Fixture> = OnceLock::new();
		FIXTURE.get_or_init(|| {
			let (model, shape) = crate::roles::model_preset("devnet").expect("devnet preset");
			let params = crate::devnet::DevnetConfig::default()
				.run_params(model.config_hash())
				.expect("run params");
			let plan = crate::roles::plan_for(&model, &params).expect("plan");
			let corpus = crate::roles::load_corpus().unwrap_or_else(|e| panic!("{e:#}"));
			let theta = training_model::init_params(&model, RUN_SEED);
			let train = |who: AccountId, noise: bool| -> Vec<SparseTensor> {
				let cfg = MinerConfig::default();
				let mut trainer = Trainer::cpu(&model, cfg.train_config(H)).expect("trainer");
				trainer.set_global_step(ROUND * u64::from(H));
				let assignment = Assignment { run_seed: RUN_SEED, round: ROUND, miner: who };
				let (corpus, vocab) = (&corpus, model.vocab_size);
				let mut batches = |step: u64| -> Result<Batch, ModelError> {
					if noise {
						return Ok(noise_batch(vocab, shape, &(b"random-data", ROUND, who, step)));
					}
					Ok(corpus.assigned_batch(&assignment, step, shape)?)
				};
				let out =
					trainer.inner_steps(&theta, u64::from(H), &mut batches).expect("training");
				let delta: Vec<f32> = theta.iter().zip(&out.params).map(|(a, b)| a - b).collect();
				ErrorFeedback::new(&plan, cfg.beta)
					.expect("feedback")
					.compress(&plan, &delta)
					.expect("compress")
			};
			let honest = (0..4).map(|i| train(account(i), false)).collect();
			let noise = train(account(4), true);
			Fixture { model, shape, plan, corpus, theta, honest, noise }
		})
	}

	/// `tensors` under `who`'s header for the round, its fingerprint sampled from `at`.
	fn gradient(
		f: &Fixture,
		who: AccountId,
		tensors: Vec<SparseTensor>,
		at: &[f32],
	) -> SparseGradient {
		let sample = fingerprint::sample(&f.plan, ROUND, at).expect("the model fits the plan");
		SparseGradient { header: Header::new(&f.plan, 1, ROUND, who, sample), tensors }
	}

	/// Miner `uid` (account `account(uid)`) submitted `tensors` in block `at`, fingerprinted
	/// on `theta`.
	fn submitted(f: &Fixture, uid: Uid, at: u64, tensors: Vec<SparseTensor>) -> Fetched {
		let who = account(uid as u8);
		Fetched {
			uid,
			account: who,
			committed_at: at,
			outcome: Ok(gradient(f, who, tensors, &f.theta)),
			blob: None,
		}
	}

	fn faulty(uid: Uid, fault: BlobFault) -> Fetched {
		Fetched {
			uid,
			account: account(uid as u8),
			committed_at: 10,
			outcome: Err(fault),
			blob: None,
		}
	}

	fn with_table(
		tensors: &[SparseTensor],
		table: impl Fn(&QuantTable) -> QuantTable,
	) -> Vec<SparseTensor> {
		tensors.iter().map(|t| SparseTensor { table: table(&t.table), ..t.clone() }).collect()
	}

	/// Scores the round with the validator's default bars; every fetched uid is eligible
	/// unless `miners` says otherwise.
	fn score_with(
		fetched: &[Fetched],
		earlier: &[Fetched],
		miners: Option<&[Uid]>,
		step_scale: f32,
	) -> (Vec<MinerScore>, Vec<ScoreDetail>) {
		let f = fixture();
		let uids: Vec<Uid> =
			miners.map_or_else(|| fetched.iter().map(|x| x.uid).collect(), <[Uid]>::to_vec);
		let miners: Vec<(Uid, AccountId)> = uids.iter().map(|&u| (u, account(u as u8))).collect();
		let run = RunInputs {
			model: &f.model,
			device: &crate::device::Device::Cpu,
			plan: &f.plan,
			corpus: &f.corpus,
			shape: f.shape,
			run_seed: RUN_SEED,
			inner_steps: H,
			outer_lr: 1.0,
		};
		let input = RoundInputs {
			round: ROUND,
			theta: &f.theta,
			step_scale,
			eval_seed: EVAL_SEED,
			miners: &miners,
			fetched,
			earlier,
		};
		score_round(&run, &input, &ValidatorConfig::default().bars()).expect("scoring")
	}

	fn score(fetched: &[Fetched]) -> (Vec<MinerScore>, Vec<ScoreDetail>) {
		score_with(fetched, &[], None, 1e-3)
	}

	fn detail(details: &[ScoreDetail], uid: Uid) -> &ScoreDetail {
		details.iter().find(|d| d.uid == uid).expect("a detail for every valid gradient")
	}

	fn flags(scores: &[MinerScore]) -> Vec<ScoreFlags> {
		scores.iter().map(|s| s.flags).collect()
	}

	/// The direction check's bar as [`score_round`] sets it when no gradient is a copy:
	/// `1 - indicator_tolerance` times the upper median cosine of the gradients that lower
	/// the loss on the random batch.
	fn direction_bar(details: &[ScoreDetail]) -> f64 {
		let mut directions: Vec<f64> =
			details.iter().filter(|d| d.rand_rel > 0.0).map(|d| d.direction).collect();
		directions.sort_by(f64::total_cmp);
		let median = directions.get(directions.len() / 2).map_or(0.0, |d| d.max(0.0));
		(1.0 - f64::from(ValidatorConfig::default().indicator_tolerance)) * median
	}

	/// Honest gradients of miners `0..n` at block 10.
	fn honest(n: Uid) -> Vec<Fetched> {
		let f = fixture();
		(0..n).map(|i| submitted(f, i, 10, f.honest[i as usize].clone())).collect()
	}

	/// Loss score: an honest gradient lowers the loss on the round's random batch; one whose
	/// quantization table is zero (the `Zero` adversary) leaves `theta` exactly as it was, so
	/// scores 0, and fails the indicator. Scoring is deterministic (every validator agrees).
	#[test]
	fn gauntlet_loss_score_is_positive_for_honest_and_zero_for_a_zero_gradient() {
		let f = fixture();
		let mut fetched = honest(3);
		fetched.push(submitted(f, 3, 10, with_table(&f.honest[3], |_| QuantTable([0.0; 4]))));
		let (scores, details) = score(&fetched);
		assert_eq!(scores.iter().map(|s| s.uid).collect::<Vec<_>>(), vec![0, 1, 2, 3]);
		for s in &scores[..3] {
			assert!(s.loss_score > 0, "{s:?}");
			assert_eq!((s.indicator, s.flags), (1, ScoreFlags::NONE), "{s:?} {details:?}");
		}
		assert_eq!(
			(scores[3].loss_score, scores[3].indicator, scores[3].flags),
			(0, -1, ScoreFlags::NONE)
		);
		assert_eq!(detail(&details, 3).direction, 0.0);
		assert_eq!(score(&fetched).0, scores);
	}

	/// Gain: a gradient that points where an honest one does but moves `theta` a fiftieth
	/// as far passes the direction check and fails the gain check (it lowers the loss on its
	/// own batches far less than the median peer's gradient does).
	#[test]
	fn gauntlet_gain_check_fails_a_gradient_that_barely_moves() {
		let f = fixture();
		let mut fetched = honest(3);
		let tiny = with_table(&f.honest[3], |t| QuantTable(t.0.map(|v| v / 50.0)));
		fetched.push(submitted(f, 3, 10, tiny));
		let (scores, details) = score(&fetched);
		assert!(scores[..3].iter().all(|s| s.indicator == 1), "{scores:?} {details:?}");
		assert_eq!(scores[3].indicator, -1, "{details:?}");
		assert!(
			scores[3].loss_score > 0 && scores[3].loss_score < scores[0].loss_score,
			"{scores:?}"
		);
		// The direction check alone would pass it.
		assert!(detail(&details, 3).direction > direction_bar(&details), "{details:?}");
	}

	/// Direction: a gradient trained on uniformly random tokens (the `RandomData`
	/// adversary) points away from the validator's reference update and gets `-1`, and so
	/// does an honest gradient with its sign flipped; the honest ones get `+1`. On the
	/// initial devnet model both also fail the gain check (their steps do not lower the loss
	/// on text), so the last case isolates the direction check: an honest gradient with one
	/// tensor inflated 1000 times is clipped back in the step, lowers the loss as much as
	/// the honest one and passes the gain check, but its decoded update points along that
	/// tensor alone.
	#[test]
	fn gauntlet_direction_check_fails_random_tokens_and_a_distorted_gradient() {
		let f = fixture();
		let mut fetched = honest(3);
		fetched.push(submitted(f, 3, 10, f.noise.clone()));
		let (scores, details) = score(&fetched);
		assert_eq!(
			scores.iter().map(|s| s.indicator).collect::<Vec<_>>(),
			vec![1, 1, 1, -1],
			"{details:?}"
		);
		assert!(detail(&details, 3).direction < direction_bar(&details), "{details:?}");

		fetched[3] = submitted(f, 3, 10, with_table(&f.honest[3], |t| QuantTable(t.0.map(|v| -v))));
		let (scores, details) = score(&fetched);
		assert_eq!(scores[3].indicator, -1, "{details:?}");
		assert!(
			detail(&details, 3).direction < 0.0 && scores[3].loss_score < 0,
			"{scores:?} {details:?}"
		);

		let inflated = inflated_tensor(f);
		let mut distorted = f.honest[3].clone();
		distorted[inflated].table = QuantTable(distorted[inflated].table.0.map(|v| v * 1000.0));
		fetched[3] = submitted(f, 3, 10, distorted);
		let (scores, details) = score(&fetched);
		assert_eq!(
			scores.iter().map(|s| s.indicator).collect::<Vec<_>>(),
			vec![1, 1, 1, -1],
			"{details:?}"
		);
		let (honest_gain, own) =
			(details[..3].iter().map(|d| d.own_rel).fold(f32::MAX, f32::min), &details[3]);
		assert!(
			own.own_rel > 0.5 * honest_gain && own.rand_rel > 0.0,
			"the gain check passes it: {details:?}"
		);
		assert!(own.direction < direction_bar(&details), "{details:?}");
	}

	/// The tensor of the honest gradients that the distorted gradient inflates.
	fn inflated_tensor(f: &Fixture) -> usize {
		f.plan.layout().tensors().iter().position(|t| t.name == "layers.1.wq").expect("a tensor")
	}

	/// Free gradients do not set the bars: two honest miners, two zero gradients (free to
	/// send, one per extra account) and the distorted gradient of the direction test. Taken
	/// over every valid gradient, the median cosine would be the distorted one's own and the
	/// median gain a zero gradient's, so it would pass both checks. Gradients that do not
	/// lower the loss on the random batch are left out of the bars: it fails, the honest
	/// ones pass, the zeros fail.
	#[test]
	fn gauntlet_free_gradients_do_not_lower_the_bars() {
		let f = fixture();
		let mut distorted = f.honest[2].clone();
		let t = inflated_tensor(f);
		distorted[t].table = QuantTable(distorted[t].table.0.map(|v| v * 1000.0));
		let mut fetched = honest(2);
		fetched.push(submitted(f, 2, 10, distorted));
		fetched.push(submitted(f, 3, 10, with_table(&f.honest[3], |_| QuantTable([0.0; 4]))));
		fetched.push(submitted(f, 4, 10, with_table(&f.noise, |_| QuantTable([0.0; 4]))));
		let (scores, details) = score(&fetched);
		assert_eq!(flags(&scores), vec![ScoreFlags::NONE; 5], "{details:?}");
		assert_eq!(
			scores.iter().map(|s| s.indicator).collect::<Vec<_>>(),
			vec![1, 1, -1, -1, -1],
			"{details:?}"
		);
		// Over all five, the (lower) median cosine is the distorted gradient's own.
		let mut all: Vec<f64> = details.iter().map(|d| d.direction).collect();
		all.sort_by(f64::total_cmp);
		assert_eq!(all[2], detail(&details, 2).direction, "{details:?}");
		assert!(detail(&details, 2).direction > 0.0, "{details:?}");
		assert!(detail(&details, 2).direction < direction_bar(&details), "{details:?}");
	}

	/// Sync: a fingerprint sampled from `theta` scores 1_000_000; one sampled from `theta`
	/// moved by one step scale scores `sync_score_ppm(1)`, by three or more 0; any
	/// difference scores 0 before the first outer step (step scale 0).
	#[test]
	fn gauntlet_sync_follows_the_fingerprint() {
		let f = fixture();
		let step_scale = 1e-3;
		let moved = |by: f32| -> Vec<f32> { f.theta.iter().map(|x| x + by * step_scale).collect() };
		let mut fetched = honest(3);
		for (i, by) in [(1usize, 1.0), (2, 5.0)] {
			let who = account(i as u8);
			fetched[i].outcome = Ok(gradient(f, who, f.honest[i].clone(), &moved(by)));
		}
		let (scores, _) = score_with(&fetched, &[], None, step_scale);
		let one = training_protocol::sync_score_ppm(Fixed::ONE);
		assert_eq!(scores[0].sync_ppm, 1_000_000);
		assert!(scores[1].sync_ppm.abs_diff(one) < 1_000, "{} vs {one}", scores[1].sync_ppm);
		assert_eq!(scores[2].sync_ppm, 0);
		let (first, _) = score_with(&fetched, &[], None, 0.0);
		assert_eq!(first.iter().map(|s| s.sync_ppm).collect::<Vec<_>>(), vec![1_000_000, 0, 0]);
	}

	/// The sync measure is the interquartile mean of the 16 ratios: a quarter of them off by
	/// any amount on either side changes nothing.
	#[test]
	fn gauntlet_sync_ignores_outlying_quarters() {
		let mine = [0.5f32; 16];
		let mut theirs = mine.map(|x| x + 0.002);
		let base = sync_ppm(&theirs, &mine, 0.002);
		theirs[..4].copy_from_slice(&[100.0, -100.0, 0.5, f32::MAX]);
		assert_eq!(sync_ppm(&theirs, &mine, 0.002), base);
		assert!(base > 0 && base < 1_000_000);
	}

	/// Copies: two miners committing the same gradient in one block are both flagged; in
	/// different blocks only the later one; a re-submission of another miner's gradient of
	/// the previous round is flagged. Honest gradients are not.
	#[test]
	fn gauntlet_copy_groups_are_flagged() {
		let f = fixture();
		let copy = |at: u64| submitted(f, 1, at, f.honest[0].clone());
		let round =
			|at: u64| vec![submitted(f, 0, 10, f.honest[0].clone()), copy(at), honest(3).remove(2)];
		let (scores, details) = score(&round(10));
		let c = ScoreFlags::COPIED;
		assert_eq!(flags(&scores), vec![c, c, ScoreFlags::NONE], "{details:?}");
		assert_eq!((detail(&details, 0).overlap, detail(&details, 1).overlap), (1.0, 1.0));
		assert!(
			detail(&details, 2).overlap < ValidatorConfig::default().copy_overlap,
			"{details:?}"
		);
		// The flag does not change the measurements.
		assert!(scores.iter().all(|s| s.loss_score > 0 && s.indicator == 1), "{scores:?}");
		let (scores, _) = score(&round(11));
		assert_eq!(flags(&scores), vec![ScoreFlags::NONE, c, ScoreFlags::NONE]);
		// Miner 2 re-heads miner 5's gradient of the previous round.
		let earlier = [submitted(f, 5, 3, f.honest[3].clone())];
		let fetched =
			[submitted(f, 0, 10, f.honest[0].clone()), submitted(f, 2, 10, f.honest[3].clone())];
		let (scores, _) = score_with(&fetched, &earlier, None, 1e-3);
		assert_eq!(flags(&scores), vec![ScoreFlags::NONE, c]);
	}

	/// Missing and invalid: an eligible miner with no fetched entry or a blob not found is
	/// MISSING, a blob that failed its checks INVALID, and so is a gradient whose step makes
	/// the loss non-finite (the only valid one of its round, so its own norm is the clip) or
	/// that does not fit the plan. Only eligible miners are scored.
	#[test]
	fn gauntlet_missing_and_invalid_submissions_are_flagged() {
		let f = fixture();
		let huge = with_table(&f.honest[0], |_| QuantTable([-3e38, -1e38, 1e38, 3e38]));
		let fetched = [
			faulty(1, BlobFault::Missing),
			faulty(2, BlobFault::Invalid("hash".into())),
			submitted(f, 3, 10, huge),
		];
		let (scores, details) = score_with(&fetched, &[], Some(&[0, 1, 2, 3]), 1e-3);
		let (m, i) = (ScoreFlags::MISSING, ScoreFlags::INVALID);
		let expected: Vec<MinerScore> = [(0, m), (1, m), (2, i), (3, i)]
			.into_iter()
			.map(|(uid, flags)| MinerScore { uid, loss_score: 0, indicator: 0, sync_ppm: 0, flags })
			.collect();
		assert_eq!(scores, expected);
		assert!(details.is_empty(), "{details:?}");
		// Miner 9 committed but is not eligible (registered after the round started).
		let short = f.honest[1][1..].to_vec();
		let fetched = [submitted(f, 4, 10, short), submitted(f, 9, 10, f.honest[2].clone())];
		let (scores, _) = score_with(&fetched, &[], Some(&[4]), 1e-3);
		assert_eq!(flags(&scores), vec![i]);
	}

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
