//! Stake brought just in time, end to end: a real `node --dev`, two honest miners, one honest
//! validator (150 UNIT) and a just-in-time whale (1,500 UNIT, ten times as much) that
//! registers in a round's score window after its commit deadline, flags every committed miner
//! MISSING, reveals and leaves at once, through `offchain_gpu::devnet` for 4 training rounds.
//!
//! Asserts that the whale changes no payout: both honest miners are paid in every settled
//! round, the whale's round included (had its stake counted, its MISSING flags would have
//! been the stake-weighted median and zeroed them), every validator payment went to the
//! honest validator, and that validator got its whole share of the validators' pot.

use offchain_gpu::devnet::{run, DevnetConfig};
use offchain_gpu::roles::validator::Behaviour;
use system_tests::DevNode;

#[test]
fn a_just_in_time_whale_changes_no_payout() {
	let node = DevNode::start();
	let out = std::env::temp_dir().join(format!("devnet-whale-{}", std::process::id()));
	let cfg = DevnetConfig {
		miners: 2,
		validators: 1,
		validator_adversaries: vec![Behaviour::JustInTime],
		rounds: 4,
		node_url: Some(node.ws_url()),
		out: out.clone(),
		verbose: true,
		..Default::default()
	};
	let summary = match run(cfg) {
		Ok(s) => s,
		Err(e) => panic!("devnet failed: {e:#}\nnode log:\n{}", node.log()),
	};
	let honest = summary
		.validators
		.values()
		.find(|v| v.behaviour == Behaviour::Honest)
		.expect("the honest validator");
	println!(
		"honest validator paid {}, all validators {}",
		honest.total_paid, summary.validators_paid
	);
	assert_eq!(summary.validators_paid, honest.total_paid, "the whale was paid");
	let scored: Vec<_> = summary.rounds.iter().filter(|r| r.scored > 0).collect();
	assert!(scored.len() >= 3, "only {} rounds were scored", scored.len());
	let share: u128 = scored.iter().map(|r| (r.minted + r.burned) / 2).sum();
	assert!(
		honest.total_paid + 1_000 >= share,
		"honest validator paid {} of its share {share}",
		honest.total_paid
	);
	for row in &scored {
		for m in &summary.miners {
			let paid = row.miner_paid.get(&m.uid).copied().unwrap_or(0);
			assert!(paid > 0, "miner {} was not paid in round {}", m.key, row.round);
		}
	}
	let _ = std::fs::remove_dir_all(&out);
}
