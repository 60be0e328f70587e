//! `offchain-gpu miner` and `offchain-gpu validator` as an operator meets them, against a
//! real `node --dev`:
//!
//! - a miner killed between its commit and its reveal (the worst moment: the chain holds its
//!   commitment, nobody holds its blob yet) loses nothing: started again with the same state
//!   directory it publishes the committed blob for that round, and the blob in its store is
//!   the one the chain committed to;
//! - the usual mistakes (a malformed or dead node URL, a run that does not exist, an unfunded
//!   key, no secret in the environment) end the process with status 1 and one line that says
//!   what is wrong.

use std::{
	path::Path,
	process::{Child, Command},
	time::Duration,
};

use tokio::runtime::Runtime;

use offchain_gpu::{
	chain::{account_of, keypair, Chain},
	devnet::DevnetConfig,
	roles::model_preset,
	store::{gradient_key, BlobStore},
};
use system_tests::{free_port, offchain_gpu_bin, spawn_offchain_gpu, DevNode, StderrLines};
use training_model::data::shards::{self, PrepareConfig};
use training_model::data::ByteTokenizer;

const MINER_KEY: &str = "//Dave";

/// `offchain-gpu ROLE` against `url` and `run`, with its store and state under `dir` and
/// `WORKER_SECRET` set to `secret` (or unset).
fn worker_command(role: &str, url: &str, run: u32, secret: Option<&str>, dir: &Path) -> Command {
	let mut command = Command::new(offchain_gpu_bin());
	command
		.arg(role)
		.args(["--url", url, "--run", &run.to_string()])
		.arg("--store")
		.arg(dir.join("store"))
		.arg("--state-dir")
		.arg(dir.join("state"))
		// Peers' stores are local directories on this machine.
		.arg("--allow-local-stores")
		.args(["--log-format", "json"])
		.env_remove("WORKER_SECRET");
	if let Some(secret) = secret {
		command.env("WORKER_SECRET", secret);
	}
	command
}

/// A run with the devnet's parameters, created through sudo (Alice).
fn create_run(rt: &Runtime, node: &DevNode) -> (Chain, u32) {
	rt.block_on(async {
		let chain = Chain::connect(&node.ws_url(), Duration::from_secs(60)).await?;
		let (model, _) = model_preset("devnet")?;
		let params = DevnetConfig::default().run_params(model.config_hash())?;
		let (run, _) = chain.create_run(&keypair("//Alice")?, &params).await?;
		anyhow::Ok((chain, run))
	})
	.unwrap_or_else(|e| panic!("creating a run: {e:#}\nnode log:\n{}", node.log()))
}

fn start_miner(url: &str, run: u32, dir: &Path) -> (Child, StderrLines) {
	spawn_offchain_gpu(&mut worker_command("miner", url, run, Some(MINER_KEY), dir))
}

/// The fields of a JSON log line whose message is `message`.
fn event(line: &str, message: &str) -> Option<serde_json::Value> {
	let line: serde_json::Value = serde_json::from_str(line).ok()?;
	(line["fields"]["message"] == message).then(|| line["fields"].clone())
}

#[test]
fn a_miner_killed_after_committing_reveals_the_same_blob_when_restarted() {
	let node = DevNode::start();
	let url = node.ws_url();
	let dir = std::env::temp_dir().join(format!("worker-crash-{}", node.rpc_port));
	let _ = std::fs::remove_dir_all(&dir);
	let rt = Runtime::new().expect("tokio runtime");
	let (chain, run) = create_run(&rt, &node);

	// First life: register, train, commit; killed at once (the reveal waits for the commit
	// deadline, a few blocks later).
	let (mut miner, mut lines) = start_miner(&url, run, &dir);
	let committed = lines.wait_for(Duration::from_secs(180), |l| {
		event(l, "committed").and_then(|f| f["round"].as_u64())
	});
	miner.kill().expect("SIGKILL the miner");
	miner.wait().expect("reap the miner");
	lines.finish();
	let round = committed.unwrap_or_else(|| {
		panic!("the miner never committed:\n{}\nnode log:\n{}", lines.text(), node.log())
	});
	// The operator's log: every line one JSON object with a time and a level.
	for line in &lines.seen {
		let v: serde_json::Value = serde_json::from_str(line)
			.unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
		assert!(v["timestamp"].is_string() && v["level"].is_string(), "{line}");
	}
	assert!(
		!lines.seen.iter().any(|l| event(l, "revealed").is_some()),
		"the miner revealed before it was killed; the test must kill it earlier:\n{}",
		lines.text()
	);
	let pending = std::fs::read_dir(dir.join("state")).map(|d| d.count()).unwrap_or(0);
	assert_eq!(pending, 1, "the committed blob must be on disk before the reveal");

	// Second life: same key, same state directory.
	let (mut miner, mut lines) = start_miner(&url, run, &dir);
	let revealed = lines.wait_for(Duration::from_secs(180), |l| {
		event(l, "revealed")
			.filter(|f| f["round"].as_u64() == Some(round))
			.map(|f| f["published"] == true)
	});
	let _ = miner.kill();
	let _ = miner.wait();
	assert_eq!(
		revealed,
		Some(true),
		"round {round} was not published after the restart:\n{}",
		lines.text()
	);

	// The chain's commitment and the store's blob agree.
	let me = account_of(&keypair(MINER_KEY).expect("dev key"));
	let blob = rt
		.block_on(async {
			let uid = chain
				.peer(run, &me)
				.await?
				.ok_or_else(|| anyhow::anyhow!("miner not registered"))?
				.uid;
			let commitments = chain.round_commitments(run, round).await?;
			let (_, c) = commitments
				.into_iter()
				.find(|(u, _)| *u == uid)
				.ok_or_else(|| anyhow::anyhow!("no commitment of uid {uid} in round {round}"))?;
			let store = BlobStore::new(std::fs::canonicalize(dir.join("store"))?);
			let blob = store
				.get(&gradient_key(run, round, &me, &c.blob_hash), u64::from(c.blob_len))
				.await?;
			anyhow::Ok(blob.map(|b| (b, c)))
		})
		.unwrap_or_else(|e| panic!("reading the commitment and the blob: {e:#}"));
	let (blob, c) = blob.expect("the committed blob is in the miner's store");
	assert_eq!(blob.len(), c.blob_len as usize);
	assert_eq!(
		sp_crypto_hashing::blake2_256(&blob),
		c.blob_hash,
		"the published blob is not the committed one"
	);
	println!(
		"round {round}: committed, killed, restarted, published {} B matching the commitment",
		blob.len()
	);
	let _ = std::fs::remove_dir_all(&dir);
}

/// Runs a worker command to its end and returns its status code and non-empty stderr lines.
fn worker(
	role: &str,
	url: &str,
	run: u32,
	secret: Option<&str>,
	dir: &Path,
) -> (Option<i32>, Vec<String>) {
	stderr_of(&mut worker_command(role, url, run, secret, dir))
}

/// Runs `command` to its end and returns its status code and non-empty stderr lines.
fn stderr_of(command: &mut Command) -> (Option<i32>, Vec<String>) {
	let out = command.output().expect("run offchain-gpu (build the workspace first: `make build`)");
	let lines = String::from_utf8_lossy(&out.stderr)
		.lines()
		.filter(|l| !l.trim().is_empty())
		.map(str::to_owned)
		.collect();
	(out.status.code(), lines)
}

fn assert_one_line_error(what: &str, (code, lines): (Option<i32>, Vec<String>), expect: &str) {
	assert_eq!(code, Some(1), "{what}: exit status; stderr:\n{}", lines.join("\n"));
	assert_eq!(lines.len(), 1, "{what}: one line expected, got:\n{}", lines.join("\n"));
	assert!(
		lines[0].starts_with("error: ") && lines[0].contains(expect),
		"{what}: {:?} does not say {expect:?}",
		lines[0]
	);
	println!("{what}: {}", lines[0]);
}

#[test]
fn operator_mistakes_are_one_line_errors() {
	let node = DevNode::start();
	let url = node.ws_url();
	let dir = std::env::temp_dir().join(format!("worker-errors-{}", node.rpc_port));
	let (_chain, run) = create_run(&Runtime::new().expect("tokio runtime"), &node);

	assert_one_line_error(
		"malformed URL",
		worker("miner", "http://127.0.0.1:9944", run, Some("//Dave"), &dir),
		"invalid node URL",
	);
	assert_one_line_error("no secret", worker("miner", &url, run, None, &dir), "set WORKER_SECRET");
	assert_one_line_error(
		"unknown run",
		worker("validator", &url, run + 7, Some("//Ferdie"), &dir),
		&format!("run {} does not exist", run + 7),
	);
	assert_one_line_error(
		"unfunded miner key",
		worker("miner", &url, run, Some("//NobodyFundedThis"), &dir),
		"is the key funded",
	);
	assert_one_line_error(
		"unfunded validator key",
		worker("validator", &url, run, Some("//NobodyFundedThis"), &dir),
		"is the key funded",
	);
	// Data the run does not record: shards of other text.
	let other = dir.join("other-data");
	let _ = std::fs::remove_dir_all(&other);
	let cfg = PrepareConfig { shard_tokens: 1000, heldout_fraction: 0.3 };
	let text = "not the run's data\u{c}another document\u{c}held out";
	shards::prepare(&[text], &ByteTokenizer, "byte", &other, &cfg, &mut |_, _| {})
		.expect("preparing shards");
	assert_one_line_error(
		"another dataset",
		stderr_of(
			worker_command("miner", &url, run, Some("//Dave"), &dir).arg("--data").arg(&other),
		),
		"with the run's dataset",
	);
	let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_dead_node_url_is_a_one_line_error_after_the_connect_timeout() {
	let dir = std::env::temp_dir().join(format!("worker-dead-url-{}", std::process::id()));
	let url = format!("ws://127.0.0.1:{}", free_port());
	assert_one_line_error(
		"dead node",
		worker("miner", &url, 0, Some("//Dave"), &dir),
		&format!("cannot connect to the node at {url}"),
	);
	let _ = std::fs::remove_dir_all(&dir);
}

/// The value of the unlabelled metric `name` in a Prometheus text page.
fn metric(page: &str, name: &str) -> Option<f64> {
	page.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

/// `GET /metrics` on loopback `port`, or `None` while nothing answers.
fn scrape(port: u16) -> Option<String> {
	use std::io::{Read, Write};
	let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
	s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
	s.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n").ok()?;
	let mut page = String::new();
	s.read_to_string(&mut page).ok()?;
	page.starts_with("HTTP/1.1 200").then_some(page)
}

#[test]
fn a_miner_serves_prometheus_metrics_whose_round_counter_moves() {
	let node = DevNode::start();
	let url = node.ws_url();
	let dir = std::env::temp_dir().join(format!("worker-metrics-{}", node.rpc_port));
	let _ = std::fs::remove_dir_all(&dir);
	let (_chain, run) = create_run(&Runtime::new().expect("tokio runtime"), &node);
	let port = free_port();
	let (mut miner, mut lines) = spawn_offchain_gpu(
		worker_command("miner", &url, run, Some(MINER_KEY), &dir)
			.args(["--prometheus-port", &port.to_string()]),
	);
	// Two trained rounds, seen through the endpoint alone.
	let deadline = std::time::Instant::now() + Duration::from_secs(240);
	let mut seen: Vec<f64> = Vec::new();
	let mut last_page = String::new();
	while std::time::Instant::now() < deadline && seen.len() < 2 {
		if let Some(page) = scrape(port) {
			if let Some(trained) = metric(&page, "worker_rounds_trained_total") {
				if trained >= 1.0 && seen.last() != Some(&trained) {
					seen.push(trained);
				}
			}
			last_page = page;
		}
		std::thread::sleep(Duration::from_secs(2));
	}
	let _ = miner.kill();
	let _ = miner.wait();
	lines.finish();
	assert!(
		seen.len() >= 2,
		"the round counter did not move within 240 s (values {seen:?}); last page:\n{last_page}\nminer:\n{}",
		lines.text()
	);
	for name in ["worker_round", "worker_bytes_published_total", "worker_reconnects_total"] {
		assert!(metric(&last_page, name).is_some(), "{name} missing:\n{last_page}");
	}
	assert!(last_page.contains("worker_phase_seconds_total{phase=\"train\"}"), "{last_page}");
	println!("rounds trained as scraped: {seen:?}");
	let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn secrets_come_from_the_environment_or_a_private_file_only() {
	use std::os::unix::fs::PermissionsExt;
	let dir = std::env::temp_dir().join(format!("worker-secrets-{}", std::process::id()));
	std::fs::create_dir_all(&dir).expect("temp dir");
	let key = dir.join("key");
	std::fs::write(&key, "//Alice\n").expect("write the key file");
	std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).expect("chmod");
	let run = |args: &[&str]| {
		stderr_of(Command::new(offchain_gpu_bin()).args(args).env_remove("SIGNER_SECRET"))
	};
	// Nothing is contacted: the key is read before the URL is even parsed (and this one is
	// malformed, so a command that gets past the key fails at once).
	let dead = "http://127.0.0.1:1".to_owned();
	let motion = [
		"council-vote",
		"--url",
		&dead,
		"--motion",
		"0x0000000000000000000000000000000000000000000000000000000000000000",
		"--index",
		"0",
	];
	let key_file = key.to_str().expect("utf-8 path");
	let with_file = [&motion[..], &["--key-file", key_file]].concat();
	assert_one_line_error("world-readable key file", run(&with_file), "chmod 600");
	assert_one_line_error("no key", run(&motion), "set SIGNER_SECRET");
	// A secret on the command line is no option at all.
	let (code, lines) = run(&[&motion[..], &["--key", "//Alice"]].concat());
	assert_eq!(code, Some(2), "clap refuses --key: {lines:?}");
	// Private, the same file is accepted and the command gets as far as the node URL.
	std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
	assert_one_line_error("private key file", run(&with_file), "invalid node URL");
	let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_config_file_sets_flags_and_the_command_line_wins() {
	let dir = std::env::temp_dir().join(format!("worker-config-{}", std::process::id()));
	std::fs::create_dir_all(&dir).expect("temp dir");
	let config = dir.join("miner.toml");
	std::fs::write(&config, "secret_env = \"FROM_THE_FILE\"\nurl = \"http://127.0.0.1:1\"\n")
		.expect("write the config");
	let run = |extra: &[&str]| {
		stderr_of(
			Command::new(offchain_gpu_bin())
				.args(["miner", "--config", config.to_str().expect("utf-8 path")])
				.args(extra)
				.env_remove("FROM_THE_FILE")
				.env_remove("FROM_THE_LINE"),
		)
	};
	assert_one_line_error("secret variable from the file", run(&[]), "set FROM_THE_FILE");
	assert_one_line_error(
		"the command line wins",
		run(&["--secret-env", "FROM_THE_LINE"]),
		"set FROM_THE_LINE",
	);
	std::fs::write(&config, "no_such_flag = 1\n").expect("write the config");
	let (code, lines) = run(&[]);
	assert_eq!(code, Some(2), "clap refuses the unknown key: {lines:?}");
	assert!(lines.iter().any(|l| l.contains("--no-such-flag")), "{lines:?}");
	let _ = std::fs::remove_dir_all(&dir);
}
