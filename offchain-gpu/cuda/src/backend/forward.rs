//! Forward pass on the device, the same sequence of ops as training-model's
//! `Workspace::forward`.

use training_model::ops::attention::AttnShape;
use training_model::{ModelConfig, ParamLayout};

use super::device::Device;
use super::mem::Buf;
use super::workspace::DeviceWorkspace;
use crate::error::CudaError;

/// Rotary tables on the device, `[seq_len, head_dim / 2]`.
pub struct Rope {
	pub cos: Buf<f32>,
	pub sin: Buf<f32>,
	pub half: usize,
}

/// Runs the model on the batch already uploaded into `ws` and returns the mean
/// cross-entropy; `ws.logits` holds the probabilities afterwards.
pub fn forward(
	dev: &Device,
	cfg: &ModelConfig,
	layout: &ParamLayout,
	rope: &Rope,
	params: &Buf<f32>,
	ws: &mut DeviceWorkspace,
) -> Result<f32, CudaError> {
	let (n, d, f, vocab) = (ws.batch * ws.seq, cfg.d_model, cfg.d_ff, cfg.vocab_size);
	let eps = cfg.norm_eps as f32;
	let shape =
		AttnShape { batch: ws.batch, seq: ws.seq, n_heads: cfg.n_heads, head_dim: cfg.head_dim() };
	let p = |r: std::ops::Range<usize>| params.slice(r);
	let emb = p(layout.embedding());

	dev.embedding_forward(&mut ws.resid[0], &emb, &ws.inputs, n, d)?;
	for (l, a) in ws.layers.iter_mut().enumerate() {
		let r = layout.layer(l);
		let (done, rest) = ws.resid.split_at_mut(l + 1);
		let (x_in, x_out) = (&done[l], &mut rest[0]);

		dev.rmsnorm_forward(&mut a.h1, &mut a.rstd1, x_in, &p(r.attn_norm.clone()), n, d, eps)?;
		dev.linear_forward(&mut a.q, &a.h1, &p(r.wq.clone()), (n, d, d))?;
		dev.linear_forward(&mut a.k, &a.h1, &p(r.wk.clone()), (n, d, d))?;
		dev.linear_forward(&mut a.v, &a.h1, &p(r.wv.clone()), (n, d, d))?;
		dev.rope_apply(&mut a.q, &rope.cos, &rope.sin, n, ws.seq, d, rope.half, false)?;
		dev.rope_apply(&mut a.k, &rope.cos, &rope.sin, n, ws.seq, d, rope.half, false)?;
		dev.attention_forward(&mut a.att, &mut a.probs, &a.q, &a.k, &a.v, shape)?;
		dev.linear_forward(&mut a.x_mid, &a.att, &p(r.wo.clone()), (n, d, d))?;
		dev.add_inplace(&mut a.x_mid, x_in, n * d)?;

		dev.rmsnorm_forward(&mut a.h2, &mut a.rstd2, &a.x_mid, &p(r.ffn_norm.clone()), n, d, eps)?;
		dev.linear_forward(&mut a.gate, &a.h2, &p(r.w_gate.clone()), (n, d, f))?;
		dev.linear_forward(&mut a.up, &a.h2, &p(r.w_up.clone()), (n, d, f))?;
		dev.swiglu_forward(&mut a.act, &a.gate, &a.up, n * f)?;
		dev.linear_forward(x_out, &a.act, &p(r.w_down.clone()), (n, f, d))?;
		dev.add_inplace(x_out, &a.x_mid, n * d)?;
	}

	let last = &ws.resid[cfg.n_layers];
	dev.rmsnorm_forward(&mut ws.xf, &mut ws.rstd_f, last, &p(layout.final_norm()), n, d, eps)?;
	dev.linear_forward(&mut ws.logits, &ws.xf, &emb, (n, d, vocab))?;
	dev.cross_entropy_forward(&mut ws.logits, &mut ws.losses, &ws.targets, n, vocab)?;
	// The mean over positions in f64 on the host, like the CPU reference.
	let losses = dev.read(&ws.losses.slice(..n))?;
	let total: f64 = losses.iter().map(|&l| l as f64).sum();
	Ok((total / n.max(1) as f64) as f32)
}
