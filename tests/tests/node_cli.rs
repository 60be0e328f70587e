//! The `node` binary's command line as a user meets it: chain-spec and key subcommands, the
//! production chain spec built from an operator's genesis file, and one-line errors for a
//! missing chain, a bad chain spec or genesis file and an RPC port that is already taken.

use std::{
	net::TcpListener,
	process::{Command, Output},
	time::Duration,
};

use system_tests::{free_port, node_bin, production_genesis_file, ss58_of};

fn node(args: &[&str]) -> Output {
	Command::new(node_bin()).args(args).output().expect("run node")
}

fn stderr_lines(out: &Output) -> Vec<String> {
	String::from_utf8_lossy(&out.stderr)
		.lines()
		.filter(|l| !l.trim().is_empty())
		.map(str::to_owned)
		.collect()
}

#[test]
fn export_chain_spec_prints_the_dev_and_local_specs() {
	for (chain, id) in [("dev", "training_dev"), ("local", "training_local")] {
		let out = node(&["export-chain-spec", "--chain", chain]);
		assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
		let spec: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON spec");
		assert_eq!(spec["id"], id);
		assert_eq!(spec["properties"]["tokenSymbol"], "TRAIN");
	}
}

#[test]
fn the_production_spec_has_the_operators_authorities_and_council_and_no_sudo() {
	let dir = std::env::temp_dir().join(format!("production-spec-{}", std::process::id()));
	let file = production_genesis_file(&dir, &["//Alice", "//Bob"]);
	let chain = format!("production:{}", file.display());
	let out = node(&["export-chain-spec", "--chain", &chain]);
	assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
	let spec: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON spec");
	assert_eq!((&spec["id"], &spec["chainType"]), (&"training_test".into(), &"Live".into()));
	assert_eq!(spec["protocolId"], "trtest");
	let patch = &spec["genesis"]["runtimeGenesis"]["patch"];
	assert!(patch["sudo"]["key"].is_null(), "a production chain has no sudo key: {patch:#}");
	let council: Vec<String> =
		["//Alice", "//Bob", "//Charlie"].map(|s| ss58_of("sr25519", s)).into();
	let members: Vec<String> = patch["council"]["members"]
		.as_array()
		.expect("council members")
		.iter()
		.map(|m| m.as_str().expect("an address").to_string())
		.collect();
	assert_eq!(members, council);
	let aura = patch["aura"]["authorities"].as_array().expect("aura authorities");
	assert_eq!(aura.len(), 2);
	assert_eq!(aura[1], ss58_of("sr25519", "//Bob").as_str());
	assert_eq!(patch["grandpa"]["authorities"][0][0], ss58_of("ed25519", "//Alice").as_str());
	assert_eq!(patch["balances"]["balances"].as_array().map(Vec::len), Some(6));

	// The raw spec builds (the runtime accepts the genesis).
	let out = node(&["build-spec", "--chain", &chain, "--raw", "--disable-default-bootnode"]);
	assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

	// Mistakes in the file are one line that names the file and the field.
	let text = std::fs::read_to_string(&file).unwrap();
	let broken = text.replace(&ss58_of("sr25519", "//Charlie"), "5NotAnAddress");
	std::fs::write(&file, broken).unwrap();
	let out = node(&["export-chain-spec", "--chain", &chain]);
	assert_eq!(out.status.code(), Some(1));
	let lines = stderr_lines(&out);
	assert_eq!(lines.len(), 1, "{lines:#?}");
	assert!(
		lines[0].contains("genesis.json") && lines[0].contains("balances[2].account"),
		"{lines:?}"
	);
	let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_node_asks_which_chain_to_start() {
	for args in [&["--tmp"][..], &["--chain", "production", "--tmp"]] {
		let out = node(args);
		assert_eq!(out.status.code(), Some(1), "{args:?}");
		let lines = stderr_lines(&out);
		assert_eq!(lines.len(), 1, "{args:?}: {lines:#?}");
		assert!(lines[0].contains("production:FILE"), "{args:?}: {lines:?}");
	}
}

#[test]
fn build_spec_raw_contains_the_runtime_code() {
	let out = node(&["build-spec", "--chain", "dev", "--raw", "--disable-default-bootnode"]);
	assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
	let spec: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON spec");
	// `:code` is 0x3a636f6465 in hex.
	let code = &spec["genesis"]["raw"]["top"]["0x3a636f6465"];
	assert!(code.as_str().is_some_and(|c| c.len() > 100_000), "runtime code missing");
}

#[test]
fn key_generate_and_inspect_agree() {
	let out = node(&["key", "generate", "--scheme", "sr25519", "--output-type", "json"]);
	assert!(out.status.success());
	let key: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON key");
	let phrase = key["secretPhrase"].as_str().expect("secret phrase");
	let out = node(&["key", "inspect", "--output-type", "json", phrase]);
	assert!(out.status.success());
	let inspected: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON key");
	assert_eq!(inspected["ss58Address"], key["ss58Address"]);
	// A node key needs no chain unless it goes under a base path.
	let out = node(&["key", "generate-node-key"]);
	assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
	assert_eq!(String::from_utf8_lossy(&out.stdout).trim().len(), 64, "a hex ed25519 secret");
}

#[test]
fn an_unreadable_chain_spec_is_one_line_error() {
	let out = node(&["--chain", "/nonexistent/spec.json", "--tmp"]);
	assert_eq!(out.status.code(), Some(1));
	let lines = stderr_lines(&out);
	assert_eq!(lines.len(), 1, "{lines:#?}");
	assert!(lines[0].starts_with("error: ") && lines[0].contains("/nonexistent/spec.json"));
}

#[test]
fn a_taken_rpc_port_is_one_line_error() {
	let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
	let port = taken.local_addr().unwrap().port().to_string();
	let p2p = format!("/ip4/127.0.0.1/tcp/{}", free_port());
	let mut child = Command::new(node_bin())
		.args(["--dev", "--tmp", "--no-prometheus", "--no-telemetry", "--no-mdns", "--rpc-port"])
		.args([port.as_str(), "--listen-addr", p2p.as_str()])
		.stdout(std::process::Stdio::null())
		.stderr(std::process::Stdio::piped())
		.spawn()
		.expect("spawn node");
	// The node must give up by itself; kill it if it hangs so the test never leaks a process.
	let deadline = std::time::Instant::now() + Duration::from_secs(60);
	while child.try_wait().expect("poll").is_none() {
		if std::time::Instant::now() > deadline {
			let _ = child.kill();
			panic!("node kept running with its RPC port taken");
		}
		std::thread::sleep(Duration::from_millis(100));
	}
	let out = child.wait_with_output().expect("collect output");
	assert_eq!(out.status.code(), Some(1));
	let errors: Vec<_> =
		stderr_lines(&out).into_iter().filter(|l| l.starts_with("error: ")).collect();
	assert_eq!(errors.len(), 1, "{}", String::from_utf8_lossy(&out.stderr));
	assert!(errors[0].contains(&port), "{}", errors[0]);
	drop(taken);
}
