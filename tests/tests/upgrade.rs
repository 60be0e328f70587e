//! A runtime upgrade through the council, on a real `node --dev`:
//!
//! 1. a training run is created, then its stored `RunInfo` is rewritten in the storage-version-1
//!    layout and the pallet's storage version set back to 1 (what a chain that launched with
//!    the previous release holds);
//! 2. Alice proposes the motion `Governance.authorize_upgrade(hash)`, Bob and Charlie vote aye,
//!    Alice closes it and submits `System.apply_authorized_upgrade(code)` (all through
//!    `offchain_gpu::upgrade`, the code behind `offchain-gpu propose-upgrade`);
//! 3. the new `spec_version` is live, the v1 -> v2 -> v3 -> v4 migrations ran (storage
//!    version 4, the run decodes with its `created_at` restored, version 3's rules at their
//!    defaults and no dataset hash, and keeps being driven), and accounts that took no part
//!    are untouched.
//!
//! A second test upgrades the same way while a devnet (three miners and a validator) trains
//! on the node: the workers carry on across the upgrade without a restart, and ratings,
//! commitments and balances come through it unchanged.
//!
//! A third test starts a production chain (`node --chain production:FILE`, no sudo key):
//! sudo is refused there, and the council's motion is the path that upgrades it.
//!
//! The upgraded wasm is the same runtime built with the `upgrade-test` feature
//! (`spec_version` + 1), which the runtime's build script builds beside the node's runtime;
//! the test reads its path from `UPGRADE_WASM` (set by `make test`) or looks beside the
//! node's blob. Without it the test is skipped with a message, unless `UPGRADE_WASM` is set.

use std::{path::PathBuf, time::Duration};

use codec::{Decode, Encode};
use offchain_gpu::{
	chain::{keypair, Chain, RawCall},
	devnet::{DevnetConfig, DevnetSummary},
	upgrade::{self, ProposeUpgrade, Wasm},
};
use pallet_training::RunInfo;
use sp_crypto_hashing::{blake2_128, twox_128, twox_64};
use system_tests::{bin_dir, node_key, production_genesis_file, Deadline, DevNode};

const WASM_NAME: &str = "training_runtime_upgrade.compact.compressed.wasm";

fn upgrade_wasm() -> Option<PathBuf> {
	if let Some(path) = std::env::var_os("UPGRADE_WASM") {
		let path = PathBuf::from(path);
		assert!(path.exists(), "UPGRADE_WASM={} does not exist: run `make build`", path.display());
		return Some(path);
	}
	let path = bin_dir().join("wbuild/training-runtime").join(WASM_NAME);
	path.exists().then_some(path)
}

#[tokio::test(flavor = "multi_thread")]
async fn council_upgrade_runs_the_migration_and_keeps_balances() {
	let Some(wasm) = upgrade_wasm() else {
		eprintln!(
			"skipped: no upgrade wasm (build the runtime with `make build` or set UPGRADE_WASM)"
		);
		return;
	};
	let node = DevNode::start();
	let outcome =
		tokio::time::timeout(Duration::from_secs(300), scenario(&node.ws_url(), &wasm)).await;
	match outcome {
		Ok(Ok(())) => {}
		Ok(Err(e)) => panic!("{e:#}\nnode log:\n{}", node.log()),
		Err(_) => panic!("timed out\nnode log:\n{}", node.log()),
	}
}

#[tokio::test(flavor = "multi_thread")]
async fn a_production_chain_upgrades_through_its_council_only() {
	let Some(wasm) = upgrade_wasm() else {
		eprintln!(
			"skipped: no upgrade wasm (build the runtime with `make build` or set UPGRADE_WASM)"
		);
		return;
	};
	let dir = std::env::temp_dir().join(format!("production-upgrade-{}", std::process::id()));
	let file = production_genesis_file(&dir, &["//Alice"]);
	let args = ["--chain".to_string(), format!("production:{}", file.display())]
		.into_iter()
		.chain(["--alice", "--node-key", &node_key(0)].map(String::from))
		.collect::<Vec<_>>();
	let node = DevNode::launch_with(&args, None);
	let outcome =
		tokio::time::timeout(Duration::from_secs(300), council_only(&node.ws_url(), &wasm)).await;
	let _ = std::fs::remove_dir_all(&dir);
	match outcome {
		Ok(Ok(())) => {}
		Ok(Err(e)) => panic!("{e:#}\nnode log:\n{}", node.log()),
		Err(_) => panic!("timed out\nnode log:\n{}", node.log()),
	}
}

async fn council_only(
	url: &str,
	wasm_path: &std::path::Path,
) -> Result<(), Box<dyn std::error::Error>> {
	let chain = Chain::connect(url, Duration::from_secs(60)).await?;
	let (alice, bob, charlie) = (keypair("//Alice")?, keypair("//Bob")?, keypair("//Charlie")?);
	let wasm = Wasm::read(wasm_path)?;
	let live = chain.runtime_version().await?;

	// No account holds sudo: not Alice, who holds it on the dev chains.
	let remark = RawCall::new("System", "remark", (b"root?".to_vec(),));
	let err = chain.sudo(&alice, &remark).await.expect_err("sudo on a production chain");
	assert!(format!("{err:#}").contains("RequireSudo"), "{err:#}");
	let by_sudo = ProposeUpgrade {
		wasm: &wasm,
		key: &alice,
		sudo: true,
		approve_with: &[],
		timeout: Duration::from_secs(60),
	};
	let err = upgrade::propose_upgrade(&chain, by_sudo, &mut |line| println!("{line}"))
		.await
		.expect_err("a sudo upgrade of a production chain");
	println!("sudo upgrade refused: {err:#}");
	assert_eq!(chain.runtime_version().await?.spec_version, live.spec_version);

	// The council's motion upgrades it.
	let by_council = ProposeUpgrade {
		wasm: &wasm,
		key: &alice,
		sudo: false,
		approve_with: &[bob, charlie],
		timeout: Duration::from_secs(120),
	};
	let outcome =
		upgrade::propose_upgrade(&chain, by_council, &mut |line| println!("{line}")).await?;
	assert_eq!(outcome, upgrade::Outcome::Upgraded { spec_version: wasm.version.spec_version });
	assert_eq!(chain.runtime_version().await?.spec_version, wasm.version.spec_version);
	Ok(())
}

/// `info` encoded as storage version 1 kept runs: parameters with a dataset id instead of
/// version 4's dataset hash and without version 3's validator and blob rules, and no
/// trailing `created_at`.
fn as_version_1(info: &RunInfo<u128>) -> Vec<u8> {
	pallet_training::migrations::v2::OldRunInfo::downgrade(info.clone()).encode()
}

fn prefix(pallet: &str, item: &str) -> Vec<u8> {
	[twox_128(pallet.as_bytes()), twox_128(item.as_bytes())].concat()
}

fn runs_key(run: u32) -> Vec<u8> {
	let mut key = prefix("Training", "Runs");
	key.extend_from_slice(&twox_64(&run.encode()));
	key.extend_from_slice(&run.encode());
	key
}

fn account_key(who: &[u8; 32]) -> Vec<u8> {
	let mut key = prefix("System", "Account");
	key.extend_from_slice(&blake2_128(who));
	key.extend_from_slice(who);
	key
}

async fn raw(chain: &Chain, key: Vec<u8>) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
	let at = chain.api().at_current_block().await?;
	Ok(at.storage().fetch_raw(key).await?)
}

async fn scenario(
	url: &str,
	wasm_path: &std::path::Path,
) -> Result<(), Box<dyn std::error::Error>> {
	let chain = Chain::connect(url, Duration::from_secs(60)).await?;
	let (alice, bob, charlie) = (keypair("//Alice")?, keypair("//Bob")?, keypair("//Charlie")?);
	let wasm = Wasm::read(wasm_path)?;
	let live = chain.runtime_version().await?;
	println!(
		"live spec_version {}, wasm spec_version {}",
		live.spec_version, wasm.version.spec_version
	);
	upgrade::check_upgrade(&live, &wasm.version)?;
	assert_eq!(
		chain.pallet_storage_version("Training").await?,
		4,
		"genesis writes the in-code version"
	);

	// Bystanders: their accounts must come through the upgrade byte for byte.
	let bystanders: Vec<[u8; 32]> = ["//Dave", "//Eve", "//Ferdie"]
		.iter()
		.map(|k| keypair(k).map(|k| k.public_key().0))
		.collect::<Result<_, _>>()?;
	let mut before = Vec::new();
	for who in &bystanders {
		before.push(raw(&chain, account_key(who)).await?);
	}

	// A run, stored as a version-1 release stored it (parameters without the validator and
	// blob rules of version 3, no trailing `created_at`), at version 1.
	let params = DevnetConfig::default().run_params([1; 32])?;
	let (run, start) = chain.create_run(&alice, &params).await?;
	let current = raw(&chain, runs_key(run)).await?;
	let info = RunInfo::<u128>::decode(&mut &current[..])?;
	assert_eq!(info.created_at + 1, start);
	let v1 = as_version_1(&info);
	let items =
		vec![(runs_key(run), v1), (prefix("Training", ":__STORAGE_VERSION__:"), 1u16.encode())];
	chain.sudo(&alice, &RawCall::new("System", "set_storage", (items,))).await?;
	assert_eq!(chain.pallet_storage_version("Training").await?, 1);
	assert!(chain.run_status(run).await?.is_none(), "the v1 layout must not decode as v2");

	// The council path.
	let p = ProposeUpgrade {
		wasm: &wasm,
		key: &alice,
		sudo: false,
		approve_with: &[bob, charlie],
		timeout: Duration::from_secs(120),
	};
	let outcome = upgrade::propose_upgrade(&chain, p, &mut |line| println!("{line}")).await?;
	assert_eq!(outcome, upgrade::Outcome::Upgraded { spec_version: wasm.version.spec_version });

	// The new runtime is live and the migration ran.
	let now = chain.runtime_version().await?;
	assert_eq!(
		(now.spec_name.as_ref(), now.spec_version),
		(live.spec_name.as_ref(), wasm.version.spec_version)
	);
	assert_eq!(
		chain.pallet_storage_version("Training").await?,
		4,
		"migrations v1 -> v2 -> v3 -> v4 did not run"
	);
	// Settlements since the upgrade may have moved the bookkeeping fields; the rest is as
	// created, `created_at` is recovered from the clock, and the new rules take their
	// defaults (the devnet's, but for the blob length, which the chain cannot know: unchecked).
	let migrated = RunInfo::<u128>::decode(&mut &raw(&chain, runs_key(run)).await?[..])?;
	assert_eq!(
		migrated.params,
		pallet_training::RunParams { blob_len: 0, dataset_hash: [0; 32], ..info.params }
	);
	assert_eq!(migrated.clock, info.clock);
	assert_eq!((migrated.created_at, migrated.closed), (info.created_at, false));
	let status = chain.run_status(run).await?.ok_or("run_status after the upgrade")?;
	let deadline = Deadline::new("a block after the upgrade", Duration::from_secs(120));
	let later = loop {
		deadline.check();
		let s = chain.run_status(run).await?.ok_or("run_status")?;
		if s.now > status.now {
			break s;
		}
		tokio::time::sleep(Duration::from_millis(500)).await;
	};
	assert_eq!(later.start, start);
	assert!(later.round.is_some(), "the migrated run is not being driven");

	for (who, before) in bystanders.iter().zip(before) {
		assert_eq!(
			raw(&chain, account_key(who)).await?,
			before,
			"an account changed across the upgrade"
		);
	}

	// The same wasm again is refused before anything is submitted.
	let err = upgrade::check_upgrade(&chain.runtime_version().await?, &wasm.version).unwrap_err();
	assert!(err.to_string().contains("not higher"), "{err}");
	Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn council_upgrade_under_running_workers_keeps_training() {
	let Some(wasm) = upgrade_wasm() else {
		eprintln!(
			"skipped: no upgrade wasm (build the runtime with `make build` or set UPGRADE_WASM)"
		);
		return;
	};
	let node = DevNode::start();
	let out = std::env::temp_dir().join(format!("upgrade-devnet-{}", node.rpc_port));
	let cfg = DevnetConfig {
		node_url: Some(node.ws_url()),
		miners: 3,
		validators: 1,
		rounds: 8,
		out: out.clone(),
		..Default::default()
	};
	let devnet = std::thread::spawn(move || offchain_gpu::devnet::run(cfg));
	let upgraded =
		tokio::time::timeout(Duration::from_secs(400), live_upgrade(&node.ws_url(), &wasm)).await;
	let upgraded = match upgraded {
		Ok(Ok(round)) => round,
		Ok(Err(e)) => panic!("{e:#}\nnode log:\n{}", node.log()),
		Err(_) => panic!("timed out\nnode log:\n{}", node.log()),
	};
	let summary: DevnetSummary = match devnet.join() {
		Ok(Ok(s)) => s,
		Ok(Err(e)) => panic!("devnet failed: {e:#}\nnode log:\n{}", node.log()),
		Err(_) => panic!("devnet thread panicked"),
	};
	println!("upgraded during round {upgraded}");
	for row in &summary.rounds {
		println!(
			"round {}: held-out {:?}, scored {}, paid {:?}",
			row.round, row.heldout_loss, row.scored, row.miner_paid
		);
	}
	// Rounds that started after the one in which the code changed were trained, scored and
	// paid by the same worker processes.
	let after: Vec<_> = summary.rounds.iter().filter(|r| r.round > upgraded).collect();
	assert!(after.len() >= 2, "rounds settled after the upgrade: {}", after.len());
	for row in after {
		assert!(row.heldout_loss.is_some(), "round {} was not scored", row.round);
		assert_eq!(row.scored, 3, "round {}: miners scored", row.round);
		assert_eq!(
			row.miner_paid.len(),
			3,
			"round {}: miners paid {:?}",
			row.round,
			row.miner_paid
		);
	}
	let _ = std::fs::remove_dir_all(&out);
}

/// Waits for the devnet's run to settle two rounds (0 and 1), then upgrades through the council while
/// it trains, rewriting the run in the version-1 layout in the same block as the code so
/// that the migration has work to do. Returns the round during which the code was submitted.
///
/// That round, not the one the run is in once the upgrade is seen finalized: the code is
/// submitted four blocks before the round ends, and inclusion, finality and the checks
/// below can take longer than that on a loaded machine.
async fn live_upgrade(
	url: &str,
	wasm_path: &std::path::Path,
) -> Result<u64, Box<dyn std::error::Error>> {
	let chain = Chain::connect(url, Duration::from_secs(60)).await?;
	let (alice, bob, charlie) = (keypair("//Alice")?, keypair("//Bob")?, keypair("//Charlie")?);
	let wasm = Wasm::read(wasm_path)?;
	upgrade::check_upgrade(&chain.runtime_version().await?, &wasm.version)?;
	let run = 0;
	let deadline = Deadline::new("the run's second settlement", Duration::from_secs(600));
	let status = loop {
		deadline.check();
		match chain.run_status(run).await? {
			Some(s) if s.next_settle >= 2 => break s,
			_ => tokio::time::sleep(Duration::from_secs(1)).await,
		}
	};
	let length = u64::from(status.params.round_length);

	// Governance: Bob proposes, Bob and Charlie vote aye (two of three seats), Bob closes.
	let motion = chain
		.propose_upgrade_motion(&bob, wasm.code_hash)
		.await?
		.ok_or("motion executed at once")?;
	chain.vote_motion(&bob, motion.hash, motion.index, true).await?;
	chain.vote_motion(&charlie, motion.hash, motion.index, true).await?;
	chain.close_motion(&bob, motion.hash, motion.index, motion.length).await?;

	// Apply away from the blocks that open (offset 0) and settle (offset S) rounds.
	let quiet = u64::from(status.params.score_window) + 2;
	let deadline = Deadline::new(
		"a quiet block of the round to apply the upgrade in",
		Duration::from_secs(300),
	);
	let before = loop {
		deadline.check();
		let s = chain.run_status(run).await?.ok_or("run_status")?;
		if (s.now - s.start) % length == quiet {
			break s;
		}
		tokio::time::sleep(Duration::from_millis(300)).await;
	};
	let ratings = chain.miner_states(run).await?;
	let round = before.round.ok_or("run not started")?;
	let commitments = chain.round_commitments(run, round - 1).await?;
	assert!(!commitments.is_empty(), "no commitments in round {}", round - 1);
	let bystander = keypair("//Charlie//stash")?.public_key().0;
	let balance = raw(&chain, account_key(&bystander)).await?;
	let current = raw(&chain, runs_key(run)).await?;
	let info = RunInfo::<u128>::decode(&mut &current[..])?;
	let v1 = as_version_1(&info);
	let items =
		vec![(runs_key(run), v1), (prefix("Training", ":__STORAGE_VERSION__:"), 1u16.encode())];
	let set_storage = RawCall::new("System", "set_storage", (items,));
	let (rewrite, apply) = tokio::join!(
		chain.sudo(&alice, &set_storage),
		chain.apply_authorized_upgrade(&bob, &wasm.code)
	);
	rewrite?;
	apply?;
	chain.wait_for_spec_version(wasm.version.spec_version, Duration::from_secs(60)).await?;

	assert_eq!(chain.runtime_version().await?.spec_version, wasm.version.spec_version);
	assert_eq!(
		chain.pallet_storage_version("Training").await?,
		4,
		"migrations v1 -> v2 -> v3 -> v4 did not run"
	);
	let migrated = RunInfo::<u128>::decode(&mut &raw(&chain, runs_key(run)).await?[..])?;
	// The blob length and the dataset are unknown to the migrations (unchecked from here on);
	// the rest is kept.
	let expected = pallet_training::RunParams { blob_len: 0, dataset_hash: [0; 32], ..info.params };
	assert_eq!(
		(migrated.params, migrated.clock, migrated.created_at),
		(expected, info.clock, info.created_at)
	);
	assert_eq!(migrated.next_settle, info.next_settle, "a settlement fell into the upgrade");
	assert_eq!(chain.miner_states(run).await?, ratings, "ratings changed across the upgrade");
	assert_eq!(chain.round_commitments(run, round - 1).await?, commitments, "commitments changed");
	assert_eq!(
		raw(&chain, account_key(&bystander)).await?,
		balance,
		"a bystander's balance changed"
	);
	Ok(round)
}
