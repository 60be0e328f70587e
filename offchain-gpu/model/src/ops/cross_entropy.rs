//! Softmax cross-entropy over the vocabulary, averaged over all positions.

use rayon::prelude::*;

use crate::float::Float;

/// Turns `logits [n, vocab]` into probabilities in place and returns the mean negative
/// log-likelihood of `targets`. Targets must be `< vocab` (checked by the caller).
pub fn forward<T: Float>(logits: &mut [T], targets: &[u32], vocab: usize) -> T {
	assert_eq!(logits.len(), targets.len() * vocab);
	let total: f64 = logits
		.par_chunks_mut(vocab)
		.zip(targets.par_iter())
		.map(|(row, &target)| {
			let max = row.iter().fold(T::from_f64(f64::NEG_INFINITY), |m, &v| m.max(v));
			let target_logit = row[target as usize];
			let mut sum = T::ZERO;
			for v in row.iter_mut() {
				*v = (*v - max).exp();
				sum += *v;
			}
			let inv = T::ONE / sum;
			for v in row.iter_mut() {
				*v *= inv;
			}
			// -log p from the logits (log-sum-exp), exact even where p underflows.
			(max - target_logit + sum.ln()).to_f64()
		})
		.sum();
	T::from_f64(total / targets.len().max(1) as f64)
}

/// Backward of [`forward`] given the probabilities it left in `probs`: overwrites them
/// with `dlogits = (p - onehot(target)) / n`.
pub fn backward<T: Float>(probs: &mut [T], targets: &[u32], vocab: usize) {
	assert_eq!(probs.len(), targets.len() * vocab);
	let inv_n = T::ONE / T::from_f64(targets.len().max(1) as f64);
	probs.par_chunks_mut(vocab).zip(targets.par_iter()).for_each(|(row, &target)| {
		row[target as usize] -= T::ONE;
		for v in row.iter_mut() {
			*v *= inv_n;
		}
	});
}

#[cfg(test)]
mod tests {
	use super::*;
	use crate::ops::gradcheck::{assert_grad_close, numeric_grad, rand_vec};

	#[test]
	fn uniform_logits_give_log_vocab() {
		let mut logits = vec![0.0f64; 3 * 10];
		let loss = forward(&mut logits, &[0, 5, 9], 10);
		assert!((loss - 10f64.ln()).abs() < 1e-12);
	}

	#[test]
	fn backward_matches_finite_differences() {
		let (n, vocab) = (4, 7);
		let logits: Vec<f64> = rand_vec(n * vocab, 1).iter().map(|v| v * 3.0).collect();
		let targets = [0, 6, 3, 3];
		let loss = |x: &[f64]| forward(&mut x.to_vec(), &targets, vocab);
		let mut grad = logits.clone();
		forward(&mut grad, &targets, vocab);
		backward(&mut grad, &targets, vocab);
		assert_grad_close("cross-entropy dlogits", &grad, &numeric_grad(&logits, loss), 1e-8);
	}
}
