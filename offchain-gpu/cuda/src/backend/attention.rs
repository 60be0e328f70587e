//! Causal multi-head attention on the device: QK^T and PV products as strided batched
//! cuBLAS gemms (one call per head, batched over the sequences), the causal softmax and its
//! backward as kernels. Layouts match training-model's `ops::attention`: q, k, v are
//! `[batch * seq, width]` with heads side by side, probabilities `[batch, heads, seq, seq]`.

use training_model::ops::attention::AttnShape;

use super::device::Device;
use super::gemm::gemm_cfg;
use super::mem::Buf;
use crate::error::CudaError;

struct Strides {
	/// between sequences in q/k/v/out (`seq * width`)
	act: usize,
	/// between sequences in the probabilities (`heads * seq * seq`)
	probs: usize,
	width: usize,
}

fn strides(sh: AttnShape) -> Strides {
	let width = sh.n_heads * sh.head_dim;
	Strides { act: sh.seq * width, probs: sh.n_heads * sh.seq * sh.seq, width }
}

fn scale(sh: AttnShape) -> f32 {
	1.0 / (sh.head_dim as f32).sqrt()
}

impl Device {
	/// `out = softmax_causal(q k^T / sqrt(head_dim)) v`, keeping the probabilities.
	pub fn attention_forward(
		&self,
		out: &mut Buf<f32>,
		probs: &mut Buf<f32>,
		q: &Buf<f32>,
		k: &Buf<f32>,
		v: &Buf<f32>,
		sh: AttnShape,
	) -> Result<(), CudaError> {
		let (t, hd) = (sh.seq, sh.head_dim);
		let st = strides(sh);
		for h in 0..sh.n_heads {
			let (c0, p0) = (h * hd, h * t * t);
			// S_h = scale * Q_h K_h^T  (row-major [t, t])
			self.batched(
				gemm_cfg(true, false, (t, t, hd), scale(sh), (st.width, st.width, t), 0.0),
				(sh.batch, st.act, st.act, st.probs),
				&k.slice(c0..),
				&q.slice(c0..),
				&mut probs.slice_mut(p0..),
			)?;
		}
		self.causal_softmax_forward(probs, sh.batch * sh.n_heads * t, t)?;
		for h in 0..sh.n_heads {
			let (c0, p0) = (h * hd, h * t * t);
			// out_h = P_h V_h
			self.batched(
				gemm_cfg(false, false, (hd, t, t), 1.0, (st.width, t, st.width), 0.0),
				(sh.batch, st.act, st.probs, st.act),
				&v.slice(c0..),
				&probs.slice(p0..),
				&mut out.slice_mut(c0..),
			)?;
		}
		Ok(())
	}

	/// Backward of [`Device::attention_forward`], accumulating into dq, dk, dv:
	/// `dP = dout V^T`, `dS = scale P * (dP - rowsum(P * dP))` (kernel),
	/// `dV += P^T dout`, `dQ += dS K`, `dK += dS^T Q`. `dprobs` is scratch of the
	/// probabilities' size.
	#[allow(clippy::too_many_arguments)]
	pub fn attention_backward(
		&self,
		dq: &mut Buf<f32>,
		dk: &mut Buf<f32>,
		dv: &mut Buf<f32>,
		dprobs: &mut Buf<f32>,
		dout: &Buf<f32>,
		probs: &Buf<f32>,
		q: &Buf<f32>,
		k: &Buf<f32>,
		v: &Buf<f32>,
		sh: AttnShape,
	) -> Result<(), CudaError> {
		let (t, hd) = (sh.seq, sh.head_dim);
		let st = strides(sh);
		for h in 0..sh.n_heads {
			let (c0, p0) = (h * hd, h * t * t);
			// dP_h = dout_h V_h^T
			self.batched(
				gemm_cfg(true, false, (t, t, hd), 1.0, (st.width, st.width, t), 0.0),
				(sh.batch, st.act, st.act, st.probs),
				&v.slice(c0..),
				&dout.slice(c0..),
				&mut dprobs.slice_mut(p0..),
			)?;
		}
		self.causal_softmax_backward(dprobs, probs, sh.batch * sh.n_heads * t, t, scale(sh))?;
		for h in 0..sh.n_heads {
			let (c0, p0) = (h * hd, h * t * t);
			let batch = (sh.batch, st.act, st.probs, st.act);
			// dV_h += P_h^T dout_h
			self.batched(
				gemm_cfg(false, true, (hd, t, t), 1.0, (st.width, t, st.width), 1.0),
				batch,
				&dout.slice(c0..),
				&probs.slice(p0..),
				&mut dv.slice_mut(c0..),
			)?;
			// dQ_h += dS_h K_h
			self.batched(
				gemm_cfg(false, false, (hd, t, t), 1.0, (st.width, t, st.width), 1.0),
				batch,
				&k.slice(c0..),
				&dprobs.slice(p0..),
				&mut dq.slice_mut(c0..),
			)?;
			// dK_h += dS_h^T Q_h
			self.batched(
				gemm_cfg(false, true, (hd, t, t), 1.0, (st.width, t, st.width), 1.0),
				batch,
				&q.slice(c0..),
				&dprobs.slice(p0..),
				&mut dk.slice_mut(c0..),
			)?;
		}
		Ok(())
	}
}
