//! Training throughput measurement: tokens/second of full training steps (forward,
//! backward, AdamW), the share of that time spent in matmuls, and how close those matmuls
//! come to the GFLOP/s the same matmul routine reaches on its own at the model's largest
//! matmul shape, measured in the same run.

use std::fmt;
use std::time::{Duration, Instant};

use crate::backend::Backend;
use crate::batch::Batch;
use crate::config::ModelConfig;
use crate::cpu::CpuBackend;
use crate::error::ModelError;
use crate::init::init_params;
use crate::ops::matmul;
use crate::optim::AdamWConfig;

/// Results of [`run_bench`].
#[derive(Clone, Debug)]
pub struct BenchReport {
	/// The backend's name (`cpu`, `cuda`, `cuda-sim`).
	pub backend: &'static str,
	pub params: usize,
	pub batch_size: usize,
	pub seq_len: usize,
	pub steps: usize,
	pub threads: usize,
	pub tokens_per_sec: f64,
	pub step_time: Duration,
	/// Fraction of forward+backward wall time spent inside matmul calls.
	pub matmul_share: f64,
	/// Fraction of forward+backward wall time spent in attention.
	pub attention_share: f64,
	/// GFLOP/s of the model's matmuls during training.
	pub model_matmul_gflops: f64,
	/// GFLOP/s of a standalone `[n, d] x [d, d_ff]` matmul through the same routine (the CPU
	/// backend only: a device backend does not time its matmuls apart).
	pub peak_matmul_gflops: Option<f64>,
	/// Linear-layer FLOPs per second of the whole training step (forward, backward and
	/// optimizer time included).
	pub step_gflops: f64,
}

impl fmt::Display for BenchReport {
	fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
		writeln!(
			f,
			"model: {} params, batch {} x {} tokens, {} steps, backend {}, {} threads",
			self.params, self.batch_size, self.seq_len, self.steps, self.backend, self.threads
		)?;
		writeln!(
			f,
			"train: {:.0} tokens/s ({:.1} ms/step)",
			self.tokens_per_sec,
			self.step_time.as_secs_f64() * 1e3
		)?;
		let Some(peak) = self.peak_matmul_gflops else {
			return write!(
				f,
				"linear layers: {:.2} GFLOP/s over whole training steps",
				self.step_gflops
			);
		};
		writeln!(
			f,
			"share of forward+backward time: linear-layer matmuls {:.1}%, attention {:.1}%",
			100.0 * self.matmul_share,
			100.0 * self.attention_share
		)?;
		write!(
            f,
            "matmul: {:.1} GFLOP/s in training vs {:.1} GFLOP/s standalone at the same shape (ratio {:.2})",
            self.model_matmul_gflops,
            peak,
            self.model_matmul_gflops / peak
        )
	}
}

/// Pseudo-random tokens (a fixed LCG): throughput does not depend on content.
fn synthetic_batch(cfg: &ModelConfig, batch_size: usize) -> Batch {
	let mut state = 0x2545_F491_4F6C_DD1Du64;
	let tokens: Vec<u32> = (0..batch_size * cfg.seq_len + 1)
		.map(|_| {
			state = state
				.wrapping_mul(6_364_136_223_846_793_005)
				.wrapping_add(1_442_695_040_888_963_407);
			((state >> 33) % cfg.vocab_size as u64) as u32
		})
		.collect();
	let seq = cfg.seq_len;
	Batch::from_windows(seq, (0..batch_size).map(|b| &tokens[b * seq..b * seq + seq + 1]))
}

/// GFLOP/s of `matmul::forward` at `[n, i] x [i, o]`, repeated for at least `budget`.
fn standalone_matmul_gflops(n: usize, i: usize, o: usize, budget: Duration) -> f64 {
	let inp: Vec<f32> = (0..n * i).map(|k| (k % 17) as f32 * 0.01).collect();
	let w: Vec<f32> = (0..o * i).map(|k| (k % 13) as f32 * 0.01).collect();
	let mut out = vec![0.0f32; n * o];
	matmul::forward(&mut out, &inp, &w, n, i, o);
	let start = Instant::now();
	let mut reps = 0u32;
	while start.elapsed() < budget || reps < 3 {
		matmul::forward(&mut out, &inp, &w, n, i, o);
		reps += 1;
	}
	matmul::forward_flops(n, i, o) * reps as f64 / start.elapsed().as_secs_f64() / 1e9
}

/// Trains `cfg` for `steps` steps (after 2 warm-up steps) on `batch_size` sequences of
/// `cfg.seq_len` tokens and measures throughput on the CPU backend.
pub fn run_bench(
	cfg: &ModelConfig,
	batch_size: usize,
	steps: usize,
) -> Result<BenchReport, ModelError> {
	run_bench_on(CpuBackend::new(cfg, AdamWConfig::default())?, batch_size, steps)
}

/// [`run_bench`] on any backend. The matmul and attention shares are those the backend
/// measures (a GPU backend, whose kernels run asynchronously, reports none).
pub fn run_bench_on(
	mut backend: impl Backend,
	batch_size: usize,
	steps: usize,
) -> Result<BenchReport, ModelError> {
	let cfg = &backend.config().clone();
	backend.load_params(&init_params(cfg, 0))?;
	let batch = synthetic_batch(cfg, batch_size);
	for _ in 0..2 {
		backend.forward_backward(&batch)?;
		backend.optimizer_step(1e-3, Some(1.0))?;
	}
	backend.reset_timings();
	let start = Instant::now();
	for _ in 0..steps {
		backend.forward_backward(&batch)?;
		backend.optimizer_step(1e-3, Some(1.0))?;
	}
	let elapsed = start.elapsed();
	let t = backend.timings();
	let n = batch.tokens();
	let timed_matmuls = t.matmul > Duration::ZERO;
	Ok(BenchReport {
		backend: backend.name(),
		params: cfg.num_params(),
		batch_size,
		seq_len: cfg.seq_len,
		steps,
		threads: rayon::current_num_threads(),
		tokens_per_sec: (n * steps) as f64 / elapsed.as_secs_f64(),
		step_time: elapsed / steps.max(1) as u32,
		matmul_share: t.matmul.as_secs_f64() / t.total.as_secs_f64().max(1e-12),
		attention_share: t.attention.as_secs_f64() / t.total.as_secs_f64().max(1e-12),
		model_matmul_gflops: t.matmul_flops / t.matmul.as_secs_f64().max(1e-12) / 1e9,
		peak_matmul_gflops: timed_matmuls.then(|| {
			standalone_matmul_gflops(n, cfg.d_model, cfg.d_ff, Duration::from_millis(500))
		}),
		step_gflops: t.matmul_flops / elapsed.as_secs_f64() / 1e9,
	})
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn reports_every_figure() {
		let report = run_bench(&ModelConfig::tiny(), 2, 2).unwrap();
		assert!(report.tokens_per_sec > 0.0);
		assert!(report.matmul_share > 0.0 && report.attention_share > 0.0);
		assert!(report.matmul_share + report.attention_share < 1.0);
		assert!(report.peak_matmul_gflops.unwrap() > 0.0);
		assert!(report.step_gflops > 0.0 && report.backend == "cpu");
		let text = report.to_string();
		assert!(text.contains("tokens/s") && text.contains("ratio"), "{text}");
	}
}
