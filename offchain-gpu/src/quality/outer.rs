//! DiLoCo's outer optimizer: SGD with Nesterov momentum applied to the pseudo-gradient
//! `g = theta - mean(theta_replica)`, in the PyTorch form
//!
//! ```text
//! v     = momentum * v + g
//! theta = theta - lr * (g + momentum * v)
//! ```

use super::config::NesterovConfig;

/// Nesterov momentum state over a flat parameter buffer.
#[derive(Clone, Debug)]
pub struct Nesterov {
	cfg: NesterovConfig,
	velocity: Vec<f32>,
}

impl Nesterov {
	/// Zero momentum for `len` parameters.
	pub fn new(cfg: NesterovConfig, len: usize) -> Self {
		Self { cfg, velocity: vec![0.0; len] }
	}

	#[cfg(test)]
	pub fn velocity(&self) -> &[f32] {
		&self.velocity
	}

	/// One outer step on `theta` with pseudo-gradient `g` (both of the state's length).
	pub fn step(&mut self, theta: &mut [f32], g: &[f32]) {
		assert_eq!(theta.len(), self.velocity.len(), "parameter length");
		assert_eq!(g.len(), self.velocity.len(), "gradient length");
		let NesterovConfig { lr, momentum } = self.cfg;
		for ((p, v), &g) in theta.iter_mut().zip(&mut self.velocity).zip(g) {
			*v = momentum * *v + g;
			*p -= lr * (g + momentum * *v);
		}
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn first_steps_match_hand_computed_values() {
		let mut opt = Nesterov::new(NesterovConfig { lr: 0.5, momentum: 0.9 }, 2);
		let mut theta = [1.0f32, -2.0];
		opt.step(&mut theta, &[1.0, -0.5]);
		// v = g; update = g + 0.9 g = 1.9 g.
		assert_eq!(opt.velocity(), &[1.0, -0.5]);
		assert!((theta[0] - (1.0 - 0.5 * 1.9)).abs() < 1e-6);
		assert!((theta[1] - (-2.0 + 0.5 * 0.95)).abs() < 1e-6);
		opt.step(&mut theta, &[1.0, 0.0]);
		// v = 0.9 * 1 + 1 = 1.9; update = 1 + 0.9 * 1.9 = 2.71.
		assert!((opt.velocity()[0] - 1.9).abs() < 1e-6);
		assert!((theta[0] - (1.0 - 0.95 - 0.5 * 2.71)).abs() < 1e-5);
		// v = 0.9 * -0.5 = -0.45; update = 0 + 0.9 * -0.45 = -0.405.
		assert!((theta[1] - (-2.0 + 0.475 + 0.5 * 0.405)).abs() < 1e-5);
	}

	#[test]
	fn zero_momentum_is_plain_sgd_and_steady_state_is_lr_over_one_minus_momentum() {
		let mut sgd = Nesterov::new(NesterovConfig { lr: 0.1, momentum: 0.0 }, 1);
		let mut x = [1.0f32];
		sgd.step(&mut x, &[2.0]);
		assert!((x[0] - 0.8).abs() < 1e-6);

		let mut opt = Nesterov::new(NesterovConfig { lr: 0.1, momentum: 0.9 }, 1);
		let mut x = [0.0f32];
		let mut before = 0.0;
		for _ in 0..300 {
			before = x[0];
			opt.step(&mut x, &[1.0]);
		}
		// A constant gradient moves theta by lr * g / (1 - momentum) per step.
		assert!(((before - x[0]) - 1.0).abs() < 1e-3, "{}", before - x[0]);
	}

	#[test]
	fn converges_on_a_quadratic_faster_than_sgd() {
		let run = |momentum: f32| {
			let mut opt = Nesterov::new(NesterovConfig { lr: 0.05, momentum }, 1);
			let mut x = [5.0f32];
			for _ in 0..60 {
				let g = [x[0]];
				opt.step(&mut x, &g);
			}
			x[0].abs()
		};
		assert!(run(0.9) < 0.25 * run(0.0), "{} vs {}", run(0.9), run(0.0));
	}
}
