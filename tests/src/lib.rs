//! Helpers for the end-to-end tests: start real processes on free loopback ports and always
//! stop them, even when a test fails.

use std::{
	net::{TcpListener, TcpStream},
	path::PathBuf,
	process::{Child, Command, Stdio},
	time::{Duration, Instant},
};

/// A free TCP port on 127.0.0.1 (the OS picks it; it is released before use).
pub fn free_port() -> u16 {
	TcpListener::bind("127.0.0.1:0")
		.and_then(|l| l.local_addr())
		.map(|a| a.port())
		.expect("the OS hands out a free loopback port")
}

/// The directory holding the workspace's built binaries (`target/<profile>/`): the parent of
/// the `deps/` directory this test executable runs from.
pub fn bin_dir() -> PathBuf {
	let exe = std::env::current_exe().expect("test executable path");
	let deps = exe.parent().expect("deps directory");
	deps.parent().expect("profile directory").to_path_buf()
}

/// Path of the `node` binary: `$NODE_BIN`, or the one built beside these tests.
pub fn node_bin() -> PathBuf {
	if let Some(path) = std::env::var_os("NODE_BIN") {
		return path.into();
	}
	let path = bin_dir().join("node");
	assert!(
		path.exists(),
		"{} does not exist: build the workspace first (`make build`) or set NODE_BIN",
		path.display()
	);
	path
}

/// A running `node --dev --tmp`, killed when dropped.
pub struct DevNode {
	child: Child,
	pub rpc_port: u16,
	log: PathBuf,
}

impl DevNode {
	/// Starts a dev node on free ports and waits until its RPC port accepts connections.
	pub fn start() -> Self {
		let rpc_port = free_port();
		let p2p_port = free_port();
		let log = std::env::temp_dir().join(format!("dev-node-{rpc_port}.log"));
		let log_file = std::fs::File::create(&log).expect("create node log");
		let child = Command::new(node_bin())
			.args(["--dev", "--tmp", "--no-prometheus", "--no-telemetry", "--no-mdns"])
			.args(["--rpc-port", &rpc_port.to_string()])
			.args(["--listen-addr", &format!("/ip4/127.0.0.1/tcp/{p2p_port}")])
			.stdout(Stdio::null())
			.stderr(log_file)
			.spawn()
			.expect("spawn node");
		let mut node = DevNode { child, rpc_port, log };
		node.wait_for_rpc(Duration::from_secs(120));
		node
	}

	pub fn ws_url(&self) -> String {
		format!("ws://127.0.0.1:{}", self.rpc_port)
	}

	/// The node's log so far (printed by tests on failure).
	pub fn log(&self) -> String {
		std::fs::read_to_string(&self.log).unwrap_or_default()
	}

	fn wait_for_rpc(&mut self, timeout: Duration) {
		let start = Instant::now();
		while start.elapsed() < timeout {
			if let Ok(Some(status)) = self.child.try_wait() {
				panic!("node exited early with {status}:\n{}", self.log());
			}
			if TcpStream::connect(("127.0.0.1", self.rpc_port)).is_ok() {
				return;
			}
			std::thread::sleep(Duration::from_millis(200));
		}
		panic!("node RPC not up after {timeout:?}:\n{}", self.log());
	}
}

impl Drop for DevNode {
	fn drop(&mut self) {
		let _ = self.child.kill();
		let _ = self.child.wait();
		let _ = std::fs::remove_file(&self.log);
	}
}
