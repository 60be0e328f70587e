//! Checkpoints a minority cannot poison, end to end: a real `node --dev`, two honest miners,
//! one honest validator (150 UNIT) recording a checkpoint every second round, and a
//! checkpoint poisoner (100 UNIT) that records every round before anyone else: a poisoned
//! model (in its store, with that model's hash) in most rounds, and in the honest
//! checkpoint rounds the true hash at a URI where nothing answers. A third honest miner
//! registers at round 6 and joins late, through `offchain_gpu::devnet`. (A checkpoint is of
//! the settled model, so the one of round 2 is recorded late in round 4: a joiner at round 5
//! could just miss it and start from the initial model, which this test does not want.)
//!
//! Asserts that the late miner joined from an agreed checkpoint served by the honest
//! validator (never the poisoned one, never the dead URI), that the model it then trained
//! from is the honest validator's (sync score in full in every round it was scored), and
//! that every honest miner, the late one included, is paid.

use offchain_gpu::adversaries::validator::DEAD_CHECKPOINT_URL;
use offchain_gpu::devnet::{run, DevnetConfig};
use offchain_gpu::roles::validator::Behaviour;
use system_tests::DevNode;

#[test]
fn a_late_miner_joins_from_the_majoritys_checkpoint_despite_a_poisoner() {
	let node = DevNode::start();
	let out = std::env::temp_dir().join(format!("devnet-checkpoints-{}", std::process::id()));
	let cfg = DevnetConfig {
		miners: 2,
		late_miners: 1,
		late_round: 6,
		validators: 1,
		validator_adversaries: vec![Behaviour::PoisonCheckpoints],
		checkpoint_every: 2,
		rounds: 9,
		node_url: Some(node.ws_url()),
		out: out.clone(),
		verbose: true,
		..Default::default()
	};
	let summary = match run(cfg) {
		Ok(s) => s,
		Err(e) => panic!("devnet failed: {e:#}\nnode log:\n{}", node.log()),
	};
	for m in &summary.miners {
		println!(
			"miner uid {} {} late {}: paid {} weight {}",
			m.uid, m.key, m.late, m.total_paid, m.final_weight_ppb
		);
	}
	for j in &summary.joins {
		println!("join: {j:?}");
	}
	let late = summary.miners.iter().find(|m| m.late).expect("the late miner registered");
	let honest_store = summary
		.validators
		.values()
		.find(|v| v.behaviour == Behaviour::Honest)
		.map(|v| v.key.trim_start_matches('/').to_string())
		.expect("the honest validator");
	let joined = summary
		.joins
		.iter()
		.find(|(who, ..)| *who == format!("miner {}", late.uid))
		.unwrap_or_else(|| {
			panic!("the late miner did not join from a checkpoint: {:?}", summary.joins)
		});
	let (_, round, url, _) = joined;
	assert!(*round >= 2 && round % 2 == 0, "joined from round {round}");
	assert!(
		url.contains(&honest_store),
		"joined from {url}, not the honest validator's store {honest_store}"
	);
	assert!(!url.starts_with(DEAD_CHECKPOINT_URL));
	let synced: Vec<u32> =
		summary.rounds.iter().filter_map(|r| r.sync_ppm.get(&late.uid).copied()).collect();
	assert!(!synced.is_empty(), "the late miner was never scored");
	assert!(
		synced.iter().all(|&s| s >= 990_000),
		"the late miner's model was off: sync {synced:?}"
	);
	for m in summary.miners.iter() {
		assert!(m.total_paid > 0, "honest miner {} (late: {}) was not paid", m.key, m.late);
	}
	let _ = std::fs::remove_dir_all(&out);
}
