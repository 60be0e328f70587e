//! Where a worker computes: `--device auto|cpu|cuda[:N]|sim`. Training, evaluation and a
//! miner's compression (error feedback, top-k, 2-bit codes, with the residual kept on the
//! device) run on the chosen device; compression puts the same bytes on the wire on every
//! device. The outer step (aggregating the round's gradients into the shared model) stays on
//! the CPU everywhere, because every node must reach bit-identical parameters and the CPU
//! path is the one all nodes share.

use std::fmt;
use std::str::FromStr;

use anyhow::{Context, Result};
use sparseloco::{ErrorFeedback, Plan, SparseTensor};
use training_cuda::sparseloco::gpu::{GpuPlan, SparseLocoGpu};
use training_cuda::{Buf, CudaBackend, CudaError, DeviceKind};
use training_model::{
	AdamWConfig, CpuBackend, DynBackend, Evaluator, ModelConfig, TrainConfig, Trainer,
};

/// What the operator asked for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DeviceChoice {
	/// GPU 0 when a driver and a device are present, else the CPU.
	#[default]
	Auto,
	Cpu,
	/// The GPU with this ordinal.
	Cuda(usize),
	/// The simulated GPU: the CUDA backend's whole path on the host (slow; for tests and for
	/// checking the GPU path on a machine without one).
	Sim,
}

impl FromStr for DeviceChoice {
	type Err = String;

	fn from_str(s: &str) -> Result<Self, String> {
		match s {
			"auto" => Ok(Self::Auto),
			"cpu" => Ok(Self::Cpu),
			"cuda" => Ok(Self::Cuda(0)),
			"sim" => Ok(Self::Sim),
			other => match other.strip_prefix("cuda:").map(str::parse) {
				Some(Ok(n)) => Ok(Self::Cuda(n)),
				_ => Err(format!("unknown device {other:?}: use auto, cpu, cuda, cuda:N or sim")),
			},
		}
	}
}

impl fmt::Display for DeviceChoice {
	fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
		match self {
			Self::Auto => f.write_str("auto"),
			Self::Cpu => f.write_str("cpu"),
			Self::Cuda(n) => write!(f, "cuda:{n}"),
			Self::Sim => f.write_str("sim"),
		}
	}
}

/// A device that was found: the CPU, a GPU or the simulated device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Device {
	Cpu,
	Cuda { ordinal: usize, name: String },
	Sim,
}

impl Device {
	/// Resolves `choice`: `auto` probes GPU 0 and falls back to the CPU where the machine has
	/// no driver or device; `cuda[:N]` fails with one line where it has none.
	pub fn resolve(choice: DeviceChoice) -> Result<Self> {
		match choice {
			DeviceChoice::Cpu => Ok(Self::Cpu),
			DeviceChoice::Sim => Ok(Self::Sim),
			DeviceChoice::Cuda(ordinal) => match training_cuda::probe(ordinal) {
				Ok(name) => Ok(Self::Cuda { ordinal, name }),
				Err(e) => Err(anyhow::anyhow!("--device {choice}: {e}")),
			},
			DeviceChoice::Auto => match training_cuda::probe(0) {
				Ok(name) => Ok(Self::Cuda { ordinal: 0, name }),
				Err(CudaError::NoDriver | CudaError::NoDevice) => Ok(Self::Cpu),
				Err(e) => Err(anyhow::anyhow!("--device auto: the GPU is present but {e}")),
			},
		}
	}

	/// A fresh backend for `model` on this device.
	pub fn backend(&self, model: &ModelConfig, adamw: AdamWConfig) -> Result<DynBackend> {
		let cuda = |kind| -> Result<DynBackend> {
			let backend = CudaBackend::open(kind, model, adamw)
				.with_context(|| format!("opening the CUDA backend on {self}"))?;
			Ok(Box::new(backend))
		};
		match self {
			Self::Cpu => Ok(Box::new(CpuBackend::new(model, adamw)?)),
			Self::Cuda { ordinal, .. } => cuda(DeviceKind::Gpu(*ordinal)),
			Self::Sim => cuda(DeviceKind::Sim),
		}
	}

	/// An inner-loop trainer on this device.
	pub fn trainer(&self, model: &ModelConfig, cfg: TrainConfig) -> Result<Trainer<DynBackend>> {
		Ok(Trainer::new(self.backend(model, cfg.adamw)?, cfg))
	}

	/// A miner's error-feedback compressor on this device, with a zero residual.
	pub fn compressor(&self, plan: &Plan, beta: f32) -> Result<Compressor> {
		let kind = match self {
			Self::Cpu => return Ok(Compressor::Cpu(ErrorFeedback::new(plan, beta)?)),
			Self::Cuda { ordinal, .. } => DeviceKind::Gpu(*ordinal),
			Self::Sim => DeviceKind::Sim,
		};
		let open = || -> Result<Compressor, training_cuda::sparseloco::SparseLocoGpuError> {
			let gpu = SparseLocoGpu::open_on(kind)?;
			let gp = gpu.prepare(plan)?;
			let residual = gpu.upload(&vec![0.0; plan.len()])?;
			Ok(Compressor::Device(Box::new(DeviceFeedback { gpu, gp, residual, beta })))
		};
		open().with_context(|| format!("opening SparseLoCo compression on {self}"))
	}

	/// A forward-only evaluator on this device.
	pub fn evaluator(&self, model: &ModelConfig) -> Result<Evaluator<DynBackend>> {
		Ok(Evaluator::new(self.backend(model, AdamWConfig::default())?))
	}
}

/// Error feedback and compression on the CPU or on a device (the residual stays there).
pub enum Compressor {
	Cpu(ErrorFeedback),
	Device(Box<DeviceFeedback>),
}

/// The device side of a [`Compressor`].
pub struct DeviceFeedback {
	gpu: SparseLocoGpu,
	gp: GpuPlan,
	residual: Buf<f32>,
	beta: f32,
}

impl Compressor {
	/// Folds `delta` (theta_before - theta_after) into the residual and returns the
	/// compressed tensors, as `sparseloco::ErrorFeedback::compress` (same bytes, same errors).
	pub fn compress(&mut self, plan: &Plan, delta: &[f32]) -> Result<Vec<SparseTensor>> {
		match self {
			Self::Cpu(ef) => Ok(ef.compress(plan, delta)?),
			Self::Device(d) => {
				let delta = d.gpu.upload(delta)?;
				let out = d.gpu.compress(plan, &mut d.gp, d.beta, &mut d.residual, &delta)?;
				Ok(out.to_sparse_tensors(plan))
			}
		}
	}
}

impl fmt::Display for Device {
	fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
		match self {
			Self::Cpu => f.write_str("cpu"),
			Self::Cuda { ordinal, name } => write!(f, "cuda:{ordinal} ({name})"),
			Self::Sim => f.write_str("sim (the CUDA backend on the host simulator)"),
		}
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use training_model::{init_params, Backend, Batch};

	#[test]
	fn parses_every_form_and_names_the_bad_ones() {
		for (text, want) in [
			("auto", DeviceChoice::Auto),
			("cpu", DeviceChoice::Cpu),
			("cuda", DeviceChoice::Cuda(0)),
			("cuda:3", DeviceChoice::Cuda(3)),
			("sim", DeviceChoice::Sim),
		] {
			assert_eq!(text.parse::<DeviceChoice>(), Ok(want));
		}
		for bad in ["gpu", "cuda:", "cuda:x", "CPU", ""] {
			let err = bad.parse::<DeviceChoice>().unwrap_err();
			assert!(err.contains("auto, cpu, cuda, cuda:N or sim"), "{err}");
		}
	}

	#[test]
	fn auto_resolves_to_a_device_and_cuda_without_a_gpu_is_one_line() {
		let auto = Device::resolve(DeviceChoice::Auto).unwrap();
		match Device::resolve(DeviceChoice::Cuda(0)) {
			Ok(gpu) => assert_eq!(auto, gpu),
			Err(e) => {
				assert_eq!(auto, Device::Cpu);
				let line = format!("{e:#}");
				assert!(line.starts_with("--device cuda:0: ") && !line.contains('\n'), "{line}");
			}
		}
	}

	#[test]
	fn compression_on_the_simulated_device_sends_the_cpus_bytes() {
		let layout = sparseloco::Layout::new(vec![
			sparseloco::TensorSpec::new("w", &[96, 130]),
			sparseloco::TensorSpec::new("b", &[300]),
		])
		.unwrap();
		let plan = Plan::new(layout, sparseloco::ChunkParams::default()).unwrap();
		let (mut cpu, mut sim) = (
			Device::Cpu.compressor(&plan, 0.95).unwrap(),
			Device::Sim.compressor(&plan, 0.95).unwrap(),
		);
		for round in 0..3u32 {
			let delta: Vec<f32> = (0..plan.len() as u32)
				.map(|i| ((i.wrapping_mul(2654435761) ^ round) % 1000) as f32 * 1e-3 - 0.5)
				.collect();
			assert_eq!(sim.compress(&plan, &delta).unwrap(), cpu.compress(&plan, &delta).unwrap());
		}
		let bad = vec![f32::NAN; plan.len()];
		let (c, s) =
			(cpu.compress(&plan, &bad).unwrap_err(), sim.compress(&plan, &bad).unwrap_err());
		assert!(format!("{s:#}").contains(&c.to_string()), "{s:#} vs {c}");
	}

	#[test]
	fn the_simulated_device_evaluates_like_the_cpu() {
		let model = ModelConfig::tiny();
		let params = init_params(&model, 5);
		let batch = Batch {
			batch_size: 2,
			seq_len: 8,
			inputs: (0..16).map(|i| (i * 7 % 50) as u32).collect(),
			targets: (0..16).map(|i| (i * 11 % 50) as u32).collect(),
		};
		let cpu = Device::Cpu.evaluator(&model).unwrap().loss(&params, &batch).unwrap();
		let mut sim = Device::Sim.evaluator(&model).unwrap();
		assert_eq!(sim.backend().name(), "cuda-sim");
		let got = sim.loss(&params, &batch).unwrap();
		assert!((got - cpu).abs() <= 1e-5 * cpu.abs(), "{got} vs {cpu}");
	}
}
