//! Causal multi-head scaled dot-product attention over `q, k, v [batch * seq, n_heads *
//! head_dim]` (heads side by side in each row). The softmax probabilities are kept,
//! `[batch, n_heads, seq, seq]`, for the backward pass. Sequences run in parallel; within a
//! sequence each head's products are strided gemms on the `[seq, width]` buffers.

use rayon::prelude::*;

use crate::float::Float;
use crate::ops::matmul::gemm;

/// Shape of one attention call.
#[derive(Clone, Copy, Debug)]
pub struct AttnShape {
	pub batch: usize,
	pub seq: usize,
	pub n_heads: usize,
	pub head_dim: usize,
}

impl AttnShape {
	fn width(&self) -> usize {
		self.n_heads * self.head_dim
	}

	pub fn probs_len(&self) -> usize {
		self.batch * self.n_heads * self.seq * self.seq
	}

	fn scale<T: Float>(&self) -> T {
		T::ONE / T::from_f64(self.head_dim as f64).sqrt()
	}
}

/// `out[t] = sum_{s <= t} softmax_s(q_t . k_s / sqrt(head_dim)) v_s`, per sequence and head.
///
/// Scores and the weighted sum go through gemm on strided per-head views; the full
/// `seq x seq` score matrix is computed and the upper triangle masked, which wastes half the
/// score FLOPs but runs far faster than scalar loops.
pub fn forward<T: Float>(out: &mut [T], probs: &mut [T], q: &[T], k: &[T], v: &[T], sh: AttnShape) {
	let (seq, w, hd) = (sh.seq, sh.width(), sh.head_dim);
	let rows = sh.batch * seq;
	for buf in [&*out, q, k, v] {
		assert_eq!(buf.len(), rows * w);
	}
	assert_eq!(probs.len(), sh.probs_len());
	let scale = sh.scale::<T>();
	out.par_chunks_mut(seq * w)
		.zip(probs.par_chunks_mut(sh.n_heads * seq * seq))
		.enumerate()
		.for_each(|(b, (out, probs))| {
			let span = b * seq * w..(b + 1) * seq * w;
			let (q, k, v) = (&q[span.clone()], &k[span.clone()], &v[span]);
			for (h, p) in probs.chunks_mut(seq * seq).enumerate() {
				let c0 = h * hd;
				// p = scale * q_h k_h^T
				gemm(seq, hd, seq, scale, &q[c0..], (w, 1), &k[c0..], (1, w), T::ZERO, p, seq);
				for (t, row) in p.chunks_mut(seq).enumerate() {
					let max =
						row[..=t].iter().fold(T::from_f64(f64::NEG_INFINITY), |m, &x| m.max(x));
					let mut sum = T::ZERO;
					for x in &mut row[..=t] {
						*x = (*x - max).exp();
						sum += *x;
					}
					let inv = T::ONE / sum;
					for x in &mut row[..=t] {
						*x *= inv;
					}
					row[t + 1..].fill(T::ZERO);
				}
				// out_h = p v_h
				gemm(
					seq,
					seq,
					hd,
					T::ONE,
					p,
					(seq, 1),
					&v[c0..],
					(w, 1),
					T::ZERO,
					&mut out[c0..],
					w,
				);
			}
		});
}

/// Backward of [`forward`]; accumulates into `dq`, `dk`, `dv`. With `P` the saved
/// probabilities and `c = 1/sqrt(head_dim)`: `dP = dout V^T`, `dV += P^T dout`,
/// `dS = c P * (dP - rowsum(P * dP))`, `dQ += dS K`, `dK += dS^T Q` (per sequence, head).
#[allow(clippy::too_many_arguments)]
pub fn backward<T: Float>(
	dq: &mut [T],
	dk: &mut [T],
	dv: &mut [T],
	dout: &[T],
	probs: &[T],
	q: &[T],
	k: &[T],
	v: &[T],
	sh: AttnShape,
) {
	let (seq, w, hd) = (sh.seq, sh.width(), sh.head_dim);
	let rows = sh.batch * seq;
	for buf in [&*dq, &*dk, &*dv, dout, q, k, v] {
		assert_eq!(buf.len(), rows * w);
	}
	assert_eq!(probs.len(), sh.probs_len());
	let scale = sh.scale::<T>();
	dq.par_chunks_mut(seq * w)
		.zip(dk.par_chunks_mut(seq * w))
		.zip(dv.par_chunks_mut(seq * w))
		.enumerate()
		.for_each(|(b, ((dq, dk), dv))| {
			let span = b * seq * w..(b + 1) * seq * w;
			let (q, k, v, dout) =
				(&q[span.clone()], &k[span.clone()], &v[span.clone()], &dout[span]);
			let probs = &probs[b * sh.n_heads * seq * seq..(b + 1) * sh.n_heads * seq * seq];
			let mut ds = vec![T::ZERO; seq * seq];
			for (h, p) in probs.chunks(seq * seq).enumerate() {
				let c0 = h * hd;
				// dP = dout_h v_h^T, then dS in place
				gemm(
					seq,
					hd,
					seq,
					T::ONE,
					&dout[c0..],
					(w, 1),
					&v[c0..],
					(1, w),
					T::ZERO,
					&mut ds,
					seq,
				);
				for (dsr, pr) in ds.chunks_mut(seq).zip(p.chunks(seq)) {
					let mean = dsr.iter().zip(pr).map(|(&g, &p)| g * p).sum::<T>();
					for (g, &p) in dsr.iter_mut().zip(pr) {
						*g = p * (*g - mean) * scale;
					}
				}
				// dV_h += P^T dout_h ; dQ_h += dS K_h ; dK_h += dS^T Q_h
				gemm(
					seq,
					seq,
					hd,
					T::ONE,
					p,
					(1, seq),
					&dout[c0..],
					(w, 1),
					T::ONE,
					&mut dv[c0..],
					w,
				);
				gemm(
					seq,
					seq,
					hd,
					T::ONE,
					&ds,
					(seq, 1),
					&k[c0..],
					(w, 1),
					T::ONE,
					&mut dq[c0..],
					w,
				);
				gemm(
					seq,
					seq,
					hd,
					T::ONE,
					&ds,
					(1, seq),
					&q[c0..],
					(w, 1),
					T::ONE,
					&mut dk[c0..],
					w,
				);
			}
		});
}

#[cfg(test)]
mod tests {
	use super::*;
	use crate::ops::gradcheck::{assert_grad_close, numeric_grad, rand_vec};

	const SH: AttnShape = AttnShape { batch: 2, seq: 5, n_heads: 2, head_dim: 3 };

	fn run(q: &[f64], k: &[f64], v: &[f64]) -> (Vec<f64>, Vec<f64>) {
		let mut out = vec![0.0; q.len()];
		let mut probs = vec![0.0; SH.probs_len()];
		forward(&mut out, &mut probs, q, k, v, SH);
		(out, probs)
	}

	#[test]
	fn is_causal_and_rows_sum_to_one() {
		let n = SH.batch * SH.seq * SH.width();
		let (q, k, v) = (rand_vec(n, 1), rand_vec(n, 2), rand_vec(n, 3));
		let (out, probs) = run(&q, &k, &v);
		for row in probs.chunks(SH.seq) {
			assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-12);
		}
		// Changing the last position's key/value must not change earlier outputs.
		let (mut k2, mut v2) = (k.clone(), v.clone());
		let last = (SH.seq - 1) * SH.width();
		for i in last..last + SH.width() {
			k2[i] += 1.0;
			v2[i] -= 1.0;
		}
		let (out2, _) = run(&q, &k2, &v2);
		assert_eq!(&out[..last], &out2[..last]);
		assert_ne!(&out[last..last + SH.width()], &out2[last..last + SH.width()]);
	}

	#[test]
	fn backward_matches_finite_differences() {
		let n = SH.batch * SH.seq * SH.width();
		let (q, k, v) = (rand_vec(n, 4), rand_vec(n, 5), rand_vec(n, 6));
		let dy = rand_vec(n, 7);
		let loss = |q: &[f64], k: &[f64], v: &[f64]| {
			run(q, k, v).0.iter().zip(&dy).map(|(a, b)| a * b).sum::<f64>()
		};
		let (_, probs) = run(&q, &k, &v);
		let (mut dq, mut dk, mut dv) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
		backward(&mut dq, &mut dk, &mut dv, &dy, &probs, &q, &k, &v, SH);
		assert_grad_close("attention dq", &dq, &numeric_grad(&q, |x| loss(x, &k, &v)), 1e-8);
		assert_grad_close("attention dk", &dk, &numeric_grad(&k, |x| loss(&q, x, &v)), 1e-8);
		assert_grad_close("attention dv", &dv, &numeric_grad(&v, |x| loss(&q, &k, x)), 1e-8);
	}
}
