//! The miner's adversaries (feature `adversaries`: the devnet and the tests build them in,
//! the released worker does not). Each is a [`Behaviour`] the end-to-end tests run against
//! honest peers; the honest miner's code calls in here only when its behaviour is not
//! `Honest`.

use std::time::Duration;

use anyhow::Result;
use codec::Encode;
use sparseloco::{Header, SparseGradient, SparseTensor};
use training_model::{Assignment, Batch, BatchShape, ModelError};
use training_protocol::Round;

use crate::roles::miner::{noise_batch, Behaviour, Miner};
use crate::roles::RunCtx;

/// The adversary's gradient for `round` under `header` (see [`Behaviour`]); `None` for a
/// copier or replayer that finds nothing to copy.
pub(crate) async fn produce(
	m: &mut Miner,
	ctx: &RunCtx,
	round: Round,
	header: Header,
) -> Result<Option<(SparseGradient, f32, f32)>> {
	let behaviour = m.cfg.behaviour;
	if behaviour == Behaviour::Copier {
		let copied = match round.checked_sub(1) {
			Some(prev) => copy_previous(m, ctx, prev).await?,
			None => None,
		};
		return Ok(copied.map(|tensors| (SparseGradient { header, tensors }, f32::NAN, f32::NAN)));
	}
	if behaviour == Behaviour::Replay {
		let theta = m.synced.theta.clone();
		let Some(before) = m.previous_theta.replace(theta) else { return Ok(None) };
		// Inflated so that validators' clipping, not the outer learning rate, sets its size;
		// compressed from a zero residual (error feedback would resend stale steps).
		let step: Vec<f32> =
			before.iter().zip(&m.synced.theta).map(|(b, a)| (b - a) * REPLAY_GAIN).collect();
		let tensors = tokio::task::block_in_place(|| {
			sparseloco::ErrorFeedback::new(&ctx.plan, 0.0)?.compress(&ctx.plan, &step)
		})?;
		return Ok(Some((SparseGradient { header, tensors }, f32::NAN, f32::NAN)));
	}
	if let (Behaviour::Stale, Some(previous)) = (behaviour, &m.previous) {
		return Ok(Some((
			SparseGradient { header, tensors: previous.clone() },
			f32::NAN,
			f32::NAN,
		)));
	}
	let (me, run_seed) = (m.me, ctx.params.run_seed);
	let miner = match behaviour {
		// Someone else's data: an account derived from the round, never its own.
		Behaviour::OtherData => sp_crypto_hashing::blake2_256(&(b"other-data", round, me).encode()),
		// The group's data, the same for every member.
		Behaviour::Sybil => sp_crypto_hashing::blake2_256(&(b"sybil-group", run_seed).encode()),
		_ => me,
	};
	let assignment = Assignment { run_seed, round, miner };
	let (corpus, shape, vocab) = (&ctx.corpus, ctx.shape, ctx.model.vocab_size);
	let batches = move |step: u64| -> Result<Batch, ModelError> {
		Ok(match behaviour {
			Behaviour::RandomData => noise_batch(vocab, shape, &(b"random-data", round, me, step)),
			// Every step on the old loss batch: memorise what it would have been judged on.
			Behaviour::EvalFit => old_evaluation_batch(corpus, run_seed, round, 0, shape)?,
			_ => corpus.assigned_batch(&assignment, step, shape)?,
		})
	};
	let (mut tensors, first, last) = m.train(ctx, batches)?;
	if behaviour == Behaviour::Zero {
		for t in &mut tensors {
			t.table = sparseloco::QuantTable([0.0; 4]);
		}
	}
	if behaviour == Behaviour::Stale {
		m.previous = Some(tensors.clone());
	}
	Ok(Some((SparseGradient { header, tensors }, first, last)))
}

/// How much the replay adversary scales the outer step it resends.
const REPLAY_GAIN: f32 = 100.0;

/// Another miner's gradient of round `prev` (the lowest uid that is not this miner).
async fn copy_previous(m: &Miner, ctx: &RunCtx, prev: Round) -> Result<Option<Vec<SparseTensor>>> {
	let fetched = crate::roles::fetch_round_within(ctx, prev, None, Duration::ZERO).await?;
	Ok(fetched
		.into_iter()
		.filter(|f| f.uid != m.uid)
		.find_map(|f| f.outcome.ok())
		.map(|g| g.tensors))
}

/// How long after the commit deadline the late publisher publishes: the readers' default
/// patience, so that a reader that started at the deadline has just given up and one that
/// started a block later (a validator) has not.
pub const LATE_BY: Duration = Duration::from_secs(6);

/// What an adversary does between the commit deadline and publishing its blob.
pub(crate) async fn before_publishing(behaviour: Behaviour) {
	if behaviour == Behaviour::Late {
		tokio::time::sleep(LATE_BY).await;
	}
}

/// The blob to commit and the blob to publish.
pub(crate) fn disguise(behaviour: Behaviour, blob: Vec<u8>, round: Round) -> (Vec<u8>, Vec<u8>) {
	match behaviour {
		Behaviour::Garbage => {
			// The first tensor's table starts right after the header.
			let mut bad = blob;
			let at = sparseloco::codec::HEADER_LEN;
			if let Some(slot) = bad.get_mut(at..at + 4) {
				slot.copy_from_slice(&f32::NAN.to_le_bytes());
			}
			(bad.clone(), bad)
		}
		Behaviour::WrongHash => {
			let mut other = blob.clone();
			if let Some(last) = other.last_mut() {
				*last ^= 1 | (round as u8);
			}
			(blob, other)
		}
		_ => (blob.clone(), blob),
	}
}

/// Batch `step` of what validators used to evaluate round `round` on, computable by anyone
/// before the round: `round_batch(run_seed, round, 0)` was the loss batch and steps
/// `1..=H` the reference update's. Evaluation batches now come from the run seed mixed with
/// the round's seed ([`crate::roles::validator::eval_seed`]), known only after the commit deadline.
pub fn old_evaluation_batch(
	corpus: &training_model::Corpus,
	run_seed: u64,
	round: Round,
	step: u64,
	shape: BatchShape,
) -> Result<Batch, training_model::DataError> {
	corpus.round_batch(run_seed, round, step, shape)
}
