//! The scalar type the model is written over.
//!
//! Every layer is generic over [`Float`] so the same code runs in `f32` for training and in
//! `f64` for the finite-difference gradient checks, which need the extra precision to tell a
//! wrong derivative from rounding noise.

use std::fmt::Debug;
use std::iter::Sum;
use std::ops::{Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Sub, SubAssign};

/// A real scalar (`f32` or `f64`) with the few operations the model needs, including a
/// strided general matrix multiply.
pub trait Float:
	Copy
	+ Send
	+ Sync
	+ Default
	+ Debug
	+ PartialOrd
	+ Add<Output = Self>
	+ Sub<Output = Self>
	+ Mul<Output = Self>
	+ Div<Output = Self>
	+ Neg<Output = Self>
	+ AddAssign
	+ SubAssign
	+ MulAssign
	+ DivAssign
	+ Sum
	+ 'static
{
	const ZERO: Self;
	const ONE: Self;

	fn from_f64(v: f64) -> Self;
	fn to_f64(self) -> f64;
	fn exp(self) -> Self;
	fn ln(self) -> Self;
	fn sqrt(self) -> Self;
	fn max(self, other: Self) -> Self;

	/// `C = alpha * A * B + beta * C` with A `m x k`, B `k x n`, C `m x n`, each given by a
	/// pointer and a row and column stride (in elements).
	///
	/// # Safety
	/// Every strided element of A, B and C must lie inside a live allocation, and C must not
	/// alias A or B. Use [`crate::ops::matmul::gemm`] for the bounds-checked form.
	#[allow(clippy::too_many_arguments)]
	unsafe fn gemm_raw(
		m: usize,
		k: usize,
		n: usize,
		alpha: Self,
		a: *const Self,
		rsa: isize,
		csa: isize,
		b: *const Self,
		rsb: isize,
		csb: isize,
		beta: Self,
		c: *mut Self,
		rsc: isize,
		csc: isize,
	);
}

macro_rules! impl_float {
	($t:ty, $gemm:path) => {
		impl Float for $t {
			const ZERO: Self = 0.0;
			const ONE: Self = 1.0;

			#[inline]
			fn from_f64(v: f64) -> Self {
				v as $t
			}
			#[inline]
			fn to_f64(self) -> f64 {
				self as f64
			}
			#[inline]
			fn exp(self) -> Self {
				<$t>::exp(self)
			}
			#[inline]
			fn ln(self) -> Self {
				<$t>::ln(self)
			}
			#[inline]
			fn sqrt(self) -> Self {
				<$t>::sqrt(self)
			}
			#[inline]
			fn max(self, other: Self) -> Self {
				<$t>::max(self, other)
			}

			unsafe fn gemm_raw(
				m: usize,
				k: usize,
				n: usize,
				alpha: Self,
				a: *const Self,
				rsa: isize,
				csa: isize,
				b: *const Self,
				rsb: isize,
				csb: isize,
				beta: Self,
				c: *mut Self,
				rsc: isize,
				csc: isize,
			) {
				// SAFETY: forwarded verbatim; the caller upholds the bounds contract above.
				unsafe { $gemm(m, k, n, alpha, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc) }
			}
		}
	};
}

impl_float!(f32, matrixmultiply::sgemm);
impl_float!(f64, matrixmultiply::dgemm);
