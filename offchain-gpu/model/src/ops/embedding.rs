//! Token embedding lookup (the same table serves as the tied output head).

use crate::float::Float;

/// `out[row] = table[tokens[row]]`. Tokens must be `< table.len() / d` (checked by the
/// caller).
pub fn forward<T: Float>(out: &mut [T], table: &[T], tokens: &[u32], d: usize) {
	assert_eq!(out.len(), tokens.len() * d);
	for (row, &tok) in out.chunks_mut(d).zip(tokens) {
		let t = tok as usize;
		row.copy_from_slice(&table[t * d..(t + 1) * d]);
	}
}

/// `dtable[tokens[row]] += dout[row]` (a token seen twice gets both contributions).
pub fn backward<T: Float>(dtable: &mut [T], dout: &[T], tokens: &[u32], d: usize) {
	assert_eq!(dout.len(), tokens.len() * d);
	for (row, &tok) in dout.chunks(d).zip(tokens) {
		let t = tok as usize;
		for (g, &v) in dtable[t * d..(t + 1) * d].iter_mut().zip(row) {
			*g += v;
		}
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn repeated_tokens_accumulate() {
		let table: Vec<f64> = (0..6).map(f64::from).collect();
		let mut out = vec![0.0; 6];
		forward(&mut out, &table, &[2, 0, 2], 2);
		assert_eq!(out, [4.0, 5.0, 0.0, 1.0, 4.0, 5.0]);
		let mut dtable = vec![0.0; 6];
		backward(&mut dtable, &[1.0, 1.0, 2.0, 2.0, 3.0, 3.0], &[2, 0, 2], 2);
		assert_eq!(dtable, [2.0, 2.0, 0.0, 0.0, 4.0, 4.0]);
	}
}
