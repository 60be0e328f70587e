//! CudaBackend against CpuBackend, on both devices: every check runs on the simulated
//! device (the whole backend: buffer sizes, strides, leading dimensions, launch shapes and
//! kernel order, with the kernels on the host simulator and gemm on the CPU), and again on
//! GPU 0 where one exists. The GPU variants need an NVIDIA driver and GPU (and libcublas /
//! libnvrtc on the library path, or NVRTC_LIB_DIR for NVRTC); elsewhere each prints
//! "skipped: ..." and is counted as skipped by CI (see `common::skip`).
//!
//! Tolerances: the devices sum in different orders (gemm, tree reductions) and a GPU's expf /
//! logf differ from glibc by an ulp or two, so the loss must agree to 1e-5 relative and
//! every gradient tensor to `|device - cpu| <= 1e-4 * max|cpu|` over the tensor. (Not yet run
//! on a GPU: if cuBLAS picks TF32 tensor-core paths these bounds would need widening.)

mod common;

use training_cuda::{CudaBackend, CudaError, DeviceKind};
use training_model::{
	init_params, AdamWConfig, Backend, Batch, CpuBackend, ModelConfig, ParamLayout,
};

const LOSS_TOL: f32 = 1e-5;
const GRAD_TOL: f32 = 1e-4;

fn open(kind: DeviceKind, cfg: &ModelConfig) -> Option<CudaBackend> {
	match CudaBackend::open(kind, cfg, AdamWConfig::default()) {
		Ok(b) => Some(b),
		Err(e @ (CudaError::NoDriver | CudaError::NoDevice | CudaError::MissingLibrary(_))) => {
			common::skip(&format!("no CUDA driver ({e})"));
			None
		}
		Err(e) => panic!("CUDA backend failed to start: {e}"),
	}
}

fn batch(cfg: &ModelConfig, batch_size: usize, seq_len: usize, seed: u32) -> Batch {
	let n = batch_size * seq_len;
	let tok = |i: usize, salt: u32| {
		((i as u32).wrapping_mul(2654435761).wrapping_add(seed.wrapping_mul(97) + salt) >> 7)
			% cfg.vocab_size as u32
	};
	Batch {
		batch_size,
		seq_len,
		inputs: (0..n).map(|i| tok(i, 1)).collect(),
		targets: (0..n).map(|i| tok(i, 2)).collect(),
	}
}

fn assert_tensors_close(cfg: &ModelConfig, got: &[f32], want: &[f32]) {
	for spec in ParamLayout::new(cfg).specs() {
		let (g, w) = (&got[spec.range()], &want[spec.range()]);
		let scale = w.iter().fold(0.0f32, |m, v| m.max(v.abs()));
		assert!(scale > 0.0, "{}: zero CPU gradient", spec.name);
		let err = g.iter().zip(w).fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
		assert!(err <= GRAD_TOL * scale, "{}: max error {err:e} vs scale {scale:e}", spec.name);
	}
}

/// The devnet preset's shape: more heads, rows and blocks than `tiny`.
fn devnet_shape() -> ModelConfig {
	ModelConfig {
		d_model: 64,
		n_layers: 2,
		n_heads: 4,
		d_ff: 128,
		seq_len: 64,
		..ModelConfig::tiny()
	}
}

#[test]
fn sim_loss_and_gradients_match_the_cpu_backend() {
	loss_and_gradients_match(DeviceKind::Sim, &ModelConfig::tiny(), &[(3, 16, 1), (2, 9, 2)]);
}

#[test]
fn sim_devnet_shape_matches_the_cpu_backend() {
	loss_and_gradients_match(DeviceKind::Sim, &devnet_shape(), &[(4, 64, 3)]);
}

#[test]
fn gpu_loss_and_gradients_match_the_cpu_backend() {
	loss_and_gradients_match(DeviceKind::Gpu(0), &ModelConfig::tiny(), &[(3, 16, 1), (2, 9, 2)]);
	loss_and_gradients_match(DeviceKind::Gpu(0), &devnet_shape(), &[(4, 64, 3)]);
}

#[test]
fn sim_optimizer_steps_track_the_cpu_backend() {
	optimizer_steps_track(DeviceKind::Sim);
}

#[test]
fn gpu_optimizer_steps_track_the_cpu_backend() {
	optimizer_steps_track(DeviceKind::Gpu(0));
}

/// Loss, gradients and evaluation loss on each `(batch, seq, seed)` in turn (a new shape
/// reallocates the workspace).
fn loss_and_gradients_match(kind: DeviceKind, cfg: &ModelConfig, shapes: &[(usize, usize, u32)]) {
	let cfg = cfg.clone();
	let Some(mut cuda) = open(kind, &cfg) else { return };
	eprintln!("device: {}", cuda.device_name().unwrap());
	let mut cpu = CpuBackend::new(&cfg, AdamWConfig::default()).unwrap();
	let params = init_params(&cfg, 7);
	cpu.load_params(&params).unwrap();
	cuda.load_params(&params).unwrap();
	assert_eq!(cuda.read_params(), params);

	for &(b, t, seed) in shapes {
		let batch = batch(&cfg, b, t, seed);
		let want = cpu.forward_backward(&batch).unwrap();
		let got = cuda.forward_backward(&batch).unwrap();
		assert!((got - want).abs() <= LOSS_TOL * want.abs(), "loss {got} vs {want}");
		assert_tensors_close(&cfg, &cuda.read_grads(), &cpu.read_grads());
		let eval = cuda.forward(&batch).unwrap();
		assert!((eval - want).abs() <= LOSS_TOL * want.abs());
	}
}

fn optimizer_steps_track(kind: DeviceKind) {
	let cfg = ModelConfig::tiny();
	let Some(mut cuda) = open(kind, &cfg) else { return };
	let mut cpu = CpuBackend::new(&cfg, AdamWConfig::default()).unwrap();
	let params = init_params(&cfg, 3);
	cpu.load_params(&params).unwrap();
	cuda.load_params(&params).unwrap();
	let batch = batch(&cfg, 4, 16, 5);
	for _ in 0..3 {
		let (lc, lg) =
			(cpu.forward_backward(&batch).unwrap(), cuda.forward_backward(&batch).unwrap());
		assert!((lg - lc).abs() <= 1e-4 * lc.abs(), "loss {lg} vs {lc}");
		// A clip limit below the norm exercises the squared-norm and scale kernels.
		let (sc, sg) = (
			cpu.optimizer_step(1e-2, Some(0.5)).unwrap(),
			cuda.optimizer_step(1e-2, Some(0.5)).unwrap(),
		);
		assert!((sg.grad_norm - sc.grad_norm).abs() <= 1e-4 * sc.grad_norm, "{sg:?} vs {sc:?}");
		assert!((sg.clip_scale - sc.clip_scale).abs() <= 1e-4 * sc.clip_scale);
	}
	let (pc, pg) = (cpu.read_params(), cuda.read_params());
	let err = pc.iter().zip(&pg).fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
	// Three steps of lr 1e-2: the parameters may drift by rounding, not by an update.
	assert!(err <= 1e-4, "max parameter difference {err:e}");
	cuda.reset_optimizer();
}

#[test]
fn sim_device_is_named() {
	let cuda =
		open(DeviceKind::Sim, &ModelConfig::tiny()).expect("the simulated device always opens");
	assert_eq!(cuda.name(), "cuda-sim");
}

#[test]
fn a_missing_gpu_ordinal_is_a_named_error() {
	match CudaBackend::open(DeviceKind::Gpu(4096), &ModelConfig::tiny(), AdamWConfig::default()) {
		Err(CudaError::NoSuchDevice { ordinal: 4096, .. }) => {}
		Err(e @ (CudaError::NoDriver | CudaError::NoDevice)) => {
			common::skip(&format!("no CUDA driver ({e})"))
		}
		Err(e) => panic!("expected NoSuchDevice, got {e}"),
		Ok(_) => panic!("a machine with 4097 GPUs?"),
	}
}

#[test]
fn new_reports_a_named_error_or_starts() {
	match CudaBackend::new(&ModelConfig::tiny(), AdamWConfig::default()) {
		Ok(b) => assert_eq!(b.name(), "cuda"),
		Err(e) => {
			let msg = e.to_string();
			assert!(!msg.contains('\n'), "error must be one line: {msg}");
			common::skip(&format!("no CUDA driver ({msg})"));
		}
	}
}
