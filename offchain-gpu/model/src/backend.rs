//! The compute interface the trainer drives. A backend owns the parameters, gradients and
//! optimizer state (on a GPU they stay in device memory for all inner steps), so the trainer
//! only moves parameters in at the start of a round and out at the end.

use crate::batch::Batch;
use crate::config::ModelConfig;
use crate::error::ModelError;
use crate::model::Timings;
use crate::optim::AdamWConfig;

/// Result of one optimizer step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepStats {
	/// Global gradient norm before clipping.
	pub grad_norm: f64,
	/// Clipping factor applied (1 when under the limit).
	pub clip_scale: f32,
	pub lr: f32,
}

/// A device that can train and evaluate one model.
pub trait Backend {
	/// Short name for logs (`"cpu"`, `"cuda"`, `"cuda-sim"`).
	fn name(&self) -> &'static str;

	fn config(&self) -> &ModelConfig;

	/// Replaces the parameters (flat, in [`crate::ParamLayout`] order). Optimizer state is
	/// kept.
	fn load_params(&mut self, params: &[f32]) -> Result<(), ModelError>;

	/// Copies the current parameters out.
	fn read_params(&self) -> Vec<f32>;

	/// Mean loss of `batch` under the current parameters (forward only).
	fn forward(&mut self, batch: &Batch) -> Result<f32, ModelError>;

	/// Mean loss of `batch`; its gradient replaces the stored gradient.
	fn forward_backward(&mut self, batch: &Batch) -> Result<f32, ModelError>;

	/// Copies the stored gradient out (for inspection and tests).
	fn read_grads(&self) -> Vec<f32>;

	/// Clips the stored gradient to `max_grad_norm` (if given) and applies one AdamW step
	/// with learning rate `lr`.
	fn optimizer_step(
		&mut self,
		lr: f32,
		max_grad_norm: Option<f32>,
	) -> Result<StepStats, ModelError>;

	/// Forgets the optimizer moments and step count.
	fn reset_optimizer(&mut self);

	fn adamw_config(&self) -> AdamWConfig;

	/// Time spent in forward/backward (and its matmuls) since the last reset.
	fn timings(&self) -> Timings;

	fn reset_timings(&mut self);
}

/// A backend chosen at run time (the CPU, a GPU or the simulated device).
pub type DynBackend = Box<dyn Backend + Send + Sync>;

impl<B: Backend + ?Sized> Backend for Box<B> {
	fn name(&self) -> &'static str {
		(**self).name()
	}

	fn config(&self) -> &ModelConfig {
		(**self).config()
	}

	fn load_params(&mut self, params: &[f32]) -> Result<(), ModelError> {
		(**self).load_params(params)
	}

	fn read_params(&self) -> Vec<f32> {
		(**self).read_params()
	}

	fn forward(&mut self, batch: &Batch) -> Result<f32, ModelError> {
		(**self).forward(batch)
	}

	fn forward_backward(&mut self, batch: &Batch) -> Result<f32, ModelError> {
		(**self).forward_backward(batch)
	}

	fn read_grads(&self) -> Vec<f32> {
		(**self).read_grads()
	}

	fn optimizer_step(
		&mut self,
		lr: f32,
		max_grad_norm: Option<f32>,
	) -> Result<StepStats, ModelError> {
		(**self).optimizer_step(lr, max_grad_norm)
	}

	fn reset_optimizer(&mut self) {
		(**self).reset_optimizer()
	}

	fn adamw_config(&self) -> AdamWConfig {
		(**self).adamw_config()
	}

	fn timings(&self) -> Timings {
		(**self).timings()
	}

	fn reset_timings(&mut self) {
		(**self).reset_timings()
	}
}
