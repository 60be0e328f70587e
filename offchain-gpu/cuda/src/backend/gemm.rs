//! The matmuls, on cuBLAS (or its host equivalent on the simulated device). cuBLAS is
//! column-major, so a row-major `[r, c]` matrix is passed as its column-major transpose
//! `[c, r]` with leading dimension `c`, and a row-major product `C = A B` is computed as
//! `C^T = B^T A^T`.

use cudarc::cublas::sys::cublasOperation_t::{CUBLAS_OP_N, CUBLAS_OP_T};
use cudarc::cublas::{Gemm, GemmConfig, StridedBatchedConfig};

use super::device::{Device, Imp};
use super::host_gemm;
use super::mem::{Dst, Src};
use crate::error::CudaError;

fn int(v: usize) -> i32 {
	i32::try_from(v).expect("matrix dimension exceeds i32")
}

impl Device {
	/// `out[n, o] = inp[n, i] W[o, i]^T` (overwrites `out`).
	pub fn linear_forward(
		&self,
		out: &mut impl Dst<f32>,
		inp: &impl Src<f32>,
		w: &impl Src<f32>,
		(n, i, o): (usize, usize, usize),
	) -> Result<(), CudaError> {
		let cfg = GemmConfig {
			transa: CUBLAS_OP_T,
			transb: CUBLAS_OP_N,
			m: int(o),
			n: int(n),
			k: int(i),
			alpha: 1.0f32,
			lda: int(i),
			ldb: int(i),
			beta: 0.0,
			ldc: int(o),
		};
		self.gemm(cfg, w, inp, out)
	}

	/// Backward of [`Device::linear_forward`], accumulating: `dinp += dout W` and
	/// `dW += dout^T inp`.
	pub fn linear_backward(
		&self,
		dinp: &mut impl Dst<f32>,
		dw: &mut impl Dst<f32>,
		dout: &impl Src<f32>,
		inp: &impl Src<f32>,
		w: &impl Src<f32>,
		(n, i, o): (usize, usize, usize),
	) -> Result<(), CudaError> {
		let dinp_cfg = GemmConfig {
			transa: CUBLAS_OP_N,
			transb: CUBLAS_OP_N,
			m: int(i),
			n: int(n),
			k: int(o),
			alpha: 1.0f32,
			lda: int(i),
			ldb: int(o),
			beta: 1.0,
			ldc: int(i),
		};
		let dw_cfg = GemmConfig {
			transa: CUBLAS_OP_N,
			transb: CUBLAS_OP_T,
			m: int(i),
			n: int(o),
			k: int(n),
			alpha: 1.0f32,
			lda: int(i),
			ldb: int(o),
			beta: 1.0,
			ldc: int(i),
		};
		self.gemm(dinp_cfg, w, dout, dinp)?;
		self.gemm(dw_cfg, inp, dout, dw)
	}

	/// One head's products over all sequences of the batch: `batch` row-major gemms
	/// `C_b = alpha op(A_b) op(B_b) + beta C_b` described in cuBLAS terms by `cfg`, with
	/// per-sequence strides. Used for every attention product (see `attention.rs`).
	pub fn batched(
		&self,
		gemm: GemmConfig<f32>,
		(batch, stride_a, stride_b, stride_c): (usize, usize, usize, usize),
		a: &impl Src<f32>,
		b: &impl Src<f32>,
		c: &mut impl Dst<f32>,
	) -> Result<(), CudaError> {
		let (a, b, mut c) = (a.src(), b.src(), c.dst());
		let strides = (batch, stride_a, stride_b, stride_c);
		let g = match &self.imp {
			Imp::Gpu(g) => g,
			Imp::Sim => return host_gemm::batched(&gemm, strides, a.host(), b.host(), c.host()),
		};
		let cfg = StridedBatchedConfig {
			gemm,
			batch_size: int(batch),
			stride_a: stride_a as i64,
			stride_b: stride_b as i64,
			stride_c: stride_c as i64,
		};
		// SAFETY: the attention callers pass views that start at the head's first element
		// and strides that stay inside the [batch * seq, width] and probability buffers.
		unsafe { g.blas.gemm_strided_batched(cfg, a.cuda(), b.cuda(), c.cuda()) }?;
		Ok(())
	}

	/// One column-major gemm described by `cfg`.
	fn gemm(
		&self,
		cfg: GemmConfig<f32>,
		a: &impl Src<f32>,
		b: &impl Src<f32>,
		c: &mut impl Dst<f32>,
	) -> Result<(), CudaError> {
		let (a, b, mut c) = (a.src(), b.src(), c.dst());
		match &self.imp {
			// SAFETY: the callers pass buffers of the shapes their configurations describe
			// (the simulated device checks the same configurations' extents in CI).
			Imp::Gpu(g) => unsafe { g.blas.gemm(cfg, a.cuda(), b.cuda(), c.cuda()) }?,
			Imp::Sim => host_gemm::gemm(&cfg, a.host(), b.host(), c.host())?,
		}
		Ok(())
	}
}

/// A column-major gemm description (see [`Device::batched`]).
#[allow(clippy::too_many_arguments)]
pub fn gemm_cfg(
	trans_a: bool,
	trans_b: bool,
	(m, n, k): (usize, usize, usize),
	alpha: f32,
	(lda, ldb, ldc): (usize, usize, usize),
	beta: f32,
) -> GemmConfig<f32> {
	let op = |t: bool| if t { CUBLAS_OP_T } else { CUBLAS_OP_N };
	GemmConfig {
		transa: op(trans_a),
		transb: op(trans_b),
		m: int(m),
		n: int(n),
		k: int(k),
		alpha,
		lda: int(lda),
		ldb: int(ldb),
		beta,
		ldc: int(ldc),
	}
}
