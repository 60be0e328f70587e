//! The `node` binary's command line as a user meets it: chain-spec and key subcommands, and
//! one-line errors for a bad chain spec and an RPC port that is already taken.

use std::{
	net::TcpListener,
	process::{Command, Output},
	time::Duration,
};

use system_tests::{free_port, node_bin};

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
