//! The SparseLoCo kernels (`kernels/sparseloco.cu`), run by the host simulator, against the
//! `sparseloco` CPU path.
//!
//! Exact: kept indices, codes, the packed code bytes (compared with the CPU blob's code
//! section, i.e. the wire order), residual entries that were not kept, the per-peer drop
//! decisions, and the scatter-mean + SGD step given the CPU's clip factors (it adds in
//! peer order like the CPU).
//! With the GPU's block (256 threads) everything is bit-exact, the whole blob on the wire and
//! the residual included: the CPU quantizer sums in the kernels' lane-and-tree order.
//! Tolerance for other blocks: the quantization statistics and bin means are then summed in
//! another order, so table entries may differ by an f32 rounding step:
//! `|got - want| <= TABLE_TOL * max|table|`; kept residual entries (x - table[code]) get the
//! same bound. Norms from exact per-code counts agree to `NORM_TOL` relative, and the full
//! aggregation (GPU norms -> clip factors) to `TABLE_TOL` of the update scale.

use sparseloco::aggregate::{lower_median, peer_norms};
use sparseloco::codec::HEADER_LEN;
use sparseloco::plan::TABLE_BYTES;
use sparseloco::{
	aggregate, compress_in_place, encode, ChunkParams, CompressError, Header, Layout, Plan,
	SparseGradient, TensorSpec,
};
use training_cuda::sparseloco::{clip_factor, sim, Compressed, SparseLocoGpuError};

const TABLE_TOL: f32 = 2.0 * f32::EPSILON;
const NORM_TOL: f64 = 1e-12;

/// Small blocks give every thread many elements; the GPU's block (256) is covered by its own
/// tests.
const SIM_BLOCK: u32 = 32;

/// Deterministic values from a 64-bit LCG: a mix of coarse multiples of 1/8 (many exact
/// ties in |x|, signed zeros) and continuous values.
fn rand_vec(n: usize, seed: u64, scale: f32) -> Vec<f32> {
	let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
	(0..n)
		.map(|_| {
			state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
			let u = (state >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0;
			match (state >> 20) % 4 {
				0 | 1 => (u * 16.0).round() / 8.0 * scale,
				2 => u * scale,
				_ => u * 0.01 * scale,
			}
		})
		.collect()
}

/// Full 64 x 64 tiles, short tiles (67 rows: a 3-row last band; 130 cols: 26-wide tiles),
/// 1-D runs with a short last run, a one-element tensor and a single small tile.
fn layout() -> Layout {
	Layout::new(vec![
		TensorSpec::new("full", &[128, 192]),
		TensorSpec::new("short", &[67, 130]),
		TensorSpec::new("vec", &[200]),
		TensorSpec::new("one", &[1]),
		TensorSpec::new("small", &[40, 7]),
	])
	.unwrap()
}

fn plan(params: ChunkParams) -> Plan {
	Plan::new(layout(), params).unwrap()
}

fn assert_bits(name: &str, got: &[f32], want: &[f32]) {
	assert_eq!(got.len(), want.len(), "{name}: length");
	for (i, (g, w)) in got.iter().zip(want).enumerate() {
		assert_eq!(g.to_bits(), w.to_bits(), "{name}[{i}]: got {g:e}, want {w:e}");
	}
}

fn pack(codes: &[u8]) -> Vec<u8> {
	codes.chunks(4).map(|c| c.iter().rev().fold(0u8, |b, &q| (b << 2) | q)).collect()
}

/// Compares one round of simulator output with the CPU's; returns how many table entries
/// were not bit-identical (0 expected in practice, allowed within TABLE_TOL).
fn compare_round(plan: &Plan, got: &Compressed, want: &[sparseloco::SparseTensor]) -> usize {
	let tensors = got.to_sparse_tensors(plan);
	let grad =
		|tensors| SparseGradient { header: Header::new(plan, 0, 0, [0; 32], [0.0; 16]), tensors };
	let blob = encode(plan, &grad(want.to_vec())).unwrap();
	let (mut inexact, mut at, mut code_at) = (0, HEADER_LEN, 0);
	for (t, ((g, w), tp)) in tensors.iter().zip(want).zip(plan.tensors()).enumerate() {
		assert_eq!(g.indices, w.indices, "tensor {t}: kept indices");
		assert_eq!(g.codes, w.codes, "tensor {t}: codes");
		let section = &got.packed_codes[code_at..code_at + tp.code_bytes()];
		assert_eq!(section, pack(&w.codes), "tensor {t}: packed codes");
		let wire = &blob[at + TABLE_BYTES..at + TABLE_BYTES + tp.code_bytes()];
		assert_eq!(section, wire, "tensor {t}: code bytes differ from the CPU blob's");
		let scale = w.table.0.iter().fold(0f32, |m, v| m.max(v.abs()));
		for (q, (a, b)) in g.table.0.iter().zip(&w.table.0).enumerate() {
			assert!((a - b).abs() <= TABLE_TOL * scale, "tensor {t} table[{q}]: {a:e} vs {b:e}");
			inexact += usize::from(a.to_bits() != b.to_bits());
		}
		at += tp.wire_bytes();
		code_at += tp.code_bytes();
	}
	inexact
}

/// Residuals: bit-exact off the kept set, within the table tolerance on it.
fn compare_residual(plan: &Plan, got: &[f32], want: &[f32], kept: &[sparseloco::SparseTensor]) {
	let mut on_kept = vec![false; plan.len()];
	for (tp, st) in plan.tensors().iter().zip(kept) {
		for &i in &st.indices {
			on_kept[tp.offset + i as usize] = true;
		}
	}
	for (i, (g, w)) in got.iter().zip(want).enumerate() {
		if on_kept[i] {
			let tol = TABLE_TOL * w.abs().max(1.0) * 4.0;
			assert!((g - w).abs() <= tol, "residual[{i}] (kept): {g:e} vs {w:e}");
		} else {
			assert_eq!(g.to_bits(), w.to_bits(), "residual[{i}]: {g:e} vs {w:e}");
		}
	}
}

/// Two rounds of compression (the second with a non-zero residual) on the CPU and in the
/// simulator, for one chunking.
fn compress_matches(params: ChunkParams, block: u32) {
	let plan = plan(params);
	let (mut e_cpu, mut e_sim) = (vec![0f32; plan.len()], vec![0f32; plan.len()]);
	let mut inexact = 0;
	for round in 0..2u64 {
		let delta = rand_vec(plan.len(), 11 + round, 0.5);
		let want = compress_in_place(&plan, 0.95, &mut e_cpu, &delta).unwrap();
		let got = sim::compress(&plan, 0.95, &mut e_sim, &delta, block).unwrap();
		inexact += compare_round(&plan, &got, &want);
		compare_residual(&plan, &e_sim, &e_cpu, &want);
		// Continue both from the CPU's residual, so a rounding step in a table cannot shift
		// a tie in the next round.
		e_sim.copy_from_slice(&e_cpu);
	}
	eprintln!("{params:?}, block {block}: {inexact} table entries not bit-identical");
}

#[test]
fn compression_matches_cpu_for_the_default_chunking() {
	compress_matches(ChunkParams::default(), SIM_BLOCK);
}

#[test]
fn compression_matches_cpu_with_k_1_and_k_all() {
	compress_matches(ChunkParams { edge: 64, k: 1 }, SIM_BLOCK);
	compress_matches(ChunkParams { edge: 8, k: 64 }, SIM_BLOCK);
}

#[test]
fn compression_matches_cpu_with_small_tiles_and_odd_blocks() {
	compress_matches(ChunkParams { edge: 16, k: 5 }, 1);
	compress_matches(ChunkParams { edge: 32, k: 100 }, 64);
}

#[test]
fn compression_matches_cpu_with_the_gpu_block() {
	let plan = Plan::new(
		Layout::new(vec![TensorSpec::new("w", &[64, 128]), TensorSpec::new("b", &[100])]).unwrap(),
		ChunkParams::default(),
	)
	.unwrap();
	let delta = rand_vec(plan.len(), 5, 1.0);
	let (mut e_cpu, mut e_sim) = (rand_vec(plan.len(), 6, 0.1), vec![0f32; plan.len()]);
	e_sim.copy_from_slice(&e_cpu);
	let want = compress_in_place(&plan, 0.9, &mut e_cpu, &delta).unwrap();
	let got = sim::compress(&plan, 0.9, &mut e_sim, &delta, training_cuda::sparseloco::gpu::BLOCK)
		.unwrap();
	compare_round(&plan, &got, &want);
	compare_residual(&plan, &e_sim, &e_cpu, &want);
}

/// What the chain's hash binds: with the GPU's block the simulated device's blob is the CPU's,
/// byte for byte, round after round (tensors of more than 256 kept values exercise every
/// lane of the reductions).
#[test]
fn the_gpu_block_puts_the_cpus_bytes_on_the_wire() {
	let plan = plan(ChunkParams::default());
	let (mut e_cpu, mut e_sim) = (vec![0f32; plan.len()], vec![0f32; plan.len()]);
	let grad =
		|tensors| SparseGradient { header: Header::new(&plan, 0, 0, [0; 32], [0.0; 16]), tensors };
	for round in 0..3u64 {
		let delta = rand_vec(plan.len(), 21 + round, 0.5);
		let want = compress_in_place(&plan, 0.95, &mut e_cpu, &delta).unwrap();
		let got =
			sim::compress(&plan, 0.95, &mut e_sim, &delta, training_cuda::sparseloco::gpu::BLOCK)
				.unwrap()
				.to_sparse_tensors(&plan);
		let (got, want) = (encode(&plan, &grad(got)).unwrap(), encode(&plan, &grad(want)).unwrap());
		assert!(got == want, "round {round}: the blobs differ");
		assert_bits("residual", &e_sim, &e_cpu);
	}
}

#[test]
fn all_equal_magnitudes_keep_the_lowest_indices() {
	let plan = Plan::new(
		Layout::new(vec![TensorSpec::new("w", &[64, 64])]).unwrap(),
		ChunkParams::default(),
	)
	.unwrap();
	let delta: Vec<f32> = (0..plan.len()).map(|i| if i % 3 == 0 { -0.5 } else { 0.5 }).collect();
	let mut e = vec![0f32; plan.len()];
	let got = sim::compress(&plan, 0.95, &mut e, &delta, SIM_BLOCK).unwrap();
	assert_eq!(got.rel_indices, (0..64).collect::<Vec<u16>>());
}

#[test]
fn non_finite_delta_is_refused_before_anything_changes() {
	let plan = plan(ChunkParams::default());
	let mut delta = rand_vec(plan.len(), 3, 1.0);
	delta[9000] = f32::NAN;
	delta[20000] = f32::INFINITY;
	let e0 = rand_vec(plan.len(), 4, 1.0);
	let (mut e_cpu, mut e_sim) = (e0.clone(), e0.clone());
	let want = compress_in_place(&plan, 0.95, &mut e_cpu, &delta).unwrap_err();
	let got = sim::compress(&plan, 0.95, &mut e_sim, &delta, SIM_BLOCK).unwrap_err();
	assert_eq!(want, CompressError::NonFiniteDelta(9000));
	assert!(matches!(got, SparseLocoGpuError::Compress(ref e) if *e == want), "{got}");
	assert_bits("residual", &e_sim, &e0);
}

#[test]
fn overflowing_residual_reports_the_tensor_and_keeps_it() {
	let plan = Plan::new(
		Layout::new(vec![TensorSpec::new("ok", &[64]), TensorSpec::new("big", &[64])]).unwrap(),
		ChunkParams::default(),
	)
	.unwrap();
	let mut delta = rand_vec(plan.len(), 8, 1.0);
	delta[64..].iter_mut().for_each(|d| *d = f32::MAX);
	let e0: Vec<f32> = (0..plan.len()).map(|i| if i < 64 { 0.0 } else { f32::MAX }).collect();
	let (mut e_cpu, mut e_sim) = (e0.clone(), e0);
	let want = compress_in_place(&plan, 1.0, &mut e_cpu, &delta).unwrap_err();
	let got = sim::compress(&plan, 1.0, &mut e_sim, &delta, SIM_BLOCK).unwrap_err();
	assert_eq!(want, CompressError::NonFiniteTable(1));
	assert!(matches!(got, SparseLocoGpuError::Compress(ref e) if *e == want), "{got}");
	assert_bits("overflowed tensor", &e_sim[64..], &e_cpu[64..]);
}

#[test]
fn bad_arguments_are_named_errors() {
	let plan = plan(ChunkParams::default());
	let mut e = vec![0f32; plan.len()];
	let delta = vec![0f32; plan.len()];
	assert!(matches!(
		sim::compress(&plan, 0.95, &mut e, &delta, 48),
		Err(SparseLocoGpuError::BadBlock(48))
	));
	assert!(matches!(
		sim::compress(&plan, f32::NAN, &mut e, &delta, SIM_BLOCK),
		Err(SparseLocoGpuError::Compress(CompressError::BadBeta))
	));
	assert!(matches!(
		sim::compress(&plan, 0.95, &mut e[1..], &delta, SIM_BLOCK),
		Err(SparseLocoGpuError::Compress(CompressError::Length { .. }))
	));
}

/// `peers` gradients from the CPU compressor on different deltas (so their index sets
/// overlap partly), with peer 1's tensor 2 made non-finite (dropped there).
fn peers(plan: &Plan, peers: usize) -> Vec<SparseGradient> {
	let mut out: Vec<SparseGradient> = (0..peers)
		.map(|p| {
			let mut e = vec![0f32; plan.len()];
			// Peers differ in scale too, so the median clip bites.
			let delta = rand_vec(plan.len(), 100 + p as u64, 0.1 * (1 + p) as f32);
			let tensors = compress_in_place(plan, 0.95, &mut e, &delta).unwrap();
			SparseGradient { header: Header::new(plan, 1, 2, [p as u8; 32], [0.0; 16]), tensors }
		})
		.collect();
	out[1].tensors[2].table.0[3] = f32::INFINITY;
	out
}

#[test]
fn norms_match_cpu() {
	let plan = plan(ChunkParams { edge: 16, k: 20 });
	let peers = peers(&plan, 3);
	let sq = sim::peer_sq_norms(&plan, &peers, SIM_BLOCK).unwrap();
	let nt = plan.tensors().len();
	for (p, peer) in peers.iter().enumerate() {
		for (t, want) in peer_norms(peer).into_iter().enumerate() {
			let got = sq[p * nt + t];
			match want {
				None => assert!(got < 0.0, "peer {p} tensor {t}: should be dropped"),
				Some(w) => {
					let g = got.sqrt();
					assert!((g - w).abs() <= NORM_TOL * w, "peer {p} tensor {t}: {g} vs {w}");
				}
			}
		}
	}
}

#[test]
fn scatter_mean_is_bit_exact_with_the_cpu_clip_factors() {
	for params in [ChunkParams::default(), ChunkParams { edge: 16, k: 40 }] {
		let plan = plan(params);
		let peers = peers(&plan, 4);
		let nt = plan.tensors().len();
		// The CPU's own norms, medians and factors.
		let norms: Vec<Vec<Option<f64>>> = peers.iter().map(peer_norms).collect();
		let mut factors = vec![1.0f32; peers.len() * nt];
		for t in 0..nt {
			let usable: Vec<f64> = norms.iter().filter_map(|n| n[t]).collect();
			let clip = lower_median(&usable);
			for (p, n) in norms.iter().enumerate() {
				if let Some(n) = n[t] {
					factors[p * nt + t] = clip_factor(n, clip);
				}
			}
		}
		let theta0 = rand_vec(plan.len(), 77, 1.0);
		let (mut want, mut got) = (theta0.clone(), theta0);
		aggregate(&plan, &peers, &mut want, 0.4).unwrap();
		sim::scatter_mean_step(&plan, &peers, &factors, &mut got, 0.4, SIM_BLOCK).unwrap();
		assert_bits("theta", &got, &want);
	}
}

#[test]
fn aggregation_matches_cpu() {
	let plan = plan(ChunkParams::default());
	let peers = peers(&plan, 5);
	let theta0 = rand_vec(plan.len(), 78, 1.0);
	let (mut want, mut got) = (theta0.clone(), theta0.clone());
	let want_report = aggregate(&plan, &peers, &mut want, 0.4).unwrap();
	let got_report = sim::aggregate(&plan, &peers, &mut got, 0.4, SIM_BLOCK).unwrap();
	assert_eq!(got_report.tensors.len(), want_report.tensors.len());
	for (g, w) in got_report.tensors.iter().zip(&want_report.tensors) {
		assert_eq!((g.used, &g.dropped), (w.used, &w.dropped));
		let (g, w) = (g.clip_norm.unwrap(), w.clip_norm.unwrap());
		assert!((g - w).abs() <= NORM_TOL * w, "clip norm {g} vs {w}");
	}
	assert_eq!(want_report.tensors[2].dropped, vec![1]);
	let step = want.iter().zip(&theta0).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
	assert!(step > 0.0);
	for (i, (g, w)) in got.iter().zip(&want).enumerate() {
		assert!((g - w).abs() <= TABLE_TOL * (step + w.abs()), "theta[{i}]: {g:e} vs {w:e}");
	}
}

#[test]
fn invalid_peers_are_refused_and_theta_untouched() {
	let plan = plan(ChunkParams::default());
	let mut peers = peers(&plan, 2);
	peers[1].tensors[0].indices.swap(0, 1);
	let mut theta = vec![1.0f32; plan.len()];
	let err = sim::aggregate(&plan, &peers, &mut theta, 0.4, SIM_BLOCK).unwrap_err();
	assert!(
		matches!(
			err,
			SparseLocoGpuError::Aggregate(sparseloco::AggregateError::InvalidPeer { peer: 1, .. })
		),
		"{err}"
	);
	assert!(theta.iter().all(|&x| x == 1.0));
}
