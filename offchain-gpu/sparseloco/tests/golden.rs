//! Golden test vector: the exact bytes of a tiny deterministic gradient. Any change to the
//! wire format, the tiling rule, top-k, quantization or error feedback changes them, and must
//! come with a format version bump. Regenerate deliberately with
//! `SPARSELOCO_BLESS=1 cargo test -p sparseloco --test golden`.

use sparseloco::{
	blob_hash, decode, encode, fingerprint, ChunkParams, ErrorFeedback, Header, Layout, Plan,
	SparseGradient, TensorSpec,
};

const GOLDEN: &str = include_str!("golden_v1.hex");

fn golden_blob() -> Vec<u8> {
	// 8 x 130 (tiles 8 x 26, 3 kept each), a 1-D tensor of 70 (chunks 64 + 6, 1 kept each).
	let layout =
		Layout::new(vec![TensorSpec::new("w", &[8, 130]), TensorSpec::new("b", &[70])]).unwrap();
	let plan = Plan::new(layout, ChunkParams::default()).unwrap();
	// Deterministic deltas from integer formulas, two rounds so the residual matters.
	let delta = |round: i64| -> Vec<f32> {
		(0..plan.len() as i64)
			.map(|i| (((i * 7919 + round * 104_729) % 2001) - 1000) as f32 / 1024.0)
			.collect()
	};
	let mut ef = ErrorFeedback::new(&plan, 0.95).unwrap();
	ef.compress(&plan, &delta(0)).unwrap();
	let tensors = ef.compress(&plan, &delta(1)).unwrap();
	let theta: Vec<f32> = (0..plan.len()).map(|i| i as f32 / 64.0).collect();
	let fp = fingerprint::sample(&plan, 2, &theta).unwrap();
	let grad = SparseGradient { header: Header::new(&plan, 7, 2, [0x11; 32], fp), tensors };
	let blob = encode(&plan, &grad).unwrap();
	assert_eq!(decode(&plan, &blob).unwrap(), grad);
	blob
}

fn to_hex(bytes: &[u8]) -> String {
	bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn golden_vector_v1() {
	let blob = golden_blob();
	let hex = to_hex(&blob);
	if std::env::var_os("SPARSELOCO_BLESS").is_some() {
		let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden_v1.hex");
		std::fs::write(path, format!("{hex}\n{}\n", to_hex(&blob_hash(&blob)))).unwrap();
		return;
	}
	let mut lines = GOLDEN.lines();
	assert_eq!(lines.next(), Some(hex.as_str()), "wire bytes changed");
	assert_eq!(lines.next(), Some(to_hex(&blob_hash(&blob)).as_str()), "blob hash changed");
}
