//! What `bench train` runs: model, replicas, inner and outer hyper-parameters, budget.

use sparseloco::ChunkParams;
use training_model::{AdamWConfig, BatchShape, LrSchedule, ModelConfig, TrainConfig};

/// Outer optimizer of DiLoCo: SGD with Nesterov momentum on the averaged pseudo-gradient.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NesterovConfig {
	pub lr: f32,
	pub momentum: f32,
}

impl Default for NesterovConfig {
	/// The DiLoCo paper's outer optimizer: lr 0.7, momentum 0.9.
	fn default() -> Self {
		Self { lr: 0.7, momentum: 0.9 }
	}
}

/// SparseLoCo's compression and outer step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SparseConfig {
	/// Plain SGD outer learning rate (the paper's small-scale setting: 1).
	pub outer_lr: f32,
	/// Error-feedback decay (reference 0.95).
	pub beta: f32,
	/// Chunk edge and kept values per chunk (reference 64 of 64 x 64 = 1.5625 %).
	pub chunk: ChunkParams,
}

impl Default for SparseConfig {
	fn default() -> Self {
		Self { outer_lr: 1.0, beta: 0.95, chunk: ChunkParams::default() }
	}
}

/// The whole benchmark configuration. Every method sees the same model, initial parameters,
/// per-replica data shards, inner optimizer and token budget.
#[derive(Clone, Debug, PartialEq)]
pub struct QualityConfig {
	/// The model (its `vocab_size` set to the tokenizer's).
	pub model: ModelConfig,
	/// Replicas R (DiLoCo, SparseLoCo); the AdamW baseline trains on R shards' batches at once.
	pub replicas: usize,
	/// Inner AdamW steps H per round.
	pub inner_steps: u64,
	pub rounds: u64,
	/// Per-replica batch; the AdamW baseline's batch is `replicas` times larger.
	pub shape: BatchShape,
	/// Held-out batches (of `shape`) in the fixed evaluation set.
	pub eval_batches: u64,
	/// Peak inner learning rate (linear warm-up, cosine decay to a tenth).
	pub inner_lr: f32,
	pub diloco: NesterovConfig,
	pub sparse: SparseConfig,
	/// Seeds the data shards (the sampler's run seed).
	pub run_seed: u32,
	/// Seeds the initial parameters.
	pub init_seed: u64,
	/// Where the replicas train (the evaluations and outer steps stay on the CPU).
	pub device: offchain_gpu::device::Device,
}

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConfigError {
	#[error("{0} must be at least 1")]
	Zero(&'static str),
	#[error("batch sequence length {got} exceeds the model context of {max}")]
	SequenceTooLong { max: usize, got: usize },
	#[error("{field} must be finite and positive, got {got}")]
	BadRate { field: &'static str, got: f32 },
	#[error("momentum must be in [0, 1), got {0}")]
	BadMomentum(f32),
	#[error("invalid model: {0}")]
	Model(String),
}

impl QualityConfig {
	/// The default benchmark on `model`: R = 4, H = 30, 20 rounds of 4 x 128-token
	/// sequences per replica step (1,228,800 training tokens per method).
	pub fn standard(model: ModelConfig) -> Self {
		Self {
			model,
			replicas: 4,
			inner_steps: 30,
			rounds: 20,
			shape: BatchShape { batch_size: 4, seq_len: 128 },
			eval_batches: 8,
			inner_lr: 3e-3,
			diloco: NesterovConfig::default(),
			sparse: SparseConfig::default(),
			run_seed: 1,
			init_seed: 0,
			device: offchain_gpu::device::Device::Cpu,
		}
	}

	/// A configuration that finishes in about a minute: R = 4, H = 10, 12 rounds of
	/// 2 x 64-token sequences.
	pub fn quick(model: ModelConfig) -> Self {
		Self {
			inner_steps: 10,
			rounds: 12,
			shape: BatchShape { batch_size: 2, seq_len: 64 },
			eval_batches: 4,
			..Self::standard(model)
		}
	}

	pub fn validate(&self) -> Result<(), ConfigError> {
		self.model.validate().map_err(|e| ConfigError::Model(e.to_string()))?;
		for (name, value) in [
			("replicas", self.replicas as u64),
			("inner steps", self.inner_steps),
			("rounds", self.rounds),
			("batch size", self.shape.batch_size as u64),
			("sequence length", self.shape.seq_len as u64),
			("eval batches", self.eval_batches),
		] {
			if value == 0 {
				return Err(ConfigError::Zero(name));
			}
		}
		if self.shape.seq_len > self.model.seq_len {
			return Err(ConfigError::SequenceTooLong {
				max: self.model.seq_len,
				got: self.shape.seq_len,
			});
		}
		for (field, got) in [
			("inner lr", self.inner_lr),
			("DiLoCo outer lr", self.diloco.lr),
			("SparseLoCo outer lr", self.sparse.outer_lr),
		] {
			if !(got.is_finite() && got > 0.0) {
				return Err(ConfigError::BadRate { field, got });
			}
		}
		if !(0.0..1.0).contains(&self.diloco.momentum) {
			return Err(ConfigError::BadMomentum(self.diloco.momentum));
		}
		if !(0.0..1.0).contains(&self.sparse.beta) {
			return Err(ConfigError::BadRate {
				field: "error-feedback beta",
				got: self.sparse.beta,
			});
		}
		Ok(())
	}

	/// Inner steps each replica (and the AdamW baseline) takes over the run.
	pub fn total_inner_steps(&self) -> u64 {
		self.rounds * self.inner_steps
	}

	/// Training tokens (predicted positions) all replicas together consume per round.
	pub fn tokens_per_round(&self) -> u64 {
		(self.replicas * self.shape.batch_size * self.shape.seq_len) as u64 * self.inner_steps
	}

	/// The inner optimizer shared by all methods: AdamW (betas 0.9/0.95, weight decay 0.1),
	/// gradient clipping at 1, warm-up over the first 5 % of the steps, then cosine decay to
	/// a tenth of the peak.
	pub fn train_config(&self) -> TrainConfig {
		let total = self.total_inner_steps();
		TrainConfig {
			adamw: AdamWConfig::default(),
			schedule: LrSchedule {
				peak_lr: self.inner_lr,
				min_lr: self.inner_lr / 10.0,
				warmup_steps: (total / 20).max(1),
				total_steps: total,
			},
			max_grad_norm: Some(1.0),
		}
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn presets_are_valid_and_budgets_follow() {
		let cfg = QualityConfig::standard(ModelConfig::small());
		cfg.validate().unwrap();
		assert_eq!(cfg.tokens_per_round(), 4 * 4 * 128 * 30);
		assert_eq!(cfg.total_inner_steps(), 20 * 30);
		let s = cfg.train_config().schedule;
		assert_eq!((s.warmup_steps, s.total_steps), (30, 600));
		QualityConfig::quick(ModelConfig::small()).validate().unwrap();
	}

	#[test]
	fn rejects_bad_values() {
		let base = QualityConfig::quick(ModelConfig::small());
		base.validate().unwrap();
		let check = |f: &dyn Fn(&mut QualityConfig)| {
			let mut c = base.clone();
			f(&mut c);
			c.validate()
		};
		assert_eq!(check(&|c| c.replicas = 0), Err(ConfigError::Zero("replicas")));
		assert!(matches!(
			check(&|c| c.shape.seq_len = 129),
			Err(ConfigError::SequenceTooLong { .. })
		));
		assert!(matches!(check(&|c| c.inner_lr = f32::NAN), Err(ConfigError::BadRate { .. })));
		assert_eq!(check(&|c| c.diloco.momentum = 1.0), Err(ConfigError::BadMomentum(1.0)));
		assert!(matches!(check(&|c| c.model.n_heads = 5), Err(ConfigError::Model(_))));
	}
}
