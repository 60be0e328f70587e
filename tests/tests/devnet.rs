//! The whole system on one machine: a real `node --dev`, a real S3 server on loopback
//! (SeaweedFS) holding the miners' blobs, a run created through sudo, three honest miners,
//! one miner of each adversarial kind, one honest validator and one that posts random
//! scores, all through `offchain_gpu::devnet` (the code behind `offchain-gpu devnet`), for 8
//! training rounds.
//!
//! Asserts that the validator-measured held-out loss of the synced model goes down, that
//! every honest miner ends with positive weight and emission, and that every adversary ends
//! with zero weight and earns nothing once past its warm-up: the withholder and the miners
//! whose blobs are garbage or do not match their hash (three misses: x0.75, x0.5, x0), the
//! zero-gradient miner (assigned-data indicator below the threshold: its gain is zero), the
//! miner that trains on random tokens (indicator below the threshold: its update does not
//! point where the validator's reference update does), the copier (its gradient is another
//! miner's from the round before: flagged as copied) and the replayer (it resends the last
//! outer step, which every node can compute: once applied, that step no longer lowers the
//! loss, and two consecutive replays overlap like stale work). A miner that trains on other
//! corpus batches than its assignment is not run: at this scale nothing tells it from an
//! honest one (docs/benchmarks.md).
//! The random-score validator holds less stake than the honest one, so the stake-weighted
//! medians, and with them who is paid, are the honest validator's.
//!
//! Midway the S3 server goes down for about four blocks around a commit deadline and comes
//! back: the miners keep their committed blobs and publish them once it is back, and the
//! outage costs at most that round (honest miners are paid again in the last rounds).

use std::time::Duration;

use offchain_gpu::chain::Chain;
use offchain_gpu::devnet::{run, DevnetConfig};
use offchain_gpu::roles::miner::Behaviour;
use system_tests::{Deadline, DevNode, S3Server};

/// Stops the store just before the commit deadline of the first round at or after `round`
/// and starts it again `outage` later. Returns the round hit.
async fn store_outage(
	url: &str,
	s3: &mut S3Server,
	round: u64,
	outage: Duration,
) -> anyhow::Result<u64> {
	let chain = Chain::connect(url, Duration::from_secs(60)).await?;
	let deadline = Deadline::new(
		format!("the block before round {round}'s commit deadline"),
		Duration::from_secs(600),
	);
	loop {
		deadline.check();
		if let Some(s) = chain.run_status(0).await? {
			if s.round.is_some_and(|r| r >= round)
				&& s.offset + 1 == u64::from(s.params.commit_window)
			{
				s3.stop();
				tokio::time::sleep(outage).await;
				s3.restart();
				return Ok(s.round.unwrap_or(round) - 1);
			}
		}
		tokio::time::sleep(Duration::from_millis(300)).await;
	}
}

#[test]
fn devnet_over_s3_pays_honest_miners_and_zeroes_every_adversary() {
	let mut s3 = S3Server::start("gradients");
	let node = DevNode::start();
	let out = std::env::temp_dir().join(format!("devnet-test-{}", std::process::id()));
	// Each adversary left out has its own test: sybils and stale miners
	// (devnet_validators), eval-fit (eval_fit), hostile stores (devnet_hostile) and the late
	// publisher, whose blob is valid and must be neither zeroed nor split the nodes
	// (devnet_consensus). Other-data is not caught at devnet scale.
	let own_test = |b: &Behaviour| {
		matches!(
			b,
			Behaviour::Honest
				| Behaviour::OtherData
				| Behaviour::Sybil
				| Behaviour::Stale
				| Behaviour::EvalFit
				| Behaviour::HostileStore
				| Behaviour::Late
		)
	};
	let adversaries = Behaviour::ALL.iter().copied().filter(|b| !own_test(b)).collect::<Vec<_>>();
	let cfg = DevnetConfig {
		miners: 3,
		adversaries,
		validators: 1,
		validator_adversaries: vec![offchain_gpu::roles::validator::Behaviour::RandomScores],
		rounds: 10,
		// Every committer due to every validator: with one honest validator, a miner it did
		// not sample would be judged by the random-score validator alone.
		eval_sample: 16,
		store_url: Some(s3.url()),
		node_url: Some(node.ws_url()),
		out: out.clone(),
		verbose: true,
		..Default::default()
	};
	let warmup = u64::from(cfg.warmup_rounds);
	let devnet = std::thread::spawn(move || run(cfg));
	let rt = tokio::runtime::Runtime::new().expect("a tokio runtime");
	let hit = rt.block_on(store_outage(&node.ws_url(), &mut s3, 5, Duration::from_secs(12)));
	let hit = hit.unwrap_or_else(|e| panic!("store outage: {e:#}"));
	println!("store outage around the reveal of round {hit}");
	let summary = match devnet.join().expect("the devnet thread") {
		Ok(s) => s,
		Err(e) => panic!("devnet failed: {e:#}\nS3 log:\n{}\nnode log:\n{}", s3.log(), node.log()),
	};
	for row in &summary.rounds {
		println!(
			"round {}: held-out {:?}, train {:?}, paid {:?}, weights {:?}, ordinals {:?}",
			row.round, row.heldout_loss, row.train_loss, row.miner_paid, row.weights, row.ordinals
		);
	}
	for m in &summary.miners {
		println!(
			"miner uid {} {} ({}): paid {} final weight {} ordinal {:.3}",
			m.uid,
			m.key,
			m.behaviour.name(),
			m.total_paid,
			m.final_weight_ppb,
			m.final_ordinal
		);
	}
	println!("validators paid {}", summary.validators_paid);
	println!("{:?}", summary.overhead);

	let losses: Vec<f32> = summary.rounds.iter().filter_map(|r| r.heldout_loss).collect();
	assert!(losses.len() >= 6, "held-out losses measured: {losses:?}");
	let (first, last) = (losses[0], *losses.last().unwrap());
	assert!(last < first - 0.2, "held-out loss did not go down: {losses:?}");

	let first_round = summary.rounds.first().map(|r| r.round).unwrap_or(0);
	for m in &summary.miners {
		if m.behaviour == Behaviour::Honest {
			assert!(m.total_paid > 0, "honest miner {} was not paid", m.key);
			assert!(m.final_weight_ppb > 0, "honest miner {} ends with zero weight", m.key);
			// The outage cost at most its round: paid in each of the last two rounds.
			for row in summary.rounds.iter().rev().take(2) {
				assert!(
					row.miner_paid.get(&m.uid).is_some_and(|p| *p > 0),
					"honest {} unpaid in round {}",
					m.key,
					row.round
				);
			}
			continue;
		}
		assert_eq!(
			m.final_weight_ppb,
			0,
			"adversary {} ({}) ends with weight",
			m.key,
			m.behaviour.name()
		);
		// Past warm-up (its first `warmup` evaluations, plus one for the indicator average
		// to cross the threshold) an adversary earns nothing.
		let late: u128 = summary
			.rounds
			.iter()
			.filter(|r| r.round > first_round + warmup)
			.filter_map(|r| r.miner_paid.get(&m.uid))
			.sum();
		assert_eq!(late, 0, "adversary {} ({}) was paid after warm-up", m.key, m.behaviour.name());
	}
	assert!(summary.validators_paid > 0);
	let _ = std::fs::remove_dir_all(&out);
}
