//! The data-parallel baseline: one model, one AdamW step per inner step on the union of the
//! replicas' batches (what averaging R replicas' gradients every step computes).

use training_model::{Batch, DynBackend, ModelError, Trainer};

use super::{Bench, Strategy};
use crate::quality::error::QualityError;
use crate::quality::traffic::{adamw_round, ByteCounter};

pub struct DataParallel {
	trainer: Trainer<DynBackend>,
	theta: Vec<f32>,
	sent: ByteCounter,
}

impl DataParallel {
	pub fn new(bench: &Bench<'_>) -> Result<Self, QualityError> {
		Ok(Self {
			trainer: bench.trainer()?,
			theta: bench.init.clone(),
			sent: ByteCounter::default(),
		})
	}
}

impl Strategy for DataParallel {
	fn round(&mut self, bench: &Bench<'_>, round: u64) -> Result<(), QualityError> {
		let mut batches =
			|step: u64| -> Result<Batch, ModelError> { bench.union_batch(round, step) };
		let out = self.trainer.inner_steps(&self.theta, bench.cfg.inner_steps, &mut batches)?;
		self.theta = out.params;
		let per_replica = adamw_round(self.theta.len(), bench.cfg.inner_steps);
		self.sent.add(per_replica * bench.cfg.replicas as u64);
		Ok(())
	}

	fn params(&self) -> &[f32] {
		&self.theta
	}

	fn sent(&self) -> ByteCounter {
		self.sent
	}
}
