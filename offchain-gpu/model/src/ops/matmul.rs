//! Linear layers `y = x W^T` through `matrixmultiply`'s sgemm/dgemm, split over rows with
//! rayon (the gemm itself runs single-threaded per block, so there is no nested
//! parallelism).

use rayon::prelude::*;

use crate::float::Float;

/// Below this many rows per task the split overhead outweighs the parallel gain.
const MIN_ROWS_PER_TASK: usize = 16;

/// Bounds-checked strided gemm: `C = alpha * A * B + beta * C`. A is `m x k` with strides
/// `a_strides`, B is `k x n`, C is `m x n` with row stride `rsc` and column stride 1.
#[allow(clippy::too_many_arguments)]
pub fn gemm<T: Float>(
	m: usize,
	k: usize,
	n: usize,
	alpha: T,
	a: &[T],
	a_strides: (usize, usize),
	b: &[T],
	b_strides: (usize, usize),
	beta: T,
	c: &mut [T],
	rsc: usize,
) {
	if m == 0 || n == 0 {
		return;
	}
	let last =
		|rows: usize, cols: usize, (rs, cs): (usize, usize)| (rows - 1) * rs + (cols - 1) * cs;
	if k > 0 {
		assert!(last(m, k, a_strides) < a.len(), "gemm: A out of bounds");
		assert!(last(k, n, b_strides) < b.len(), "gemm: B out of bounds");
	}
	assert!(last(m, n, (rsc, 1)) < c.len(), "gemm: C out of bounds");
	assert!(rsc >= n, "gemm: C rows overlap");
	// SAFETY: the asserts above keep every strided access of A, B and C inside their
	// slices; C is a unique borrow so it cannot alias A or B.
	unsafe {
		T::gemm_raw(
			m,
			k,
			n,
			alpha,
			a.as_ptr(),
			a_strides.0 as isize,
			a_strides.1 as isize,
			b.as_ptr(),
			b_strides.0 as isize,
			b_strides.1 as isize,
			beta,
			c.as_mut_ptr(),
			rsc as isize,
			1,
		)
	}
}

fn rows_per_task(rows: usize) -> usize {
	rows.div_ceil(rayon::current_num_threads().max(1)).max(MIN_ROWS_PER_TASK)
}

/// `out[n, o] = inp[n, i] @ w[o, i]^T` (overwrites `out`).
pub fn forward<T: Float>(out: &mut [T], inp: &[T], w: &[T], n: usize, i: usize, o: usize) {
	assert_eq!(out.len(), n * o);
	assert_eq!(inp.len(), n * i);
	assert_eq!(w.len(), o * i);
	if n == 0 || o == 0 {
		return;
	}
	if i == 0 {
		out.fill(T::ZERO);
		return;
	}
	let chunk = rows_per_task(n);
	out.par_chunks_mut(chunk * o).zip(inp.par_chunks(chunk * i)).for_each(|(out, inp)| {
		let rows = out.len() / o;
		gemm(rows, i, o, T::ONE, inp, (i, 1), w, (1, i), T::ZERO, out, o);
	});
}

/// Backward of [`forward`]: `dinp += dout @ w` and `dw += dout^T @ inp`.
#[allow(clippy::too_many_arguments)]
pub fn backward<T: Float>(
	dinp: &mut [T],
	dw: &mut [T],
	dout: &[T],
	inp: &[T],
	w: &[T],
	n: usize,
	i: usize,
	o: usize,
) {
	assert_eq!(dinp.len(), n * i);
	assert_eq!(dw.len(), o * i);
	assert_eq!(dout.len(), n * o);
	assert_eq!(inp.len(), n * i);
	assert_eq!(w.len(), o * i);
	if n == 0 || o == 0 || i == 0 {
		return;
	}
	let chunk = rows_per_task(n);
	dinp.par_chunks_mut(chunk * i).zip(dout.par_chunks(chunk * o)).for_each(|(dinp, dout)| {
		let rows = dinp.len() / i;
		gemm(rows, o, i, T::ONE, dout, (o, 1), w, (i, 1), T::ONE, dinp, i);
	});
	// dw rows [o0, o0 + rows) = dout[:, o0..]^T @ inp, split over output rows.
	let chunk = rows_per_task(o);
	dw.par_chunks_mut(chunk * i).enumerate().for_each(|(t, dw)| {
		let o0 = t * chunk;
		let rows = dw.len() / i;
		gemm(rows, n, i, T::ONE, &dout[o0..], (1, o), inp, (i, 1), T::ONE, dw, i);
	});
}

/// Multiply-add count (x2 for FLOPs) of one forward: `n * i * o`.
pub fn forward_flops(n: usize, i: usize, o: usize) -> f64 {
	2.0 * n as f64 * i as f64 * o as f64
}

#[cfg(test)]
mod tests {
	use super::*;
	use crate::ops::gradcheck::{assert_grad_close, numeric_grad, rand_vec};

	fn naive(inp: &[f64], w: &[f64], n: usize, i: usize, o: usize) -> Vec<f64> {
		let mut out = vec![0.0; n * o];
		for r in 0..n {
			for c in 0..o {
				out[r * o + c] = (0..i).map(|k| inp[r * i + k] * w[c * i + k]).sum();
			}
		}
		out
	}

	#[test]
	fn forward_matches_naive_across_task_splits() {
		for (n, i, o) in [(1, 3, 2), (37, 5, 7), (100, 16, 33)] {
			let inp = rand_vec(n * i, 1);
			let w = rand_vec(o * i, 2);
			let mut out = vec![0.0; n * o];
			forward(&mut out, &inp, &w, n, i, o);
			for (a, b) in out.iter().zip(naive(&inp, &w, n, i, o)) {
				assert!((a - b).abs() < 1e-12);
			}
		}
	}

	#[test]
	fn backward_matches_finite_differences() {
		let (n, i, o) = (40, 5, 37);
		let inp = rand_vec(n * i, 3);
		let w = rand_vec(o * i, 4);
		let dout = rand_vec(n * o, 5);
		let loss = |inp: &[f64], w: &[f64]| -> f64 {
			let mut out = vec![0.0; n * o];
			forward(&mut out, inp, w, n, i, o);
			out.iter().zip(&dout).map(|(a, b)| a * b).sum()
		};
		let mut dinp = vec![0.0; n * i];
		let mut dw = vec![0.0; o * i];
		backward(&mut dinp, &mut dw, &dout, &inp, &w, n, i, o);
		assert_grad_close("matmul dinp", &dinp, &numeric_grad(&inp, |x| loss(x, &w)), 1e-8);
		assert_grad_close("matmul dw", &dw, &numeric_grad(&w, |x| loss(&inp, x)), 1e-8);
	}
}
