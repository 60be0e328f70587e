//! Hostile stores behind real miners, end to end: a real `node --dev`, two honest miners, one
//! validator, and four miners that train honestly but register a hostile HTTP endpoint on
//! loopback as their store (`tests/src/hostile_http.rs`): one that says 2 kB on HEAD and
//! sends `Content-Length: 10^12` and bytes for ever on GET, two that announce exactly a blob's
//! length and drip one byte a second (every read of them stalls until its deadline), and one
//! whose chunked body never ends. Every node reads them as it
//! reads any peer, through `offchain_gpu::devnet`, for 5 training rounds.
//!
//! Asserts that the whole process (node client, miners and validator, all in this process)
//! grows by less than 64 MiB of resident memory from before the first blob read to the end,
//! that every honest miner is paid in every settled round (each round was scored inside its
//! window), and that the hostile-store miners end with zero weight.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use offchain_gpu::chain::Chain;
use offchain_gpu::devnet::{run, DevnetConfig};
use offchain_gpu::roles::miner::Behaviour;
use system_tests::hostile_http::{HostileServer, Mode};
use system_tests::{Deadline, DevNode};

/// Resident memory of this process, in KiB (`VmRSS` of /proc/self/status).
fn rss_kib() -> u64 {
	let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
	status
		.lines()
		.find_map(|l| l.strip_prefix("VmRSS:"))
		.and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
		.unwrap_or(0)
}

/// Raises the value behind `m` to at least `v` (the lock is never held across an await).
fn raise(m: &Mutex<u64>, v: u64) {
	let mut g = m.lock().unwrap();
	*g = (*g).max(v);
}

/// Samples this process's RSS every 200 ms until `stop`; the baseline is the largest sample
/// taken while the run's first training round had not reached its commit deadline (before
/// any blob of the run could be read).
fn watch_rss(url: String, stop: Arc<AtomicBool>, baseline: Arc<Mutex<u64>>, peak: Arc<Mutex<u64>>) {
	let rt = tokio::runtime::Runtime::new().expect("a tokio runtime");
	rt.block_on(async move {
		let chain = Chain::connect(&url, Duration::from_secs(60)).await.expect("connect");
		let deadline =
			Deadline::new("the end of the hostile-store devnet", Duration::from_secs(900));
		let mut before_reads = true;
		let mut last_round = None;
		while !stop.load(Ordering::Relaxed) {
			deadline.check();
			let rss = rss_kib();
			let status = chain.run_status(0).await.ok().flatten();
			if let Some(s) = status.as_ref().filter(|s| s.round != last_round) {
				println!("RSS at round {:?}: {} MiB", s.round, rss / 1024);
				last_round = s.round;
			}
			if before_reads {
				if let Some(s) = status {
					// Round 1 is the first training round once everyone registered in round 0.
					if s.round.is_some_and(|r| {
						r > 1 || (r == 1 && s.offset + 1 >= u64::from(s.params.commit_window))
					}) {
						before_reads = false;
					} else if s.round == Some(1) {
						raise(&baseline, rss);
					}
				}
			}
			raise(&peak, rss);
			tokio::time::sleep(Duration::from_millis(200)).await;
		}
	});
}

#[test]
fn hostile_stores_cost_honest_miners_nothing() {
	let node = DevNode::start();
	let (model, _) = offchain_gpu::roles::model_preset("devnet").expect("the devnet preset");
	let blob_len =
		DevnetConfig::default().run_params(model.config_hash()).expect("run parameters").blob_len;
	let servers = [
		HostileServer::start(Mode::Huge),
		// Announces exactly a blob's length, so the reader waits for it: a stall.
		HostileServer::start(Mode::Drip { len: u64::from(blob_len) }),
		HostileServer::start(Mode::Drip { len: u64::from(blob_len) }),
		HostileServer::start(Mode::EndlessChunks { declared: Some(2_000) }),
	];
	let hostile_stores: Vec<String> = servers
		.iter()
		.enumerate()
		.map(|(i, s)| format!("{}/grads/hostile{i}", s.endpoint()))
		.collect();
	let out = std::env::temp_dir().join(format!("devnet-hostile-{}", std::process::id()));
	let cfg = DevnetConfig {
		miners: 2,
		hostile_stores,
		validators: 1,
		rounds: 5,
		// Commitments close 36 s into the score window (default: 30 s): a validator waits out
		// one read deadline for this round's stalling stores (11 s) and one transfer allowance
		// for the previous round's (5 s, its model step re-asks for what was missing).
		score_window: 10,
		node_url: Some(node.ws_url()),
		out: out.clone(),
		verbose: true,
		..Default::default()
	};
	let (stop, baseline, peak) =
		(Arc::new(AtomicBool::new(false)), Arc::new(Mutex::new(0)), Arc::new(Mutex::new(0)));
	let watcher = {
		let (url, stop, baseline, peak) =
			(node.ws_url(), stop.clone(), baseline.clone(), peak.clone());
		std::thread::spawn(move || watch_rss(url, stop, baseline, peak))
	};
	let result = run(cfg);
	stop.store(true, Ordering::Relaxed);
	let _ = watcher.join();
	let summary = match result {
		Ok(s) => s,
		Err(e) => panic!("devnet failed: {e:#}\nnode log:\n{}", node.log()),
	};
	let (baseline, peak) = (*baseline.lock().unwrap(), *peak.lock().unwrap());
	println!("RSS before the first read {} MiB, peak {} MiB", baseline / 1024, peak / 1024);
	println!(
		"per round: fetch {:.2} s per node, overhead {:.1} % of the round",
		summary.overhead.fetch_secs,
		100.0 * summary.overhead.share()
	);
	for (i, s) in servers.iter().enumerate() {
		println!("hostile store {i}: {} requests", s.requests().len());
	}
	assert!(baseline > 0, "no RSS sample before the first read");
	assert!(peak - baseline < 64 * 1024, "RSS grew by {} MiB", (peak - baseline) / 1024);
	let honest: Vec<_> =
		summary.miners.iter().filter(|m| m.behaviour == Behaviour::Honest).collect();
	let hostile: Vec<_> =
		summary.miners.iter().filter(|m| m.behaviour == Behaviour::HostileStore).collect();
	assert_eq!((honest.len(), hostile.len()), (2, 4));
	let trained: Vec<_> = summary.rounds.iter().filter(|r| r.scored > 0).collect();
	assert!(trained.len() >= 4, "only {} rounds were scored", trained.len());
	for row in &trained {
		for m in &honest {
			let paid = row.miner_paid.get(&m.uid).copied().unwrap_or(0);
			assert!(paid > 0, "honest miner {} was not paid in round {}", m.key, row.round);
		}
	}
	for m in &hostile {
		assert_eq!(m.final_weight_ppb, 0, "hostile-store miner {} ends with weight", m.key);
	}
	assert!(servers.iter().all(|s| !s.requests().is_empty()), "a hostile store was never read");
	let _ = std::fs::remove_dir_all(&out);
}
