//! The reference system's payload as shipped, kept for comparison: per tensor the 4-entry
//! table, one byte per code and 12 bits per chunk-relative index (two indices in three bytes).
//! It carries exactly the same information as the compact format, so both must reconstruct
//! the same values bit for bit; only the size differs (1280 bits per 64-of-4096 chunk here,
//! 640 in [`crate::codec`]). No header: it exists for tests and benchmarks.

use crate::bits::{BitReader, BitWriter};
use crate::error::WireError;
use crate::gradient::{check_tensors, SparseTensor};
use crate::plan::{Plan, TABLE_BYTES};
use crate::quant::QuantTable;

/// Bits per index in the reference format.
pub const INDEX_BITS: u32 = 12;

/// Exact payload length for `plan`.
pub fn payload_len(plan: &Plan) -> usize {
	plan.tensors()
		.iter()
		.map(|tp| TABLE_BYTES + tp.kept() + (tp.kept() * INDEX_BITS as usize).div_ceil(8))
		.sum()
}

/// Encodes validated tensors in the reference layout.
pub fn encode_payload(plan: &Plan, tensors: &[SparseTensor]) -> Result<Vec<u8>, WireError> {
	check_tensors(plan, tensors)?;
	let mut out = Vec::with_capacity(payload_len(plan));
	let mut rel = Vec::new();
	for (t, (tp, st)) in plan.tensors().iter().zip(tensors).enumerate() {
		for v in st.table.0 {
			out.extend_from_slice(&v.to_le_bytes());
		}
		out.extend_from_slice(&st.codes);
		let mut w = BitWriter::new(&mut out);
		for c in 0..tp.chunk_count() {
			st.chunk_rel(tp, t, c, &mut rel)?;
			for &x in &rel {
				w.write(x as u32, INDEX_BITS);
			}
		}
		w.finish();
	}
	Ok(out)
}

/// Decodes and validates a reference payload.
pub fn decode_payload(plan: &Plan, bytes: &[u8]) -> Result<Vec<SparseTensor>, WireError> {
	let expected = payload_len(plan);
	if bytes.len() < expected {
		return Err(WireError::Truncated { expected, got: bytes.len() });
	}
	if bytes.len() > expected {
		return Err(WireError::TrailingBytes { extra: bytes.len() - expected });
	}
	let mut pos = 0;
	let mut take = |n: usize| {
		let s = &bytes[pos..pos + n];
		pos += n;
		s
	};
	let mut tensors = Vec::with_capacity(plan.tensors().len());
	for tp in plan.tensors() {
		let table_bytes = take(TABLE_BYTES);
		let table = QuantTable(std::array::from_fn(|i| {
			f32::from_le_bytes([0, 1, 2, 3].map(|j| table_bytes[4 * i + j]))
		}));
		let codes = take(tp.kept()).to_vec();
		let mut bits = BitReader::new(take((tp.kept() * INDEX_BITS as usize).div_ceil(8)));
		let mut indices = Vec::with_capacity(tp.kept());
		for c in 0..tp.chunk_count() {
			let chunk = tp.chunk(c);
			for _ in tp.kept_range(c) {
				let rel = bits.read(INDEX_BITS).unwrap_or(u32::MAX) as usize;
				// Out-of-chunk indices map to an impossible flat index, caught by the check.
				let flat = if rel < chunk.len() { chunk.flat(rel) as u32 } else { u32::MAX };
				indices.push(flat);
			}
		}
		if !bits.rest_is_zero() {
			return Err(WireError::NonZeroPadding { tensor: tensors.len() });
		}
		tensors.push(SparseTensor { table, indices, codes });
	}
	check_tensors(plan, &tensors)?;
	Ok(tensors)
}
