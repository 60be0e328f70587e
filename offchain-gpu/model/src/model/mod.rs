//! The whole decoder: activation cache, forward pass and hand-written backward pass over a
//! flat parameter buffer laid out by [`ParamLayout`].
//!
//! Per layer: `h = rmsnorm(x)`, `q, k, v = h Wq^T, h Wk^T, h Wv^T`, rotary on q and k,
//! causal attention, `x += att Wo^T`; `h = rmsnorm(x)`, `x += swiglu(h Wgate^T, h Wup^T)
//! Wdown^T`. Then a final rmsnorm and logits `x E^T` with the tied embedding `E`.

mod backward;
mod forward;

use std::time::{Duration, Instant};

use crate::batch::Batch;
use crate::config::ModelConfig;
use crate::error::ModelError;
use crate::float::Float;
use crate::layout::ParamLayout;
use crate::ops::attention::AttnShape;
use crate::ops::rope::RopeTable;

/// Activations of one decoder layer kept for the backward pass (`n = batch * seq` rows).
#[derive(Debug, Default)]
struct LayerCache<T> {
	/// attention-norm output and its per-row `1/rms`
	h1: Vec<T>,
	rstd1: Vec<T>,
	/// projections after rotary (q, k) `[n, d]`
	q: Vec<T>,
	k: Vec<T>,
	v: Vec<T>,
	/// softmax probabilities `[batch, heads, seq, seq]`
	probs: Vec<T>,
	/// attention output before `Wo` `[n, d]`
	att: Vec<T>,
	/// residual stream after the attention block `[n, d]`
	x_mid: Vec<T>,
	h2: Vec<T>,
	rstd2: Vec<T>,
	/// `[n, d_ff]`
	gate: Vec<T>,
	up: Vec<T>,
	act: Vec<T>,
}

/// Gradient scratch reused across layers.
#[derive(Debug, Default)]
struct GradScratch<T> {
	/// gradient of the residual stream at the current point `[n, d]`
	dres: Vec<T>,
	/// gradient of a normalized input `[n, d]`
	dh: Vec<T>,
	dq: Vec<T>,
	dk: Vec<T>,
	dv: Vec<T>,
	datt: Vec<T>,
	/// `[n, d_ff]`
	dgate: Vec<T>,
	dup: Vec<T>,
	dact: Vec<T>,
}

/// Where the time of forward/backward calls went (accumulated until reset).
#[derive(Clone, Copy, Debug, Default)]
pub struct Timings {
	pub total: Duration,
	/// Inside the linear layers' matmuls (projections, feed-forward, output head).
	pub matmul: Duration,
	/// Inside attention (scores, softmax, weighted sums; their gemms included).
	pub attention: Duration,
	/// FLOPs executed in the linear layers' matmuls (2 per multiply-add).
	pub matmul_flops: f64,
}

/// Accumulates the time spent inside matmul and attention calls during one pass.
#[derive(Default)]
struct MatmulClock {
	elapsed: Duration,
	flops: f64,
	attention: Duration,
}

impl MatmulClock {
	fn time<R>(&mut self, flops: f64, f: impl FnOnce() -> R) -> R {
		let start = Instant::now();
		let r = f();
		self.elapsed += start.elapsed();
		self.flops += flops;
		r
	}

	fn time_attention<R>(&mut self, f: impl FnOnce() -> R) -> R {
		let start = Instant::now();
		let r = f();
		self.attention += start.elapsed();
		r
	}

	fn add_to(&self, t: &mut Timings) {
		t.matmul += self.elapsed;
		t.matmul_flops += self.flops;
		t.attention += self.attention;
	}
}

/// The model's working memory: everything a forward + backward needs besides parameters
/// and gradients, allocated for one `(batch, seq)` shape and reused across steps.
#[derive(Debug)]
pub struct Workspace<T> {
	cfg: ModelConfig,
	layout: ParamLayout,
	rope: RopeTable<T>,
	batch: usize,
	seq: usize,
	/// residual stream: `resid[0]` is the embedding output, `resid[l + 1]` the output of
	/// layer `l`.
	resid: Vec<Vec<T>>,
	layers: Vec<LayerCache<T>>,
	xf: Vec<T>,
	rstd_f: Vec<T>,
	/// logits, then probabilities, then (in backward) their gradient `[n, vocab]`
	logits: Vec<T>,
	grad: GradScratch<T>,
	timings: Timings,
}

impl<T: Float> Workspace<T> {
	/// Allocates nothing large until the first batch. Fails on an invalid config.
	pub fn new(cfg: &ModelConfig) -> Result<Self, ModelError> {
		cfg.validate()?;
		Ok(Self {
			cfg: cfg.clone(),
			layout: ParamLayout::new(cfg),
			rope: RopeTable::new(cfg.seq_len, cfg.head_dim(), cfg.rope_theta),
			batch: 0,
			seq: 0,
			resid: Vec::new(),
			layers: Vec::new(),
			xf: Vec::new(),
			rstd_f: Vec::new(),
			logits: Vec::new(),
			grad: GradScratch::default(),
			timings: Timings::default(),
		})
	}

	pub fn config(&self) -> &ModelConfig {
		&self.cfg
	}

	pub fn layout(&self) -> &ParamLayout {
		&self.layout
	}

	pub fn timings(&self) -> Timings {
		self.timings
	}

	pub fn reset_timings(&mut self) {
		self.timings = Timings::default();
	}

	/// Values allocated for the current batch shape (zero before the first batch).
	pub fn allocated(&self) -> usize {
		let layers: usize = self
			.layers
			.iter()
			.map(|l| {
				[&l.h1, &l.rstd1, &l.q, &l.k, &l.v, &l.probs, &l.att, &l.x_mid, &l.h2]
					.iter()
					.chain([&l.rstd2, &l.gate, &l.up, &l.act].iter())
					.map(|b| b.len())
					.sum::<usize>()
			})
			.sum();
		let g = &self.grad;
		let grad: usize = [&g.dres, &g.dh, &g.dq, &g.dk, &g.dv, &g.datt, &g.dgate, &g.dup, &g.dact]
			.iter()
			.map(|b| b.len())
			.sum();
		let resid: usize = self.resid.iter().map(Vec::len).sum();
		resid + layers + self.xf.len() + self.rstd_f.len() + self.logits.len() + grad
	}

	/// Mean cross-entropy of `batch` (forward only).
	pub fn loss(&mut self, params: &[T], batch: &Batch) -> Result<T, ModelError> {
		self.check(params.len(), batch)?;
		let start = Instant::now();
		let loss = self.forward(params, batch);
		self.timings.total += start.elapsed();
		Ok(loss)
	}

	/// Mean cross-entropy of `batch` and its gradient, which overwrites `grads`.
	pub fn loss_and_grad(
		&mut self,
		params: &[T],
		grads: &mut [T],
		batch: &Batch,
	) -> Result<T, ModelError> {
		self.check(params.len(), batch)?;
		if grads.len() != params.len() {
			return Err(ModelError::ParamLength { expected: params.len(), got: grads.len() });
		}
		let start = Instant::now();
		let loss = self.forward(params, batch);
		self.backward(params, grads, batch);
		self.timings.total += start.elapsed();
		Ok(loss)
	}

	fn check(&mut self, n_params: usize, batch: &Batch) -> Result<(), ModelError> {
		if n_params != self.layout.len() {
			return Err(ModelError::ParamLength { expected: self.layout.len(), got: n_params });
		}
		batch.validate(self.cfg.vocab_size, self.cfg.seq_len)?;
		self.ensure_shape(batch.batch_size, batch.seq_len);
		Ok(())
	}

	fn attn_shape(&self) -> AttnShape {
		AttnShape {
			batch: self.batch,
			seq: self.seq,
			n_heads: self.cfg.n_heads,
			head_dim: self.cfg.head_dim(),
		}
	}

	/// (Re)allocates every buffer for a `batch x seq` shape.
	fn ensure_shape(&mut self, batch: usize, seq: usize) {
		if (batch, seq) == (self.batch, self.seq) {
			return;
		}
		self.batch = batch;
		self.seq = seq;
		let n = batch * seq;
		let (d, f) = (self.cfg.d_model, self.cfg.d_ff);
		let z = |len: usize| vec![T::ZERO; len];
		let probs = self.attn_shape().probs_len();
		self.resid = (0..=self.cfg.n_layers).map(|_| z(n * d)).collect();
		self.layers = (0..self.cfg.n_layers)
			.map(|_| LayerCache {
				h1: z(n * d),
				rstd1: z(n),
				q: z(n * d),
				k: z(n * d),
				v: z(n * d),
				probs: z(probs),
				att: z(n * d),
				x_mid: z(n * d),
				h2: z(n * d),
				rstd2: z(n),
				gate: z(n * f),
				up: z(n * f),
				act: z(n * f),
			})
			.collect();
		self.xf = z(n * d);
		self.rstd_f = z(n);
		self.logits = z(n * self.cfg.vocab_size);
		self.grad = GradScratch {
			dres: z(n * d),
			dh: z(n * d),
			dq: z(n * d),
			dk: z(n * d),
			dv: z(n * d),
			datt: z(n * d),
			dgate: z(n * f),
			dup: z(n * f),
			dact: z(n * f),
		};
	}
}

#[cfg(test)]
mod tests;
