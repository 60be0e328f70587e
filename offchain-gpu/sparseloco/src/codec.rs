//! The wire format of a compressed gradient (version 1). Canonical: one gradient has exactly
//! one encoding, and every length follows from the plan, so a blob's size is known before it
//! is fetched ([`Plan::blob_len`]).
//!
//! ```text
//! header (151 bytes; fixed-width little-endian fields, i.e. the SCALE encoding of the struct)
//!   magic "SLCO" | version u16 | run u32 | round u64 | miner [u8; 32] | layout hash [u8; 32]
//!   | chunk edge u16 | k u16 | quant scheme u8 | fingerprint 16 x f32
//! then per tensor, in layout order:
//!   table    4 x f32: the value of codes 0..3
//!   codes    ceil(m / 4) bytes: 2-bit codes, 4 per byte, first code in the low bits
//!   indices  Elias-Fano per chunk (see `eliasfano`), chunks back to back as one bit stream,
//!            zero-padded to a byte at the end of the tensor
//! ```
//! All padding bits must be zero and all floats finite. The blob hash is blake2b-256 of the
//! whole blob.

use blake2::Digest;

use crate::bits::{BitReader, BitWriter};
use crate::chunk::ChunkMap;
use crate::eliasfano::{self, IndexFault};
use crate::error::WireError;
use crate::fingerprint::FINGERPRINT_LEN;
use crate::gradient::{SparseGradient, SparseTensor};
use crate::layout::Blake2b256;
use crate::plan::{Plan, TensorPlan, TABLE_BYTES};
use crate::quant::{QuantTable, LEVELS};

pub const MAGIC: [u8; 4] = *b"SLCO";
pub const FORMAT_VERSION: u16 = 1;
/// Bytes of the header.
pub const HEADER_LEN: usize = 4 + 2 + 4 + 8 + 32 + 32 + 2 + 2 + 1 + 4 * FINGERPRINT_LEN;

/// Quantization schemes known to the format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum QuantScheme {
	/// 2-bit codes with one 4-entry mean-of-bin table per tensor (see `quant`).
	TwoBitPerTensor = 1,
}

impl QuantScheme {
	fn from_byte(b: u8) -> Option<Self> {
		(b == Self::TwoBitPerTensor as u8).then_some(Self::TwoBitPerTensor)
	}
}

/// The blob header.
#[derive(Clone, Debug, PartialEq)]
pub struct Header {
	pub run: u32,
	pub round: u64,
	/// The miner's account id.
	pub miner: [u8; 32],
	pub layout_hash: [u8; 32],
	pub chunk_edge: u16,
	pub k: u16,
	pub quant: QuantScheme,
	/// Parameter samples for the sync check (see `fingerprint`).
	pub fingerprint: [f32; FINGERPRINT_LEN],
}

impl Header {
	/// A header for `plan` with the current format's choices.
	pub fn new(
		plan: &Plan,
		run: u32,
		round: u64,
		miner: [u8; 32],
		fingerprint: [f32; FINGERPRINT_LEN],
	) -> Self {
		Self {
			run,
			round,
			miner,
			layout_hash: plan.layout_hash(),
			chunk_edge: plan.params().edge,
			k: plan.params().k,
			quant: QuantScheme::TwoBitPerTensor,
			fingerprint,
		}
	}

	/// Checks that the header describes `plan` and is well formed.
	pub fn check(&self, plan: &Plan) -> Result<(), WireError> {
		if self.layout_hash != plan.layout_hash() {
			return Err(WireError::WrongLayout);
		}
		if (self.chunk_edge, self.k) != (plan.params().edge, plan.params().k) {
			return Err(WireError::WrongChunking { edge: self.chunk_edge, k: self.k });
		}
		if !self.fingerprint.iter().all(|v| v.is_finite()) {
			return Err(WireError::NonFiniteFingerprint);
		}
		Ok(())
	}

	fn write(&self, out: &mut Vec<u8>) {
		out.extend_from_slice(&MAGIC);
		out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
		out.extend_from_slice(&self.run.to_le_bytes());
		out.extend_from_slice(&self.round.to_le_bytes());
		out.extend_from_slice(&self.miner);
		out.extend_from_slice(&self.layout_hash);
		out.extend_from_slice(&self.chunk_edge.to_le_bytes());
		out.extend_from_slice(&self.k.to_le_bytes());
		out.push(self.quant as u8);
		for v in self.fingerprint {
			out.extend_from_slice(&v.to_le_bytes());
		}
	}

	fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
		if r.array::<4>()? != MAGIC {
			return Err(WireError::WrongMagic);
		}
		let version = u16::from_le_bytes(r.array()?);
		if version != FORMAT_VERSION {
			return Err(WireError::UnsupportedVersion(version));
		}
		let run = u32::from_le_bytes(r.array()?);
		let round = u64::from_le_bytes(r.array()?);
		let miner = r.array()?;
		let layout_hash = r.array()?;
		let chunk_edge = u16::from_le_bytes(r.array()?);
		let k = u16::from_le_bytes(r.array()?);
		let [scheme] = r.array()?;
		let quant =
			QuantScheme::from_byte(scheme).ok_or(WireError::UnsupportedQuantScheme(scheme))?;
		let mut fingerprint = [0f32; FINGERPRINT_LEN];
		for v in &mut fingerprint {
			*v = f32::from_le_bytes(r.array()?);
		}
		Ok(Self { run, round, miner, layout_hash, chunk_edge, k, quant, fingerprint })
	}
}

/// blake2b-256 of a whole blob (the hash committed on chain).
pub fn blob_hash(blob: &[u8]) -> [u8; 32] {
	Blake2b256::digest(blob).into()
}

/// Encodes a gradient; fails if it does not satisfy the plan (see [`SparseTensor::check`]).
pub fn encode(plan: &Plan, grad: &SparseGradient) -> Result<Vec<u8>, WireError> {
	grad.header.check(plan)?;
	if grad.tensors.len() != plan.tensors().len() {
		return Err(WireError::TensorCount {
			expected: plan.tensors().len(),
			got: grad.tensors.len(),
		});
	}
	let mut out = Vec::with_capacity(plan.blob_len());
	grad.header.write(&mut out);
	let mut rel = Vec::with_capacity(crate::topk::MAX_CHUNK);
	for (t, (tp, st)) in plan.tensors().iter().zip(&grad.tensors).enumerate() {
		st.check_shape(tp, t)?;
		for v in st.table.0 {
			out.extend_from_slice(&v.to_le_bytes());
		}
		for quad in st.codes.chunks(4) {
			out.push(quad.iter().enumerate().fold(0u8, |b, (i, &c)| b | (c << (2 * i))));
		}
		let mut w = BitWriter::new(&mut out);
		for c in 0..tp.chunk_count() {
			st.chunk_rel(tp, t, c, &mut rel)?;
			eliasfano::encode(&rel, tp.chunk(c).len(), &mut w);
		}
		w.finish();
	}
	debug_assert_eq!(out.len(), plan.blob_len());
	Ok(out)
}

/// Decodes and fully validates a blob against `plan`. Never panics; allocates only what the
/// plan prescribes (about 5 bytes per kept value), whatever the blob says.
pub fn decode(plan: &Plan, blob: &[u8]) -> Result<SparseGradient, WireError> {
	let mut r = Reader { bytes: blob, pos: 0, expected: plan.blob_len() };
	let header = Header::read(&mut r)?;
	header.check(plan)?;
	if blob.len() < plan.blob_len() {
		return Err(WireError::Truncated { expected: plan.blob_len(), got: blob.len() });
	}
	if blob.len() > plan.blob_len() {
		return Err(WireError::TrailingBytes { extra: blob.len() - plan.blob_len() });
	}
	let mut rel = Vec::with_capacity(crate::topk::MAX_CHUNK);
	let tensors = plan
		.tensors()
		.iter()
		.enumerate()
		.map(|(t, tp)| decode_tensor(&mut r, tp, t, &mut rel))
		.collect::<Result<Vec<_>, _>>()?;
	Ok(SparseGradient { header, tensors })
}

fn decode_tensor(
	r: &mut Reader<'_>,
	tp: &TensorPlan,
	t: usize,
	rel: &mut Vec<u16>,
) -> Result<SparseTensor, WireError> {
	let table_bytes: [u8; TABLE_BYTES] = r.array()?;
	let table = QuantTable(std::array::from_fn(|i| {
		f32::from_le_bytes([0, 1, 2, 3].map(|j| table_bytes[4 * i + j]))
	}));
	if !table.is_finite() {
		return Err(WireError::NonFiniteTable { tensor: t });
	}
	debug_assert_eq!(LEVELS, 4);

	let m = tp.kept();
	let code_bytes = r.take(tp.code_bytes())?;
	let mut codes = Vec::with_capacity(4 * code_bytes.len());
	for &b in code_bytes {
		codes.extend([b & 3, (b >> 2) & 3, (b >> 4) & 3, b >> 6]);
	}
	if codes[m..].iter().any(|&c| c != 0) {
		return Err(WireError::NonZeroPadding { tensor: t });
	}
	codes.truncate(m);

	let mut bits = BitReader::new(r.take(tp.index_bytes())?);
	let mut indices = Vec::with_capacity(m);
	for c in 0..tp.chunk_count() {
		let chunk = tp.chunk(c);
		rel.clear();
		eliasfano::decode(&mut bits, chunk.len(), tp.kept_range(c).len(), rel).map_err(
			|f| match f {
				IndexFault::OutOfRange => WireError::IndexOutOfRange { tensor: t, chunk: c },
				IndexFault::NotIncreasing => WireError::DuplicateIndex { tensor: t, chunk: c },
				IndexFault::Truncated | IndexFault::Malformed => {
					WireError::MalformedIndices { tensor: t, chunk: c }
				}
			},
		)?;
		let map = ChunkMap::new(chunk);
		indices.extend(rel.iter().map(|&x| map.flat(x as usize) as u32));
	}
	if !bits.rest_is_zero() {
		return Err(WireError::NonZeroPadding { tensor: t });
	}
	Ok(SparseTensor { table, indices, codes })
}

/// Bounds-checked byte cursor.
struct Reader<'a> {
	bytes: &'a [u8],
	pos: usize,
	/// Length a valid blob has, for the error message.
	expected: usize,
}

impl<'a> Reader<'a> {
	fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
		let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
		let end =
			end.ok_or(WireError::Truncated { expected: self.expected, got: self.bytes.len() })?;
		let s = &self.bytes[self.pos..end];
		self.pos = end;
		Ok(s)
	}

	fn array<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
		let mut a = [0u8; N];
		a.copy_from_slice(self.take(N)?);
		Ok(a)
	}
}
