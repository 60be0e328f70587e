//! Helpers for the end-to-end tests: start real processes on free loopback ports and always
//! stop them, even when a test fails.

pub mod hostile_http;

use std::{
	io::{BufRead, BufReader},
	net::{TcpListener, TcpStream},
	path::PathBuf,
	process::{Child, Command, Stdio},
	sync::mpsc,
	thread::JoinHandle,
	time::{Duration, Instant},
};

/// The deadline of a wait in a test: every loop that waits for a condition checks it, so a
/// test that waits never hangs and says what it was waiting for when it gives up.
pub struct Deadline {
	what: String,
	limit: Duration,
	until: Instant,
}

impl Deadline {
	pub fn new(what: impl Into<String>, limit: Duration) -> Self {
		Self { what: what.into(), limit, until: Instant::now() + limit }
	}

	/// Panics (failing the test) once the deadline has passed.
	pub fn check(&self) {
		if Instant::now() > self.until {
			panic!("gave up after {:?} waiting for {}", self.limit, self.what);
		}
	}
}

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

/// Path of the `offchain-gpu` binary built beside these tests.
pub fn offchain_gpu_bin() -> PathBuf {
	bin_dir().join("offchain-gpu")
}

/// `offchain-gpu ARGS` with stdout discarded and stderr piped into [`StderrLines`].
pub fn spawn_offchain_gpu(args: &mut Command) -> (Child, StderrLines) {
	let mut child = args
		.stdout(Stdio::null())
		.stderr(Stdio::piped())
		.spawn()
		.expect("start offchain-gpu (build the workspace first: `make build`)");
	let lines = StderrLines::of(&mut child);
	(child, lines)
}

/// A child's stderr, read line by line on a thread (so that the child never blocks on a
/// full pipe or dies of a closed one), with every line read so far kept for failure
/// messages.
pub struct StderrLines {
	lines: mpsc::Receiver<String>,
	reader: Option<JoinHandle<()>>,
	pub seen: Vec<String>,
}

impl StderrLines {
	/// Takes over `child`'s piped stderr.
	pub fn of(child: &mut Child) -> Self {
		let stderr = child.stderr.take().expect("the child's stderr is piped");
		let (tx, lines) = mpsc::channel();
		let reader = std::thread::spawn(move || {
			for line in BufReader::new(stderr).lines().map_while(Result::ok) {
				if tx.send(line).is_err() {
					break;
				}
			}
		});
		Self { lines, reader: Some(reader), seen: Vec::new() }
	}

	/// Reads until `pick` says something about a line (that answer), or `limit` passes or
	/// the child closes stderr (`None`).
	pub fn wait_for<T>(
		&mut self,
		limit: Duration,
		mut pick: impl FnMut(&str) -> Option<T>,
	) -> Option<T> {
		let deadline = Instant::now() + limit;
		while let Ok(line) =
			self.lines.recv_timeout(deadline.saturating_duration_since(Instant::now()))
		{
			let found = pick(&line);
			self.seen.push(line);
			if found.is_some() {
				return found;
			}
		}
		None
	}

	/// Once the child has exited: reads the rest of what it wrote.
	pub fn finish(&mut self) {
		if let Some(reader) = self.reader.take() {
			reader.join().expect("the stderr reader");
		}
		self.seen.extend(self.lines.try_iter());
	}

	/// Every line read so far.
	pub fn text(&self) -> String {
		self.seen.join("\n")
	}
}

/// The port of a line that names a node at `ws://127.0.0.1:PORT`.
pub fn loopback_ws_port(line: &str) -> Option<u16> {
	line.split_once("ws://127.0.0.1:")?.1.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
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

/// A running `node --dev` (with a temporary database, or a kept one that survives
/// [`DevNode::restart`]), killed when dropped.
pub struct DevNode {
	child: Child,
	pub rpc_port: u16,
	pub p2p_port: u16,
	log: PathBuf,
	/// Everything after the binary, to start it again.
	args: Vec<String>,
	/// The kept database, removed on drop.
	base_path: Option<PathBuf>,
}

impl DevNode {
	/// Starts `node --dev --tmp` on free ports and waits until its RPC port accepts
	/// connections.
	pub fn start() -> Self {
		Self::launch(None)
	}

	/// Like [`DevNode::start`] but with its database in a fresh directory that is kept across
	/// [`DevNode::restart`]: the chain goes on where it stopped.
	pub fn start_persistent() -> Self {
		Self::launch(Some(Self::fresh_base_path("dev")))
	}

	fn launch(base_path: Option<PathBuf>) -> Self {
		Self::launch_with(&["--dev".to_string()], base_path)
	}

	/// Starts `node CHAIN_ARGS` (e.g. `--chain local --alice --node-key ...`) on free loopback
	/// ports, with its database in `base_path` (kept across [`DevNode::restart`] and removed
	/// on drop) or `--tmp`; returns once its RPC port accepts connections.
	pub fn launch_with(chain_args: &[String], base_path: Option<PathBuf>) -> Self {
		let rpc_port = free_port();
		let p2p_port = free_port();
		let log = std::env::temp_dir().join(format!("dev-node-{rpc_port}.log"));
		let mut args = chain_args.to_vec();
		args.extend(["--no-prometheus", "--no-telemetry", "--no-mdns"].map(String::from));
		match &base_path {
			Some(dir) => args.extend(["--base-path".to_string(), dir.display().to_string()]),
			None => args.push("--tmp".into()),
		}
		args.extend(["--rpc-port".into(), rpc_port.to_string()]);
		args.extend(["--listen-addr".into(), format!("/ip4/127.0.0.1/tcp/{p2p_port}")]);
		let child = Self::spawn(&args, &log, false);
		let mut node = DevNode { child, rpc_port, p2p_port, log, args, base_path };
		node.wait_for_rpc(Duration::from_secs(120));
		node
	}

	/// A fresh directory for [`DevNode::launch_with`]'s database.
	pub fn fresh_base_path(name: &str) -> PathBuf {
		let dir = std::env::temp_dir().join(format!(
			"node-db-{name}-{}-{}",
			std::process::id(),
			free_port()
		));
		let _ = std::fs::remove_dir_all(&dir);
		dir
	}

	fn spawn(args: &[String], log: &PathBuf, append: bool) -> Child {
		let log_file = std::fs::OpenOptions::new()
			.create(true)
			.append(append)
			.write(true)
			.truncate(!append)
			.open(log)
			.expect("open node log");
		Command::new(node_bin())
			.args(args)
			.stdout(Stdio::null())
			.stderr(log_file)
			.spawn()
			.expect("spawn node")
	}

	/// Kills the node (as a crash would), waits `down`, and starts it again on the same ports
	/// and database; returns once its RPC port answers. Only meaningful for a node with a
	/// kept database (a `--tmp` node comes back as a new chain).
	pub fn restart(&mut self, down: Duration) {
		self.kill();
		std::thread::sleep(down);
		self.child = Self::spawn(&self.args, &self.log, true);
		self.wait_for_rpc(Duration::from_secs(120));
	}

	/// Kills the node, as a crash would (see [`DevNode::restart`]).
	pub fn kill(&mut self) {
		let _ = self.child.kill();
		let _ = self.child.wait();
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
		if let Some(dir) = &self.base_path {
			let _ = std::fs::remove_dir_all(dir);
		}
	}
}

/// A port `p` such that `p` and `p + 10000` are both free (SeaweedFS puts each service's
/// gRPC port 10000 above its HTTP port).
fn free_port_with_grpc() -> u16 {
	for _ in 0..200 {
		let p = free_port();
		if p > 55_000 {
			continue;
		}
		if TcpListener::bind(("127.0.0.1", p + 10_000)).is_ok() {
			return p;
		}
	}
	panic!("no free pair of loopback ports p, p + 10000");
}

/// Path of SeaweedFS's `weed`: `$WEED_BIN`, else `weed` on PATH.
pub fn weed_bin() -> PathBuf {
	if let Some(path) = std::env::var_os("WEED_BIN") {
		return path.into();
	}
	PathBuf::from("weed")
}

/// A real S3-compatible server on loopback (`weed mini`, SeaweedFS) with one bucket, no
/// credentials (anonymous reads and writes), its data in a temporary directory. Stopped,
/// with everything it started, when dropped.
pub struct S3Server {
	child: Child,
	pub port: u16,
	pub bucket: String,
	dir: PathBuf,
	/// `weed mini` arguments, to start it again after [`S3Server::stop`].
	args: Vec<String>,
}

impl S3Server {
	/// Starts `weed mini` and waits until a write and a read through its S3 port succeed.
	pub fn start(bucket: &str) -> Self {
		let port = free_port_with_grpc();
		let dir = std::env::temp_dir().join(format!("s3-server-{port}"));
		let _ = std::fs::remove_dir_all(&dir);
		std::fs::create_dir_all(&dir).expect("create the S3 data directory");
		let ports = [
			("-master.port", free_port_with_grpc()),
			("-volume.port", free_port_with_grpc()),
			("-filer.port", free_port_with_grpc()),
			("-admin.port", free_port_with_grpc()),
			("-s3.port", port),
		];
		let mut args: Vec<String> = vec!["mini".into(), format!("-dir={}", dir.display())];
		args.extend(
			["-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-master.telemetry=false", "-admin.ui=false"]
				.into_iter()
				.chain(["-webdav=false", "-s3.port.iceberg=0", "-s3.port.lance=0"])
				.map(String::from),
		);
		args.push(format!("-bucket={bucket}"));
		args.extend(ports.iter().map(|(flag, p)| format!("{flag}={p}")));
		let child = Self::spawn(&args, &dir);
		let mut server = S3Server { child, port, bucket: bucket.into(), dir, args };
		server.wait_ready(Duration::from_secs(60));
		server
	}

	fn spawn(args: &[String], dir: &std::path::Path) -> Child {
		let log = std::fs::OpenOptions::new()
			.create(true)
			.append(true)
			.open(dir.join("weed.log"))
			.expect("open the S3 log");
		Command::new(weed_bin())
			.args(args)
			.env_remove("AWS_ACCESS_KEY_ID")
			.env_remove("AWS_SECRET_ACCESS_KEY")
			.stdout(log.try_clone().expect("log handle"))
			.stderr(log)
			.spawn()
			.unwrap_or_else(|e| {
				panic!(
					"cannot start {} ({e}): install SeaweedFS with scripts/setup-seaweedfs.sh and set WEED_BIN",
					weed_bin().display()
				)
			})
	}

	/// Starts the server again on the same ports and data (after [`Self::stop`]).
	pub fn restart(&mut self) {
		self.child = Self::spawn(&self.args, &self.dir);
		self.wait_ready(Duration::from_secs(60));
	}

	/// The store URL of the bucket, for `BlobStore::from_url`.
	pub fn url(&self) -> String {
		format!("s3://{}?endpoint=http://127.0.0.1:{}", self.bucket, self.port)
	}

	pub fn log(&self) -> String {
		std::fs::read_to_string(self.dir.join("weed.log")).unwrap_or_default()
	}

	/// Ready once an object can be written and read back over plain HTTP.
	fn wait_ready(&mut self, timeout: Duration) {
		use std::io::{Read, Write};
		let start = Instant::now();
		let probe = |method: &str, body: &str| -> Option<String> {
			let mut s = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
			s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
			let req = format!(
				"{method} /{}/ready-probe HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
				self.bucket,
				body.len()
			);
			s.write_all(req.as_bytes()).ok()?;
			let mut out = String::new();
			s.read_to_string(&mut out).ok()?;
			Some(out)
		};
		while start.elapsed() < timeout {
			if let Ok(Some(status)) = self.child.try_wait() {
				panic!("weed exited early with {status}:\n{}", self.log());
			}
			let put = probe("PUT", "ok");
			if put.as_deref().is_some_and(|r| r.starts_with("HTTP/1.1 200"))
				&& probe("GET", "")
					.is_some_and(|r| r.starts_with("HTTP/1.1 200") && r.ends_with("ok"))
			{
				return;
			}
			std::thread::sleep(Duration::from_millis(300));
		}
		panic!("S3 server not ready after {timeout:?}:\n{}", self.log());
	}

	/// Stops the server (SIGTERM, then SIGKILL after 10 s), as a store outage. `weed mini` runs
	/// every component in its one process.
	pub fn stop(&mut self) {
		if let Ok(Some(_)) = self.child.try_wait() {
			return;
		}
		// A positive pid only: some `kill` builds read a negative one as "every process".
		let _ = Command::new("kill").args(["-s", "TERM", &self.child.id().to_string()]).status();
		let deadline = Instant::now() + Duration::from_secs(10);
		while Instant::now() < deadline {
			if let Ok(Some(_)) = self.child.try_wait() {
				return;
			}
			std::thread::sleep(Duration::from_millis(100));
		}
		let _ = self.child.kill();
		let _ = self.child.wait();
	}
}

impl Drop for S3Server {
	fn drop(&mut self) {
		self.stop();
		let _ = std::fs::remove_dir_all(&self.dir);
	}
}

/// The SS58 address of a secret URI's public key, as `node key inspect` prints it (what an
/// operator runs to fill in a genesis file).
pub fn ss58_of(scheme: &str, secret_uri: &str) -> String {
	let out = Command::new(node_bin())
		.args(["key", "inspect", "--scheme", scheme, "--output-type", "json", secret_uri])
		.output()
		.expect("run node key inspect");
	assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
	let key: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON key");
	key["ss58Address"].as_str().expect("ss58Address").to_string()
}

/// Writes an operator's genesis file for `node --chain production:FILE` into `dir`: the dev
/// seeds `authorities` author and finalize, Alice, Bob and Charlie form the council, and the
/// six dev accounts hold 1,000,000 TRAIN each. Returns its path.
pub fn production_genesis_file(dir: &std::path::Path, authorities: &[&str]) -> PathBuf {
	let accounts = ["//Alice", "//Bob", "//Charlie", "//Dave", "//Eve", "//Ferdie"];
	let file = serde_json::json!({
		"name": "Training Test Network",
		"id": "training_test",
		"protocolId": "trtest",
		"authorities": authorities.iter().map(|seed| serde_json::json!({
			"aura": ss58_of("sr25519", seed),
			"grandpa": ss58_of("ed25519", seed),
		})).collect::<Vec<_>>(),
		"council": accounts[..3].iter().map(|s| ss58_of("sr25519", s)).collect::<Vec<_>>(),
		"balances": accounts.iter().map(|s| serde_json::json!({
			"account": ss58_of("sr25519", s),
			"balance": "1000000 TRAIN",
		})).collect::<Vec<_>>(),
	});
	std::fs::create_dir_all(dir).expect("create the genesis file's directory");
	let path = dir.join("genesis.json");
	std::fs::write(&path, serde_json::to_vec_pretty(&file).expect("JSON")).expect("write");
	path
}

/// A fixed libp2p secret key for a test node (`--node-key`), so that its peer id is known
/// before it starts: validators on a chain that is not `--dev` need one.
pub fn node_key(n: u8) -> String {
	format!("{:064x}", u64::from(n) + 1)
}

/// The peer id of [`node_key`]`(n)`, from `node key inspect-node-key`.
pub fn peer_id(n: u8) -> String {
	let file = std::env::temp_dir().join(format!("node-key-{}-{n}", std::process::id()));
	std::fs::write(&file, node_key(n)).expect("write the node key");
	let out = Command::new(node_bin())
		.args(["key", "inspect-node-key", "--file"])
		.arg(&file)
		.output()
		.expect("run node key inspect-node-key");
	let _ = std::fs::remove_file(&file);
	assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
	String::from_utf8_lossy(&out.stdout).trim().to_string()
}
