//! [`CudaBackend`]: training-model's [`Backend`] on one GPU, or on the simulated device.
//! Parameters, gradients and AdamW moments stay in device memory across inner steps; only
//! batches go in and losses (and, on request, parameters or gradients) come out.

mod attention;
mod backward;
pub(crate) mod device;
mod forward;
mod gemm;
mod host_gemm;
pub(crate) mod mem;
mod workspace;

use std::time::Instant;

use training_model::ops::matmul::forward_flops;
use training_model::{
	AdamWConfig, Backend, Batch, ModelConfig, ModelError, ParamLayout, StepStats, Timings,
};

pub use self::device::probe;
use self::device::{Device, Imp, NORM_BLOCKS};
use self::forward::Rope;
use self::mem::Buf;
use self::workspace::DeviceWorkspace;
use crate::adamw::AdamWStep;
use crate::error::CudaError;
use crate::rope_table::rope_tables;

/// Which device a [`CudaBackend`] runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceKind {
	/// The GPU with this ordinal.
	Gpu(usize),
	/// The simulated device: the same kernels and orchestration on the host (slow; for
	/// tests and for checking the GPU path on a machine without one).
	Sim,
}

/// The model on a CUDA device or the simulated device.
pub struct CudaBackend {
	dev: Device,
	cfg: ModelConfig,
	layout: ParamLayout,
	adamw: AdamWConfig,
	rope: Rope,
	params: Buf<f32>,
	grads: Buf<f32>,
	m: Buf<f32>,
	v: Buf<f32>,
	/// AdamW steps since creation or the last reset.
	step: u64,
	norm_partial: Buf<f64>,
	/// Allocated for the shape of the last batch.
	workspace: Option<DeviceWorkspace>,
	timings: Timings,
}

impl CudaBackend {
	/// Opens device 0, compiles the kernels with NVRTC for it and allocates all-zero
	/// parameters (call [`Backend::load_params`] before use). Fails with
	/// [`CudaError::NoDriver`] / [`CudaError::NoDevice`] on machines without a GPU.
	pub fn new(cfg: &ModelConfig, adamw: AdamWConfig) -> Result<Self, CudaError> {
		Self::open(DeviceKind::Gpu(0), cfg, adamw)
	}

	/// As [`CudaBackend::new`] on the device `kind` names. [`CudaError::NoSuchDevice`] for
	/// an ordinal the driver does not have.
	pub fn open(
		kind: DeviceKind,
		cfg: &ModelConfig,
		adamw: AdamWConfig,
	) -> Result<Self, CudaError> {
		cfg.validate().map_err(ModelError::from)?;
		let dev = match kind {
			DeviceKind::Gpu(ordinal) => Device::gpu(ordinal)?,
			DeviceKind::Sim => Device::sim(),
		};
		let layout = ParamLayout::new(cfg);
		let len = layout.len();
		let (cos, sin) = rope_tables(cfg.seq_len, cfg.head_dim(), cfg.rope_theta);
		Ok(Self {
			rope: Rope { cos: dev.upload(&cos)?, sin: dev.upload(&sin)?, half: cfg.head_dim() / 2 },
			params: dev.alloc_zeros(len)?,
			grads: dev.alloc_zeros(len)?,
			m: dev.alloc_zeros(len)?,
			v: dev.alloc_zeros(len)?,
			norm_partial: dev.alloc_zeros(NORM_BLOCKS as usize)?,
			step: 0,
			workspace: None,
			timings: Timings::default(),
			cfg: cfg.clone(),
			layout,
			adamw,
			dev,
		})
	}

	/// The device's name, for logs.
	pub fn device_name(&self) -> Result<String, CudaError> {
		self.dev.name()
	}

	/// Validates `batch`, (re)allocates the workspace for its shape and uploads its tokens.
	fn prepare(&mut self, batch: &Batch) -> Result<(), CudaError> {
		batch.validate(self.cfg.vocab_size, self.cfg.seq_len)?;
		let shape = (batch.batch_size, batch.seq_len);
		if self.workspace.as_ref().map(|w| (w.batch, w.seq)) != Some(shape) {
			self.workspace = None; // free the old buffers first
			self.workspace = Some(DeviceWorkspace::new(&self.dev, &self.cfg, shape.0, shape.1)?);
		}
		let ws = self.workspace.as_mut().expect("allocated above");
		let n = batch.tokens();
		self.dev.write(&batch.inputs[..n], &mut ws.inputs)?;
		self.dev.write(&batch.targets[..n], &mut ws.targets)?;
		Ok(())
	}

	fn run(&mut self, batch: &Batch, with_grad: bool) -> Result<f32, CudaError> {
		self.prepare(batch)?;
		let start = Instant::now();
		let ws = self.workspace.as_mut().expect("prepared");
		let loss =
			forward::forward(&self.dev, &self.cfg, &self.layout, &self.rope, &self.params, ws)?;
		if with_grad {
			backward::backward(
				&self.dev,
				&self.cfg,
				&self.layout,
				&self.rope,
				&self.params,
				&mut self.grads,
				ws,
			)?;
		}
		self.dev.synchronize()?;
		self.timings.total += start.elapsed();
		self.timings.matmul_flops += self.linear_flops(batch.tokens(), with_grad);
		Ok(loss)
	}

	/// FLOPs of the linear layers for `n` positions (counted like the CPU backend: a
	/// backward costs two forwards).
	fn linear_flops(&self, n: usize, with_grad: bool) -> f64 {
		let (d, f, vocab) = (self.cfg.d_model, self.cfg.d_ff, self.cfg.vocab_size);
		let per_layer = 4.0 * forward_flops(n, d, d) + 3.0 * forward_flops(n, d, f);
		let fwd = self.cfg.n_layers as f64 * per_layer + forward_flops(n, d, vocab);
		if with_grad {
			3.0 * fwd
		} else {
			fwd
		}
	}

	/// Global gradient norm: per-block f64 partial sums on the device, added in index
	/// order on the host (deterministic).
	fn grad_norm(&mut self) -> Result<f64, CudaError> {
		let n = self.layout.len();
		self.dev.sq_norm_partial(&mut self.norm_partial, &self.grads, n)?;
		let partial = self.dev.read(&self.norm_partial)?;
		Ok(partial.iter().sum::<f64>().sqrt())
	}

	fn step_optimizer(
		&mut self,
		lr: f32,
		max_grad_norm: Option<f32>,
	) -> Result<StepStats, CudaError> {
		let grad_norm = self.grad_norm()?;
		if !grad_norm.is_finite() {
			return Err(ModelError::NonFiniteGradient.into());
		}
		let clip_scale = match max_grad_norm {
			Some(max) if grad_norm > max as f64 && grad_norm > 0.0 => {
				(max as f64 / grad_norm) as f32
			}
			_ => 1.0,
		};
		if clip_scale != 1.0 {
			self.dev.scale_inplace(&mut self.grads, self.layout.len(), clip_scale)?;
		}
		self.step += 1;
		let step = AdamWStep::new(&self.adamw, self.step, lr);
		for spec in self.layout.specs() {
			let r = spec.range();
			let step = if spec.is_matrix() { step } else { step.without_decay() };
			self.dev.adamw_update(
				&mut self.params.slice_mut(r.clone()),
				&self.grads.slice(r.clone()),
				&mut self.m.slice_mut(r.clone()),
				&mut self.v.slice_mut(r.clone()),
				r.len(),
				step,
			)?;
		}
		self.dev.synchronize()?;
		Ok(StepStats { grad_norm, clip_scale, lr })
	}
}

/// Device failures after construction (out of memory, a faulted context) leave the backend
/// unusable and [`ModelError`] has no variant for them, so the trait methods panic with the
/// error; batch and parameter errors are returned as usual.
fn check<T>(result: Result<T, CudaError>) -> Result<T, ModelError> {
	match result {
		Ok(v) => Ok(v),
		Err(CudaError::Model(e)) => Err(e),
		Err(e) => panic!("CUDA backend failed: {e}"),
	}
}

/// For the trait methods with no error channel at all.
fn device<T>(result: Result<T, CudaError>) -> T {
	result.unwrap_or_else(|e| panic!("CUDA backend failed: {e}"))
}

fn finite(loss: f32) -> Result<f32, ModelError> {
	if loss.is_finite() {
		Ok(loss)
	} else {
		Err(ModelError::NonFiniteLoss(loss))
	}
}

impl Backend for CudaBackend {
	fn name(&self) -> &'static str {
		match self.dev.imp {
			Imp::Gpu(_) => "cuda",
			Imp::Sim => "cuda-sim",
		}
	}

	fn config(&self) -> &ModelConfig {
		&self.cfg
	}

	fn load_params(&mut self, params: &[f32]) -> Result<(), ModelError> {
		if params.len() != self.layout.len() {
			return Err(ModelError::ParamLength { expected: self.layout.len(), got: params.len() });
		}
		device(self.dev.write(params, &mut self.params));
		Ok(())
	}

	fn read_params(&self) -> Vec<f32> {
		device(self.dev.read(&self.params))
	}

	fn forward(&mut self, batch: &Batch) -> Result<f32, ModelError> {
		finite(check(self.run(batch, false))?)
	}

	fn forward_backward(&mut self, batch: &Batch) -> Result<f32, ModelError> {
		finite(check(self.run(batch, true))?)
	}

	fn read_grads(&self) -> Vec<f32> {
		device(self.dev.read(&self.grads))
	}

	fn optimizer_step(
		&mut self,
		lr: f32,
		max_grad_norm: Option<f32>,
	) -> Result<StepStats, ModelError> {
		check(self.step_optimizer(lr, max_grad_norm))
	}

	fn reset_optimizer(&mut self) {
		device(self.dev.zero(&mut self.m));
		device(self.dev.zero(&mut self.v));
		self.step = 0;
	}

	fn adamw_config(&self) -> AdamWConfig {
		self.adamw
	}

	/// `total` and `matmul_flops` are measured; kernels run asynchronously, so the
	/// matmul/attention split of the CPU backend is not (it stays zero).
	fn timings(&self) -> Timings {
		self.timings
	}

	fn reset_timings(&mut self) {
		self.timings = Timings::default();
	}
}
