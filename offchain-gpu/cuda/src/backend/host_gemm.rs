//! cuBLAS's single-precision gemm on the host, for the simulated device: column-major
//! `C = alpha op(A) op(B) + beta C` with explicit leading dimensions, plain and strided
//! batched. With `beta == 0` C is not read (NaN in it is overwritten), as cuBLAS documents.
//! Each dot product adds in `k` order in f32.

use cudarc::cublas::sys::cublasOperation_t;
use cudarc::cublas::GemmConfig;

use crate::error::CudaError;

/// The elements a column-major `rows x cols` operand with leading dimension `ld` spans.
fn span(rows: usize, cols: usize, ld: usize) -> usize {
	if rows == 0 || cols == 0 {
		0
	} else {
		(cols - 1) * ld + rows
	}
}

fn dim(v: i32) -> usize {
	usize::try_from(v).unwrap_or(0)
}

fn transposed(op: cublasOperation_t) -> bool {
	op != cublasOperation_t::CUBLAS_OP_N
}

/// Checked shape of one gemm: `(m, n, k, lda, ldb, ldc)` and the spans of A, B, C.
struct Shape {
	m: usize,
	n: usize,
	k: usize,
	lda: usize,
	ldb: usize,
	ldc: usize,
	ta: bool,
	tb: bool,
	spans: [usize; 3],
}

fn shape(cfg: &GemmConfig<f32>) -> Result<Shape, CudaError> {
	let (m, n, k) = (dim(cfg.m), dim(cfg.n), dim(cfg.k));
	let (lda, ldb, ldc) = (dim(cfg.lda), dim(cfg.ldb), dim(cfg.ldc));
	let (ta, tb) = (transposed(cfg.transa), transposed(cfg.transb));
	// Stored shapes: A is m x k (k x m transposed), B k x n (n x k), C m x n.
	let (a_rows, a_cols) = if ta { (k, m) } else { (m, k) };
	let (b_rows, b_cols) = if tb { (n, k) } else { (k, n) };
	// cuBLAS rejects a leading dimension below the stored row count.
	for (arg, ld, rows) in [(0, lda, a_rows), (1, ldb, b_rows), (2, ldc, m)] {
		if ld < rows.max(1) {
			return Err(CudaError::Extent {
				kernel: "gemm (leading dimension)",
				arg,
				len: ld,
				need: rows,
			});
		}
	}
	let spans = [span(a_rows, a_cols, lda), span(b_rows, b_cols, ldb), span(m, n, ldc)];
	Ok(Shape { m, n, k, lda, ldb, ldc, ta, tb, spans })
}

fn run(s: &Shape, alpha: f32, beta: f32, a: &[f32], b: &[f32], c: &mut [f32]) {
	let at = |i: usize, p: usize| if s.ta { a[i * s.lda + p] } else { a[p * s.lda + i] };
	let bt = |p: usize, j: usize| if s.tb { b[p * s.ldb + j] } else { b[j * s.ldb + p] };
	for j in 0..s.n {
		for i in 0..s.m {
			let mut acc = 0.0f32;
			for p in 0..s.k {
				acc += at(i, p) * bt(p, j);
			}
			let out = &mut c[j * s.ldc + i];
			*out = if beta == 0.0 { alpha * acc } else { alpha * acc + beta * *out };
		}
	}
}

/// One gemm; errors if an operand is shorter than its shape and leading dimension span.
pub fn gemm(cfg: &GemmConfig<f32>, a: &[f32], b: &[f32], c: &mut [f32]) -> Result<(), CudaError> {
	batched(cfg, (1, 0, 0, 0), a, b, c)
}

/// `batch` gemms, operand `x` of gemm `i` starting at `i * stride_x`.
pub fn batched(
	cfg: &GemmConfig<f32>,
	(batch, stride_a, stride_b, stride_c): (usize, usize, usize, usize),
	a: &[f32],
	b: &[f32],
	c: &mut [f32],
) -> Result<(), CudaError> {
	let s = shape(cfg)?;
	if batch == 0 {
		return Ok(());
	}
	let strides = [stride_a, stride_b, stride_c];
	let lens = [a.len(), b.len(), c.len()];
	for arg in 0..3 {
		let need = if s.spans[arg] == 0 { 0 } else { (batch - 1) * strides[arg] + s.spans[arg] };
		if lens[arg] < need {
			return Err(CudaError::Extent { kernel: "gemm", arg, len: lens[arg], need });
		}
	}
	for i in 0..batch {
		let (a0, b0, c0) = (i * stride_a, i * stride_b, i * stride_c);
		let c_end = (c0 + s.spans[2]).min(c.len());
		run(
			&s,
			cfg.alpha,
			cfg.beta,
			&a[a0.min(a.len())..],
			&b[b0.min(b.len())..],
			&mut c[c0..c_end],
		);
	}
	Ok(())
}

#[cfg(test)]
mod tests {
	use super::*;
	use crate::backend::gemm::gemm_cfg;

	/// Row-major reference: `C[r, c] = sum_p A[r, p] B[p, c]`.
	fn matmul(a: &[f32], b: &[f32], (r, k, c): (usize, usize, usize)) -> Vec<f32> {
		let mut out = vec![0.0; r * c];
		for i in 0..r {
			for j in 0..c {
				out[i * c + j] = (0..k).map(|p| a[i * k + p] * b[p * c + j]).sum();
			}
		}
		out
	}

	fn values(n: usize, seed: u32) -> Vec<f32> {
		(0..n).map(|i| (((i as u32).wrapping_mul(2654435761) ^ seed) % 17) as f32 - 8.0).collect()
	}

	#[test]
	fn row_major_product_through_the_column_major_transpose() {
		// Row-major C[r, c] = A[r, k] B[k, c] is column-major C^T = B^T A^T.
		let (r, k, c) = (3, 4, 5);
		let (a, b) = (values(r * k, 1), values(k * c, 2));
		let mut out = vec![f32::NAN; r * c];
		gemm(&gemm_cfg(false, false, (c, r, k), 1.0, (c, k, c), 0.0), &b, &a, &mut out).unwrap();
		assert_eq!(out, matmul(&a, &b, (r, k, c)));
	}

	#[test]
	fn transposes_alpha_and_beta() {
		// C^T (c x r) = alpha (B^T)(A^T) + beta C^T with A given as A^T [k, r] (op T) and B
		// as B^T [c, k] (op T).
		let (r, k, c) = (2, 3, 4);
		let (a, b) = (values(r * k, 3), values(k * c, 4));
		let at: Vec<f32> = (0..k * r).map(|x| a[(x % r) * k + x / r]).collect();
		let bt: Vec<f32> = (0..c * k).map(|x| b[(x % k) * c + x / k]).collect();
		let mut out = vec![1.0; r * c];
		gemm(&gemm_cfg(true, true, (c, r, k), 2.0, (k, r, c), 0.5), &bt, &at, &mut out).unwrap();
		let want: Vec<f32> = matmul(&a, &b, (r, k, c)).iter().map(|v| 2.0 * v + 0.5).collect();
		assert_eq!(out, want);
	}

	#[test]
	fn short_operands_and_bad_leading_dimensions_are_errors() {
		let cfg = gemm_cfg(false, false, (4, 4, 4), 1.0, (4, 4, 4), 0.0);
		let (a, b, mut c) = (vec![0.0; 16], vec![0.0; 15], vec![0.0; 16]);
		assert!(matches!(
			gemm(&cfg, &a, &b, &mut c),
			Err(CudaError::Extent { kernel: "gemm", arg: 1, len: 15, need: 16 })
		));
		let bad_ld = gemm_cfg(false, false, (4, 4, 4), 1.0, (3, 4, 4), 0.0);
		assert!(gemm(&bad_ld, &a, &a, &mut c).is_err());
		// A batch of two needs the second operand at stride 16.
		assert!(batched(&cfg, (2, 16, 16, 16), &a, &a, &mut c).is_err());
	}
}
