//! The rotary-embedding angle tables the `rope_apply` kernel reads.

/// `cos`/`sin` of every (position, pair) angle, `[seq_len, head_dim / 2]` each: angle
/// `pos * theta^(-2i / head_dim)`, computed in f64 and rounded once to f32, exactly as
/// training-model's `RopeTable` does, so both backends rotate by identical values.
pub fn rope_tables(seq_len: usize, head_dim: usize, theta: f64) -> (Vec<f32>, Vec<f32>) {
	let half = head_dim / 2;
	let mut cos = Vec::with_capacity(seq_len * half);
	let mut sin = Vec::with_capacity(seq_len * half);
	for pos in 0..seq_len {
		for i in 0..half {
			let freq = theta.powf(-2.0 * i as f64 / head_dim as f64);
			let angle = pos as f64 * freq;
			cos.push(angle.cos() as f32);
			sin.push(angle.sin() as f32);
		}
	}
	(cos, sin)
}
