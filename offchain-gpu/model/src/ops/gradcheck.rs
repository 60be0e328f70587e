//! Finite-difference helpers for the gradient-check tests (f64 only).

/// Deterministic values in [-1, 1) from a seed (splitmix64), so tests are reproducible.
pub fn rand_vec(len: usize, seed: u64) -> Vec<f64> {
	let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
	(0..len)
		.map(|_| {
			state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
			let mut z = state;
			z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
			z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
			z ^= z >> 31;
			(z >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
		})
		.collect()
}

/// Central differences `(f(x + h e_i) - f(x - h e_i)) / 2h` for every coordinate.
pub fn numeric_grad(x: &[f64], mut f: impl FnMut(&[f64]) -> f64) -> Vec<f64> {
	const H: f64 = 1e-5;
	let mut x = x.to_vec();
	(0..x.len())
		.map(|i| {
			let orig = x[i];
			x[i] = orig + H;
			let plus = f(&x);
			x[i] = orig - H;
			let minus = f(&x);
			x[i] = orig;
			(plus - minus) / (2.0 * H)
		})
		.collect()
}

/// Largest `|a - n| / max(|a| + |n|, 1)` over all coordinates: relative for large entries,
/// absolute for entries near zero.
pub fn max_rel_error(analytic: &[f64], numeric: &[f64]) -> f64 {
	assert_eq!(analytic.len(), numeric.len());
	analytic
		.iter()
		.zip(numeric)
		.map(|(a, n)| (a - n).abs() / (a.abs() + n.abs()).max(1.0))
		.fold(0.0, f64::max)
}

pub fn assert_grad_close(what: &str, analytic: &[f64], numeric: &[f64], tol: f64) {
	let err = max_rel_error(analytic, numeric);
	assert!(
		analytic.iter().any(|a| a.abs() > 1e-6),
		"{what}: analytic gradient is all zero, the check would be vacuous"
	);
	assert!(err < tol, "{what}: max relative error {err:e} exceeds {tol:e}");
	eprintln!("gradient check {what}: max relative error {err:e}");
}
