//! RMSNorm: `y = x / sqrt(mean(x^2) + eps) * g`, per row, with a learned gain `g` and no
//! bias or mean subtraction.

use rayon::prelude::*;

use crate::float::Float;

/// Normalizes each of the `n` rows of `inp [n, d]` into `out`, saving `1/rms` per row in
/// `rstd [n]` for the backward pass.
pub fn forward<T: Float>(out: &mut [T], rstd: &mut [T], inp: &[T], gain: &[T], d: usize, eps: T) {
	assert_eq!(gain.len(), d);
	assert_eq!(out.len(), inp.len());
	assert_eq!(rstd.len() * d, inp.len());
	out.par_chunks_mut(d).zip(rstd.par_iter_mut()).zip(inp.par_chunks(d)).for_each(
		|((y, r), x)| {
			let ms = x.iter().map(|&v| v * v).sum::<T>() / T::from_f64(d as f64);
			*r = T::ONE / (ms + eps).sqrt();
			for ((y, &x), &g) in y.iter_mut().zip(x).zip(gain) {
				*y = x * *r * g;
			}
		},
	);
}

/// Backward of [`forward`]. With `r = 1/rms` and `s = mean_j(g_j dy_j x_j)`:
/// `dx_i += r (g_i dy_i - x_i r^2 s)` and `dg_i += sum_rows dy_i x_i r`.
pub fn backward<T: Float>(
	dinp: &mut [T],
	dgain: &mut [T],
	dout: &[T],
	inp: &[T],
	gain: &[T],
	rstd: &[T],
	d: usize,
) {
	assert_eq!(dgain.len(), d);
	assert_eq!(dinp.len(), inp.len());
	assert_eq!(dout.len(), inp.len());
	assert_eq!(rstd.len() * d, inp.len());
	dinp.par_chunks_mut(d)
		.zip(dout.par_chunks(d))
		.zip(inp.par_chunks(d))
		.zip(rstd.par_iter())
		.for_each(|(((dx, dy), x), &r)| {
			let s = dy.iter().zip(x).zip(gain).map(|((&dy, &x), &g)| g * dy * x).sum::<T>()
				/ T::from_f64(d as f64);
			for (((dx, &dy), &x), &g) in dx.iter_mut().zip(dy).zip(x).zip(gain) {
				*dx += r * (g * dy - x * r * r * s);
			}
		});
	for ((dy, x), &r) in dout.chunks(d).zip(inp.chunks(d)).zip(rstd) {
		for ((dg, &dy), &x) in dgain.iter_mut().zip(dy).zip(x) {
			*dg += dy * x * r;
		}
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use crate::ops::gradcheck::{assert_grad_close, numeric_grad, rand_vec};

	#[test]
	fn output_rows_have_unit_rms_with_unit_gain() {
		let (n, d) = (3, 8);
		let x: Vec<f64> = rand_vec(n * d, 1).iter().map(|v| v * 5.0).collect();
		let (mut y, mut r) = (vec![0.0; n * d], vec![0.0; n]);
		forward(&mut y, &mut r, &x, &vec![1.0; d], d, 0.0);
		for row in y.chunks(d) {
			let ms: f64 = row.iter().map(|v| v * v).sum::<f64>() / d as f64;
			assert!((ms - 1.0).abs() < 1e-12);
		}
	}

	#[test]
	fn backward_matches_finite_differences() {
		let (n, d) = (5, 12);
		let x = rand_vec(n * d, 2);
		let g = rand_vec(d, 3);
		let dy = rand_vec(n * d, 4);
		let eps = 1e-5;
		let loss = |x: &[f64], g: &[f64]| -> f64 {
			let (mut y, mut r) = (vec![0.0; n * d], vec![0.0; n]);
			forward(&mut y, &mut r, x, g, d, eps);
			y.iter().zip(&dy).map(|(a, b)| a * b).sum()
		};
		let (mut y, mut r) = (vec![0.0; n * d], vec![0.0; n]);
		forward(&mut y, &mut r, &x, &g, d, eps);
		let (mut dx, mut dg) = (vec![0.0; n * d], vec![0.0; d]);
		backward(&mut dx, &mut dg, &dy, &x, &g, &r, d);
		assert_grad_close("rmsnorm dx", &dx, &numeric_grad(&x, |x| loss(x, &g)), 1e-8);
		assert_grad_close("rmsnorm dgain", &dg, &numeric_grad(&g, |g| loss(&x, g)), 1e-8);
	}
}
