//! Validators as strangers, end to end: a real `node --dev`, two honest miners, one honest
//! validator and one lazy validator (it evaluates a single miner and posts that one score)
//! with the same stake, through `offchain_gpu::devnet` for 6 training rounds. Every
//! validator commits to its scores before revealing them.
//!
//! Asserts that the honest validator is paid in full and the lazy one, which covers one of
//! the miners it was due to score, strictly less per unit of stake (coverage), while both
//! honest miners are paid.

use offchain_gpu::devnet::{run, DevnetConfig};
use offchain_gpu::roles::validator::Behaviour;
use system_tests::DevNode;

#[test]
fn a_lazy_validator_earns_less_per_stake_than_an_honest_one() {
	let node = DevNode::start();
	let out = std::env::temp_dir().join(format!("devnet-validators-{}", std::process::id()));
	let cfg = DevnetConfig {
		miners: 2,
		validators: 1,
		lazy_validators: 1,
		rounds: 6,
		node_url: Some(node.ws_url()),
		out: out.clone(),
		verbose: true,
		..Default::default()
	};
	let summary = match run(cfg) {
		Ok(s) => s,
		Err(e) => panic!("devnet failed: {e:#}\nnode log:\n{}", node.log()),
	};
	for (uid, v) in &summary.validators {
		println!("validator uid {uid} {} ({:?}): stake {} paid {}", v.key, v.behaviour, v.stake, v.total_paid);
	}
	let of = |b: Behaviour| summary.validators.values().find(|v| v.behaviour == b).expect("validator of the kind");
	let (honest, lazy) = (of(Behaviour::Honest), of(Behaviour::Lazy));
	assert_eq!(honest.stake, lazy.stake, "same stake, so pay compares directly");
	assert!(honest.total_paid > 0, "the honest validator was not paid");
	// Two miners were due: the lazy validator covers at most half of them.
	assert!(
		lazy.total_paid * 3 < honest.total_paid * 2,
		"lazy {} vs honest {}: coverage did not cut the lazy validator's pay",
		lazy.total_paid,
		honest.total_paid
	);
	for m in &summary.miners {
		assert!(m.total_paid > 0, "honest miner {} was not paid", m.key);
	}
	let _ = std::fs::remove_dir_all(&out);
}
