//! The SwiGLU gate of the feed-forward block: `a = silu(gate) * up` elementwise, with
//! `silu(x) = x * sigmoid(x)`.

use rayon::prelude::*;

use crate::float::Float;

const PAR_CHUNK: usize = 4096;

fn sigmoid<T: Float>(x: T) -> T {
	T::ONE / (T::ONE + (-x).exp())
}

pub fn forward<T: Float>(out: &mut [T], gate: &[T], up: &[T]) {
	assert_eq!(out.len(), gate.len());
	assert_eq!(out.len(), up.len());
	out.par_chunks_mut(PAR_CHUNK)
		.zip(gate.par_chunks(PAR_CHUNK))
		.zip(up.par_chunks(PAR_CHUNK))
		.for_each(|((o, g), u)| {
			for ((o, &g), &u) in o.iter_mut().zip(g).zip(u) {
				*o = g * sigmoid(g) * u;
			}
		});
}

/// Overwrites `dgate` and `dup`: `dup = da * silu(g)`,
/// `dgate = da * u * sigmoid(g) * (1 + g (1 - sigmoid(g)))`.
pub fn backward<T: Float>(dgate: &mut [T], dup: &mut [T], dout: &[T], gate: &[T], up: &[T]) {
	let n = dout.len();
	for len in [dgate.len(), dup.len(), gate.len(), up.len()] {
		assert_eq!(len, n);
	}
	dgate
		.par_chunks_mut(PAR_CHUNK)
		.zip(dup.par_chunks_mut(PAR_CHUNK))
		.zip(dout.par_chunks(PAR_CHUNK))
		.zip(gate.par_chunks(PAR_CHUNK).zip(up.par_chunks(PAR_CHUNK)))
		.for_each(|(((dg, du), da), (g, u))| {
			for i in 0..da.len() {
				let s = sigmoid(g[i]);
				du[i] = da[i] * g[i] * s;
				dg[i] = da[i] * u[i] * s * (T::ONE + g[i] * (T::ONE - s));
			}
		});
}

#[cfg(test)]
mod tests {
	use super::*;
	use crate::ops::gradcheck::{assert_grad_close, numeric_grad, rand_vec};

	#[test]
	fn backward_matches_finite_differences() {
		let n = 50;
		let g: Vec<f64> = rand_vec(n, 1).iter().map(|v| v * 4.0).collect();
		let u = rand_vec(n, 2);
		let dy = rand_vec(n, 3);
		let loss = |g: &[f64], u: &[f64]| {
			let mut a = vec![0.0; n];
			forward(&mut a, g, u);
			a.iter().zip(&dy).map(|(a, b)| a * b).sum::<f64>()
		};
		let (mut dg, mut du) = (vec![0.0; n], vec![0.0; n]);
		backward(&mut dg, &mut du, &dy, &g, &u);
		assert_grad_close("swiglu dgate", &dg, &numeric_grad(&g, |x| loss(x, &u)), 1e-8);
		assert_grad_close("swiglu dup", &du, &numeric_grad(&u, |x| loss(&g, x)), 1e-8);
	}
}
