//! The reference backend: the f32 model on the CPU, multi-threaded with rayon.

use crate::backend::{Backend, StepStats};
use crate::batch::Batch;
use crate::config::ModelConfig;
use crate::error::ModelError;
use crate::model::{Timings, Workspace};
use crate::optim::{clip_grad_norm, global_norm, AdamW, AdamWConfig};

#[derive(Debug)]
pub struct CpuBackend {
	workspace: Workspace<f32>,
	params: Vec<f32>,
	grads: Vec<f32>,
	optimizer: AdamW,
}

impl CpuBackend {
	/// A backend with all-zero parameters; call [`Backend::load_params`] before use.
	pub fn new(cfg: &ModelConfig, adamw: AdamWConfig) -> Result<Self, ModelError> {
		let workspace = Workspace::new(cfg)?;
		let n = workspace.layout().len();
		let optimizer = AdamW::new(workspace.layout(), adamw);
		Ok(Self { workspace, params: vec![0.0; n], grads: vec![0.0; n], optimizer })
	}

	/// Borrow of the current parameters (no copy).
	pub fn params(&self) -> &[f32] {
		&self.params
	}
}

fn finite(loss: f32) -> Result<f32, ModelError> {
	if loss.is_finite() {
		Ok(loss)
	} else {
		Err(ModelError::NonFiniteLoss(loss))
	}
}

impl Backend for CpuBackend {
	fn name(&self) -> &'static str {
		"cpu"
	}

	fn config(&self) -> &ModelConfig {
		self.workspace.config()
	}

	fn load_params(&mut self, params: &[f32]) -> Result<(), ModelError> {
		if params.len() != self.params.len() {
			return Err(ModelError::ParamLength { expected: self.params.len(), got: params.len() });
		}
		self.params.copy_from_slice(params);
		Ok(())
	}

	fn read_params(&self) -> Vec<f32> {
		self.params.clone()
	}

	fn forward(&mut self, batch: &Batch) -> Result<f32, ModelError> {
		finite(self.workspace.loss(&self.params, batch)?)
	}

	fn forward_backward(&mut self, batch: &Batch) -> Result<f32, ModelError> {
		finite(self.workspace.loss_and_grad(&self.params, &mut self.grads, batch)?)
	}

	fn read_grads(&self) -> Vec<f32> {
		self.grads.clone()
	}

	fn optimizer_step(
		&mut self,
		lr: f32,
		max_grad_norm: Option<f32>,
	) -> Result<StepStats, ModelError> {
		let (grad_norm, clip_scale) = match max_grad_norm {
			Some(max) => {
				let c = clip_grad_norm(&mut self.grads, max);
				(c.norm, c.scale)
			}
			None => (global_norm(&self.grads), 1.0),
		};
		if !grad_norm.is_finite() {
			return Err(ModelError::NonFiniteGradient);
		}
		self.optimizer.step(&mut self.params, &self.grads, lr);
		Ok(StepStats { grad_norm, clip_scale, lr })
	}

	fn reset_optimizer(&mut self) {
		self.optimizer.reset();
	}

	fn adamw_config(&self) -> AdamWConfig {
		*self.optimizer.config()
	}

	fn timings(&self) -> Timings {
		self.workspace.timings()
	}

	fn reset_timings(&mut self) {
		self.workspace.reset_timings();
	}
}
