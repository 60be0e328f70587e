//! Strangers paid for what they do, end to end: a real `node --dev`, two honest miners, two
//! sybil miners (one operator, two accounts, one gradient) and a stale miner (trains once,
//! then recommits that gradient every round); two honest validators, a lazy validator (one
//! score a round) and a copycat (evaluates nothing, commits to an empty list and reveals the
//! median of the others' revealed scores in the last block of the reveal phase), all four
//! with the same stake, through `offchain_gpu::devnet` for 8 training rounds. Every
//! validator commits to its scores before revealing them.
//!
//! Asserts, per unit of stake, that both cheating validators earn strictly less than each
//! honest one and that each honest one is paid its stake's share of the validators' pot
//! (`pot x stake / bonded`, its agreement and coverage full, whatever the cheaters do);
//! that both honest miners end with positive weight and emission; that the sybil pair
//! together earns about what one honest miner does (one GPU paid at most once) and the
//! stale miner little more than its first round's pay, and ends with zero weight.

use offchain_gpu::devnet::{run, DevnetConfig};
use offchain_gpu::roles::{miner, validator::Behaviour};
use system_tests::DevNode;

#[test]
fn cheating_validators_and_miners_earn_less_than_honest_ones() {
	let node = DevNode::start();
	let out = std::env::temp_dir().join(format!("devnet-validators-{}", std::process::id()));
	let cfg = DevnetConfig {
		miners: 2,
		adversaries: vec![
			miner::Behaviour::Sybil,
			miner::Behaviour::Sybil,
			miner::Behaviour::Stale,
		],
		validators: 2,
		validator_adversaries: vec![Behaviour::Lazy, Behaviour::Copycat],
		rounds: 8,
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
		println!(
			"validator uid {uid} {} ({:?}): stake {} paid {}",
			v.key, v.behaviour, v.stake, v.total_paid
		);
	}
	for m in &summary.miners {
		println!(
			"miner uid {} {} ({}): paid {} weight {}",
			m.uid,
			m.key,
			m.behaviour.name(),
			m.total_paid,
			m.final_weight_ppb
		);
	}
	let of = |b: Behaviour| summary.validators.values().filter(move |v| v.behaviour == b);
	let honest: Vec<_> = of(Behaviour::Honest).collect();
	let cheats: Vec<_> = of(Behaviour::Lazy).chain(of(Behaviour::Copycat)).collect();
	assert_eq!((honest.len(), cheats.len()), (2, 2));
	for v in summary.validators.values() {
		assert_eq!(v.stake, honest[0].stake, "same stake, so pay compares directly");
	}
	let least_honest = honest.iter().map(|v| v.total_paid).min().unwrap_or(0);
	assert!(least_honest > 0, "an honest validator was not paid");
	for c in &cheats {
		assert!(
			c.total_paid * 3 < least_honest * 2,
			"{:?} {} vs honest {least_honest}: the cheater was not paid less",
			c.behaviour,
			c.total_paid
		);
	}
	// The honest validators' pay is their stake's share of the validators' pot (half of what
	// accrued, a quarter of it each), whatever the cheaters do: the cheaters' losses are
	// burned, not shifted. A three-quarter floor leaves room for one round a busy machine
	// made an honest validator miss.
	let share: u128 =
		summary.rounds.iter().filter(|r| r.scored > 0).map(|r| (r.minted + r.burned) / 2 / 4).sum();
	for h in &honest {
		assert!(
			h.total_paid * 4 >= share * 3,
			"honest validator paid {} of its share {share}",
			h.total_paid
		);
		assert!(
			h.total_paid <= share + 1_000,
			"honest validator paid {} beyond its share {share}",
			h.total_paid
		);
	}
	let miners_of = |b: miner::Behaviour| summary.miners.iter().filter(move |m| m.behaviour == b);
	let honest_pay: Vec<u128> = miners_of(miner::Behaviour::Honest).map(|m| m.total_paid).collect();
	for m in miners_of(miner::Behaviour::Honest) {
		assert!(
			m.total_paid > 0 && m.final_weight_ppb > 0,
			"honest miner {} not paid or zero weight",
			m.key
		);
	}
	let sybils: u128 = miners_of(miner::Behaviour::Sybil).map(|m| m.total_paid).sum();
	let best_honest = honest_pay.iter().copied().max().unwrap_or(0);
	// Committed in one block, the pair is flagged together; in two, the later one is the
	// copy. Either way one gradient is paid at most once (a quarter's margin: pay varies
	// from miner to miner).
	assert!(
		sybils * 4 <= best_honest * 5,
		"the sybil pair earned {sybils}, one honest miner {best_honest}"
	);
	for m in miners_of(miner::Behaviour::Stale) {
		assert!(
			m.total_paid * 4 < best_honest,
			"stale miner earned {} vs honest {best_honest}",
			m.total_paid
		);
		assert_eq!(m.final_weight_ppb, 0, "stale miner ends with weight");
	}
	let _ = std::fs::remove_dir_all(&out);
}
