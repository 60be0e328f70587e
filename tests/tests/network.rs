//! A network, not one node: what operators outgrow the dev chain into.
//!
//! Two authority nodes of `--chain local` (Alice and Bob) on loopback, each with its own
//! database. Three honest miners (and the devnet's monitor) talk to Alice's node, the
//! validator to Bob's: every extrinsic crosses the network before it is included. Bob's node
//! is killed and started again mid-run (GRANDPA, which needs both authorities' votes, stalls
//! while it is down). A third node, not an authority, then starts from genesis, syncs, and
//! serves a miner that joins late through it: the real `offchain-gpu miner` command.
//!
//! Checks: both authorities author blocks; the third node catches up with the finalized
//! chain; every round settles and pays every honest miner, the restart included; the late
//! miner is paid too.

use std::{process::Command, time::Duration};

use offchain_gpu::{
	chain::{account_of, keypair, Chain},
	devnet::{run, DevnetConfig},
};
use system_tests::{node_key, offchain_gpu_bin, peer_id, spawn_offchain_gpu, Deadline, DevNode};

const LATE_MINER: &str = "//Two";

/// `node --chain local` with a fixed node key and, except for the first, Alice's node as
/// boot node.
fn local_node(who: Option<&str>, key: u8, boot: Option<&str>, keep_db: bool) -> DevNode {
	let mut args: Vec<String> =
		["--chain", "local", "--node-key", &node_key(key)].map(String::from).to_vec();
	match who {
		Some(authority) => args.push(format!("--{authority}")),
		None => args.extend(["--name".to_string(), format!("observer-{key}")]),
	}
	if let Some(boot) = boot {
		args.extend(["--bootnodes".to_string(), boot.to_string()]);
	}
	let db = keep_db.then(|| DevNode::fresh_base_path(who.unwrap_or("observer")));
	DevNode::launch_with(&args, db)
}

async fn finalized(url: &str) -> anyhow::Result<u64> {
	Chain::connect(url, Duration::from_secs(60)).await?.finalized_block_number().await
}

/// Waits until the node at `url` has finalized block `number`.
async fn wait_finalized(url: &str, number: u64, what: &str) -> anyhow::Result<()> {
	let chain = Chain::connect(url, Duration::from_secs(60)).await?;
	let deadline =
		Deadline::new(format!("{what}: finalized block {number}"), Duration::from_secs(180));
	while chain.finalized_block_number().await? < number {
		deadline.check();
		tokio::time::sleep(Duration::from_millis(500)).await;
	}
	Ok(())
}

/// Waits until run 0 is in `round` or later, at offset `offset` or later.
async fn wait_for_round(url: &str, round: u64, offset: u64) -> anyhow::Result<u64> {
	let chain = Chain::connect(url, Duration::from_secs(60)).await?;
	let deadline =
		Deadline::new(format!("round {round} at offset {offset}"), Duration::from_secs(600));
	loop {
		deadline.check();
		if let Some(s) = chain.run_status(0).await? {
			if let Some(r) = s.round.filter(|r| *r > round || (*r == round && s.offset >= offset)) {
				return Ok(r);
			}
		}
		tokio::time::sleep(Duration::from_millis(300)).await;
	}
}

#[test]
fn two_authorities_train_through_a_restart_and_a_third_node_serves_a_late_miner() {
	let alice = local_node(Some("alice"), 1, None, true);
	let boot = format!("/ip4/127.0.0.1/tcp/{}/p2p/{}", alice.p2p_port, peer_id(1));
	let mut bob = local_node(Some("bob"), 2, Some(&boot), true);
	let rt = tokio::runtime::Runtime::new().expect("a tokio runtime");
	let logs = |nodes: &[(&str, &DevNode)]| {
		nodes.iter().map(|(n, node)| format!("--- {n}:\n{}", node.log())).collect::<String>()
	};
	// GRANDPA finalizes only with both votes: finality on Bob's node means the two talk.
	rt.block_on(wait_finalized(&bob.ws_url(), 3, "Bob's node"))
		.unwrap_or_else(|e| panic!("{e:#}\n{}", logs(&[("alice", &alice), ("bob", &bob)])));

	let out = std::env::temp_dir().join(format!("network-{}", std::process::id()));
	let cfg = DevnetConfig {
		miners: 3,
		validators: 1,
		rounds: 8,
		node_url: Some(alice.ws_url()),
		validator_url: Some(bob.ws_url()),
		out: out.clone(),
		..Default::default()
	};
	let devnet = std::thread::spawn(move || run(cfg));

	// Mid-round 2 (miners training, the validator scoring round 1), Bob's node goes down.
	let hit = rt
		.block_on(wait_for_round(&alice.ws_url(), 2, 4))
		.unwrap_or_else(|e| panic!("waiting for round 2: {e:#}"));
	bob.restart(Duration::from_secs(6));
	println!("Bob's node restarted in round {hit}");

	// A third node, not an authority, syncs from genesis.
	let observer = local_node(None, 3, Some(&boot), false);
	let target = rt.block_on(finalized(&alice.ws_url())).expect("Alice's finalized block");
	rt.block_on(wait_finalized(&observer.ws_url(), target, "the observer node"))
		.unwrap_or_else(|e| panic!("{e:#}\n{}", logs(&[("observer", &observer)])));
	let (best, fin) = rt
		.block_on(async {
			let chain = Chain::connect(&observer.ws_url(), Duration::from_secs(60)).await?;
			anyhow::Ok((chain.best_block_number().await?, chain.finalized_block_number().await?))
		})
		.expect("the observer's blocks");
	println!(
		"the observer node synced: best {best}, finalized {fin} (Alice had finalized {target})"
	);

	// A miner joins late through it.
	let dir = out.join("late-miner");
	let (mut late, mut late_log) = spawn_offchain_gpu(
		Command::new(offchain_gpu_bin())
			.args(["miner", "--url", &observer.ws_url(), "--run", "0"])
			.arg("--store")
			.arg(dir.join("store"))
			.arg("--state-dir")
			.arg(dir.join("state"))
			.arg("--allow-local-stores")
			.env("WORKER_SECRET", LATE_MINER),
	);

	let summary = match devnet.join().expect("the devnet thread") {
		Ok(s) => s,
		Err(e) => panic!(
			"devnet failed: {e:#}\n{}",
			logs(&[("alice", &alice), ("bob", &bob), ("observer", &observer)])
		),
	};
	let _ = late.kill();
	let _ = late.wait();
	late_log.finish();
	for line in late_log.text().lines().filter(|l| l.contains("WARN")) {
		println!("late miner: {line}");
	}
	for row in &summary.rounds {
		println!("round {}: scored {}, paid {:?}", row.round, row.scored, row.miner_paid);
	}

	for (name, node) in [("Alice", &alice), ("Bob", &bob)] {
		assert!(
			node.log().contains("Prepared block for proposing"),
			"{name}'s node authored no block"
		);
	}
	// Rounds settled before the miners' first training round pay nobody: leave them out.
	let trained: Vec<_> = summary.rounds.iter().skip_while(|r| r.scored == 0).collect();
	let rounds: Vec<u64> = trained.iter().map(|r| r.round).collect();
	assert!(rounds.len() >= 6, "settled training rounds: {rounds:?}");
	assert!(rounds.windows(2).all(|w| w[1] == w[0] + 1), "a round was skipped: {rounds:?}");
	let honest: Vec<_> = summary.miners.iter().map(|m| m.uid).collect();
	let short: Vec<u64> = trained
		.iter()
		.filter(|r| !honest.iter().all(|u| r.miner_paid.get(u).is_some_and(|p| *p > 0)))
		.map(|r| r.round)
		.collect();
	assert!(short.is_empty(), "rounds in which an honest miner went unpaid: {short:?}");

	// The late miner registered, trained and was paid, all through the observer node.
	let late_uid = rt
		.block_on(async {
			let chain = Chain::connect(&alice.ws_url(), Duration::from_secs(60)).await?;
			chain.peer(0, &account_of(&keypair(LATE_MINER)?)).await
		})
		.unwrap_or_else(|e| panic!("the late miner's registration: {e:#}\n{}", late_log.text()))
		.map(|p| p.uid)
		.unwrap_or_else(|| {
			panic!(
				"the late miner is not registered:\n{}\n{}",
				late_log.text(),
				logs(&[("observer", &observer)])
			)
		});
	assert!(
		summary.rounds.iter().any(|r| r.miner_paid.get(&late_uid).is_some_and(|p| *p > 0)),
		"the late miner (uid {late_uid}) was never paid:\n{}",
		late_log.text()
	);
	let _ = std::fs::remove_dir_all(&out);
}
