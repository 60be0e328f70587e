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
        while self.used >= 8 {
            self.out.push(self.acc as u8);
            self.acc >>= 8;
            self.used -= 8;
        }
    }

    /// Pads the last byte with zero bits.
    pub fn finish(self) {
        if self.used > 0 {
            self.out.push(self.acc as u8);
        }
    }
}

/// Reads bit fields from a byte slice; every read is bounds-checked.
pub(crate) struct BitReader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> BitReader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }

    /// Reads `bits <= 32` bits, `None` past the end.
    #[inline]
    pub fn read(&mut self, bits: u32) -> Option<u32> {
        let end = self.pos.checked_add(bits as usize)?;
        if end > self.bytes.len() * 8 {
            return None;
        }
        let byte = self.pos / 8;
        let mut word = [0u8; 8];
        let avail = (self.bytes.len() - byte).min(8);
        word[..avail].copy_from_slice(&self.bytes[byte..byte + avail]);
        let v = u64::from_le_bytes(word) >> (self.pos % 8);
        self.pos = end;
        Some((v & ((1u64 << bits) - 1)) as u32)
    }

    /// True when every bit after the read position is zero (canonical padding).
    pub fn rest_is_zero(&self) -> bool {
        let byte = self.pos / 8;
        let partial_ok = match self.bytes.get(byte) {
            Some(&b) if self.pos % 8 != 0 => b >> (self.pos % 8) == 0,
            _ => true,
        };
        let full_from = byte + usize::from(self.pos % 8 != 0);
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
