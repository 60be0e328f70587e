//! The worker's Prometheus metrics. [`Metrics::observe`] folds each [`Report`] the roles emit
//! into counters and gauges (pure, tested without a network); [`serve`] answers
//! `GET /metrics` with them in the text exposition format on the address the operator
//! chose (`--prometheus-port`, loopback unless `--prometheus-external`).

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use training_protocol::ScoreFlags;

use crate::roles::{Report, Reporter};

/// Everything exported, by name; one worker process, so no per-worker labels.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Metrics {
	/// The latest round this worker trained (miner) or scored (validator).
	pub round: u64,
	/// The step of the round the worker finished last (`train`, `commit`, `reveal`, `apply`,
	/// `score`).
	pub phase: &'static str,
	/// Seconds spent per step, summed.
	pub phase_seconds: Vec<(&'static str, f64)>,
	pub rounds_trained: u64,
	pub rounds_scored: u64,
	/// Miners' gradients a validator found missing or invalid, by kind.
	pub blob_faults_missing: u64,
	pub blob_faults_invalid: u64,
	pub bytes_fetched: u64,
	pub bytes_published: u64,
	pub reconnects: u64,
	pub warnings: u64,
	/// The held-out loss of the synced model (a validator measures it every round).
	pub heldout_loss: Option<f64>,
	pub rating_ordinal: Option<f64>,
	/// Emission weight in parts per billion.
	pub weight_ppb: Option<u32>,
	/// Emission paid to this worker since it started, in the chain's smallest unit.
	pub paid: u128,
	/// Settlements that paid this worker.
	pub payouts: u64,
	/// The size of the blob trained last, published when the reveal succeeds.
	last_blob_len: u64,
}

impl Metrics {
	/// Folds one report in.
	pub fn observe(&mut self, report: &Report) {
		match report {
			Report::Trained { round, blob_len, secs, .. } => {
				self.round = self.round.max(*round);
				self.rounds_trained += 1;
				self.last_blob_len = *blob_len as u64;
				self.step("train", *secs);
			}
			Report::Committed { secs, .. } => self.step("commit", *secs),
			Report::Revealed { published, secs, .. } => {
				if *published {
					self.bytes_published += self.last_blob_len;
				}
				self.step("reveal", *secs);
			}
			Report::Applied { bytes, fetch_secs, apply_secs, .. } => {
				self.bytes_fetched += bytes;
				self.step("fetch", *fetch_secs);
				self.step("apply", *apply_secs);
			}
			Report::Scored { round, heldout_loss, scores, eval_secs, fetch_secs, .. } => {
				self.round = self.round.max(*round);
				self.rounds_scored += 1;
				self.heldout_loss = Some(f64::from(*heldout_loss));
				for s in scores {
					self.blob_faults_missing += u64::from(s.flags.contains(ScoreFlags::MISSING));
					self.blob_faults_invalid += u64::from(s.flags.contains(ScoreFlags::INVALID));
				}
				self.step("fetch", *fetch_secs);
				self.step("score", *eval_secs);
			}
			Report::Reconnected { .. } => self.reconnects += 1,
			Report::Standing { ordinal, weight_ppb, .. } => {
				self.rating_ordinal = Some(*ordinal);
				self.weight_ppb = Some(*weight_ppb);
			}
			Report::Paid { amount, .. } => {
				self.paid = self.paid.saturating_add(*amount);
				self.payouts += 1;
			}
			Report::Warning { .. } => self.warnings += 1,
			Report::Started { .. }
			| Report::Settled { .. }
			| Report::Checkpointed { .. }
			| Report::Joined { .. } => {}
		}
	}

	fn step(&mut self, phase: &'static str, secs: f32) {
		self.phase = phase;
		match self.phase_seconds.iter_mut().find(|(p, _)| *p == phase) {
			Some((_, total)) => *total += f64::from(secs),
			None => self.phase_seconds.push((phase, f64::from(secs))),
		}
	}

	/// The text exposition format (version 0.0.4).
	pub fn render(&self) -> String {
		let mut out = String::new();
		let optional = |v: Option<f64>| v.map_or("NaN".to_owned(), |v| v.to_string());
		let unlabelled = [
			("worker_round", "gauge", "Latest round trained or scored.", self.round.to_string()),
			(
				"worker_rounds_trained_total",
				"counter",
				"Rounds this miner trained.",
				self.rounds_trained.to_string(),
			),
			(
				"worker_rounds_scored_total",
				"counter",
				"Rounds this validator scored.",
				self.rounds_scored.to_string(),
			),
			(
				"worker_bytes_fetched_total",
				"counter",
				"Bytes of peers' blobs fetched and checked.",
				self.bytes_fetched.to_string(),
			),
			(
				"worker_bytes_published_total",
				"counter",
				"Bytes of gradient blobs published.",
				self.bytes_published.to_string(),
			),
			(
				"worker_reconnects_total",
				"counter",
				"Reconnections to the node after it stopped answering.",
				self.reconnects.to_string(),
			),
			("worker_warnings_total", "counter", "Warnings reported.", self.warnings.to_string()),
			(
				"worker_heldout_loss",
				"gauge",
				"Held-out loss of the synced model (validators).",
				optional(self.heldout_loss),
			),
			(
				"worker_rating_ordinal",
				"gauge",
				"The chain's OpenSkill ordinal of this miner.",
				optional(self.rating_ordinal),
			),
			(
				"worker_weight_ppb",
				"gauge",
				"The chain's emission weight of this miner (parts per billion).",
				optional(self.weight_ppb.map(f64::from)),
			),
			(
				"worker_paid_total",
				"counter",
				"Emission paid to this worker since it started, in the chain's smallest unit.",
				self.paid.to_string(),
			),
			(
				"worker_payouts_total",
				"counter",
				"Settlements that paid this worker since it started.",
				self.payouts.to_string(),
			),
		];
		for (name, kind, help, value) in unlabelled {
			let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}");
		}
		let _ = writeln!(
			out,
			"# HELP worker_blob_faults_total Miners' gradients found faulty, by kind.\n\
			 # TYPE worker_blob_faults_total counter\n\
			 worker_blob_faults_total{{kind=\"missing\"}} {}\n\
			 worker_blob_faults_total{{kind=\"invalid\"}} {}",
			self.blob_faults_missing, self.blob_faults_invalid
		);
		let _ = writeln!(
			out,
			"# HELP worker_phase_seconds_total Seconds spent per step of the round.\n\
			 # TYPE worker_phase_seconds_total counter"
		);
		for (phase, secs) in &self.phase_seconds {
			let _ = writeln!(out, "worker_phase_seconds_total{{phase=\"{phase}\"}} {secs}");
		}
		let _ = writeln!(
			out,
			"# HELP worker_phase The step of the round finished last.\n# TYPE worker_phase gauge"
		);
		if !self.phase.is_empty() {
			let _ = writeln!(out, "worker_phase{{phase=\"{}\"}} 1", self.phase);
		}
		out
	}
}

/// A reporter that updates `metrics` and then passes the report on to `next`.
pub fn observing(metrics: Arc<Mutex<Metrics>>, next: Reporter) -> Reporter {
	Arc::new(move |report| {
		metrics.lock().unwrap_or_else(|e| e.into_inner()).observe(&report);
		next(report)
	})
}

/// Answers `GET /metrics` on `listener` until `stop` is cancelled; anything else gets 404.
/// A request head over 8 KiB or slower than 5 s is dropped.
pub async fn serve(listener: TcpListener, metrics: Arc<Mutex<Metrics>>, stop: CancellationToken) {
	if let Ok(addr) = listener.local_addr() {
		tracing::info!(%addr, "serving Prometheus metrics at http://{addr}/metrics");
	}
	loop {
		let accepted = tokio::select! {
			accepted = listener.accept() => accepted,
			_ = stop.cancelled() => return,
		};
		let Ok((mut socket, _)) = accepted else { continue };
		let metrics = metrics.clone();
		tokio::spawn(async move {
			let mut head = Vec::with_capacity(512);
			let mut buf = [0u8; 1024];
			let read = async {
				while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 8192 {
					match socket.read(&mut buf).await {
						Ok(0) | Err(_) => return false,
						Ok(n) => head.extend_from_slice(&buf[..n]),
					}
				}
				true
			};
			let complete = tokio::time::timeout(std::time::Duration::from_secs(5), read).await;
			if !matches!(complete, Ok(true)) {
				return;
			}
			let wanted = head.starts_with(b"GET /metrics ") || head.starts_with(b"GET /metrics?");
			let response = if wanted {
				let body = metrics.lock().unwrap_or_else(|e| e.into_inner()).render();
				format!(
					"HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
					body.len()
				)
			} else {
				"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
					.to_owned()
			};
			let _ = socket.write_all(response.as_bytes()).await;
			let _ = socket.shutdown().await;
		});
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use training_protocol::MinerScore;

	fn score(uid: u16, flags: ScoreFlags) -> MinerScore {
		MinerScore { uid, loss_score: 0, indicator: 0, sync_ppm: 0, flags }
	}

	#[test]
	fn reports_fold_into_counters_and_gauges() {
		let mut m = Metrics::default();
		m.observe(&Report::Trained {
			uid: 0,
			round: 4,
			first_loss: 5.0,
			last_loss: 4.0,
			blob_len: 1000,
			secs: 2.0,
		});
		m.observe(&Report::Revealed { uid: 0, round: 4, published: true, secs: 0.5 });
		m.observe(&Report::Reconnected { who: "worker".into() });
		m.observe(&Report::Standing { who: "miner 0".into(), ordinal: 18.5, weight_ppb: 250 });
		m.observe(&Report::Paid { who: "miner 0".into(), round: 3, amount: 1_500 });
		m.observe(&Report::Paid { who: "miner 0".into(), round: 4, amount: 2_500 });
		m.observe(&Report::Scored {
			validator: 0,
			round: 5,
			heldout_loss: 4.25,
			scores: vec![
				score(0, ScoreFlags::MISSING),
				score(1, ScoreFlags::INVALID),
				score(2, ScoreFlags::NONE),
			],
			details: Vec::new(),
			eval_secs: 1.5,
			fetch_secs: 0.25,
		});
		assert_eq!((m.round, m.rounds_trained, m.rounds_scored), (5, 1, 1));
		assert_eq!((m.bytes_published, m.reconnects), (1000, 1));
		assert_eq!((m.blob_faults_missing, m.blob_faults_invalid), (1, 1));
		assert_eq!(
			(m.heldout_loss, m.rating_ordinal, m.weight_ppb),
			(Some(4.25), Some(18.5), Some(250))
		);
		assert_eq!(m.phase, "score");
		let text = m.render();
		for line in [
			"worker_round 5",
			"worker_bytes_published_total 1000",
			"worker_blob_faults_total{kind=\"missing\"} 1",
			"worker_phase_seconds_total{phase=\"train\"} 2",
			"worker_heldout_loss 4.25",
			"worker_weight_ppb 250",
			"worker_phase{phase=\"score\"} 1",
			"worker_paid_total 4000",
			"worker_payouts_total 2",
		] {
			assert!(text.lines().any(|l| l == line), "{line:?} missing from:\n{text}");
		}
	}

	#[tokio::test]
	async fn the_endpoint_answers_metrics_and_refuses_other_paths() {
		let metrics = Arc::new(Mutex::new(Metrics { round: 7, ..Default::default() }));
		let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
		let addr = listener.local_addr().unwrap();
		let stop = CancellationToken::new();
		let server = tokio::spawn(serve(listener, metrics, stop.clone()));
		let get = |path: &'static str| async move {
			for _ in 0..50 {
				if let Ok(mut s) = tokio::net::TcpStream::connect(addr).await {
					s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
						.await
						.unwrap();
					let mut out = String::new();
					s.read_to_string(&mut out).await.unwrap();
					return out;
				}
				tokio::time::sleep(std::time::Duration::from_millis(20)).await;
			}
			panic!("the endpoint never answered");
		};
		let ok = get("/metrics").await;
		assert!(ok.starts_with("HTTP/1.1 200 OK") && ok.contains("\nworker_round 7\n"), "{ok}");
		assert!(get("/").await.starts_with("HTTP/1.1 404"));
		stop.cancel();
		tokio::time::timeout(std::time::Duration::from_secs(5), server)
			.await
			.expect("the endpoint stops when cancelled")
			.unwrap();
	}
}
