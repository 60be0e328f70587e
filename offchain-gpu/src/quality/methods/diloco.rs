//! DiLoCo: R replicas train H steps from the synced model; the mean of their dense
//! pseudo-gradients drives a Nesterov outer step.

use super::{Bench, Replicas, Strategy};
use crate::quality::error::QualityError;
use crate::quality::outer::Nesterov;
use crate::quality::traffic::{diloco_round, ByteCounter};

pub struct DiLoCo {
	replicas: Replicas,
	outer: Nesterov,
	theta: Vec<f32>,
	sent: ByteCounter,
}

impl DiLoCo {
	pub fn new(bench: &Bench<'_>) -> Result<Self, QualityError> {
		Ok(Self {
			replicas: Replicas::new(bench)?,
			outer: Nesterov::new(bench.cfg.diloco, bench.init.len()),
			theta: bench.init.clone(),
			sent: ByteCounter::default(),
		})
	}
}

impl Strategy for DiLoCo {
	fn round(&mut self, bench: &Bench<'_>, round: u64) -> Result<(), QualityError> {
		let r = bench.cfg.replicas;
		let mut sum = vec![0.0f32; self.theta.len()];
		for i in 0..r {
			let delta = self.replicas.pseudo_gradient(bench, i, round, &self.theta)?;
			sum.iter_mut().zip(&delta).for_each(|(s, d)| *s += d);
			self.sent.add(diloco_round(delta.len()));
		}
		let inv = 1.0 / r as f32;
		sum.iter_mut().for_each(|s| *s *= inv);
		self.outer.step(&mut self.theta, &sum);
		Ok(())
	}

	fn params(&self) -> &[f32] {
		&self.theta
	}

	fn sent(&self) -> ByteCounter {
		self.sent
	}
}
