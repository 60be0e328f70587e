//! SparseLoCo: each replica's pseudo-gradient goes through error feedback, chunked top-k
//! and 2-bit quantization, is encoded to the wire format, decoded by the aggregator and
//! combined with `sparseloco::aggregate` (median-norm clipping, per-coordinate mean over the
//! peers that kept a coordinate), followed by a plain SGD outer step.

use sparseloco::{
	aggregate, decode, encode, fingerprint, ErrorFeedback, Header, Layout, Plan, SparseGradient,
};
use training_model::{ModelConfig, ParamLayout};

use super::{replica_account, Bench, Replicas, Strategy};
use crate::quality::config::SparseConfig;
use crate::quality::error::QualityError;
use crate::quality::traffic::ByteCounter;

/// The compression plan of `model`'s parameter layout.
pub fn compression_plan(model: &ModelConfig, sparse: &SparseConfig) -> Result<Plan, QualityError> {
	let specs = ParamLayout::new(model)
		.specs()
		.iter()
		.map(|s| sparseloco::TensorSpec::new(s.name.clone(), &s.shape))
		.collect();
	Ok(Plan::new(Layout::new(specs)?, sparse.chunk)?)
}

pub struct SparseLoCo {
	replicas: Replicas,
	plan: Plan,
	feedback: Vec<ErrorFeedback>,
	theta: Vec<f32>,
	sent: ByteCounter,
}

impl SparseLoCo {
	pub fn new(bench: &Bench<'_>) -> Result<Self, QualityError> {
		let plan = compression_plan(&bench.cfg.model, &bench.cfg.sparse)?;
		let feedback = (0..bench.cfg.replicas)
			.map(|_| ErrorFeedback::new(&plan, bench.cfg.sparse.beta))
			.collect::<Result<_, _>>()?;
		Ok(Self {
			replicas: Replicas::new(bench)?,
			plan,
			feedback,
			theta: bench.init.clone(),
			sent: ByteCounter::default(),
		})
	}

	/// Compresses and encodes replica `i`'s pseudo-gradient into its wire blob.
	fn blob(
		&mut self,
		i: usize,
		round: u64,
		run: u32,
		delta: &[f32],
	) -> Result<Vec<u8>, QualityError> {
		let tensors = self.feedback[i].compress(&self.plan, delta)?;
		// The plan was built from the model's layout, so the lengths agree.
		let sample = fingerprint::sample(&self.plan, round, &self.theta).ok_or(
			sparseloco::CompressError::Length { expected: self.plan.len(), got: self.theta.len() },
		)?;
		let header = Header::new(&self.plan, run, round, replica_account(i), sample);
		Ok(encode(&self.plan, &SparseGradient { header, tensors })?)
	}
}

impl Strategy for SparseLoCo {
	fn round(&mut self, bench: &Bench<'_>, round: u64) -> Result<(), QualityError> {
		let mut blobs = Vec::with_capacity(bench.cfg.replicas);
		for i in 0..bench.cfg.replicas {
			let delta = self.replicas.pseudo_gradient(bench, i, round, &self.theta)?;
			let blob = self.blob(i, round, bench.cfg.run_seed, &delta)?;
			self.sent.add(blob.len() as u64);
			blobs.push(blob);
		}
		let peers = blobs.iter().map(|b| decode(&self.plan, b)).collect::<Result<Vec<_>, _>>()?;
		aggregate(&self.plan, &peers, &mut self.theta, bench.cfg.sparse.outer_lr)?;
		Ok(())
	}

	fn params(&self) -> &[f32] {
		&self.theta
	}

	fn sent(&self) -> ByteCounter {
		self.sent
	}
}
