//! The inner optimizer: AdamW with decoupled weight decay, global-norm gradient clipping
//! and a linear warm-up + cosine learning-rate schedule.

use std::ops::Range;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::layout::ParamLayout;

const PAR_CHUNK: usize = 1 << 14;

/// AdamW hyper-parameters (the learning rate comes from [`LrSchedule`]).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdamWConfig {
	pub beta1: f32,
	pub beta2: f32,
	pub eps: f32,
	/// Decoupled decay `p -= lr * wd * p`, applied to matrices only (not to norm gains).
	pub weight_decay: f32,
}

impl Default for AdamWConfig {
	fn default() -> Self {
		Self { beta1: 0.9, beta2: 0.95, eps: 1e-8, weight_decay: 0.1 }
	}
}

/// AdamW state: first and second moments in the parameter layout, and the step count used
/// for bias correction.
#[derive(Clone, Debug)]
pub struct AdamW {
	cfg: AdamWConfig,
	m: Vec<f32>,
	v: Vec<f32>,
	t: u64,
	/// Each tensor's range and whether it is decayed.
	tensors: Vec<(Range<usize>, bool)>,
}

impl AdamW {
	pub fn new(layout: &ParamLayout, cfg: AdamWConfig) -> Self {
		Self {
			cfg,
			m: vec![0.0; layout.len()],
			v: vec![0.0; layout.len()],
			t: 0,
			tensors: layout.specs().iter().map(|s| (s.range(), s.is_matrix())).collect(),
		}
	}

	pub fn config(&self) -> &AdamWConfig {
		&self.cfg
	}

	/// Steps taken since creation or the last [`AdamW::reset`].
	pub fn steps(&self) -> u64 {
		self.t
	}

	/// Zeroes the moments and the step count.
	pub fn reset(&mut self) {
		self.m.fill(0.0);
		self.v.fill(0.0);
		self.t = 0;
	}

	/// One update with learning rate `lr`:
	/// `m = b1 m + (1-b1) g`, `v = b2 v + (1-b2) g^2`,
	/// `p -= lr (m / (1-b1^t) / (sqrt(v / (1-b2^t)) + eps) + wd p)`.
	pub fn step(&mut self, params: &mut [f32], grads: &[f32], lr: f32) {
		assert_eq!(params.len(), self.m.len());
		assert_eq!(grads.len(), self.m.len());
		self.t += 1;
		let AdamWConfig { beta1, beta2, eps, weight_decay } = self.cfg;
		let bc1 = 1.0 - (beta1 as f64).powf(self.t as f64);
		let bc2 = 1.0 - (beta2 as f64).powf(self.t as f64);
		let (inv_bc1, inv_sqrt_bc2) = ((1.0 / bc1) as f32, (1.0 / bc2.sqrt()) as f32);
		for (range, decay) in &self.tensors {
			let wd = if *decay { weight_decay } else { 0.0 };
			params[range.clone()]
				.par_chunks_mut(PAR_CHUNK)
				.zip(grads[range.clone()].par_chunks(PAR_CHUNK))
				.zip(self.m[range.clone()].par_chunks_mut(PAR_CHUNK))
				.zip(self.v[range.clone()].par_chunks_mut(PAR_CHUNK))
				.for_each(|(((p, g), m), v)| {
					for i in 0..p.len() {
						m[i] = beta1 * m[i] + (1.0 - beta1) * g[i];
						v[i] = beta2 * v[i] + (1.0 - beta2) * g[i] * g[i];
						let update = m[i] * inv_bc1 / (v[i].sqrt() * inv_sqrt_bc2 + eps);
						p[i] -= lr * (update + wd * p[i]);
					}
				});
		}
	}
}

/// Euclidean norm of the whole gradient, accumulated in f64.
pub fn global_norm(grads: &[f32]) -> f64 {
	grads
		.par_chunks(PAR_CHUNK)
		.map(|c| c.iter().map(|&g| (g as f64) * (g as f64)).sum::<f64>())
		.sum::<f64>()
		.sqrt()
}

/// What [`clip_grad_norm`] saw and did.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ClipStats {
	/// Norm before clipping.
	pub norm: f64,
	/// Factor the gradient was multiplied by (1 when under the limit).
	pub scale: f32,
}

/// Scales `grads` so its global norm is at most `max_norm`.
pub fn clip_grad_norm(grads: &mut [f32], max_norm: f32) -> ClipStats {
	let norm = global_norm(grads);
	let scale =
		if norm > max_norm as f64 && norm > 0.0 { (max_norm as f64 / norm) as f32 } else { 1.0 };
	if scale != 1.0 {
		grads.par_iter_mut().for_each(|g| *g *= scale);
	}
	ClipStats { norm, scale }
}

/// Linear warm-up from 0 to `peak_lr` over `warmup_steps`, then a cosine decay to `min_lr`
/// at `total_steps`, constant after.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LrSchedule {
	pub peak_lr: f32,
	pub min_lr: f32,
	pub warmup_steps: u64,
	pub total_steps: u64,
}

impl LrSchedule {
	/// A flat schedule (no warm-up, no decay).
	pub fn constant(lr: f32) -> Self {
		Self { peak_lr: lr, min_lr: lr, warmup_steps: 0, total_steps: 0 }
	}

	/// Learning rate for the 0-based `step`.
	pub fn lr(&self, step: u64) -> f32 {
		if step < self.warmup_steps {
			return self.peak_lr * (step + 1) as f32 / self.warmup_steps as f32;
		}
		if step >= self.total_steps {
			return self.min_lr;
		}
		let span = (self.total_steps - self.warmup_steps) as f64;
		let progress = (step - self.warmup_steps) as f64 / span;
		let cosine = 0.5 * (1.0 + (std::f64::consts::PI * progress).cos());
		(self.min_lr as f64 + (self.peak_lr - self.min_lr) as f64 * cosine) as f32
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use crate::config::ModelConfig;

	#[test]
	fn first_step_moves_each_weight_by_lr_times_sign() {
		// With bias correction, step 1 gives m/sqrt(v) = g/|g| = sign(g).
		let layout = ParamLayout::new(&ModelConfig::tiny());
		let cfg = AdamWConfig { weight_decay: 0.0, ..Default::default() };
		let mut opt = AdamW::new(&layout, cfg);
		let mut p = vec![0.5f32; layout.len()];
		let g: Vec<f32> = (0..layout.len()).map(|i| if i % 2 == 0 { 3.0 } else { -0.01 }).collect();
		opt.step(&mut p, &g, 0.1);
		for (i, &v) in p.iter().enumerate() {
			let expected = if i % 2 == 0 { 0.4 } else { 0.6 };
			assert!((v - expected).abs() < 1e-5, "{i}: {v}");
		}
		assert_eq!(opt.steps(), 1);
	}

	#[test]
	fn matches_a_scalar_reference_over_steps() {
		let layout = ParamLayout::new(&ModelConfig::tiny());
		let cfg = AdamWConfig::default();
		let mut opt = AdamW::new(&layout, cfg);
		let n = layout.len();
		let mut p: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin()).collect();
		let (mut rp, mut m, mut v) =
			(p.iter().map(|&x| x as f64).collect::<Vec<_>>(), vec![0.0f64; n], vec![0.0f64; n]);
		let decayed: Vec<bool> = (0..n)
			.map(|i| layout.specs().iter().any(|s| s.range().contains(&i) && s.is_matrix()))
			.collect();
		for t in 1..=5 {
			let g: Vec<f32> = (0..n).map(|i| ((i * t) as f32 * 0.11).cos()).collect();
			opt.step(&mut p, &g, 0.01);
			for i in 0..n {
				let gi = g[i] as f64;
				m[i] = 0.9 * m[i] + 0.1 * gi;
				v[i] = 0.95 * v[i] + 0.05 * gi * gi;
				let mh = m[i] / (1.0 - 0.9f64.powi(t as i32));
				let vh = v[i] / (1.0 - 0.95f64.powi(t as i32));
				let wd = if decayed[i] { 0.1 } else { 0.0 };
				rp[i] -= 0.01 * (mh / (vh.sqrt() + 1e-8) + wd * rp[i]);
			}
		}
		let err = p.iter().zip(&rp).fold(0.0f64, |e, (&a, &b)| e.max((a as f64 - b).abs()));
		assert!(err < 1e-5, "{err}");
		// Norm gains are not decayed, matrices are.
		assert!(decayed[layout.embedding().start] && !decayed[layout.final_norm().start]);
	}

	#[test]
	fn weight_decay_shrinks_matrices_only() {
		let layout = ParamLayout::new(&ModelConfig::tiny());
		let mut opt = AdamW::new(&layout, AdamWConfig { weight_decay: 0.5, ..Default::default() });
		let mut p = vec![1.0f32; layout.len()];
		opt.step(&mut p, &vec![0.0; layout.len()], 0.1);
		assert!((p[layout.embedding().start] - 0.95).abs() < 1e-6);
		assert_eq!(p[layout.final_norm().start], 1.0);
		opt.reset();
		assert_eq!(opt.steps(), 0);
	}

	#[test]
	fn clipping_caps_the_global_norm() {
		let mut g = vec![3.0f32, 4.0];
		let stats = clip_grad_norm(&mut g, 1.0);
		assert!((stats.norm - 5.0).abs() < 1e-9);
		assert!((global_norm(&g) - 1.0).abs() < 1e-6);
		assert!((g[0] / g[1] - 0.75).abs() < 1e-6);
		let mut small = vec![0.1f32, 0.1];
		assert_eq!(clip_grad_norm(&mut small, 1.0).scale, 1.0);
		assert_eq!(small, [0.1, 0.1]);
	}

	#[test]
	fn schedule_warms_up_then_decays() {
		let s = LrSchedule { peak_lr: 1.0, min_lr: 0.1, warmup_steps: 10, total_steps: 110 };
		assert!((s.lr(0) - 0.1).abs() < 1e-6);
		assert!((s.lr(4) - 0.5).abs() < 1e-6);
		assert!((s.lr(9) - 1.0).abs() < 1e-6);
		assert!((s.lr(10) - 1.0).abs() < 1e-6);
		assert!((s.lr(60) - 0.55).abs() < 1e-6);
		assert!((s.lr(110) - 0.1).abs() < 1e-6);
		assert_eq!(s.lr(10_000), 0.1);
		for step in 10..110 {
			assert!(s.lr(step + 1) <= s.lr(step));
		}
		assert_eq!(LrSchedule::constant(0.3).lr(5), 0.3);
	}
}
