//! Bytes one replica sends, per method and round, for the communication comparison.
//!
//! - AdamW data-parallel: every inner step each replica contributes its fp32 gradient to an
//!   all-reduce, counted as `4 N` bytes per step (a ring all-reduce actually moves
//!   `2 (R - 1) / R` times that per replica, which only widens the gap).
//! - DiLoCo: one fp32 pseudo-gradient per round, `4 N` bytes.
//! - SparseLoCo: the encoded wire blob, whose length is fixed by the plan.

/// Bytes of an fp32 value on the wire.
pub const FP32_BYTES: u64 = 4;

/// A dense fp32 vector of `params` values.
pub fn dense_fp32(params: usize) -> u64 {
	params as u64 * FP32_BYTES
}

/// AdamW data-parallel, one replica, one round of `inner_steps` gradient all-reduces.
pub fn adamw_round(params: usize, inner_steps: u64) -> u64 {
	dense_fp32(params) * inner_steps
}

/// DiLoCo, one replica, one round: the dense pseudo-gradient.
pub fn diloco_round(params: usize) -> u64 {
	dense_fp32(params)
}

/// Running total of the bytes all replicas sent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ByteCounter {
	total: u64,
}

impl ByteCounter {
	pub fn add(&mut self, bytes: u64) {
		self.total += bytes;
	}

	/// All replicas together.
	#[cfg(test)]
	pub fn total(&self) -> u64 {
		self.total
	}

	/// The mean over `replicas` replicas (exact here: every replica sends the same size).
	pub fn per_replica(&self, replicas: usize) -> u64 {
		self.total / replicas.max(1) as u64
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn dense_methods_count_fp32_vectors() {
		assert_eq!(dense_fp32(1_000), 4_000);
		assert_eq!(diloco_round(1_000), 4_000);
		assert_eq!(adamw_round(1_000, 30), 120_000);
		// Over a run AdamW sends H times DiLoCo's bytes.
		assert_eq!(adamw_round(777, 15), 15 * diloco_round(777));
	}

	#[test]
	fn counter_accumulates() {
		let mut c = ByteCounter::default();
		assert_eq!(c.total(), 0);
		c.add(10);
		c.add(32);
		assert_eq!(c.total(), 42);
		assert_eq!(c.per_replica(2), 21);
		assert_eq!(c.per_replica(0), 42);
	}
}
