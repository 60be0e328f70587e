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
//!
//! The run trains on pre-tokenized shards of the shipped corpus (`data prepare`'s code): the
//! run records the manifest's hash, and every worker loads and checks the shards.

use std::time::Duration;

use offchain_gpu::chain::Chain;
use offchain_gpu::devnet::{run, DevnetConfig};
use system_tests::DevNode;
use training_model::data::shakespeare::{self, HELDOUT_FRACTION};
use training_model::data::shards::{self, PrepareConfig};
use training_model::data::ByteTokenizer;

/// Shards of the shipped corpus under `dir`, and their manifest's hash.
fn shakespeare_shards(dir: &std::path::Path) -> [u8; 32] {
	let path = shakespeare::default_path().expect("HOME or SHAKESPEARE_CORPUS is set");
	let text = shakespeare::read_corpus(&path)
		.unwrap_or_else(|e| panic!("{}: {e} (run scripts/fetch-corpus.sh)", path.display()));
	let cfg = PrepareConfig { shard_tokens: 1 << 20, heldout_fraction: HELDOUT_FRACTION };
	let (_, hash) = shards::prepare(&[&text], &ByteTokenizer, "byte", dir, &cfg, &mut |_, _| {})
		.expect("preparing shards of the corpus");
	hash
}

#[test]
fn a_miner_on_the_simulated_gpu_settles_rounds_with_the_others() {
	let node = DevNode::start();
	let out = std::env::temp_dir().join(format!("devnet-sim-{}", std::process::id()));
	let _ = std::fs::remove_dir_all(&out);
	let data = out.join("data");
	let dataset_hash = shakespeare_shards(&data);
	let cfg = DevnetConfig {
		data: Some(data),
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
	let recorded = tokio::runtime::Runtime::new()
		.expect("tokio runtime")
		.block_on(async {
			let chain = Chain::connect(&node.ws_url(), Duration::from_secs(30)).await?;
			anyhow::Ok(chain.run_status(summary.run).await?.map(|s| s.params.dataset_hash))
		})
		.expect("reading the run");
	assert_eq!(recorded, Some(dataset_hash), "the run records the shards' manifest hash");
	assert!(!summary.settled.is_empty(), "no round settled");
	for (round, models) in &summary.settled {
		let first = models[0].params_hash;
		for m in models {
			assert_eq!(m.params_hash, first, "round {round}: {} holds another model", m.who);
		}
	}
	let _ = std::fs::remove_dir_all(&out);
}
