//! Hostile input: decoding arbitrary, mutated or truncated bytes never panics, never
//! allocates beyond the plan's bound, and reports a named error.

mod common;

use common::{blob, plan_strategy, Rng};
use proptest::prelude::*;
use sparseloco::codec::HEADER_LEN;
use sparseloco::{decode, encode, ChunkParams, Layout, Plan, TensorSpec, WireError};

fn plan() -> Plan {
	let layout = Layout::new(vec![
		TensorSpec::new("w", &[96, 130]),
		TensorSpec::new("b", &[70]),
		TensorSpec::new("tiny", &[3, 2]),
	])
	.unwrap();
	Plan::new(layout, ChunkParams::default()).unwrap()
}

/// Whatever happens, a blob that decodes must re-encode to the same bytes (canonical form).
fn check_canonical(plan: &Plan, bytes: &[u8]) {
	if let Ok(g) = decode(plan, bytes) {
		assert_eq!(encode(plan, &g).unwrap(), bytes, "decoded blob is not canonical");
	}
}

proptest! {
	#![proptest_config(ProptestConfig::with_cases(256))]

	#[test]
	fn random_bytes_are_rejected(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
		let plan = plan();
		prop_assert!(decode(&plan, &bytes).is_err());
	}

	#[test]
	fn random_bytes_after_a_valid_header(seed in any::<u64>(), tail in prop::collection::vec(any::<u8>(), 0..1200)) {
		let plan = plan();
		let mut bytes = blob(&plan, seed)[..HEADER_LEN].to_vec();
		bytes.extend_from_slice(&tail);
		check_canonical(&plan, &bytes);
	}

	#[test]
	fn mutations_and_truncations(
		plan in plan_strategy(),
		seed in any::<u64>(),
		flips in prop::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 0..6),
		cut in any::<prop::sample::Index>(),
		truncate in any::<bool>(),
	) {
		let mut bytes = blob(&plan, seed);
		for (at, mask) in flips {
			let i = at.index(bytes.len());
			bytes[i] ^= mask;
		}
		if truncate {
			bytes.truncate(cut.index(bytes.len()));
			prop_assert!(decode(&plan, &bytes).is_err());
		} else {
			check_canonical(&plan, &bytes);
		}
	}
}

/// A cargo-fuzz-free fuzz loop: a bounded number of random edits (byte flips, inserts,
/// deletes, splices of another blob) on valid blobs.
#[test]
fn fuzz_loop() {
	let plan = plan();
	let mut rng = Rng(0x00F0_22ED);
	let seeds: Vec<Vec<u8>> = (0..8).map(|s| blob(&plan, s)).collect();
	let mut decoded_ok = 0;
	for _ in 0..20_000 {
		let mut bytes = seeds[rng.below(seeds.len())].clone();
		for _ in 0..1 + rng.below(4) {
			let len = bytes.len().max(1);
			match rng.below(5) {
				0 | 1 => {
					let i = rng.below(len).min(bytes.len().saturating_sub(1));
					if let Some(b) = bytes.get_mut(i) {
						*b ^= 1 << rng.below(8);
					}
				}
				2 => bytes.insert(rng.below(len), rng.next_u64() as u8),
				3 => {
					if !bytes.is_empty() {
						bytes.remove(rng.below(bytes.len()));
					}
				}
				_ => {
					let other = &seeds[rng.below(seeds.len())];
					let at = rng.below(other.len());
					let n = rng.below(other.len() - at);
					let dst = rng.below(len).min(bytes.len());
					let end = (dst + n).min(bytes.len());
					bytes.splice(dst..end, other[at..at + n].iter().copied());
				}
			}
		}
		if decode(&plan, &bytes).is_ok() {
			decoded_ok += 1;
			check_canonical(&plan, &bytes);
		}
	}
	// Flips inside codes, tables or the fingerprint legitimately decode; most edits must not.
	assert!(decoded_ok > 0 && decoded_ok < 20_000);
}

#[test]
fn named_errors() {
	let plan = plan();
	let good = blob(&plan, 9);
	let tensor0 = HEADER_LEN;
	let mut b = good.clone();
	b[0] = b'X';
	assert_eq!(decode(&plan, &b), Err(WireError::WrongMagic));
	assert!(matches!(decode(&plan, &good[..3]), Err(WireError::Truncated { .. })));
	let mut b = good.clone();
	b[4] = 2;
	assert_eq!(decode(&plan, &b), Err(WireError::UnsupportedVersion(2)));
	let mut b = good.clone();
	b[4 + 2 + 4 + 8 + 32] ^= 1;
	assert_eq!(decode(&plan, &b), Err(WireError::WrongLayout));
	let mut b = good.clone();
	b[4 + 2 + 4 + 8 + 64] = 32;
	assert_eq!(decode(&plan, &b), Err(WireError::WrongChunking { edge: 32, k: 64 }));
	let mut b = good.clone();
	b[4 + 2 + 4 + 8 + 64 + 4] = 9;
	assert_eq!(decode(&plan, &b), Err(WireError::UnsupportedQuantScheme(9)));
	let mut b = good.clone();
	b[HEADER_LEN - 4..HEADER_LEN].copy_from_slice(&f32::INFINITY.to_le_bytes());
	assert_eq!(decode(&plan, &b), Err(WireError::NonFiniteFingerprint));
	assert!(matches!(decode(&plan, &good[..good.len() - 1]), Err(WireError::Truncated { .. })));
	let mut b = good.clone();
	b.push(0);
	assert_eq!(decode(&plan, &b), Err(WireError::TrailingBytes { extra: 1 }));
	let mut b = good.clone();
	b[tensor0..tensor0 + 4].copy_from_slice(&f32::NAN.to_le_bytes());
	assert_eq!(decode(&plan, &b), Err(WireError::NonFiniteTable { tensor: 0 }));

	// Tensor 0 ("w", 96 x 130): tiles 48 x 26 = 1248 elements keep 20 each, 10 chunks.
	let tp = &plan.tensors()[0];
	assert_eq!((tp.grid.tile_h, tp.grid.tile_w, tp.chunk_count(), tp.kept()), (48, 26, 10, 200));
	let codes = tensor0 + 16;
	let indices = codes + tp.code_bytes();
	// First chunk: l = 5 (20 * 32 <= 1248), 20 low fields, then a 20 + 38 + 1 = 59-bit bitmap.
	let bitmap = 20 * 5;
	let mut b = good.clone();
	// Clear all bitmap bits of chunk 0: no ones -> malformed.
	for bit in bitmap..bitmap + 59 {
		b[indices + bit / 8] &= !(1 << (bit % 8));
	}
	assert_eq!(decode(&plan, &b), Err(WireError::MalformedIndices { tensor: 0, chunk: 0 }));
	// Same high part for the first two indices and equal lows -> repeated index.
	let mut b = good.clone();
	for bit in 0..10 {
		b[indices + bit / 8] &= !(1 << (bit % 8));
	}
	for bit in bitmap..bitmap + 59 {
		let one = bit - bitmap < 20;
		let (i, m) = (indices + bit / 8, 1 << (bit % 8));
		if one {
			b[i] |= m
		} else {
			b[i] &= !m
		}
	}
	assert_eq!(decode(&plan, &b), Err(WireError::DuplicateIndex { tensor: 0, chunk: 0 }));
	// All highs at the top with maximal lows -> index >= 1248.
	let mut b = good.clone();
	for bit in 0..bitmap {
		b[indices + bit / 8] |= 1 << (bit % 8);
	}
	for bit in bitmap..bitmap + 59 {
		let one = bit - bitmap >= 39;
		let (i, m) = (indices + bit / 8, 1 << (bit % 8));
		if one {
			b[i] |= m
		} else {
			b[i] &= !m
		}
	}
	assert_eq!(decode(&plan, &b), Err(WireError::IndexOutOfRange { tensor: 0, chunk: 0 }));

	// Padding after the last code of tensor 2 ("tiny": 6 elements, 1 kept -> 3 pad codes).
	let t2 = tensor0 + plan.tensors()[0].wire_bytes() + plan.tensors()[1].wire_bytes();
	let mut b = good.clone();
	b[t2 + 16] |= 0b1100;
	assert_eq!(decode(&plan, &b), Err(WireError::NonZeroPadding { tensor: 2 }));
	// Padding after the index stream (the last byte of the blob).
	let mut b = good.clone();
	*b.last_mut().unwrap() |= 0x80;
	assert_eq!(decode(&plan, &b), Err(WireError::NonZeroPadding { tensor: 2 }));
}

#[test]
fn allocation_is_bounded_by_the_plan() {
	// A huge hostile blob is refused on its length before any per-tensor allocation, and a
	// blob for a bigger layout is refused on its layout hash.
	let plan = plan();
	let mut big = blob(&plan, 1);
	big.resize(50_000_000, 0xFF);
	assert!(matches!(decode(&plan, &big), Err(WireError::TrailingBytes { .. })));
	let other = Plan::new(
		Layout::new(vec![TensorSpec::new("w", &[4096, 4096])]).unwrap(),
		ChunkParams::default(),
	)
	.unwrap();
	assert_eq!(decode(&other, &blob(&plan, 1)), Err(WireError::WrongLayout));
}
