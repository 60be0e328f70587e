//! Deterministic parameter initialization, so every participant can derive the same
//! genesis model from a run seed.
//!
//! Values come from a SplitMix64 stream over the flat buffer in layout order, turned into
//! normals by Box-Muller: matrices ~ N(0, std^2), with the residual-stream projections `wo`
//! and `w_down` scaled by `1/sqrt(2 n_layers)` (GPT-2 style) so the residual variance does
//! not grow with depth; norm gains start at 1.

use crate::config::ModelConfig;
use crate::float::Float;
use crate::layout::ParamLayout;

/// Standard deviation of the default initialization.
pub const INIT_STD: f64 = 0.02;

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, fast and fully specified.
struct SplitMix64(u64);

impl SplitMix64 {
	fn next_u64(&mut self) -> u64 {
		self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
		let mut z = self.0;
		z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
		z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
		z ^ (z >> 31)
	}

	/// Uniform in (0, 1].
	fn next_unit(&mut self) -> f64 {
		((self.next_u64() >> 11) + 1) as f64 / (1u64 << 53) as f64
	}

	fn next_normal(&mut self) -> f64 {
		let (u1, u2) = (self.next_unit(), self.next_unit());
		(-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
	}
}

/// The default f32 initialization of a (validated) config.
pub fn init_params(cfg: &ModelConfig, seed: u64) -> Vec<f32> {
	init_params_with(cfg, seed, INIT_STD)
}

/// Initialization with a chosen standard deviation (tests use a large one so that every
/// path of the network carries signal).
pub fn init_params_with<T: Float>(cfg: &ModelConfig, seed: u64, std: f64) -> Vec<T> {
	let layout = ParamLayout::new(cfg);
	let mut rng = SplitMix64(seed);
	let residual_scale = 1.0 / (2.0 * cfg.n_layers as f64).sqrt();
	let mut params = vec![T::ZERO; layout.len()];
	for spec in layout.specs() {
		let out = &mut params[spec.range()];
		if !spec.is_matrix() {
			out.fill(T::ONE);
			continue;
		}
		let is_residual_out = spec.name.ends_with(".wo") || spec.name.ends_with(".w_down");
		let s = if is_residual_out { std * residual_scale } else { std };
		for v in out {
			*v = T::from_f64(rng.next_normal() * s);
		}
	}
	params
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn deterministic_and_seed_dependent() {
		let cfg = ModelConfig::tiny();
		let a = init_params(&cfg, 7);
		assert_eq!(a, init_params(&cfg, 7));
		assert_ne!(a, init_params(&cfg, 8));
	}

	#[test]
	fn statistics_match_the_documented_scheme() {
		let cfg = ModelConfig::small();
		let layout = ParamLayout::new(&cfg);
		let p = init_params(&cfg, 1);
		let std_of = |name: &str| {
			let s = &p[layout.get(name).unwrap().range()];
			let mean = s.iter().map(|&v| v as f64).sum::<f64>() / s.len() as f64;
			(s.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / s.len() as f64).sqrt()
		};
		assert!((std_of("tok_embedding") - 0.02).abs() < 0.001);
		assert!((std_of("layers.0.w_up") - 0.02).abs() < 0.001);
		let scaled = 0.02 / (8f64).sqrt();
		assert!((std_of("layers.3.w_down") - scaled).abs() < 0.0005);
		assert!(p[layout.final_norm()].iter().all(|&v| v == 1.0));
	}
}
