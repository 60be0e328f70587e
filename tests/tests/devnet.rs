//! The whole system on one machine: a real `node --dev`, a run created through sudo, three
//! honest miners, one miner that commits but never publishes its blob, and one validator,
//! all through `offchain_gpu::devnet` (the code behind `offchain-gpu devnet`).
//!
//! Asserts that the validator-measured held-out loss of the synced model goes down, that
//! every honest miner is paid, and that the withholding miner ends with zero weight (three
//! consecutive missing gradients: x0.75, x0.5, x0).

use offchain_gpu::devnet::{run, DevnetConfig};
use system_tests::node_bin;

#[test]
fn devnet_trains_pays_honest_miners_and_zeroes_a_withholder() {
	let out = std::env::temp_dir().join(format!("devnet-test-{}", std::process::id()));
	let cfg = DevnetConfig {
		miners: 3,
		withholders: 1,
		validators: 1,
		rounds: 3,
		node_bin: node_bin(),
		out: out.clone(),
		..Default::default()
	};
	let summary = run(cfg).expect("devnet runs to completion");
	for row in &summary.rounds {
		println!(
			"round {}: held-out {:?}, train {:?}, paid {:?}, weights {:?}, ordinals {:?}",
			row.round, row.heldout_loss, row.train_loss, row.miner_paid, row.weights, row.ordinals
		);
	}
	for m in &summary.miners {
		println!(
			"miner uid {} {} withholds={}: paid {} final weight {} ordinal {:.3}",
			m.uid, m.key, m.withholds, m.total_paid, m.final_weight_ppb, m.final_ordinal
		);
	}
	println!("validators paid {}", summary.validators_paid);

	let losses: Vec<f32> = summary.rounds.iter().filter_map(|r| r.heldout_loss).collect();
	assert!(losses.len() >= 3, "held-out losses measured: {losses:?}");
	let (first, last) = (losses[0], *losses.last().unwrap());
	assert!(last < first - 0.2, "held-out loss did not go down: {losses:?}");

	let honest: Vec<_> = summary.miners.iter().filter(|m| !m.withholds).collect();
	assert_eq!(honest.len(), 3);
	for m in &honest {
		assert!(m.total_paid > 0, "honest miner {} was not paid", m.key);
		assert!(m.final_weight_ppb > 0, "honest miner {} ends with zero weight", m.key);
	}
	let withholder = summary.miners.iter().find(|m| m.withholds).expect("the withholder is registered");
	assert_eq!(withholder.final_weight_ppb, 0, "a miner that never reveals must end with zero weight");
	assert!(summary.validators_paid > 0);
	let _ = std::fs::remove_dir_all(&out);
}
