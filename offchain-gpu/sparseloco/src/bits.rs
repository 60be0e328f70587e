//! Little-endian bit streams: bit `i` of a stream is bit `i % 8` of byte `i / 8`, and a field
//! of `n` bits is stored least significant bit first.

/// Appends bit fields to a byte vector.
pub(crate) struct BitWriter<'a> {
	out: &'a mut Vec<u8>,
	acc: u64,
	used: u32,
}

impl<'a> BitWriter<'a> {
	pub fn new(out: &'a mut Vec<u8>) -> Self {
		Self { out, acc: 0, used: 0 }
	}

	/// Writes the low `bits` bits of `value` (`bits <= 32`, higher bits of `value` zero).
	#[inline]
	pub fn write(&mut self, value: u32, bits: u32) {
		debug_assert!(bits <= 32 && (bits == 32 || value >> bits == 0));
		self.acc |= (value as u64) << self.used;
		self.used += bits;
		if self.used >= 32 {
			self.out.extend_from_slice(&(self.acc as u32).to_le_bytes());
			self.acc >>= 32;
			self.used -= 32;
		}
	}

	/// Pads the last byte with zero bits.
	pub fn finish(self) {
		let bytes = self.used.div_ceil(8) as usize;
		self.out.extend_from_slice(&self.acc.to_le_bytes()[..bytes]);
	}
}

/// Reads bit fields from a byte slice; every read is bounds-checked.
pub(crate) struct BitReader<'a> {
	bytes: &'a [u8],
	/// Next byte to load into `buf`.
	next: usize,
	/// Loaded bits, next one lowest. Bits above `avail` may hold later stream bits too.
	buf: u64,
	avail: u32,
}

impl<'a> BitReader<'a> {
	pub fn new(bytes: &'a [u8]) -> Self {
		Self { bytes, next: 0, buf: 0, avail: 0 }
	}

	#[inline]
	fn refill(&mut self) {
		if let Some(word) = self.bytes.get(self.next..self.next + 8) {
			// Loads 8 bytes but counts only whole bytes that fit; re-loading the overlap
			// later ORs in the same bits again.
			let mut w = [0u8; 8];
			w.copy_from_slice(word);
			self.buf |= u64::from_le_bytes(w) << self.avail;
			let take = (63 - self.avail) / 8;
			self.next += take as usize;
			self.avail += take * 8;
		} else {
			while self.avail <= 56 && self.next < self.bytes.len() {
				self.buf |= (self.bytes[self.next] as u64) << self.avail;
				self.next += 1;
				self.avail += 8;
			}
		}
	}

	/// Reads `bits <= 32` bits, `None` past the end.
	#[inline]
	pub fn read(&mut self, bits: u32) -> Option<u32> {
		debug_assert!(bits <= 32);
		if self.avail < bits {
			self.refill();
			if self.avail < bits {
				return None;
			}
		}
		let v = (self.buf & ((1u64 << bits) - 1)) as u32;
		self.buf >>= bits;
		self.avail -= bits;
		Some(v)
	}

	/// True when every bit after the read position is zero (canonical padding).
	pub fn rest_is_zero(&self) -> bool {
		let pos = self.next * 8 - self.avail as usize;
		let byte = pos / 8;
		let partial_ok = match self.bytes.get(byte) {
			Some(&b) if !pos.is_multiple_of(8) => b >> (pos % 8) == 0,
			_ => true,
		};
		let full_from = byte + usize::from(!pos.is_multiple_of(8));
		partial_ok && self.bytes.get(full_from..).is_none_or(|r| r.iter().all(|&b| b == 0))
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn roundtrip_mixed_widths() {
		let fields: Vec<(u32, u32)> =
			(0..200u32).map(|i| (i.wrapping_mul(2654435761) >> (i % 32), 32 - i % 32)).collect();
		let mut out = Vec::new();
		let mut w = BitWriter::new(&mut out);
		for &(v, b) in &fields {
			w.write(v & ((1u64 << b) - 1) as u32, b);
		}
		w.finish();
		let mut r = BitReader::new(&out);
		for &(v, b) in &fields {
			assert_eq!(r.read(b), Some(v & ((1u64 << b) - 1) as u32));
		}
		assert!(r.rest_is_zero());
	}

	#[test]
	fn reads_are_bounded_and_padding_checked() {
		let bytes = [0b1010_1010u8, 0x01];
		let mut r = BitReader::new(&bytes);
		assert_eq!(r.read(4), Some(0b1010));
		assert!(!r.rest_is_zero());
		assert_eq!(r.read(9), Some(0b1_1010));
		assert!(r.rest_is_zero());
		assert_eq!(r.read(4), None);
		assert_eq!(r.read(3), Some(0));
		assert_eq!(r.read(1), None);
	}
}
