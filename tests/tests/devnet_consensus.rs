//! One model for every honest node, end to end: a real `node --dev`, two honest miners, a
//! late publisher (publishes its blob 6 s after the commit deadline, when some readers have
//! given up and others have not) and a miner whose store serves each blob to its first
//! reader only (`tests/src/hostile_http.rs`, `FirstReaderOnly`), two honest validators,
//! through `offchain_gpu::devnet` for 7 training rounds.
//!
//! Asserts that after every settled round that all honest nodes (both miners, both
//! validators) reported, their parameters hash the same; that at least one node's own view
//! of a round differed from the settled applied set (the attacks bit, and the node redid
//! the round); and that the honest miners are paid.

use offchain_gpu::devnet::{hostile_store_dir, run, DevnetConfig};
use offchain_gpu::roles::miner::Behaviour;
use system_tests::hostile_http::{HostileServer, Mode};
use system_tests::DevNode;

#[test]
fn honest_nodes_hold_the_same_model_after_every_settled_round() {
	let node = DevNode::start();
	let out = std::env::temp_dir().join(format!("devnet-consensus-{}", std::process::id()));
	let mut cfg = DevnetConfig {
		miners: 2,
		adversaries: vec![Behaviour::Late],
		validators: 2,
		rounds: 7,
		node_url: Some(node.ws_url()),
		out: out.clone(),
		verbose: true,
		..Default::default()
	};
	let root = hostile_store_dir(&cfg, 0).expect("local stores");
	let server =
		HostileServer::start(Mode::FirstReaderOnly { prefix: "/grads/selective/".into(), root });
	cfg.hostile_stores = vec![format!("{}/grads/selective", server.endpoint())];
	let summary = match run(cfg) {
		Ok(s) => s,
		Err(e) => panic!("devnet failed: {e:#}\nnode log:\n{}", node.log()),
	};
	let served = server.requests().iter().filter(|r| r.served).count();
	println!(
		"selective store: {} requests, {served} answered with the blob",
		server.requests().len()
	);

	let mut honest: Vec<String> = summary
		.miners
		.iter()
		.filter(|m| m.behaviour == Behaviour::Honest)
		.map(|m| format!("miner {}", m.uid))
		.collect();
	honest.extend(summary.validators.keys().map(|uid| format!("validator {uid}")));
	assert_eq!(honest.len(), 4, "{honest:?}");
	let mut compared = 0;
	for (round, models) in &summary.settled {
		let of_honest: Vec<_> = models.iter().filter(|m| honest.contains(&m.who)).collect();
		for m in models {
			println!(
				"round {round} {}: params {} replayed {}",
				m.who,
				m.params_hash[..6].iter().map(|b| format!("{b:02x}")).collect::<String>(),
				m.replayed
			);
		}
		if of_honest.len() < honest.len() {
			continue;
		}
		compared += 1;
		for m in &of_honest {
			assert_eq!(
				m.params_hash, of_honest[0].params_hash,
				"round {round}: {} and {} hold different models",
				m.who, of_honest[0].who
			);
		}
	}
	assert!(compared >= 4, "only {compared} settled rounds were reported by every honest node");
	let replays = summary.settled.values().flatten().filter(|m| m.replayed).count();
	assert!(served > 0, "the selective store never served a blob");
	assert!(
		replays > 0,
		"no node's view of a round differed from the settled set: the attacks did not bite"
	);
	for m in summary.miners.iter().filter(|m| m.behaviour == Behaviour::Honest) {
		assert!(m.total_paid > 0, "honest miner {} was not paid", m.key);
	}
	let _ = std::fs::remove_dir_all(&out);
}
