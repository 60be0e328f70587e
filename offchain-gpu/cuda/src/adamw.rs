//! The scalar inputs of one AdamW step, as the `adamw_update` kernel takes them.

use training_model::AdamWConfig;

/// Hyper-parameters of step `t` (1-based) with the bias corrections precomputed the way
/// training-model's `AdamW::step` does (in f64, rounded once), so the kernel's per-element
/// arithmetic matches the CPU reference operation for operation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamWStep {
	pub lr: f32,
	pub beta1: f32,
	pub beta2: f32,
	pub eps: f32,
	pub weight_decay: f32,
	/// `1 / (1 - beta1^t)`
	pub inv_bc1: f32,
	/// `1 / sqrt(1 - beta2^t)`
	pub inv_sqrt_bc2: f32,
}

impl AdamWStep {
	pub fn new(cfg: &AdamWConfig, t: u64, lr: f32) -> Self {
		let bc1 = 1.0 - (cfg.beta1 as f64).powf(t as f64);
		let bc2 = 1.0 - (cfg.beta2 as f64).powf(t as f64);
		Self {
			lr,
			beta1: cfg.beta1,
			beta2: cfg.beta2,
			eps: cfg.eps,
			weight_decay: cfg.weight_decay,
			inv_bc1: (1.0 / bc1) as f32,
			inv_sqrt_bc2: (1.0 / bc2.sqrt()) as f32,
		}
	}

	/// The same step without weight decay (for norm gains).
	pub fn without_decay(self) -> Self {
		Self { weight_decay: 0.0, ..self }
	}
}
