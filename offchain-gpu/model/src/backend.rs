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
	/// Short name for logs (`"cpu"`, later `"cuda"`).
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
