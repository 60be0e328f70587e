//! One-shot benchmark behind `offchain-gpu bench compress`: compression throughput against a
//! plain memcpy, decode + aggregate of a round's peers, bytes on the wire, reconstruction
//! error, and a check that the reference payload (12-bit indices, byte codes) reconstructs
//! bit for bit the same values as the compact format.

use std::fmt;
use std::time::{Duration, Instant};

use rayon::prelude::*;

use crate::aggregate::aggregate;
use crate::codec::{decode, encode, Header};
use crate::ef::compress_in_place;
use crate::error::{AggregateError, CompressError, LayoutError, ParamsError, WireError};
use crate::fingerprint;
use crate::gradient::SparseGradient;
use crate::layout::{Layout, TensorSpec};
use crate::plan::{ChunkParams, Plan};
use crate::reference;

/// What to benchmark.
#[derive(Clone, Debug)]
pub struct BenchConfig {
	pub layout: Layout,
	pub params: ChunkParams,
	pub beta: f32,
	/// Peers aggregated per round (reference 20).
	pub peers: usize,
	/// Each timing is the best of this many runs.
	pub repeats: usize,
	pub seed: u64,
}

impl BenchConfig {
	/// A LLaMA-style decoder's tensors: tied embedding, per layer q/k/v/o, SwiGLU
	/// gate/up/down (hidden = 8/3 d rounded up to 64) and two RMSNorm weights, final norm.
	pub fn llama_like(d_model: usize, layers: usize, vocab: usize) -> Result<Self, LayoutError> {
		let hidden = (8 * d_model / 3).div_ceil(64) * 64;
		let mut tensors = vec![TensorSpec::new("embed", &[vocab, d_model])];
		for l in 0..layers {
			for name in ["q", "k", "v", "o"] {
				tensors.push(TensorSpec::new(format!("l{l}.attn.{name}"), &[d_model, d_model]));
			}
			tensors.push(TensorSpec::new(format!("l{l}.mlp.gate"), &[hidden, d_model]));
			tensors.push(TensorSpec::new(format!("l{l}.mlp.up"), &[hidden, d_model]));
			tensors.push(TensorSpec::new(format!("l{l}.mlp.down"), &[d_model, hidden]));
			tensors.push(TensorSpec::new(format!("l{l}.norm1"), &[d_model]));
			tensors.push(TensorSpec::new(format!("l{l}.norm2"), &[d_model]));
		}
		tensors.push(TensorSpec::new("final_norm", &[d_model]));
		Ok(Self {
			layout: Layout::new(tensors)?,
			params: ChunkParams::default(),
			beta: 0.95,
			peers: 20,
			repeats: 3,
			seed: 42,
		})
	}
}

impl Default for BenchConfig {
	/// d_model 512, 8 layers, 32000-token vocabulary: about 42 M parameters.
	fn default() -> Self {
		Self::llama_like(512, 8, 32_000).unwrap_or_else(|_| unreachable!("static layout is valid"))
	}
}

/// Measured figures. Throughputs are in GB/s of fp32 model data (4 bytes per parameter).
#[derive(Clone, Debug)]
pub struct BenchReport {
	pub params: usize,
	pub threads: usize,
	pub peers: usize,
	pub memcpy_gbps_1t: f64,
	/// Error feedback + top-k + quantization, one thread.
	pub compress_gbps_1t: f64,
	/// Compression plus wire encoding, one thread.
	pub compress_encode_gbps_1t: f64,
	/// Error feedback + top-k + quantization, all threads.
	pub compress_gbps: f64,
	pub decode_s: f64,
	pub aggregate_s: f64,
	pub blob_bytes: usize,
	pub reference_bytes: usize,
	pub bits_per_index: f64,
	pub rel_l2_error: f64,
	pub reference_identical: bool,
}

impl BenchReport {
	pub fn fp32_bytes(&self) -> usize {
		self.params * 4
	}

	pub fn ratio_vs_fp32(&self) -> f64 {
		self.fp32_bytes() as f64 / self.blob_bytes as f64
	}

	pub fn ratio_vs_bf16(&self) -> f64 {
		self.ratio_vs_fp32() / 2.0
	}

	/// Model bytes per second through decode + aggregate of all peers.
	pub fn decode_aggregate_gbps(&self) -> f64 {
		gbps(self.fp32_bytes() * self.peers, self.decode_s + self.aggregate_s)
	}
}

impl fmt::Display for BenchReport {
	fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
		writeln!(f, "sparseloco compression benchmark")?;
		writeln!(
			f,
			"  model            {} parameters ({:.1} MB fp32), {} threads",
			self.params,
			mb(self.fp32_bytes()),
			self.threads
		)?;
		writeln!(f, "  memcpy (1 core)  {:.2} GB/s", self.memcpy_gbps_1t)?;
		writeln!(
			f,
			"  compress (1 core) {:.2} GB/s of fp32 input = {:.2}x memcpy; with encode {:.2} GB/s",
			self.compress_gbps_1t,
			self.compress_gbps_1t / self.memcpy_gbps_1t,
			self.compress_encode_gbps_1t
		)?;
		writeln!(f, "  compress (all)   {:.2} GB/s", self.compress_gbps)?;
		writeln!(
			f,
			"  {} peers         decode {:.3} s + aggregate {:.3} s = {:.2} GB/s of fp32 gradients",
			self.peers,
			self.decode_s,
			self.aggregate_s,
			self.decode_aggregate_gbps()
		)?;
		writeln!(
			f,
			"  wire             {} bytes: {:.1}x vs fp32, {:.1}x vs bf16, {:.2} bits/index",
			self.blob_bytes,
			self.ratio_vs_fp32(),
			self.ratio_vs_bf16(),
			self.bits_per_index
		)?;
		writeln!(
			f,
			"  reference        {} bytes ({:.1}x vs fp32); compact is {:.2}x smaller",
			self.reference_bytes,
			self.fp32_bytes() as f64 / self.reference_bytes as f64,
			self.reference_bytes as f64 / self.blob_bytes as f64
		)?;
		write!(
			f,
			"  reconstruction   relative L2 error {:.4}; identical to reference: {}",
			self.rel_l2_error, self.reference_identical
		)
	}
}

/// Why the benchmark could not run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
	#[error(transparent)]
	Params(#[from] ParamsError),
	#[error(transparent)]
	Compress(#[from] CompressError),
	#[error(transparent)]
	Wire(#[from] WireError),
	#[error(transparent)]
	Aggregate(#[from] AggregateError),
	#[error("thread pool: {0}")]
	ThreadPool(#[from] rayon::ThreadPoolBuildError),
}

/// Runs the benchmark and returns the report as text (errors as text too).
pub fn bench_report(cfg: &BenchConfig) -> String {
	match run_bench(cfg) {
		Ok(r) => r.to_string(),
		Err(e) => format!("sparseloco benchmark failed: {e}"),
	}
}

/// Runs the benchmark.
pub fn run_bench(cfg: &BenchConfig) -> Result<BenchReport, BenchError> {
	let plan = Plan::new(cfg.layout.clone(), cfg.params)?;
	let n = plan.len();
	let repeats = cfg.repeats.max(1);
	let one = rayon::ThreadPoolBuilder::new().num_threads(1).build()?;
	let delta = synthetic_delta(&plan, cfg.seed);

	// memcpy baseline.
	let mut copy = vec![0.0f32; n];
	let memcpy = best_of(repeats, || copy.copy_from_slice(&delta));
	std::hint::black_box(&copy);
	drop(copy);

	// Reconstruction error and reference equality, from a zero residual (x = delta).
	let mut e = vec![0.0f32; n];
	let tensors = compress_in_place(&plan, cfg.beta, &mut e, &delta)?;
	let grad = SparseGradient { header: header(&plan, &delta, 0), tensors };
	let blob = encode(&plan, &grad)?;
	let recon = decode(&plan, &blob)?.to_dense(&plan);
	let rel_l2_error = rel_l2(&delta, &recon);
	let ref_payload = reference::encode_payload(&plan, &grad.tensors)?;
	let ref_grad = SparseGradient {
		header: grad.header.clone(),
		tensors: reference::decode_payload(&plan, &ref_payload)?,
	};
	let reference_identical =
		recon.iter().zip(ref_grad.to_dense(&plan)).all(|(a, b)| a.to_bits() == b.to_bits());
	drop(recon);

	// Compression timings (the residual keeps evolving, as on a miner).
	let mut run =
		|pool: Option<&rayon::ThreadPool>, with_encode: bool| -> Result<Duration, BenchError> {
			let mut best = Duration::MAX;
			for _ in 0..repeats {
				let start = Instant::now();
				let mut step = || -> Result<(), BenchError> {
					let tensors = compress_in_place(&plan, cfg.beta, &mut e, &delta)?;
					if with_encode {
						let g = SparseGradient { header: grad.header.clone(), tensors };
						std::hint::black_box(encode(&plan, &g)?);
					}
					Ok(())
				};
				match pool {
					Some(p) => p.install(step)?,
					None => step()?,
				}
				best = best.min(start.elapsed());
			}
			Ok(best)
		};
	let compress_1t = run(Some(&one), false)?;
	let compress_encode_1t = run(Some(&one), true)?;
	let compress_all = run(None, false)?;
	drop(e);

	// A round: every peer compresses its own delta; then decode all blobs and aggregate.
	let blobs = (0..cfg.peers)
		.map(|p| {
			let delta = synthetic_delta(&plan, cfg.seed.wrapping_add(1 + p as u64));
			let mut e = vec![0.0f32; n];
			let tensors = compress_in_place(&plan, cfg.beta, &mut e, &delta)?;
			Ok(encode(&plan, &SparseGradient { header: header(&plan, &delta, 1), tensors })?)
		})
		.collect::<Result<Vec<_>, BenchError>>()?;
	let mut theta = synthetic_delta(&plan, cfg.seed ^ 0x5eed);
	let (mut decode_s, mut aggregate_s) = (f64::MAX, f64::MAX);
	for _ in 0..repeats {
		let start = Instant::now();
		let peers = blobs.par_iter().map(|b| decode(&plan, b)).collect::<Result<Vec<_>, _>>()?;
		let mid = Instant::now();
		aggregate(&plan, &peers, &mut theta, 0.4)?;
		let end = Instant::now();
		decode_s = decode_s.min((mid - start).as_secs_f64());
		aggregate_s = aggregate_s.min((end - mid).as_secs_f64());
	}

	let index_bytes: usize = plan.tensors().iter().map(|t| t.index_bytes()).sum();
	Ok(BenchReport {
		params: n,
		threads: rayon::current_num_threads(),
		peers: cfg.peers,
		memcpy_gbps_1t: gbps(4 * n, memcpy.as_secs_f64()),
		compress_gbps_1t: gbps(4 * n, compress_1t.as_secs_f64()),
		compress_encode_gbps_1t: gbps(4 * n, compress_encode_1t.as_secs_f64()),
		compress_gbps: gbps(4 * n, compress_all.as_secs_f64()),
		decode_s,
		aggregate_s,
		blob_bytes: plan.blob_len(),
		reference_bytes: reference::payload_len(&plan),
		bits_per_index: (index_bytes * 8) as f64 / plan.kept() as f64,
		rel_l2_error,
		reference_identical,
	})
}

fn header(plan: &Plan, params: &[f32], round: u64) -> Header {
	let fp =
		fingerprint::sample(plan, round, params).unwrap_or([0.0; fingerprint::FINGERPRINT_LEN]);
	Header::new(plan, 1, round, [7; 32], fp)
}

fn best_of(repeats: usize, mut f: impl FnMut()) -> Duration {
	(0..repeats)
		.map(|_| {
			let start = Instant::now();
			f();
			start.elapsed()
		})
		.min()
		.unwrap_or(Duration::ZERO)
}

fn gbps(bytes: usize, secs: f64) -> f64 {
	bytes as f64 / secs.max(1e-12) / 1e9
}

fn mb(bytes: usize) -> f64 {
	bytes as f64 / 1e6
}

/// ||a - b|| / ||a||.
pub fn rel_l2(a: &[f32], b: &[f32]) -> f64 {
	let (mut num, mut den) = (0f64, 0f64);
	for (&x, &y) in a.iter().zip(b) {
		num += (x as f64 - y as f64).powi(2);
		den += (x as f64).powi(2);
	}
	(num / den.max(f64::MIN_POSITIVE)).sqrt()
}

/// Deterministic pseudo-gradient: roughly Gaussian values (sum of four 16-bit uniforms) with a
/// different scale per tensor, generated in parallel.
pub fn synthetic_delta(plan: &Plan, seed: u64) -> Vec<f32> {
	let mut out = vec![0.0f32; plan.len()];
	let scales: Vec<f32> =
		(0..plan.tensors().len()).map(|t| 1e-3 * (1.0 + (t % 7) as f32)).collect();
	let tensor_of: Vec<(usize, usize)> =
		plan.tensors().iter().enumerate().map(|(t, tp)| (tp.offset, t)).collect();
	out.par_chunks_mut(1 << 16).enumerate().for_each(|(block, xs)| {
		let start = block << 16;
		let mut state = seed ^ (block as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
		let mut t = tensor_of.partition_point(|&(off, _)| off <= start).saturating_sub(1);
		for (i, x) in xs.iter_mut().enumerate() {
			while t + 1 < tensor_of.len() && tensor_of[t + 1].0 <= start + i {
				t += 1;
			}
			state = splitmix(state);
			// Sum of four 16-bit uniforms in [0, 4).
			let u = (0..4).map(|j| ((state >> (16 * j)) & 0xFFFF) as f32).sum::<f32>() / 65536.0;
			*x = (u - 2.0) * 1.732 * scales[t];
		}
	});
	out
}

fn splitmix(mut z: u64) -> u64 {
	z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
	z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
	z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
	z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn small_bench_runs_and_checks_reference() {
		let mut cfg = BenchConfig::llama_like(128, 1, 512).unwrap();
		cfg.peers = 3;
		cfg.repeats = 1;
		let r = run_bench(&cfg).unwrap();
		assert!(r.reference_identical);
		assert!(r.rel_l2_error > 0.0 && r.rel_l2_error < 1.0);
		assert!(r.bits_per_index < 12.0);
		assert!(r.compress_gbps_1t > 0.0 && r.decode_aggregate_gbps() > 0.0);
		let text = r.to_string();
		assert!(text.contains("vs bf16"), "{text}");
	}
}
