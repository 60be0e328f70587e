//! Local training for one round: H AdamW inner steps from given parameters (miners), and
//! forward-only loss evaluation (validators).

use serde::{Deserialize, Serialize};

use crate::backend::{Backend, StepStats};
use crate::batch::Batch;
use crate::config::ModelConfig;
use crate::cpu::CpuBackend;
use crate::data::BatchSource;
use crate::error::ModelError;
use crate::model::Workspace;
use crate::optim::{AdamWConfig, LrSchedule};

/// Inner-loop hyper-parameters.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
	pub adamw: AdamWConfig,
	pub schedule: LrSchedule,
	/// Clip the global gradient norm to this value (None: no clipping).
	pub max_grad_norm: Option<f32>,
}

impl Default for TrainConfig {
	fn default() -> Self {
		Self {
			adamw: AdamWConfig::default(),
			schedule: LrSchedule {
				peak_lr: 3e-3,
				min_lr: 3e-4,
				warmup_steps: 100,
				total_steps: 20_000,
			},
			max_grad_norm: Some(1.0),
		}
	}
}

/// What one call to [`Trainer::inner_steps`] produced.
#[derive(Clone, Debug)]
pub struct InnerOutcome {
	/// Parameters after the last step.
	pub params: Vec<f32>,
	/// Training loss of each step's batch (before that step's update).
	pub losses: Vec<f32>,
	pub steps: Vec<StepStats>,
}

/// Runs inner steps on a backend. The optimizer state and the schedule's step counter
/// persist across rounds, as in DiLoCo-style training where only parameters are
/// resynchronized.
pub struct Trainer<B: Backend = CpuBackend> {
	backend: B,
	cfg: TrainConfig,
	global_step: u64,
}

impl Trainer<CpuBackend> {
	/// A trainer on the CPU backend.
	pub fn cpu(model: &ModelConfig, cfg: TrainConfig) -> Result<Self, ModelError> {
		Ok(Self::new(CpuBackend::new(model, cfg.adamw)?, cfg))
	}
}

impl<B: Backend> Trainer<B> {
	pub fn new(backend: B, cfg: TrainConfig) -> Self {
		Self { backend, cfg, global_step: 0 }
	}

	pub fn backend(&self) -> &B {
		&self.backend
	}

	pub fn backend_mut(&mut self) -> &mut B {
		&mut self.backend
	}

	pub fn train_config(&self) -> &TrainConfig {
		&self.cfg
	}

	/// Inner steps taken so far (drives the learning-rate schedule).
	pub fn global_step(&self) -> u64 {
		self.global_step
	}

	/// Positions the schedule, e.g. `round * H` when a miner joins mid-run.
	pub fn set_global_step(&mut self, step: u64) {
		self.global_step = step;
	}

	pub fn reset_optimizer(&mut self) {
		self.backend.reset_optimizer();
	}

	/// Loads `params`, runs `h` AdamW steps on `batches.batch(0..h)` and returns the new
	/// parameters with per-step statistics.
	pub fn inner_steps(
		&mut self,
		params: &[f32],
		h: u64,
		batches: &mut impl BatchSource,
	) -> Result<InnerOutcome, ModelError> {
		self.backend.load_params(params)?;
		// `h` comes from chain parameters: do not trust it for an up-front allocation.
		let capacity = h.min(1 << 16) as usize;
		let mut losses = Vec::with_capacity(capacity);
		let mut steps = Vec::with_capacity(capacity);
		for step in 0..h {
			let batch = batches.batch(step)?;
			losses.push(self.backend.forward_backward(&batch)?);
			let lr = self.cfg.schedule.lr(self.global_step);
			steps.push(self.backend.optimizer_step(lr, self.cfg.max_grad_norm)?);
			self.global_step += 1;
		}
		Ok(InnerOutcome { params: self.backend.read_params(), losses, steps })
	}

	/// Mean loss of `batch` under the backend's current parameters.
	pub fn loss(&mut self, batch: &Batch) -> Result<f32, ModelError> {
		self.backend.forward(batch)
	}
}

/// Forward-only losses of given parameters on one backend (a validator's evaluations on its
/// device). The CPU functions [`eval_loss`] and [`eval_loss_many`] compute the same.
pub struct Evaluator<B: Backend = CpuBackend> {
	backend: B,
}

impl<B: Backend> Evaluator<B> {
	pub fn new(backend: B) -> Self {
		Self { backend }
	}

	/// Loss of `params` on `batch`.
	pub fn loss(&mut self, params: &[f32], batch: &Batch) -> Result<f32, ModelError> {
		self.backend.load_params(params)?;
		finite(self.backend.forward(batch)?)
	}

	/// Mean loss of `params` over `batches` (summed in f64, like [`eval_loss_many`]).
	pub fn loss_many(&mut self, params: &[f32], batches: &[Batch]) -> Result<f32, ModelError> {
		self.backend.load_params(params)?;
		let mut total = 0.0f64;
		for b in batches {
			total += self.backend.forward(b)? as f64;
		}
		finite((total / batches.len().max(1) as f64) as f32)
	}

	pub fn backend(&self) -> &B {
		&self.backend
	}
}

fn finite(loss: f32) -> Result<f32, ModelError> {
	if loss.is_finite() {
		Ok(loss)
	} else {
		Err(ModelError::NonFiniteLoss(loss))
	}
}

/// Forward-only loss of `params` on `batch` on the CPU (what a validator computes).
pub fn eval_loss(cfg: &ModelConfig, params: &[f32], batch: &Batch) -> Result<f32, ModelError> {
	let loss = Workspace::<f32>::new(cfg)?.loss(params, batch)?;
	if !loss.is_finite() {
		return Err(ModelError::NonFiniteLoss(loss));
	}
	Ok(loss)
}

/// Mean loss over several batches, reusing one workspace.
pub fn eval_loss_many(
	cfg: &ModelConfig,
	params: &[f32],
	batches: &[Batch],
) -> Result<f32, ModelError> {
	let mut ws = Workspace::<f32>::new(cfg)?;
	let mut total = 0.0f64;
	for b in batches {
		total += ws.loss(params, b)? as f64;
	}
	let mean = (total / batches.len().max(1) as f64) as f32;
	if !mean.is_finite() {
		return Err(ModelError::NonFiniteLoss(mean));
	}
	Ok(mean)
}

#[cfg(test)]
mod tests {
	use super::*;
	use crate::data::{AssignedBatches, Assignment, BatchShape, Corpus};
	use crate::init::init_params;

	fn repetitive_corpus() -> Corpus {
		let text = "the quick brown fox jumps over the lazy dog. ".repeat(200);
		Corpus::from_documents([text.as_str()], 0.1).unwrap()
	}

	fn train_cfg(lr: f32) -> TrainConfig {
		TrainConfig {
			adamw: AdamWConfig { weight_decay: 0.0, ..Default::default() },
			schedule: LrSchedule {
				peak_lr: lr,
				min_lr: lr / 10.0,
				warmup_steps: 5,
				total_steps: 200,
			},
			max_grad_norm: Some(1.0),
		}
	}

	#[test]
	fn tiny_model_learns_repetitive_text() {
		let cfg = ModelConfig::tiny();
		let corpus = repetitive_corpus();
		let shape = BatchShape { batch_size: 8, seq_len: 16 };
		let params = init_params(&cfg, 1);
		let eval: Vec<Batch> = (0..4).map(|i| corpus.heldout_batch(i, shape).unwrap()).collect();
		let before = eval_loss_many(&cfg, &params, &eval).unwrap();
		assert!((before - (cfg.vocab_size as f32).ln()).abs() < 0.1, "{before}");

		let mut trainer = Trainer::cpu(&cfg, train_cfg(3e-2)).unwrap();
		let assignment = Assignment { run_seed: 1, round: 0, miner: [7; 32] };
		let mut batches = AssignedBatches { corpus: &corpus, assignment, shape };
		let out = trainer.inner_steps(&params, 150, &mut batches).unwrap();
		let after = eval_loss_many(&cfg, &out.params, &eval).unwrap();
		eprintln!("tiny model held-out loss {before:.3} -> {after:.3}");
		assert!(after < 0.6 * before, "held-out loss {before} -> {after}");
		assert!(out.losses.last().unwrap() < &out.losses[0]);
		assert_eq!(trainer.global_step(), 150);
		assert!(out.steps.iter().all(|s| s.grad_norm.is_finite()));
	}

	#[test]
	fn inner_steps_are_deterministic_and_reproducible_by_a_validator() {
		let cfg = ModelConfig::tiny();
		let corpus = repetitive_corpus();
		let shape = BatchShape { batch_size: 2, seq_len: 8 };
		let params = init_params(&cfg, 2);
		let assignment = Assignment { run_seed: 5, round: 3, miner: [1; 32] };
		let run = || {
			let mut t = Trainer::cpu(&cfg, train_cfg(1e-2)).unwrap();
			t.inner_steps(&params, 5, &mut AssignedBatches { corpus: &corpus, assignment, shape })
				.unwrap()
		};
		let (a, b) = (run(), run());
		assert_eq!(a.params, b.params);
		assert_eq!(a.losses, b.losses);
		assert_ne!(a.params, params);
		// The validator's forward-only loss of step 0's batch equals the miner's reported loss.
		let first = corpus.assigned_batch(&assignment, 0, shape).unwrap();
		assert_eq!(eval_loss(&cfg, &params, &first).unwrap(), a.losses[0]);
	}

	#[test]
	fn closures_are_batch_sources_and_errors_propagate() {
		let cfg = ModelConfig::tiny();
		let params = init_params(&cfg, 2);
		let mut t = Trainer::cpu(&cfg, train_cfg(1e-2)).unwrap();
		let mut bad = |_step: u64| -> Result<Batch, ModelError> {
			Ok(Batch { batch_size: 1, seq_len: 2, inputs: vec![1, 999], targets: vec![2, 3] })
		};
		assert!(matches!(
			t.inner_steps(&params, 1, &mut bad),
			Err(ModelError::TokenOutOfRange { token: 999, .. })
		));
		assert!(matches!(
			t.inner_steps(&params[1..], 1, &mut bad),
			Err(ModelError::ParamLength { .. })
		));
	}
}
