//! Device memory for the activations and gradient scratch of one `(batch, seq)` shape,
//! mirroring training-model's `Workspace`; reallocated only when the shape changes.

use training_model::ModelConfig;

use super::device::Device;
use super::mem::Buf;
use crate::error::CudaError;

/// Activations of one decoder layer kept for the backward pass.
pub struct LayerActs {
	pub h1: Buf<f32>,
	pub rstd1: Buf<f32>,
	pub q: Buf<f32>,
	pub k: Buf<f32>,
	pub v: Buf<f32>,
	pub probs: Buf<f32>,
	pub att: Buf<f32>,
	pub x_mid: Buf<f32>,
	pub h2: Buf<f32>,
	pub rstd2: Buf<f32>,
	pub gate: Buf<f32>,
	pub up: Buf<f32>,
	pub act: Buf<f32>,
}

/// Gradient scratch reused across layers.
pub struct GradScratch {
	pub dres: Buf<f32>,
	pub dh: Buf<f32>,
	pub dq: Buf<f32>,
	pub dk: Buf<f32>,
	pub dv: Buf<f32>,
	pub datt: Buf<f32>,
	pub dprobs: Buf<f32>,
	pub dgate: Buf<f32>,
	pub dup: Buf<f32>,
	pub dact: Buf<f32>,
}

pub struct DeviceWorkspace {
	pub batch: usize,
	pub seq: usize,
	/// `resid[0]` is the embedding output, `resid[l + 1]` the output of layer `l`.
	pub resid: Vec<Buf<f32>>,
	pub layers: Vec<LayerActs>,
	pub xf: Buf<f32>,
	pub rstd_f: Buf<f32>,
	/// logits, then probabilities, then their gradient `[n, vocab]`
	pub logits: Buf<f32>,
	/// per-position negative log-likelihood `[n]`
	pub losses: Buf<f32>,
	pub inputs: Buf<u32>,
	pub targets: Buf<u32>,
	pub grad: GradScratch,
}

impl DeviceWorkspace {
	pub fn new(
		dev: &Device,
		cfg: &ModelConfig,
		batch: usize,
		seq: usize,
	) -> Result<Self, CudaError> {
		let n = batch * seq;
		let (d, f) = (cfg.d_model, cfg.d_ff);
		let probs = batch * cfg.n_heads * seq * seq;
		let z = |len: usize| dev.alloc_zeros::<f32>(len.max(1));
		let mut layers = Vec::with_capacity(cfg.n_layers);
		for _ in 0..cfg.n_layers {
			layers.push(LayerActs {
				h1: z(n * d)?,
				rstd1: z(n)?,
				q: z(n * d)?,
				k: z(n * d)?,
				v: z(n * d)?,
				probs: z(probs)?,
				att: z(n * d)?,
				x_mid: z(n * d)?,
				h2: z(n * d)?,
				rstd2: z(n)?,
				gate: z(n * f)?,
				up: z(n * f)?,
				act: z(n * f)?,
			});
		}
		Ok(Self {
			batch,
			seq,
			resid: (0..=cfg.n_layers).map(|_| z(n * d)).collect::<Result<_, _>>()?,
			layers,
			xf: z(n * d)?,
			rstd_f: z(n)?,
			logits: z(n * cfg.vocab_size)?,
			losses: z(n)?,
			inputs: dev.alloc_zeros::<u32>(n.max(1))?,
			targets: dev.alloc_zeros::<u32>(n.max(1))?,
			grad: GradScratch {
				dres: z(n * d)?,
				dh: z(n * d)?,
				dq: z(n * d)?,
				dk: z(n * d)?,
				dv: z(n * d)?,
				datt: z(n * d)?,
				dprobs: z(probs)?,
				dgate: z(n * f)?,
				dup: z(n * f)?,
				dact: z(n * f)?,
			},
		})
	}
}
