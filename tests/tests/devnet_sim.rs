//! The GPU path in a live run, without a GPU: a real `node --dev`, two honest miners and one
//! honest validator through `offchain_gpu::devnet` for 3 training rounds on the `tiny` model,
//! one of the miners training on the simulated device (`--device sim`: the CUDA backend's
//! buffers, launch shapes, kernel order and cuBLAS-semantics gemms, with the kernels of
//! `kernels/` on the host simulator).
//!
//! Asserts that the rounds settle with both miners paid in every scored round, and that
//! every node, the simulated-GPU miner included, holds the same model after every settled
//! round (the outer step stays on the CPU, so a device changes only a miner's own
//! gradient).

use offchain_gpu::devnet::{run, DevnetConfig};
use system_tests::DevNode;

#[test]
fn a_miner_on_the_simulated_gpu_settles_rounds_with_the_others() {
	let node = DevNode::start();
	let out = std::env::temp_dir().join(format!("devnet-sim-{}", std::process::id()));
	let cfg = DevnetConfig {
		model: "tiny".into(),
		miners: 2,
		sim_miners: 1,
		validators: 1,
		rounds: 3,
		node_url: Some(node.ws_url()),
		out: out.clone(),
		verbose: true,
		..Default::default()
	};
	let summary = match run(cfg) {
		Ok(s) => s,
		Err(e) => panic!("devnet failed: {e:#}\nnode log:\n{}", node.log()),
	};
	let scored: Vec<_> = summary.rounds.iter().filter(|r| r.scored > 0).collect();
	assert!(scored.len() >= 2, "only {} rounds were scored", scored.len());
	for row in &scored {
		for m in &summary.miners {
			let paid = row.miner_paid.get(&m.uid).copied().unwrap_or(0);
			println!("round {}: miner {} paid {paid}", row.round, m.key);
			assert!(paid > 0, "miner {} was not paid in round {}", m.key, row.round);
		}
	}
	assert!(!summary.settled.is_empty(), "no round settled");
	for (round, models) in &summary.settled {
		let first = models[0].params_hash;
		for m in models {
			assert_eq!(m.params_hash, first, "round {round}: {} holds another model", m.who);
		}
	}
	let _ = std::fs::remove_dir_all(&out);
}
