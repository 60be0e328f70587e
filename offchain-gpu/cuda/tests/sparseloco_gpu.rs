//! The SparseLoCo GPU path against the `sparseloco` CPU path. Needs an NVIDIA driver and GPU
//! (and NVRTC: NVRTC_LIB_DIR or the library path); elsewhere each test prints
//! "skipped: no CUDA driver (...)" and is counted as skipped by CI (see `common::skip`).
//!
//! Same bounds as tests/sparseloco_sim.rs: indices and codes exact, tables within
//! `TABLE_TOL * max|table|`, aggregation within `TABLE_TOL` of the update scale. The GPU
//! runs the simulator's operations with explicit rounding (no FMA contraction), so it should
//! also agree with the simulator bit for bit.

mod common;

use cudarc::driver::sys::cudaError_enum;
use sparseloco::{
	aggregate, compress_in_place, ChunkParams, Header, Layout, Plan, SparseGradient, TensorSpec,
};
use training_cuda::sparseloco::gpu::{aggregate_gpu, compress_chunked_gpu, SparseLocoGpu};
use training_cuda::sparseloco::{sim, SparseLocoGpuError};
use training_cuda::CudaError;

const TABLE_TOL: f32 = 2.0 * f32::EPSILON;

fn rand_vec(n: usize, seed: u64, scale: f32) -> Vec<f32> {
	let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
	(0..n)
		.map(|_| {
			state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
			let u = (state >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0;
			if (state >> 20).is_multiple_of(2) {
				(u * 16.0).round() / 8.0 * scale
			} else {
				u * scale
			}
		})
		.collect()
}

fn plan() -> Plan {
	let layout = Layout::new(vec![
		TensorSpec::new("full", &[256, 192]),
		TensorSpec::new("short", &[67, 130]),
		TensorSpec::new("vec", &[200]),
		TensorSpec::new("one", &[1]),
	])
	.unwrap();
	Plan::new(layout, ChunkParams::default()).unwrap()
}

/// `Some(result)`, or `None` after printing why where the machine has no usable GPU.
fn on_gpu<T>(result: Result<T, SparseLocoGpuError>) -> Option<T> {
	match result {
		Ok(v) => Some(v),
		Err(SparseLocoGpuError::Cuda(
			e @ (CudaError::NoDriver | CudaError::NoDevice | CudaError::MissingLibrary(_)),
		)) => {
			common::skip(&format!("no CUDA driver ({e})"));
			None
		}
		Err(SparseLocoGpuError::Cuda(CudaError::Driver(e)))
			if e.0 == cudaError_enum::CUDA_ERROR_NO_DEVICE =>
		{
			common::skip(&format!("no CUDA driver ({e})"));
			None
		}
		Err(e) => panic!("SparseLoCo GPU path failed: {e}"),
	}
}

#[test]
fn gpu_compression_matches_cpu_and_simulator() {
	let plan = plan();
	let delta = rand_vec(plan.len(), 1, 0.5);
	let e0 = rand_vec(plan.len(), 2, 0.05);
	let (mut e_cpu, mut e_gpu, mut e_sim) = (e0.clone(), e0.clone(), e0);
	let Some(got) = on_gpu(compress_chunked_gpu(&plan, 0.95, &mut e_gpu, &delta)) else { return };
	let want = compress_in_place(&plan, 0.95, &mut e_cpu, &delta).unwrap();
	let tensors = got.to_sparse_tensors(&plan);
	for (t, (g, w)) in tensors.iter().zip(&want).enumerate() {
		assert_eq!(g.indices, w.indices, "tensor {t}: indices");
		assert_eq!(g.codes, w.codes, "tensor {t}: codes");
		let scale = w.table.0.iter().fold(0f32, |m, v| m.max(v.abs()));
		for (a, b) in g.table.0.iter().zip(&w.table.0) {
			assert!((a - b).abs() <= TABLE_TOL * scale, "tensor {t}: table {a:e} vs {b:e}");
		}
	}
	for (i, (g, w)) in e_gpu.iter().zip(&e_cpu).enumerate() {
		assert!((g - w).abs() <= 4.0 * TABLE_TOL * w.abs().max(1.0), "residual[{i}]: {g} vs {w}");
	}
	let simulated = sim::compress(&plan, 0.95, &mut e_sim, &delta, 256).unwrap();
	assert_eq!(got, simulated, "GPU and simulator differ");
	assert!(e_gpu.iter().zip(&e_sim).all(|(a, b)| a.to_bits() == b.to_bits()));
}

#[test]
fn gpu_aggregation_matches_cpu() {
	let plan = plan();
	let peers: Vec<SparseGradient> = (0..4)
		.map(|p| {
			let mut e = vec![0f32; plan.len()];
			let delta = rand_vec(plan.len(), 10 + p, 0.1 * (1 + p) as f32);
			let tensors = compress_in_place(&plan, 0.95, &mut e, &delta).unwrap();
			SparseGradient { header: Header::new(&plan, 0, 0, [0; 32], [0.0; 16]), tensors }
		})
		.collect();
	let theta0 = rand_vec(plan.len(), 3, 1.0);
	let (mut want, mut got) = (theta0.clone(), theta0.clone());
	let Some(report) = on_gpu(aggregate_gpu(&plan, &peers, &mut got, 0.4)) else { return };
	let want_report = aggregate(&plan, &peers, &mut want, 0.4).unwrap();
	for (g, w) in report.tensors.iter().zip(&want_report.tensors) {
		assert_eq!((g.used, &g.dropped), (w.used, &w.dropped));
	}
	let step = want.iter().zip(&theta0).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
	for (i, (g, w)) in got.iter().zip(&want).enumerate() {
		assert!((g - w).abs() <= TABLE_TOL * (step + w.abs()), "theta[{i}]: {g:e} vs {w:e}");
	}
}

/// Bandwidth of the fused error-feedback + top-k kernel against a device-to-device copy,
/// on a LLaMA-like 4096-wide layer set (~200M parameters). Prints its figures.
#[test]
fn bench_fused_kernel_against_a_copy() {
	let Some(gpu) = on_gpu(SparseLocoGpu::open()) else { return };
	let mut tensors = Vec::new();
	for l in 0..4 {
		for name in ["q", "k", "v", "o"] {
			tensors.push(TensorSpec::new(format!("l{l}.{name}"), &[4096, 4096]));
		}
		tensors.push(TensorSpec::new(format!("l{l}.up"), &[11008, 4096]));
		tensors.push(TensorSpec::new(format!("l{l}.norm"), &[4096]));
	}
	let plan = Plan::new(Layout::new(tensors).unwrap(), ChunkParams::default()).unwrap();
	let b = gpu.bench_fused(&plan, 5).unwrap();
	eprintln!(
		"fused ef+topk: {} elements, {:.3} ms, {:.0} GB/s; d2d copy: {:.3} ms, {:.0} GB/s ({:.0} % of copy bandwidth)",
		b.elements,
		b.fused_ms,
		b.fused_gb_s,
		b.copy_ms,
		b.copy_gb_s,
		100.0 * b.fused_gb_s / b.copy_gb_s
	);
	assert!(b.fused_gb_s > 0.0 && b.copy_gb_s > 0.0);
}
