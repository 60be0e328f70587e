//! Forward pass of the decoder, filling the activation cache.

use super::{MatmulClock, Workspace};
use crate::batch::Batch;
use crate::float::Float;
use crate::ops::matmul::forward_flops;
use crate::ops::{attention, cross_entropy, embedding, matmul, rmsnorm, swiglu};

fn add_assign<T: Float>(acc: &mut [T], other: &[T]) {
	for (a, &b) in acc.iter_mut().zip(other) {
		*a += b;
	}
}

impl<T: Float> Workspace<T> {
	/// Runs the model on a validated batch (shape already ensured) and returns the mean
	/// cross-entropy; `self.logits` holds the softmax probabilities afterwards.
	pub(super) fn forward(&mut self, params: &[T], batch: &Batch) -> T {
		let cfg = &self.cfg;
		let (n, d, f, vocab) = (batch.tokens(), cfg.d_model, cfg.d_ff, cfg.vocab_size);
		let eps = T::from_f64(cfg.norm_eps);
		let shape = self.attn_shape();
		let emb = &params[self.layout.embedding()];
		let mut clock = MatmulClock::default();

		embedding::forward(&mut self.resid[0], emb, &batch.inputs, d);
		for (l, a) in self.layers.iter_mut().enumerate() {
			let r = self.layout.layer(l);
			let (done, rest) = self.resid.split_at_mut(l + 1);
			let (x_in, x_out) = (&done[l], &mut rest[0]);

			rmsnorm::forward(&mut a.h1, &mut a.rstd1, x_in, &params[r.attn_norm.clone()], d, eps);
			clock.time(3.0 * forward_flops(n, d, d), || {
				matmul::forward(&mut a.q, &a.h1, &params[r.wq.clone()], n, d, d);
				matmul::forward(&mut a.k, &a.h1, &params[r.wk.clone()], n, d, d);
				matmul::forward(&mut a.v, &a.h1, &params[r.wv.clone()], n, d, d);
			});
			self.rope.apply(&mut a.q, self.seq, d, false);
			self.rope.apply(&mut a.k, self.seq, d, false);
			clock.time_attention(|| {
				attention::forward(&mut a.att, &mut a.probs, &a.q, &a.k, &a.v, shape)
			});
			clock.time(forward_flops(n, d, d), || {
				matmul::forward(&mut a.x_mid, &a.att, &params[r.wo.clone()], n, d, d)
			});
			add_assign(&mut a.x_mid, x_in);

			rmsnorm::forward(
				&mut a.h2,
				&mut a.rstd2,
				&a.x_mid,
				&params[r.ffn_norm.clone()],
				d,
				eps,
			);
			clock.time(2.0 * forward_flops(n, d, f), || {
				matmul::forward(&mut a.gate, &a.h2, &params[r.w_gate.clone()], n, d, f);
				matmul::forward(&mut a.up, &a.h2, &params[r.w_up.clone()], n, d, f);
			});
			swiglu::forward(&mut a.act, &a.gate, &a.up);
			clock.time(forward_flops(n, f, d), || {
				matmul::forward(x_out, &a.act, &params[r.w_down.clone()], n, f, d)
			});
			add_assign(x_out, &a.x_mid);
		}

		let last = &self.resid[cfg.n_layers];
		rmsnorm::forward(
			&mut self.xf,
			&mut self.rstd_f,
			last,
			&params[self.layout.final_norm()],
			d,
			eps,
		);
		clock.time(forward_flops(n, d, vocab), || {
			matmul::forward(&mut self.logits, &self.xf, emb, n, d, vocab)
		});
		let loss = cross_entropy::forward(&mut self.logits, &batch.targets, vocab);
		clock.add_to(&mut self.timings);
		loss
	}
}
