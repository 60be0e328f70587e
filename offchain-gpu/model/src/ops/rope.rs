//! Rotary position embeddings. Within each head, adjacent pairs `(2i, 2i+1)` are rotated by
//! the angle `pos * theta^(-2i / head_dim)` (the original LLaMA "interleaved" convention).

use crate::float::Float;

/// Precomputed `cos`/`sin` of every (position, pair) angle, `[seq_len, head_dim / 2]`,
/// computed in f64 and rounded once to `T`.
#[derive(Clone, Debug)]
pub struct RopeTable<T> {
	half: usize,
	cos: Vec<T>,
	sin: Vec<T>,
}

impl<T: Float> RopeTable<T> {
	pub fn new(seq_len: usize, head_dim: usize, theta: f64) -> Self {
		let half = head_dim / 2;
		let mut cos = Vec::with_capacity(seq_len * half);
		let mut sin = Vec::with_capacity(seq_len * half);
		for pos in 0..seq_len {
			for i in 0..half {
				let freq = theta.powf(-2.0 * i as f64 / head_dim as f64);
				let angle = pos as f64 * freq;
				cos.push(T::from_f64(angle.cos()));
				sin.push(T::from_f64(angle.sin()));
			}
		}
		Self { half, cos, sin }
	}

	pub fn seq_len(&self) -> usize {
		self.cos.len() / self.half.max(1)
	}

	/// Rotates `x [batch * seq, n_heads * head_dim]` in place (positions restart at 0 for
	/// each sequence of length `seq`). `inverse` rotates by the negative angle, which is the
	/// backward pass because the rotation is orthogonal.
	pub fn apply(&self, x: &mut [T], seq: usize, width: usize, inverse: bool) {
		assert!(seq <= self.seq_len(), "rope table too short");
		assert_eq!(width % (2 * self.half), 0);
		for (row, xs) in x.chunks_mut(width).enumerate() {
			let pos = row % seq;
			let cos = &self.cos[pos * self.half..(pos + 1) * self.half];
			let sin = &self.sin[pos * self.half..(pos + 1) * self.half];
			for head in xs.chunks_mut(2 * self.half) {
				for ((pair, &c), &s) in head.chunks_exact_mut(2).zip(cos).zip(sin) {
					let s = if inverse { -s } else { s };
					let (a, b) = (pair[0], pair[1]);
					pair[0] = a * c - b * s;
					pair[1] = a * s + b * c;
				}
			}
		}
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use crate::ops::gradcheck::{assert_grad_close, numeric_grad, rand_vec};

	#[test]
	fn position_zero_is_identity_and_inverse_undoes() {
		let table = RopeTable::<f64>::new(4, 4, 10_000.0);
		let x = rand_vec(2 * 4 * 8, 1);
		let mut y = x.clone();
		table.apply(&mut y, 4, 8, false);
		assert_eq!(&y[..8], &x[..8]);
		assert_ne!(&y[8..16], &x[8..16]);
		table.apply(&mut y, 4, 8, true);
		for (a, b) in x.iter().zip(&y) {
			assert!((a - b).abs() < 1e-12);
		}
	}

	#[test]
	fn dot_products_depend_only_on_relative_position() {
		let table = RopeTable::<f64>::new(8, 4, 100.0);
		let q = rand_vec(4, 2);
		let k = rand_vec(4, 3);
		let rotated = |v: &[f64], pos: usize| {
			let mut buf = vec![0.0; 8 * 4];
			buf[pos * 4..pos * 4 + 4].copy_from_slice(v);
			table.apply(&mut buf, 8, 4, false);
			buf[pos * 4..pos * 4 + 4].to_vec()
		};
		let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
		let d1 = dot(&rotated(&q, 5), &rotated(&k, 3));
		let d2 = dot(&rotated(&q, 4), &rotated(&k, 2));
		assert!((d1 - d2).abs() < 1e-12);
	}

	#[test]
	fn backward_matches_finite_differences() {
		let (seq, width) = (5, 8);
		let table = RopeTable::<f64>::new(seq, 4, 10.0);
		let x = rand_vec(2 * seq * width, 4);
		let dy = rand_vec(x.len(), 5);
		let loss = |x: &[f64]| {
			let mut y = x.to_vec();
			table.apply(&mut y, seq, width, false);
			y.iter().zip(&dy).map(|(a, b)| a * b).sum::<f64>()
		};
		let mut dx = dy.clone();
		table.apply(&mut dx, seq, width, true);
		assert_grad_close("rope dx", &dx, &numeric_grad(&x, loss), 1e-8);
	}
}
