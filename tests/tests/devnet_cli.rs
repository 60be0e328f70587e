//! `offchain-gpu devnet` as an operator stops it: SIGTERM (what `kill` and service managers
//! send; Ctrl-C takes the same path) while miners and a validator are training ends the
//! process with a one-line reason and takes down the node it started; SIGKILL, which no
//! process can catch, still takes the node down (Linux's parent-death signal).

use std::{
	net::TcpStream,
	path::Path,
	process::{Child, Command},
	time::{Duration, Instant},
};

use system_tests::{loopback_ws_port, node_bin, offchain_gpu_bin, spawn_offchain_gpu, StderrLines};

/// `offchain-gpu devnet` with `args`, writing under `out`, and the port of the node it
/// started (read from its output).
fn start_devnet(args: &[&str], out: &Path) -> (Child, StderrLines, u16) {
	let (mut devnet, mut lines) = spawn_offchain_gpu(
		Command::new(offchain_gpu_bin())
			.arg("devnet")
			.arg("--node-bin")
			.arg(node_bin())
			.args(args)
			.arg("--out")
			.arg(out),
	);
	let Some(port) = lines.wait_for(Duration::from_secs(60), loopback_ws_port) else {
		let _ = devnet.kill();
		panic!("no node URL in the devnet's output:\n{}", lines.text());
	};
	(devnet, lines, port)
}

fn answers(port: u16) -> bool {
	TcpStream::connect(("127.0.0.1", port)).is_ok()
}

#[test]
fn sigterm_stops_the_devnet_and_the_node_it_started() {
	let out = std::env::temp_dir().join(format!("devnet-stop-{}", std::process::id()));
	let (mut devnet, mut lines, rpc_port) =
		start_devnet(&["--miners", "2", "--rounds", "20"], &out);
	// Wait until every worker has registered: the roles are running.
	if lines
		.wait_for(Duration::from_secs(240), |l| {
			l.contains("registered; training rounds").then_some(())
		})
		.is_none()
	{
		let _ = devnet.kill();
		panic!("the devnet did not get to training:\n{}", lines.text());
	}
	assert!(answers(rpc_port), "the node is not up");

	let sent = Instant::now();
	let kill =
		Command::new("kill").args(["-TERM", &devnet.id().to_string()]).status().expect("run kill");
	assert!(kill.success());
	let status = loop {
		if let Some(status) = devnet.try_wait().expect("wait for the devnet") {
			break status;
		}
		if sent.elapsed() > Duration::from_secs(60) {
			let _ = devnet.kill();
			panic!("the devnet was still running 60 s after SIGTERM");
		}
		std::thread::sleep(Duration::from_millis(200));
	};
	let stopped_in = sent.elapsed();
	lines.finish();
	println!("devnet stopped {:.1} s after SIGTERM with {status}", stopped_in.as_secs_f64());
	assert_eq!(status.code(), Some(1), "{}", lines.text());
	assert!(
		lines
			.seen
			.iter()
			.any(|l| l == "error: interrupted (SIGTERM): stopped every process the devnet started"),
		"no one-line reason:\n{}",
		lines.text()
	);
	assert!(!answers(rpc_port), "the node the devnet started still answers on port {rpc_port}");
	let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn a_killed_devnet_takes_its_node_down() {
	let out = std::env::temp_dir().join(format!("devnet-kill-{}", std::process::id()));
	let (mut devnet, _lines, rpc_port) = start_devnet(&[], &out);
	// Wait for the node to answer, then kill the devnet outright.
	let up = Instant::now();
	while !answers(rpc_port) {
		assert!(up.elapsed() < Duration::from_secs(60), "the node never opened port {rpc_port}");
		std::thread::sleep(Duration::from_millis(200));
	}
	devnet.kill().expect("SIGKILL the devnet");
	devnet.wait().expect("reap the devnet");
	let killed = Instant::now();
	while answers(rpc_port) {
		assert!(
			killed.elapsed() < Duration::from_secs(30),
			"the node on port {rpc_port} outlived its killed devnet by 30 s"
		);
		std::thread::sleep(Duration::from_millis(200));
	}
	println!("node gone {:.1} s after its devnet was killed", killed.elapsed().as_secs_f64());
	let _ = std::fs::remove_dir_all(&out);
}
