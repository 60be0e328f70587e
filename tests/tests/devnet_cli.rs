//! `offchain-gpu devnet` as an operator stops it: SIGTERM (what `kill` and service managers
//! send; Ctrl-C takes the same path) while miners and a validator are training ends the
//! process with a one-line reason and takes down the node it started; SIGKILL, which no
//! process can catch, still takes the node down (Linux's parent-death signal).

use std::{
	io::{BufRead, BufReader},
	net::TcpStream,
	process::{Command, Stdio},
	sync::mpsc,
	time::{Duration, Instant},
};

use system_tests::{bin_dir, node_bin};

#[test]
fn sigterm_stops_the_devnet_and_the_node_it_started() {
	let out = std::env::temp_dir().join(format!("devnet-stop-{}", std::process::id()));
	let mut devnet = Command::new(bin_dir().join("offchain-gpu"))
		.arg("devnet")
		.arg("--node-bin")
		.arg(node_bin())
		.args(["--miners", "2", "--rounds", "20", "--out"])
		.arg(&out)
		.stdout(Stdio::null())
		.stderr(Stdio::piped())
		.spawn()
		.expect("start offchain-gpu devnet (build the workspace first: `make build`)");
	let (lines_tx, lines) = mpsc::channel::<String>();
	let stderr = devnet.stderr.take().expect("piped stderr");
	let reader = std::thread::spawn(move || {
		for line in BufReader::new(stderr).lines().map_while(Result::ok) {
			if lines_tx.send(line).is_err() {
				break;
			}
		}
	});

	// Wait until every worker has registered (the roles are running), noting the node's port.
	let mut seen = Vec::new();
	let mut rpc_port: Option<u16> = None;
	let deadline = Instant::now() + Duration::from_secs(240);
	loop {
		let line = match lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
			Ok(line) => line,
			Err(_) => {
				let _ = devnet.kill();
				panic!("the devnet did not get to training:\n{}", seen.join("\n"));
			}
		};
		if let Some(rest) = line.split_once("on ws://127.0.0.1:").map(|(_, rest)| rest) {
			rpc_port = rest.split_whitespace().next().and_then(|p| p.parse().ok());
		}
		let registered = line.contains("registered; training rounds");
		seen.push(line);
		if registered {
			break;
		}
	}
	let rpc_port = rpc_port.unwrap_or_else(|| panic!("no node URL in the devnet's output:\n{}", seen.join("\n")));
	assert!(TcpStream::connect(("127.0.0.1", rpc_port)).is_ok(), "the node is not up");

	let sent = Instant::now();
	let kill = Command::new("kill").args(["-TERM", &devnet.id().to_string()]).status().expect("run kill");
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
	reader.join().expect("the stderr reader");
	seen.extend(lines.try_iter());
	println!("devnet stopped {:.1} s after SIGTERM with {status}", stopped_in.as_secs_f64());
	assert_eq!(status.code(), Some(1), "{}", seen.join("\n"));
	assert!(
		seen.iter().any(|l| l == "error: interrupted (SIGTERM): stopped every process the devnet started"),
		"no one-line reason:\n{}",
		seen.join("\n")
	);
	assert!(
		TcpStream::connect(("127.0.0.1", rpc_port)).is_err(),
		"the node the devnet started still answers on port {rpc_port}"
	);
	let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn a_killed_devnet_takes_its_node_down() {
	let out = std::env::temp_dir().join(format!("devnet-kill-{}", std::process::id()));
	let mut devnet = Command::new(bin_dir().join("offchain-gpu"))
		.arg("devnet")
		.arg("--node-bin")
		.arg(node_bin())
		.arg("--out")
		.arg(&out)
		.stdout(Stdio::null())
		.stderr(Stdio::piped())
		.spawn()
		.expect("start offchain-gpu devnet (build the workspace first: `make build`)");
	let mut lines = BufReader::new(devnet.stderr.take().expect("piped stderr")).lines();
	let mut seen = Vec::new();
	let mut rpc_port = None;
	while let Some(Ok(line)) = lines.next() {
		rpc_port = line.split_once("on ws://127.0.0.1:").and_then(|(_, rest)| rest.split_whitespace().next()?.parse::<u16>().ok());
		seen.push(line);
		if rpc_port.is_some() {
			break;
		}
	}
	let rpc_port = rpc_port.unwrap_or_else(|| panic!("no node URL in the devnet's output:\n{}", seen.join("\n")));
	// Keep reading, so that the devnet is not stopped by a closed pipe instead.
	std::thread::spawn(move || lines.for_each(drop));
	// Wait for the node to answer, then kill the devnet outright.
	let up = Instant::now();
	while TcpStream::connect(("127.0.0.1", rpc_port)).is_err() {
		assert!(up.elapsed() < Duration::from_secs(60), "the node never opened port {rpc_port}");
		std::thread::sleep(Duration::from_millis(200));
	}
	devnet.kill().expect("SIGKILL the devnet");
	devnet.wait().expect("reap the devnet");
	let killed = Instant::now();
	while TcpStream::connect(("127.0.0.1", rpc_port)).is_ok() {
		assert!(
			killed.elapsed() < Duration::from_secs(30),
			"the node on port {rpc_port} outlived its killed devnet by 30 s"
		);
		std::thread::sleep(Duration::from_millis(200));
	}
	println!("node gone {:.1} s after its devnet was killed", killed.elapsed().as_secs_f64());
	let _ = std::fs::remove_dir_all(&out);
}
