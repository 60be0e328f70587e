//! Backward pass on the device, the same sequence of ops as training-model's
//! `Workspace::backward`.

use training_model::ops::attention::AttnShape;
use training_model::{ModelConfig, ParamLayout};

use super::device::Device;
use super::forward::Rope;
use super::mem::Buf;
use super::workspace::DeviceWorkspace;
use crate::error::CudaError;

/// Overwrites `grads` with the gradient of the loss of the forward pass that just ran.
pub fn backward(
	dev: &Device,
	cfg: &ModelConfig,
	layout: &ParamLayout,
	rope: &Rope,
	params: &Buf<f32>,
	grads: &mut Buf<f32>,
	ws: &mut DeviceWorkspace,
) -> Result<(), CudaError> {
	let (n, d, f, vocab) = (ws.batch * ws.seq, cfg.d_model, cfg.d_ff, cfg.vocab_size);
	let shape =
		AttnShape { batch: ws.batch, seq: ws.seq, n_heads: cfg.n_heads, head_dim: cfg.head_dim() };
	let p = |r: std::ops::Range<usize>| params.slice(r);
	let emb = layout.embedding();
	let g = &mut ws.grad;
	dev.zero(grads)?;

	// Loss -> logits -> final norm; `ws.logits` becomes dlogits.
	let inv_n = 1.0f32 / n.max(1) as f32;
	dev.cross_entropy_backward(&mut ws.logits, &ws.targets, n, vocab, inv_n)?;
	dev.zero(&mut g.dh)?;
	dev.linear_backward(
		&mut g.dh,
		&mut grads.slice_mut(emb.clone()),
		&ws.logits,
		&ws.xf,
		&p(emb.clone()),
		(n, d, vocab),
	)?;
	dev.zero(&mut g.dres)?;
	let fnorm = layout.final_norm();
	let last = &ws.resid[cfg.n_layers];
	dev.rmsnorm_backward_input(&mut g.dres, &g.dh, last, &p(fnorm.clone()), &ws.rstd_f, n, d)?;
	dev.rmsnorm_backward_gain(&mut grads.slice_mut(fnorm), &g.dh, last, &ws.rstd_f, n, d)?;

	for (l, a) in ws.layers.iter().enumerate().rev() {
		let r = layout.layer(l);
		let x_in = &ws.resid[l];

		// Feed-forward block; `dres` is the gradient of this layer's output.
		dev.zero(&mut g.dact)?;
		let w_down = r.w_down.clone();
		dev.linear_backward(
			&mut g.dact,
			&mut grads.slice_mut(w_down.clone()),
			&g.dres,
			&a.act,
			&p(w_down),
			(n, f, d),
		)?;
		dev.swiglu_backward(&mut g.dgate, &mut g.dup, &g.dact, &a.gate, &a.up, n * f)?;
		dev.zero(&mut g.dh)?;
		let (w_gate, w_up) = (r.w_gate.clone(), r.w_up.clone());
		dev.linear_backward(
			&mut g.dh,
			&mut grads.slice_mut(w_gate.clone()),
			&g.dgate,
			&a.h2,
			&p(w_gate),
			(n, d, f),
		)?;
		dev.linear_backward(
			&mut g.dh,
			&mut grads.slice_mut(w_up.clone()),
			&g.dup,
			&a.h2,
			&p(w_up),
			(n, d, f),
		)?;
		// The residual passes `dres` through unchanged; the norm adds its branch.
		let ffn_norm = r.ffn_norm.clone();
		dev.rmsnorm_backward_input(
			&mut g.dres,
			&g.dh,
			&a.x_mid,
			&p(ffn_norm.clone()),
			&a.rstd2,
			n,
			d,
		)?;
		dev.rmsnorm_backward_gain(&mut grads.slice_mut(ffn_norm), &g.dh, &a.x_mid, &a.rstd2, n, d)?;

		// Attention block; `dres` is now the gradient of `x_mid`.
		dev.zero(&mut g.datt)?;
		let wo = r.wo.clone();
		dev.linear_backward(
			&mut g.datt,
			&mut grads.slice_mut(wo.clone()),
			&g.dres,
			&a.att,
			&p(wo),
			(n, d, d),
		)?;
		dev.zero(&mut g.dq)?;
		dev.zero(&mut g.dk)?;
		dev.zero(&mut g.dv)?;
		dev.attention_backward(
			&mut g.dq,
			&mut g.dk,
			&mut g.dv,
			&mut g.dprobs,
			&g.datt,
			&a.probs,
			&a.q,
			&a.k,
			&a.v,
			shape,
		)?;
		dev.rope_apply(&mut g.dq, &rope.cos, &rope.sin, n, ws.seq, d, rope.half, true)?;
		dev.rope_apply(&mut g.dk, &rope.cos, &rope.sin, n, ws.seq, d, rope.half, true)?;
		dev.zero(&mut g.dh)?;
		for (w, dproj) in [(r.wq.clone(), &g.dq), (r.wk.clone(), &g.dk), (r.wv.clone(), &g.dv)] {
			dev.linear_backward(
				&mut g.dh,
				&mut grads.slice_mut(w.clone()),
				dproj,
				&a.h1,
				&p(w),
				(n, d, d),
			)?;
		}
		let attn_norm = r.attn_norm.clone();
		dev.rmsnorm_backward_input(
			&mut g.dres,
			&g.dh,
			x_in,
			&p(attn_norm.clone()),
			&a.rstd1,
			n,
			d,
		)?;
		dev.rmsnorm_backward_gain(&mut grads.slice_mut(attn_norm), &g.dh, x_in, &a.rstd1, n, d)?;
	}

	// `dres` is now the gradient of the embedding output.
	dev.embedding_backward(&mut grads.slice_mut(emb), &g.dres, &ws.inputs, n, d)?;
	Ok(())
}
