//! Runs the methods round by round from the same initial parameters, on the same data
//! shards, and evaluates the synced model on a fixed held-out set after every round.
//!
//! Replica `i` trains on its own deterministic shard: the sampler's assigned batches for
//! miner account [`replica_account`]`(i)`. The AdamW baseline's batch at inner step `s` of
//! round `r` is the union of all replicas' batches at `(r, s)`, so every method sees the
//! same tokens.

mod adamw;
mod diloco;
mod sparse;

#[cfg(test)]
pub use sparse::compression_plan;

use std::time::Instant;

use training_model::{
	eval_loss_many, init_params, AssignedBatches, Assignment, Batch, Corpus, DynBackend,
	ModelError, Trainer,
};

use super::config::QualityConfig;
use super::curve::{Curve, Method, Point};
use super::error::QualityError;
use super::traffic::ByteCounter;

/// The sampler account of replica `i`.
pub fn replica_account(i: usize) -> [u8; 32] {
	let mut account = [0u8; 32];
	account[..8].copy_from_slice(&(i as u64 + 1).to_le_bytes());
	account
}

/// What the methods share: configuration, corpus, initial parameters and evaluation set.
pub struct Bench<'a> {
	cfg: &'a QualityConfig,
	corpus: &'a Corpus,
	init: Vec<f32>,
	eval: Vec<Batch>,
}

/// One method's state between rounds.
trait Strategy {
	/// Trains one round (H inner steps per replica), communicates and updates the model.
	fn round(&mut self, bench: &Bench<'_>, round: u64) -> Result<(), QualityError>;

	/// The synced model.
	fn params(&self) -> &[f32];

	/// Bytes all replicas have sent so far.
	fn sent(&self) -> ByteCounter;
}

impl<'a> Bench<'a> {
	/// Validates `cfg` and draws the initial parameters and the held-out set.
	pub fn new(cfg: &'a QualityConfig, corpus: &'a Corpus) -> Result<Self, QualityError> {
		cfg.validate()?;
		let eval = (0..cfg.eval_batches)
			.map(|i| corpus.heldout_batch(i, cfg.shape))
			.collect::<Result<_, _>>()?;
		Ok(Self { cfg, corpus, init: init_params(&cfg.model, cfg.init_seed), eval })
	}

	/// Trains `method` for the configured rounds, handing each evaluation to `on_point`.
	pub fn run(
		&self,
		method: Method,
		on_point: &mut dyn FnMut(Method, &Point),
	) -> Result<Curve, QualityError> {
		let start = Instant::now();
		let in_round = |round, e| QualityError::InMethod { method, round, source: Box::new(e) };
		let mut strategy: Box<dyn Strategy> = match method {
			Method::AdamW => Box::new(adamw::DataParallel::new(self).map_err(|e| in_round(0, e))?),
			Method::DiLoCo => Box::new(diloco::DiLoCo::new(self).map_err(|e| in_round(0, e))?),
			Method::SparseLoCo => {
				Box::new(sparse::SparseLoCo::new(self).map_err(|e| in_round(0, e))?)
			}
		};
		let mut points = Vec::with_capacity(self.cfg.rounds as usize + 1);
		for round in 0..=self.cfg.rounds {
			if round > 0 {
				strategy.round(self, round - 1).map_err(|e| in_round(round, e))?;
			}
			let point = Point {
				round,
				tokens: round * self.cfg.tokens_per_round(),
				heldout_loss: self
					.heldout_loss(strategy.params())
					.map_err(|e| in_round(round, e))?,
				bytes_sent: strategy.sent().per_replica(self.cfg.replicas),
			};
			on_point(method, &point);
			points.push(point);
		}
		Ok(Curve { method, points, wall: start.elapsed() })
	}

	/// Mean loss of `params` over the held-out set.
	fn heldout_loss(&self, params: &[f32]) -> Result<f32, QualityError> {
		Ok(eval_loss_many(&self.cfg.model, params, &self.eval)?)
	}

	fn assignment(&self, replica: usize, round: u64) -> Assignment {
		Assignment { run_seed: self.cfg.run_seed.into(), round, miner: replica_account(replica) }
	}

	/// Replica `replica`'s batches for `round`.
	fn shard(&self, replica: usize, round: u64) -> AssignedBatches<'a> {
		AssignedBatches {
			corpus: self.corpus,
			assignment: self.assignment(replica, round),
			shape: self.cfg.shape,
		}
	}

	/// All replicas' batches of inner step `step` of `round`, as one batch.
	fn union_batch(&self, round: u64, step: u64) -> Result<Batch, ModelError> {
		let per_replica = self.cfg.shape.batch_size * self.cfg.shape.seq_len;
		let mut inputs = Vec::with_capacity(per_replica * self.cfg.replicas);
		let mut targets = Vec::with_capacity(per_replica * self.cfg.replicas);
		for replica in 0..self.cfg.replicas {
			let b = self.corpus.assigned_batch(
				&self.assignment(replica, round),
				step,
				self.cfg.shape,
			)?;
			inputs.extend_from_slice(&b.inputs);
			targets.extend_from_slice(&b.targets);
		}
		Ok(Batch {
			batch_size: self.cfg.shape.batch_size * self.cfg.replicas,
			seq_len: self.cfg.shape.seq_len,
			inputs,
			targets,
		})
	}

	fn trainer(&self) -> Result<Trainer<DynBackend>, QualityError> {
		Ok(self.cfg.device.trainer(&self.cfg.model, self.cfg.train_config())?)
	}
}

/// R replicas, each with its own inner AdamW state (kept across rounds, as in DiLoCo).
struct Replicas {
	trainers: Vec<Trainer<DynBackend>>,
}

impl Replicas {
	fn new(bench: &Bench<'_>) -> Result<Self, QualityError> {
		let trainers =
			(0..bench.cfg.replicas).map(|_| bench.trainer()).collect::<Result<_, _>>()?;
		Ok(Self { trainers })
	}

	/// Runs replica `i`'s H inner steps of `round` from `theta` and returns its
	/// pseudo-gradient `theta - theta_i`.
	fn pseudo_gradient(
		&mut self,
		bench: &Bench<'_>,
		i: usize,
		round: u64,
		theta: &[f32],
	) -> Result<Vec<f32>, QualityError> {
		let out = self.trainers[i].inner_steps(
			theta,
			bench.cfg.inner_steps,
			&mut bench.shard(i, round),
		)?;
		Ok(theta.iter().zip(&out.params).map(|(before, after)| before - after).collect())
	}
}
