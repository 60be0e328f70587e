//! 2-bit quantization of a tensor's kept values with one 4-entry table per tensor, as in the
//! reference: `shift` = mean, `sigma` = unbiased standard deviation of the centred values,
//! `scale = 1.5 sigma`, `code = clamp(round(c / scale + 2), 0, 3)` (round half to even, like
//! `torch.round`), and the table entry of a code is the mean of the centred values that got
//! it, plus `shift`. Statistics are accumulated in `f64` in a fixed order, so the result is
//! bit-for-bit reproducible on every machine; the table is stored as `f32`.
//!
//! The order is the GPU's: [`LANES`] lanes each add every `LANES`-th value (codes: every
//! `LANES`-th group of four, one packed byte) from the first, then the lanes' partial sums
//! are added as a pairwise tree (lane `t` takes lane `t + stride` for stride 128, 64, .., 1).
//! That is how `kernels/sparseloco.cu` reduces with 256-thread blocks, so compression on a
//! GPU and on the CPU put the same bytes on the wire.
//!
//! Degenerate cases stay finite: one value or all values equal gives `sigma = 0`, and then
//! every code is 2 and reconstructs `shift` exactly; an empty bin's entry is `shift` (it is
//! never used for reconstruction).

/// Number of bins (2-bit codes).
pub const LEVELS: usize = 4;

/// The per-tensor reconstruction table: `table[code]` is the value a code decodes to.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QuantTable(pub [f32; LEVELS]);

impl QuantTable {
	/// Value of `code` (`code < 4`).
	#[inline]
	pub fn value(&self, code: u8) -> f32 {
		self.0[code as usize & 3]
	}

	pub fn is_finite(&self) -> bool {
		self.0.iter().all(|v| v.is_finite())
	}
}

/// Lanes of the statistics' summation order (the GPU kernels' block size).
pub const LANES: usize = 256;

/// Sum of `term(i)` for `i < n` in the lane order described in the module docs.
fn lane_sum(n: usize, term: impl Fn(usize) -> f64) -> f64 {
	let mut lanes = [0f64; LANES];
	for (i, lane) in (0..n).zip((0..LANES).cycle()) {
		lanes[lane] += term(i);
	}
	tree_sum(lanes)
}

/// The pairwise tree over the lanes' partial sums.
fn tree_sum(mut lanes: [f64; LANES]) -> f64 {
	let mut stride = LANES / 2;
	while stride > 0 {
		for t in 0..stride {
			lanes[t] += lanes[t + stride];
		}
		stride /= 2;
	}
	lanes[0]
}

/// The 2-bit code of a centred value (2 when the scale is unusable).
fn code_of(c: f64, scale: f64, usable: bool) -> u8 {
	if usable {
		(c / scale + 2.0).round_ties_even().clamp(0.0, 3.0) as u8
	} else {
		2
	}
}

/// Quantizes `values`, writing one code per value into `codes` (cleared first).
pub fn quantize(values: &[f32], codes: &mut Vec<u8>) -> QuantTable {
	codes.clear();
	if values.is_empty() {
		return QuantTable([0.0; LEVELS]);
	}
	let m = values.len() as f64;
	let shift = lane_sum(values.len(), |i| values[i] as f64) / m;
	let sum_sq = lane_sum(values.len(), |i| {
		let c = values[i] as f64 - shift;
		c * c
	});
	let sigma = if values.len() > 1 { (sum_sq / (m - 1.0)).sqrt() } else { 0.0 };
	let scale = 1.5 * sigma;
	let usable = scale > 0.0 && scale.is_finite();

	codes.extend(values.iter().map(|&v| code_of(v as f64 - shift, scale, usable)));
	// Per bin, each lane adds the centred values of its groups of four (its packed bytes).
	let mut sums = [[0f64; LANES]; LEVELS];
	let mut counts = [[0f64; LANES]; LEVELS];
	for (group, lane) in (0..values.len().div_ceil(4)).zip((0..LANES).cycle()) {
		for i in 4 * group..(4 * group + 4).min(values.len()) {
			let q = codes[i] as usize;
			sums[q][lane] += values[i] as f64 - shift;
			counts[q][lane] += 1.0;
		}
	}
	let mut table = [shift as f32; LEVELS];
	for q in 0..LEVELS {
		let count = tree_sum(counts[q]);
		if count > 0.0 {
			table[q] = (tree_sum(sums[q]) / count + shift) as f32;
		}
	}
	QuantTable(table)
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn codes_follow_the_reference_rule() {
		// mean 0, sample std of (-3, -1, 1, 3) = sqrt(20/3) ~ 2.582, scale ~ 3.873.
		let v = [-3.0f32, -1.0, 1.0, 3.0];
		let mut codes = Vec::new();
		let t = quantize(&v, &mut codes);
		// -3/3.873+2 = 1.225 -> 1; -1 -> 1.742 -> 2; 1 -> 2.258 -> 2; 3 -> 2.775 -> 3.
		assert_eq!(codes, vec![1, 2, 2, 3]);
		assert_eq!(t.0, [0.0, -3.0, 0.0, 3.0]);
	}

	#[test]
	fn asymmetric_bins_and_clamping() {
		let mut v = vec![0.0f32; 50];
		v.push(100.0);
		v.push(-100.0);
		let mut codes = Vec::new();
		let t = quantize(&v, &mut codes);
		assert!(codes.iter().all(|&c| c <= 3));
		assert_eq!(codes[50], 3);
		assert_eq!(codes[51], 0);
		assert_eq!(t.value(3), 100.0);
		assert_eq!(t.value(0), -100.0);
	}

	#[test]
	fn zero_sigma_is_exact_and_finite() {
		let mut codes = Vec::new();
		let t = quantize(&[2.5; 7], &mut codes);
		assert_eq!(codes, vec![2; 7]);
		assert!(t.is_finite());
		assert_eq!(t.value(2), 2.5);
		let t = quantize(&[-1.25], &mut codes);
		assert_eq!((codes.as_slice(), t.value(2)), ([2u8].as_slice(), -1.25));
		assert!(t.is_finite());
	}

	#[test]
	fn table_entries_are_bin_means() {
		let v: Vec<f32> = (0..1000).map(|i| ((i * 7919) % 1000) as f32 / 100.0 - 5.0).collect();
		let mut codes = Vec::new();
		let t = quantize(&v, &mut codes);
		for q in 0..4u8 {
			let bin: Vec<f64> =
				v.iter().zip(&codes).filter(|(_, &c)| c == q).map(|(&x, _)| x as f64).collect();
			if !bin.is_empty() {
				let mean = bin.iter().sum::<f64>() / bin.len() as f64;
				assert!((t.value(q) as f64 - mean).abs() < 1e-5, "bin {q}");
			}
		}
	}
}
