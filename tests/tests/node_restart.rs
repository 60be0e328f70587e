//! A node crash mid-run: a real `node --dev` with a kept database, three honest miners and a
//! validator through `offchain_gpu::devnet`, and the node killed and started again (same
//! ports, same database) in the middle of a round, down for about three blocks.
//!
//! Every worker must reconnect on its own and carry on from its local state: the run goes on
//! to settle every round, the held-out loss still goes down, and the restart costs at most
//! one round, that is, in every settled round but one every honest miner is paid.

use std::time::Duration;

use offchain_gpu::chain::Chain;
use offchain_gpu::devnet::{run, DevnetConfig};
use system_tests::{Deadline, DevNode};

/// Waits until the run is in round `round` or later, at offset `offset`; returns the round.
async fn wait_for(url: &str, round: u64, offset: u64) -> anyhow::Result<u64> {
	let chain = Chain::connect(url, Duration::from_secs(60)).await?;
	let deadline =
		Deadline::new(format!("round {round} at offset {offset}"), Duration::from_secs(600));
	loop {
		deadline.check();
		if let Some(s) = chain.run_status(0).await? {
			if let Some(r) = s.round.filter(|r| *r >= round && s.offset >= offset) {
				return Ok(r);
			}
		}
		tokio::time::sleep(Duration::from_millis(300)).await;
	}
}

#[test]
fn devnet_survives_a_node_restart() {
	let mut node = DevNode::start_persistent();
	let out = std::env::temp_dir().join(format!("devnet-restart-{}", std::process::id()));
	let cfg = DevnetConfig {
		miners: 3,
		validators: 1,
		rounds: 6,
		node_url: Some(node.ws_url()),
		out: out.clone(),
		..Default::default()
	};
	let devnet = std::thread::spawn(move || run(cfg));
	let rt = tokio::runtime::Runtime::new().expect("a tokio runtime");
	// Mid-round (miners training, the validator scoring the round before).
	let hit = rt
		.block_on(wait_for(&node.ws_url(), 3, 5))
		.unwrap_or_else(|e| panic!("waiting for round 3: {e:#}"));
	node.restart(Duration::from_secs(9));
	println!("node restarted in round {hit}");
	let summary = match devnet.join().expect("the devnet thread") {
		Ok(s) => s,
		Err(e) => panic!("devnet failed: {e:#}\nnode log:\n{}", node.log()),
	};
	for row in &summary.rounds {
		println!(
			"round {}: held-out {:?}, paid {:?}, weights {:?}",
			row.round, row.heldout_loss, row.miner_paid, row.weights
		);
	}
	println!("{:?}", summary.overhead);

	// Rounds settled before the miners' first training round pay nobody: leave them out.
	let trained: Vec<_> = summary.rounds.iter().skip_while(|r| r.scored == 0).collect();
	let rounds: Vec<u64> = trained.iter().map(|r| r.round).collect();
	assert_eq!(rounds.len(), 6, "settled training rounds: {rounds:?}");
	assert!(rounds.windows(2).all(|w| w[1] == w[0] + 1), "a round was skipped: {rounds:?}");
	let losses: Vec<f32> = summary.rounds.iter().filter_map(|r| r.heldout_loss).collect();
	assert!(losses.len() >= 4, "held-out losses measured: {losses:?}");
	assert!(*losses.last().unwrap() < losses[0] - 0.1, "held-out loss did not go down: {losses:?}");
	let uids: Vec<_> = summary.miners.iter().map(|m| m.uid).collect();
	let short: Vec<u64> = trained
		.iter()
		.filter(|r| !uids.iter().all(|u| r.miner_paid.get(u).is_some_and(|p| *p > 0)))
		.map(|r| r.round)
		.collect();
	assert!(
		short.len() <= 1,
		"rounds in which an honest miner went unpaid: {short:?} (restart in round {hit})"
	);
	for m in &summary.miners {
		assert!(m.final_weight_ppb > 0, "miner {} ends with zero weight", m.key);
	}
	let _ = std::fs::remove_dir_all(&out);
}
