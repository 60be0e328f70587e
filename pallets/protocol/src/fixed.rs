//! Signed decimal fixed-point arithmetic with 18 fractional digits.
//!
//! [`Fixed`] wraps an `i128` holding `value * 10^18`. That gives a resolution of `1e-18` and a
//! range of about `±1.7e20`, enough for OpenSkill ratings (values of a few hundred at most)
//! with ten orders of magnitude to spare on the required `1e-6` relative accuracy.
//!
//! Every operation is integer-only and deterministic: products and quotients are formed
//! exactly in 256 bits and rounded once, to nearest with ties away from zero. `exp` and
//! `sqrt` are computed by hand (range reduction plus Taylor series, and integer Newton
//! iteration); their error is a few units of the last place.
//!
//! Checked operations return `None` on overflow or division by zero, like the integer
//! methods of `core`; saturating ones clamp to [`Fixed::MIN`] / [`Fixed::MAX`].

use core::fmt;

/// A signed fixed-point number: `raw / 10^18`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(
	feature = "codec",
	derive(
		codec::Encode,
		codec::Decode,
		codec::DecodeWithMemTracking,
		codec::MaxEncodedLen,
		scale_info::TypeInfo
	)
)]
pub struct Fixed(i128);

/// `10^18` as an unsigned integer, the denominator of [`Fixed`].
const SCALE_U: u128 = 1_000_000_000_000_000_000;

/// Fractional bits of the binary fixed point `exp` works in.
const FRAC_BITS: u32 = 80;
/// One in that binary fixed point.
const ONE_BIN: u128 = 1 << FRAC_BITS;
/// `ln 2 * 2^120`, rounded.
const LN_2_120: u128 = 0xb1_7217_f7d1_cf79_abc9_e3b3_9803_f2f7;

impl Fixed {
	/// Number of decimal fractional digits.
	pub const DECIMALS: u32 = 18;
	/// `10^18`, the raw value of one.
	pub const SCALE: i128 = SCALE_U as i128;
	/// Zero.
	pub const ZERO: Fixed = Fixed(0);
	/// One.
	pub const ONE: Fixed = Fixed(Self::SCALE);
	/// The largest representable value (about `1.7e20`).
	pub const MAX: Fixed = Fixed(i128::MAX);
	/// The smallest representable value (about `-1.7e20`).
	pub const MIN: Fixed = Fixed(i128::MIN);

	/// Wraps a raw value (`value * 10^18`).
	pub const fn from_raw(raw: i128) -> Self {
		Fixed(raw)
	}

	/// The raw value (`value * 10^18`).
	pub const fn into_raw(self) -> i128 {
		self.0
	}

	/// An integer. Every `i64` fits, so this cannot fail.
	pub const fn from_int(n: i64) -> Self {
		// Lossless widening; |n| * 10^18 < 2^127, so the product never saturates.
		Fixed((n as i128).saturating_mul(Self::SCALE))
	}

	/// `n / d`, rounded to nearest; `None` if `d == 0` or the result does not fit.
	pub fn from_rational(n: i128, d: i128) -> Option<Self> {
		signed_mul_div(n, Self::SCALE, d).map(Fixed)
	}

	/// A value given in parts per million (`1_000_000` is one).
	pub const fn from_ppm(ppm: i64) -> Self {
		Fixed((ppm as i128).saturating_mul(1_000_000_000_000))
	}

	/// A value given in parts per billion (`1_000_000_000` is one).
	pub const fn from_ppb(ppb: i64) -> Self {
		Fixed((ppb as i128).saturating_mul(1_000_000_000))
	}

	/// This value in parts per billion, rounded to nearest and clamped to the `i64` range.
	pub fn to_ppb(self) -> i64 {
		let scaled = round_div(self.0, 1_000_000_000);
		i64::try_from(scaled).unwrap_or(if scaled < 0 { i64::MIN } else { i64::MAX })
	}

	/// The largest integer not above this value.
	pub const fn floor_int(self) -> i128 {
		self.0.div_euclid(Self::SCALE)
	}

	/// Whether the value is below zero.
	pub const fn is_negative(self) -> bool {
		self.0 < 0
	}

	/// Whether the value is above zero.
	pub const fn is_positive(self) -> bool {
		self.0 > 0
	}

	/// `self + rhs`, `None` on overflow.
	pub fn checked_add(self, rhs: Self) -> Option<Self> {
		self.0.checked_add(rhs.0).map(Fixed)
	}

	/// `self - rhs`, `None` on overflow.
	pub fn checked_sub(self, rhs: Self) -> Option<Self> {
		self.0.checked_sub(rhs.0).map(Fixed)
	}

	/// `self * rhs` rounded to nearest, `None` on overflow.
	pub fn checked_mul(self, rhs: Self) -> Option<Self> {
		signed_mul_div(self.0, rhs.0, Self::SCALE).map(Fixed)
	}

	/// `self / rhs` rounded to nearest, `None` on overflow or when `rhs` is zero.
	pub fn checked_div(self, rhs: Self) -> Option<Self> {
		signed_mul_div(self.0, Self::SCALE, rhs.0).map(Fixed)
	}

	/// `self * n` for an integer `n`, `None` on overflow.
	pub fn checked_mul_int(self, n: i128) -> Option<Self> {
		self.0.checked_mul(n).map(Fixed)
	}

	/// `self / n` for an integer `n`, rounded to nearest; `None` if `n == 0`.
	pub fn checked_div_int(self, n: i128) -> Option<Self> {
		if n == 0 {
			return None;
		}
		signed_mul_div(self.0, 1, n).map(Fixed)
	}

	/// `-self`, `None` for [`Fixed::MIN`].
	pub fn checked_neg(self) -> Option<Self> {
		self.0.checked_neg().map(Fixed)
	}

	/// `self + rhs`, clamped to the representable range.
	pub fn saturating_add(self, rhs: Self) -> Self {
		Fixed(self.0.saturating_add(rhs.0))
	}

	/// `self - rhs`, clamped to the representable range.
	pub fn saturating_sub(self, rhs: Self) -> Self {
		Fixed(self.0.saturating_sub(rhs.0))
	}

	/// `self * rhs`, clamped to the representable range.
	pub fn saturating_mul(self, rhs: Self) -> Self {
		self.checked_mul(rhs).unwrap_or_else(|| saturate(self.0 < 0, rhs.0 < 0))
	}

	/// `self / rhs`, clamped to the representable range; division by zero saturates by the
	/// sign of `self` (and gives zero for `0 / 0`).
	pub fn saturating_div(self, rhs: Self) -> Self {
		if rhs.0 == 0 {
			return match self.0.signum() {
				0 => Fixed::ZERO,
				1 => Fixed::MAX,
				_ => Fixed::MIN,
			};
		}
		self.checked_div(rhs).unwrap_or_else(|| saturate(self.0 < 0, rhs.0 < 0))
	}

	/// `|self|`, clamped (so `MIN.saturating_abs() == MAX`).
	pub fn saturating_abs(self) -> Self {
		Fixed(self.0.saturating_abs())
	}

	/// The value clamped to `[lo, hi]` (assumes `lo <= hi`; otherwise `lo` wins).
	pub fn clamp_to(self, lo: Self, hi: Self) -> Self {
		if self < lo {
			lo
		} else if self > hi {
			hi
		} else {
			self
		}
	}

	/// `e^self`, `None` if the result exceeds the range (`self > ~46.5`). Results below half
	/// a unit of the last place round to zero.
	///
	/// The work is done in binary fixed point with 80 fractional bits: range reduction
	/// `x = k ln2 + r` with `|r| <= ln2 / 2` (`ln2` to 120 bits), a Taylor series for `e^r`
	/// until its terms vanish, then `e^x = e^r 2^k` rounded once to 18 decimals. The error
	/// is below one unit of the last place plus about `1e-22` relative.
	pub fn exp(self) -> Option<Self> {
		// e^-43 < 5e-19 rounds to zero; e^47 is above MAX.
		if self < Fixed::from_int(-43) {
			return Some(Fixed::ZERO);
		}
		if self > Fixed::from_int(47) {
			return None;
		}
		let x_abs = i128::try_from(mul_div_round(self.0.unsigned_abs(), ONE_BIN, SCALE_U)?).ok()?;
		let x = if self.0 < 0 { x_abs.checked_neg()? } else { x_abs };
		let ln2 = i128::try_from(LN_2_120.checked_add(1 << 39)? >> 40).ok()?;
		let k = signed_mul_div(x, 1, ln2)?;
		// |k| <= 68, so k * ln2 (120 bits) < 2^127.
		let k_ln2_abs =
			i128::try_from(k.unsigned_abs().checked_mul(LN_2_120)?.checked_add(1 << 39)? >> 40)
				.ok()?;
		let r = x.checked_sub(if k < 0 { k_ln2_abs.checked_neg()? } else { k_ln2_abs })?;

		let r_abs = r.unsigned_abs();
		let mut term: u128 = ONE_BIN;
		let mut sum: i128 = i128::try_from(ONE_BIN).ok()?;
		let mut n: u128 = 1;
		while term != 0 && n <= 40 {
			let (hi, lo) = mul_wide(term, r_abs);
			term = shr_round(hi, lo, FRAC_BITS)?.checked_div(n)?;
			let t = i128::try_from(term).ok()?;
			// e^-|r| alternates: odd powers of a negative r subtract.
			sum = if r < 0 && n & 1 == 1 { sum.checked_sub(t)? } else { sum.checked_add(t)? };
			n = n.saturating_add(1);
		}
		// raw = sum * 10^18 * 2^k / 2^80, with 80 - k in [12, 142].
		let (hi, lo) = mul_wide(u128::try_from(sum).ok()?, SCALE_U);
		let shift = u32::try_from(i128::from(FRAC_BITS).checked_sub(k)?).ok()?;
		i128::try_from(shr_round(hi, lo, shift)?).ok().map(Fixed)
	}

	/// `√self` rounded to nearest, `None` for negative values.
	pub fn sqrt(self) -> Option<Self> {
		if self.0 < 0 {
			return None;
		}
		// sqrt(raw / 10^18) * 10^18 = sqrt(raw * 10^18): an integer square root in 256 bits.
		let (hi, lo) = mul_wide(self.0.unsigned_abs(), SCALE_U);
		let root = isqrt_wide(hi, lo)?;
		// Round to nearest: N - root^2 > root  <=>  N >= (root + 1/2)^2 for integer N.
		let (sq_hi, sq_lo) = mul_wide(root, root);
		let (rem_lo, borrow) = lo.overflowing_sub(sq_lo);
		let rem_hi = hi.wrapping_sub(sq_hi).wrapping_sub(u128::from(borrow));
		let round_up = rem_hi > 0 || rem_lo > root;
		let root = if round_up { root.checked_add(1)? } else { root };
		i128::try_from(root).ok().map(Fixed)
	}
}

impl fmt::Display for Fixed {
	fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
		let sign = if self.0 < 0 { "-" } else { "" };
		let abs = self.0.unsigned_abs();
		write!(f, "{sign}{}.{:018}", abs / SCALE_U, abs % SCALE_U)
	}
}

/// The saturated result of a product or quotient of operands with the given signs.
fn saturate(a_negative: bool, b_negative: bool) -> Fixed {
	if a_negative != b_negative {
		Fixed::MIN
	} else {
		Fixed::MAX
	}
}

/// `n / d` for integers, rounded to nearest with ties away from zero (`d != 0` assumed by
/// callers; zero gives zero).
fn round_div(n: i128, d: i128) -> i128 {
	signed_mul_div(n, 1, d).unwrap_or(0)
}

/// `a * b / d` for signed integers with a 256-bit intermediate, rounded to nearest with ties
/// away from zero. `None` if `d == 0` or the result does not fit in an `i128`.
pub(crate) fn signed_mul_div(a: i128, b: i128, d: i128) -> Option<i128> {
	let negative = (a < 0) ^ (b < 0) ^ (d < 0);
	let magnitude = mul_div_round(a.unsigned_abs(), b.unsigned_abs(), d.unsigned_abs())?;
	if negative {
		// -2^127 is representable, so compare against its magnitude before negating.
		if magnitude > i128::MIN.unsigned_abs() {
			None
		} else {
			Some(0i128.wrapping_sub_unsigned(magnitude))
		}
	} else {
		i128::try_from(magnitude).ok()
	}
}

/// `a * b / d` rounded to nearest (ties up), `None` if `d == 0` or the quotient overflows.
pub(crate) fn mul_div_round(a: u128, b: u128, d: u128) -> Option<u128> {
	let (hi, lo) = mul_wide(a, b);
	let (q, r) = div_wide(hi, lo, d)?;
	// Round up when r >= d - r, i.e. 2r >= d, written so that it cannot overflow.
	if r >= d.saturating_sub(r) {
		q.checked_add(1)
	} else {
		Some(q)
	}
}

/// `floor(a * b / d)`, `None` if `d == 0` or the quotient overflows.
pub(crate) fn mul_div_floor(a: u128, b: u128, d: u128) -> Option<u128> {
	let (hi, lo) = mul_wide(a, b);
	div_wide(hi, lo, d).map(|(q, _)| q)
}

/// `(hi * 2^128 + lo) / 2^shift` rounded to nearest (ties up), `None` if it does not fit in
/// 128 bits or `shift` is 0 or above 255.
#[allow(clippy::arithmetic_side_effects)] // Bounds argued in the body.
fn shr_round(hi: u128, lo: u128, shift: u32) -> Option<u128> {
	if shift == 0 || shift > 255 {
		return None;
	}
	// 1 <= shift <= 255, so every shift amount below lies in 0..128.
	let floor = if shift < 128 {
		if hi >> shift != 0 {
			return None;
		}
		(hi << (128 - shift)) | (lo >> shift)
	} else {
		hi >> (shift - 128)
	};
	let half_bit =
		if shift - 1 < 128 { (lo >> (shift - 1)) & 1 } else { (hi >> (shift - 129)) & 1 };
	floor.checked_add(half_bit)
}

/// `(floor(a * b / d), a * b mod d)`, `None` if `d == 0` or the quotient overflows.
pub(crate) fn mul_div_rem(a: u128, b: u128, d: u128) -> Option<(u128, u128)> {
	let (hi, lo) = mul_wide(a, b);
	div_wide(hi, lo, d)
}

/// The full 256-bit product `a * b` as `(high, low)` halves.
#[allow(clippy::arithmetic_side_effects)] // Bounds argued in the body.
pub(crate) fn mul_wide(a: u128, b: u128) -> (u128, u128) {
	const MASK: u128 = u64::MAX as u128;
	let (a1, a0) = (a >> 64, a & MASK);
	let (b1, b0) = (b >> 64, b & MASK);
	// Each partial product of two 64-bit halves fits in 128 bits.
	let p00 = a0 * b0;
	let p01 = a0 * b1;
	let p10 = a1 * b0;
	let p11 = a1 * b1;
	// Middle column: carries collected in 128 bits cannot overflow (3 terms < 2^66 each).
	let mid = (p00 >> 64) + (p01 & MASK) + (p10 & MASK);
	let lo = (p00 & MASK) | (mid << 64);
	let hi = p11 + (p01 >> 64) + (p10 >> 64) + (mid >> 64);
	(hi, lo)
}

/// `(high * 2^128 + low) / d` as `(quotient, remainder)`; `None` if `d == 0` or the quotient
/// does not fit in 128 bits (exactly when `high >= d`).
#[allow(clippy::arithmetic_side_effects)] // Bounds argued in the body.
fn div_wide(hi: u128, lo: u128, d: u128) -> Option<(u128, u128)> {
	if d == 0 || hi >= d {
		return None;
	}
	if hi == 0 {
		return Some((lo / d, lo % d));
	}
	if d <= u64::MAX as u128 {
		// Schoolbook division by a one-limb divisor: each step divides a 128-bit value.
		let limbs = [hi >> 64, hi & u64::MAX as u128, lo >> 64, lo & u64::MAX as u128];
		let mut rem: u128 = 0;
		let mut quotient: u128 = 0;
		for limb in limbs {
			let cur = (rem << 64) | limb;
			// The quotient fits in 128 bits (hi < d), so shifting out the top limbs loses
			// only zeros.
			quotient = (quotient << 64) | (cur / d);
			rem = cur % d;
		}
		return Some((quotient, rem));
	}
	// Binary long division over the low 128 bits; the running remainder starts at `hi < d`.
	let mut rem = hi;
	let mut quotient: u128 = 0;
	for bit in (0..128).rev() {
		let carry = rem >> 127;
		rem = (rem << 1) | ((lo >> bit) & 1);
		quotient <<= 1;
		// With the carry the true remainder is >= 2^128 > d, and the wrapping subtraction
		// gives the right (small) result.
		if carry == 1 || rem >= d {
			rem = rem.wrapping_sub(d);
			quotient |= 1;
		}
	}
	Some((quotient, rem))
}

/// `floor(sqrt(n))` for a 128-bit `n`, by Newton's iteration from above.
#[allow(clippy::arithmetic_side_effects)] // Bounds argued in the body.
fn isqrt_u128(n: u128) -> u128 {
	if n < 2 {
		return n;
	}
	let bits = 128 - n.leading_zeros();
	// 2^ceil(bits/2) >= sqrt(n): Newton's iterates then decrease monotonically to the floor.
	let mut y: u128 = 1 << bits.div_ceil(2);
	loop {
		// y <= 2^64 and n / y <= 2^64 + 1 throughout, so the sum cannot overflow.
		let z = (y + n / y) / 2;
		if z >= y {
			return y;
		}
		y = z;
	}
}

/// `floor(sqrt(n))` for a 256-bit `n = hi * 2^128 + lo` below `2^254`.
#[allow(clippy::arithmetic_side_effects)] // Bounds argued in the body.
fn isqrt_wide(hi: u128, lo: u128) -> Option<u128> {
	if hi == 0 {
		return Some(isqrt_u128(lo));
	}
	let bits = 256 - hi.leading_zeros();
	let start_shift = bits.div_ceil(2);
	if start_shift >= 128 {
		return None;
	}
	let mut y: u128 = 1 << start_shift;
	loop {
		// y >= floor(sqrt(n)) >= floor(sqrt(hi) 2^64) > hi (as hi < 2^128), so the quotient
		// fits and is at most y; z below is floor((y + q) / 2) without overflow.
		let (q, _) = div_wide(hi, lo, y)?;
		let z = y / 2 + q / 2 + (y & q & 1);
		if z >= y {
			return Some(y);
		}
		y = z;
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	fn f(x: f64) -> Fixed {
		Fixed((x * 1e18).round() as i128)
	}

	fn to_f64(x: Fixed) -> f64 {
		x.0 as f64 / 1e18
	}

	fn rel_err(got: Fixed, want: f64) -> f64 {
		((to_f64(got) - want) / want).abs()
	}

	#[test]
	fn arithmetic_rounds_to_nearest() {
		let third = Fixed::ONE.checked_div(Fixed::from_int(3)).unwrap();
		assert_eq!(third.into_raw(), 333_333_333_333_333_333);
		let two_thirds = Fixed::from_int(2).checked_div(Fixed::from_int(3)).unwrap();
		assert_eq!(two_thirds.into_raw(), 666_666_666_666_666_667);
		let neg = Fixed::from_int(-2).checked_div(Fixed::from_int(3)).unwrap();
		assert_eq!(neg.into_raw(), -666_666_666_666_666_667);
		assert_eq!(Fixed::from_raw(5).checked_mul(Fixed::from_ppb(100_000_000)), Some(Fixed(1)));
		assert_eq!(Fixed::ONE.checked_div(Fixed::ZERO), None);
		assert_eq!(Fixed::MAX.checked_mul(Fixed::from_int(2)), None);
		assert_eq!(Fixed::MAX.saturating_mul(Fixed::from_int(-2)), Fixed::MIN);
		assert_eq!(Fixed::from_int(-1).saturating_div(Fixed::ZERO), Fixed::MIN);
		assert_eq!(Fixed::from_rational(1, 8), Some(Fixed::from_ppm(125_000)));
		assert_eq!(format!("{}", Fixed::from_ppm(-1_500_000)), "-1.500000000000000000");
	}

	#[test]
	fn wide_products_are_exact() {
		// 1e10 * 1e10 = 1e20 needs a 256-bit intermediate (raw 1e56).
		let big = Fixed::from_int(10_000_000_000);
		assert_eq!(
			big.checked_mul(big).unwrap().into_raw(),
			100_000_000_000_000_000_000 * Fixed::SCALE
		);
		// A divisor above 2^64 takes the long-division path.
		let x = Fixed::from_int(123_456_789).checked_div(Fixed::from_int(987)).unwrap();
		assert!(rel_err(x, 123_456_789.0 / 987.0) < 1e-15);
		let y = Fixed::from_int(1_000_000).checked_div(Fixed::from_int(300)).unwrap();
		assert!(rel_err(y, 1e6 / 300.0) < 1e-15);
	}

	#[test]
	fn exp_matches_f64() {
		let mut x = -40.0f64;
		while x <= 46.0 {
			let got = f(x).exp().unwrap();
			// Compare with the input as actually represented, not the f64 it came from.
			let want = to_f64(f(x)).exp();
			// A few units of the last place (1e-18), or 1e-15 relative for large values.
			// f64 rounding of the input (x ulp ~ 2.2e-16 x) and f64 exp dominate this; the exact checks
			// below pin the fixed-point result down further.
			let tolerance = (1e-15 + 2.3e-16 * x.abs()) * want + 3e-18;
			assert!((to_f64(got) - want).abs() <= tolerance, "exp({x}) = {got}, want {want}");
			x += 0.0137;
		}
		assert_eq!(Fixed::ZERO.exp(), Some(Fixed::ONE));
		// Exact values (50-digit decimal reference), to the last place or 1e-17 relative.
		assert_eq!(Fixed::ONE.exp().unwrap().into_raw(), 2_718_281_828_459_045_235);
		assert_eq!(Fixed::from_int(-1).exp().unwrap().into_raw(), 367_879_441_171_442_322);
		let e10 = Fixed::from_int(10).exp().unwrap().into_raw();
		assert!((e10 - 22_026_465_794_806_716_516_958i128).abs() < 220_000, "{e10}");
		let e_20 = Fixed::from_int(-20).exp().unwrap().into_raw();
		assert!((e_20 - 2_061_153_622).abs() <= 1, "{e_20}");
		assert_eq!(Fixed::from_int(-100).exp(), Some(Fixed::ZERO));
		assert_eq!(Fixed::from_int(50).exp(), None);
		assert_eq!(Fixed::MAX.exp(), None);
		assert_eq!(Fixed::MIN.exp(), Some(Fixed::ZERO));
	}

	#[test]
	fn sqrt_matches_f64() {
		let mut x = 1e-12f64;
		while x < 1e20 {
			let got = f(x).sqrt().unwrap();
			let want = to_f64(f(x)).sqrt();
			assert!((to_f64(got) - want).abs() <= 4e-16 * want + 1e-18, "sqrt({x}) = {got}");
			x *= 1.37;
		}
		assert_eq!(Fixed::from_int(4).sqrt(), Some(Fixed::from_int(2)));
		assert_eq!(Fixed::ZERO.sqrt(), Some(Fixed::ZERO));
		assert_eq!(Fixed::from_int(-1).sqrt(), None);
		// Exact rounding: sqrt(2) = 1.414213562373095048|80...
		assert_eq!(Fixed::from_int(2).sqrt().unwrap().into_raw(), 1_414_213_562_373_095_049);
		assert!(Fixed::MAX.sqrt().is_some());
	}

	proptest::proptest! {
		/// No input panics; results that exist agree with f64 arithmetic.
		#[test]
		fn operations_are_total_and_accurate(a in proptest::num::i128::ANY, b in proptest::num::i128::ANY) {
			let (x, y) = (Fixed(a), Fixed(b));
			let _ = (x.saturating_mul(y), x.saturating_div(y), x.saturating_add(y), x.saturating_sub(y));
			let _ = (x.exp(), x.sqrt(), x.to_ppb(), x.saturating_abs(), x.checked_div_int(b), x.checked_mul_int(b));
			let _ = (Fixed::from_rational(a, b), x.floor_int(), format!("{x}"));
			let (fa, fb) = (to_f64(x), to_f64(y));
			if let Some(p) = x.checked_mul(y) {
				let want = fa * fb;
				proptest::prop_assert!((to_f64(p) - want).abs() <= 1e-15 * want.abs() + 1e-18);
			}
			if let Some(q) = x.checked_div(y) {
				let want = fa / fb;
				proptest::prop_assert!((to_f64(q) - want).abs() <= 1e-15 * want.abs() + 1e-18);
			}
		}

		/// Products of moderately sized values always exist and round correctly.
		#[test]
		fn mul_of_moderate_values_is_exactly_rounded(a in -(1i128 << 100)..(1i128 << 100), b in -(1i128 << 60)..(1i128 << 60)) {
			let got = Fixed(a).checked_mul(Fixed(b)).unwrap().0;
			// |a * b| < 2^160: compare got * 10^18 with a * b within half a unit.
			let exact = (a as f64) * (b as f64) / 1e18;
			proptest::prop_assert!((got as f64 - exact).abs() <= 0.5 + exact.abs() * 1e-15);
		}
	}

	#[test]
	fn wide_division_agrees_with_u128_where_it_fits() {
		let cases = [
			(3u128, 7u128, 5u128),
			(u64::MAX as u128, 3, u64::MAX as u128 - 1),
			(1 << 100, 1 << 20, (1 << 70) + 12345),
		];
		for (a, b, d) in cases {
			let (hi, lo) = mul_wide(a, b);
			let (q, r) = div_wide(hi, lo, d).unwrap();
			// Check q * d + r == a * b in 256 bits.
			let (qh, ql) = mul_wide(q, d);
			let (sum_lo, carry) = ql.overflowing_add(r);
			assert_eq!((qh + carry as u128, sum_lo), (hi, lo));
			assert!(r < d);
		}
		assert_eq!(div_wide(1, 0, 1), None);
		assert_eq!(div_wide(0, 5, 0), None);
	}
}
