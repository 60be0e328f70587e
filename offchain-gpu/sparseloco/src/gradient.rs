//! The in-memory compressed gradient: per tensor a quantization table, the kept indices and
//! one 2-bit code per index. This is what compression produces, the wire codec serialises
//! and aggregation consumes.

use crate::codec::Header;
use crate::error::WireError;
use crate::plan::{Plan, TensorPlan};
use crate::quant::QuantTable;

/// One tensor's kept values.
///
/// Invariants (checked by [`SparseTensor::check`], guaranteed after decoding): `indices` and
/// `codes` have the plan's kept count; the indices of chunk `c` occupy
/// [`TensorPlan::kept_range`]`(c)`, lie inside that chunk and increase strictly; codes are
/// below 4; the table is finite.
#[derive(Clone, Debug, PartialEq)]
pub struct SparseTensor {
	pub table: QuantTable,
	/// Tensor-relative flat indices, chunk by chunk.
	pub indices: Vec<u32>,
	pub codes: Vec<u8>,
}

impl SparseTensor {
	/// Dequantized values, in index order.
	pub fn values(&self) -> impl ExactSizeIterator<Item = f32> + '_ {
		self.codes.iter().map(|&c| self.table.value(c))
	}

	/// Checks the invariants against tensor `t` of `plan`.
	pub fn check(&self, plan: &Plan, t: usize) -> Result<(), WireError> {
		let tp = &plan.tensors()[t];
		self.check_shape(tp, t)?;
		let mut rel = Vec::new();
		(0..tp.chunk_count()).try_for_each(|c| self.chunk_rel(tp, t, c, &mut rel))
	}

	/// Checks counts, codes and table (everything but per-chunk index placement).
	pub(crate) fn check_shape(&self, tp: &TensorPlan, t: usize) -> Result<(), WireError> {
		for got in [self.indices.len(), self.codes.len()] {
			if got != tp.kept() {
				return Err(WireError::KeptCount { tensor: t, expected: tp.kept(), got });
			}
		}
		if let Some(&code) = self.codes.iter().find(|&&c| c > 3) {
			return Err(WireError::CodeOutOfRange { tensor: t, code });
		}
		if !self.table.is_finite() {
			return Err(WireError::NonFiniteTable { tensor: t });
		}
		Ok(())
	}

	/// Replaces `out` with chunk `c`'s chunk-relative indices, checking that they lie in the
	/// chunk and increase strictly. Requires [`Self::check_shape`] to have passed.
	pub(crate) fn chunk_rel(
		&self,
		tp: &TensorPlan,
		t: usize,
		c: usize,
		out: &mut Vec<u16>,
	) -> Result<(), WireError> {
		let chunk = tp.chunk(c);
		out.clear();
		// Walk the chunk's rows as the (increasing) flat indices advance: no division.
		let mut r = 0;
		let mut row_base = chunk.row0 * chunk.stride;
		for &flat in &self.indices[tp.kept_range(c)] {
			let flat = flat as usize;
			while r < chunk.h && flat >= row_base + chunk.stride {
				r += 1;
				row_base += chunk.stride;
			}
			let col = flat.wrapping_sub(row_base);
			let in_row = r < chunk.h && (chunk.col0..chunk.col0 + chunk.w).contains(&col);
			let rel = r * chunk.w + col.wrapping_sub(chunk.col0);
			if !in_row || out.last().is_some_and(|&p| p as usize >= rel) {
				// Slow path, errors only: outside the chunk, or inside but out of order.
				return Err(match chunk.rel(flat) {
					None => WireError::IndexOutOfRange { tensor: t, chunk: c },
					Some(_) => WireError::DuplicateIndex { tensor: t, chunk: c },
				});
			}
			out.push(rel as u16);
		}
		Ok(())
	}
}

/// A compressed gradient with its header.
#[derive(Clone, Debug, PartialEq)]
pub struct SparseGradient {
	pub header: Header,
	pub tensors: Vec<SparseTensor>,
}

impl SparseGradient {
	/// Checks the header against `plan` and every tensor's invariants.
	pub fn validate(&self, plan: &Plan) -> Result<(), WireError> {
		self.header.check(plan)?;
		self.check_tensors(plan)
	}

	/// Checks every tensor's invariants (not the header).
	pub fn check_tensors(&self, plan: &Plan) -> Result<(), WireError> {
		check_tensors(plan, &self.tensors)
	}

	/// Dense reconstruction (zeros where nothing was kept). Indices outside their tensor are
	/// ignored, so this never panics even on an unvalidated gradient.
	pub fn to_dense(&self, plan: &Plan) -> Vec<f32> {
		let mut dense = vec![0.0f32; plan.len()];
		for (tp, st) in plan.tensors().iter().zip(&self.tensors) {
			let slice = &mut dense[tp.offset..tp.offset + tp.len];
			for (&i, v) in st.indices.iter().zip(st.values()) {
				if let Some(slot) = slice.get_mut(i as usize) {
					*slot = v;
				}
			}
		}
		dense
	}
}

/// Checks a list of tensors against the plan.
pub(crate) fn check_tensors(plan: &Plan, tensors: &[SparseTensor]) -> Result<(), WireError> {
	if tensors.len() != plan.tensors().len() {
		return Err(WireError::TensorCount { expected: plan.tensors().len(), got: tensors.len() });
	}
	tensors.iter().enumerate().try_for_each(|(t, st)| st.check(plan, t))
}
