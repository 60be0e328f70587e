//! Backward pass of the decoder: walks the cache of the last forward in reverse and writes
//! the gradient of the mean loss with respect to every parameter.

use super::{MatmulClock, Workspace};
use crate::batch::Batch;
use crate::float::Float;
use crate::ops::matmul::forward_flops;
use crate::ops::{attention, cross_entropy, embedding, matmul, rmsnorm, swiglu};

/// A matmul backward costs two forwards (input gradient and weight gradient).
fn backward_flops(n: usize, i: usize, o: usize) -> f64 {
	2.0 * forward_flops(n, i, o)
}

impl<T: Float> Workspace<T> {
	/// Overwrites `grads` with the gradient of the loss of the forward pass that just ran on
	/// `batch`.
	pub(super) fn backward(&mut self, params: &[T], grads: &mut [T], batch: &Batch) {
		let cfg = &self.cfg;
		let (n, d, f, vocab) = (batch.tokens(), cfg.d_model, cfg.d_ff, cfg.vocab_size);
		let shape = self.attn_shape();
		let emb = self.layout.embedding();
		let g = &mut self.grad;
		let mut clock = MatmulClock::default();
		grads.fill(T::ZERO);

		// Loss -> logits -> final norm. `self.logits` becomes dlogits.
		cross_entropy::backward(&mut self.logits, &batch.targets, vocab);
		g.dh.fill(T::ZERO);
		clock.time(backward_flops(n, d, vocab), || {
			matmul::backward(
				&mut g.dh,
				&mut grads[emb.clone()],
				&self.logits,
				&self.xf,
				&params[emb.clone()],
				n,
				d,
				vocab,
			)
		});
		g.dres.fill(T::ZERO);
		let fnorm = self.layout.final_norm();
		let last = &self.resid[cfg.n_layers];
		rmsnorm::backward(
			&mut g.dres,
			&mut grads[fnorm.clone()],
			&g.dh,
			last,
			&params[fnorm],
			&self.rstd_f,
			d,
		);

		for (l, a) in self.layers.iter().enumerate().rev() {
			let r = self.layout.layer(l);
			let x_in = &self.resid[l];

			// Feed-forward block; `dres` is the gradient of this layer's output.
			g.dact.fill(T::ZERO);
			clock.time(backward_flops(n, f, d), || {
				matmul::backward(
					&mut g.dact,
					&mut grads[r.w_down.clone()],
					&g.dres,
					&a.act,
					&params[r.w_down.clone()],
					n,
					f,
					d,
				)
			});
			swiglu::backward(&mut g.dgate, &mut g.dup, &g.dact, &a.gate, &a.up);
			g.dh.fill(T::ZERO);
			clock.time(2.0 * backward_flops(n, d, f), || {
				matmul::backward(
					&mut g.dh,
					&mut grads[r.w_gate.clone()],
					&g.dgate,
					&a.h2,
					&params[r.w_gate.clone()],
					n,
					d,
					f,
				);
				matmul::backward(
					&mut g.dh,
					&mut grads[r.w_up.clone()],
					&g.dup,
					&a.h2,
					&params[r.w_up.clone()],
					n,
					d,
					f,
				);
			});
			// The residual passes `dres` through unchanged; the norm adds its branch.
			rmsnorm::backward(
				&mut g.dres,
				&mut grads[r.ffn_norm.clone()],
				&g.dh,
				&a.x_mid,
				&params[r.ffn_norm.clone()],
				&a.rstd2,
				d,
			);

			// Attention block; `dres` is now the gradient of `x_mid`.
			g.datt.fill(T::ZERO);
			clock.time(backward_flops(n, d, d), || {
				matmul::backward(
					&mut g.datt,
					&mut grads[r.wo.clone()],
					&g.dres,
					&a.att,
					&params[r.wo.clone()],
					n,
					d,
					d,
				)
			});
			g.dq.fill(T::ZERO);
			g.dk.fill(T::ZERO);
			g.dv.fill(T::ZERO);
			clock.time_attention(|| {
				attention::backward(
					&mut g.dq, &mut g.dk, &mut g.dv, &g.datt, &a.probs, &a.q, &a.k, &a.v, shape,
				)
			});
			self.rope.apply(&mut g.dq, self.seq, d, true);
			self.rope.apply(&mut g.dk, self.seq, d, true);
			g.dh.fill(T::ZERO);
			clock.time(3.0 * backward_flops(n, d, d), || {
				matmul::backward(
					&mut g.dh,
					&mut grads[r.wq.clone()],
					&g.dq,
					&a.h1,
					&params[r.wq.clone()],
					n,
					d,
					d,
				);
				matmul::backward(
					&mut g.dh,
					&mut grads[r.wk.clone()],
					&g.dk,
					&a.h1,
					&params[r.wk.clone()],
					n,
					d,
					d,
				);
				matmul::backward(
					&mut g.dh,
					&mut grads[r.wv.clone()],
					&g.dv,
					&a.h1,
					&params[r.wv.clone()],
					n,
					d,
					d,
				);
			});
			rmsnorm::backward(
				&mut g.dres,
				&mut grads[r.attn_norm.clone()],
				&g.dh,
				x_in,
				&params[r.attn_norm.clone()],
				&a.rstd1,
				d,
			);
		}

		// `dres` is now the gradient of the embedding output.
		embedding::backward(&mut grads[emb], &g.dres, &batch.inputs, d);
		clock.add_to(&mut self.timings);
	}
}
