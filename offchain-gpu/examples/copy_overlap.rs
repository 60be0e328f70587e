//! Measurement: how much do honest miners' compressed gradients overlap, with each other in a
//! round and with their own previous round? The copy check's threshold must sit above both.
//!
//! Simulates a run in-process (no chain) with the miners' exact inner loop, error feedback
//! and aggregation: `miners` honest miners on their assigned batches for `rounds` rounds of
//! the named model preset. Per round it records the index overlap
//! ([`sparseloco::index_overlap`], the share of kept indices two gradients have in common)
//! of every pair of miners, and of every miner with its own gradient of the round before.
//! It also plays the attack the issue names: a copier that re-heads an honest miner's
//! previous gradient, and prints the overlaps the validator then sees (the copier against
//! its source's previous gradient, and the honest miner's current gradient against the copy).
//!
//! cargo run --release --example copy_overlap -- [model] [rounds] [miners]

use anyhow::Result;
use offchain_gpu::devnet::DevnetConfig;
use offchain_gpu::roles::miner::MinerConfig;
use offchain_gpu::roles::{load_corpus, model_preset, plan_for};
use sparseloco::{ErrorFeedback, SparseGradient};
use training_model::{Assignment, Trainer};

fn summary(name: &str, mut v: Vec<f64>) {
	v.sort_by(f64::total_cmp);
	if v.is_empty() {
		return;
	}
	let q = |p: f64| v[((v.len() - 1) as f64 * p).round() as usize];
	let mean = v.iter().sum::<f64>() / v.len() as f64;
	println!(
		"{name}: n {} min {:.4} median {:.4} mean {mean:.4} p99 {:.4} max {:.4}",
		v.len(),
		v[0],
		q(0.5),
		q(0.99),
		v[v.len() - 1]
	);
}

fn main() -> Result<()> {
	let mut args = std::env::args().skip(1);
	let preset = args.next().unwrap_or_else(|| "devnet".into());
	let rounds: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(8);
	let n: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(4);
	let (model, shape) = model_preset(&preset)?;
	let devnet = DevnetConfig { model: preset.clone(), ..DevnetConfig::default() };
	let params = devnet.run_params(model.config_hash())?;
	let plan = plan_for(&model, &params)?;
	let corpus = load_corpus()?;
	let h = u64::from(params.inner_steps);
	let miner_cfg = MinerConfig::default();
	let train_cfg = miner_cfg.train_config(params.inner_steps);
	let accounts: Vec<[u8; 32]> = (0..n as u8).map(|i| [i + 1; 32]).collect();
	let mut trainers: Vec<Trainer> =
		(0..n).map(|_| Trainer::cpu(&model, train_cfg)).collect::<Result<_, _>>()?;
	let mut feedback: Vec<ErrorFeedback> =
		(0..n).map(|_| ErrorFeedback::new(&plan, miner_cfg.beta)).collect::<Result<_, _>>()?;
	let mut theta = training_model::init_params(&model, params.run_seed);
	let overlap = |a: &SparseGradient, b: &SparseGradient| {
		sparseloco::index_overlap(&plan, &a.tensors, &b.tensors).map_or(0.0, |o| o.ratio())
	};
	let (mut pairs, mut consecutive, mut honest_vs_copy, mut copy_vs_source) =
		(vec![], vec![], vec![], vec![]);
	let mut previous: Option<Vec<SparseGradient>> = None;
	println!(
		"model {preset}: {} parameters, {rounds} rounds, {n} miners, k = {}/{}",
		model.num_params(),
		params.topk_per_chunk,
		params.chunk_size
	);
	for r in 0..rounds {
		let mut grads = Vec::with_capacity(n);
		for m in 0..n {
			let a = Assignment { run_seed: params.run_seed, round: r, miner: accounts[m] };
			trainers[m].set_global_step(r * h);
			let mut batches =
				|step: u64| -> Result<training_model::Batch, training_model::ModelError> {
					Ok(corpus.assigned_batch(&a, step, shape)?)
				};
			let out = trainers[m].inner_steps(&theta, h, &mut batches)?;
			let delta: Vec<f32> = theta.iter().zip(&out.params).map(|(a, b)| a - b).collect();
			let tensors = feedback[m].compress(&plan, &delta)?;
			let sample = sparseloco::fingerprint::sample(&plan, r, &theta)
				.ok_or_else(|| anyhow::anyhow!("theta does not fit the plan"))?;
			let header = sparseloco::Header::new(&plan, 1, r, accounts[m], sample);
			grads.push(SparseGradient { header, tensors });
		}
		let mut round_pairs = Vec::new();
		for i in 0..n {
			for j in i + 1..n {
				round_pairs.push(overlap(&grads[i], &grads[j]));
			}
		}
		let mut round_consecutive = Vec::new();
		if let Some(prev) = &previous {
			for m in 0..n {
				round_consecutive.push(overlap(&grads[m], &prev[m]));
				// The copier re-heads miner m's previous gradient as its own: the validator
				// sees it against its source's previous gradient (identical indices) and the
				// honest miner's current gradient against it.
				copy_vs_source.push(overlap(&prev[m], &prev[m]));
				honest_vs_copy.push(overlap(&grads[m], &prev[m]));
			}
		}
		let max = |v: &[f64]| v.iter().copied().fold(0.0, f64::max);
		println!(
			"round {r}: pairs max {:.4}, own previous max {:.4}",
			max(&round_pairs),
			max(&round_consecutive)
		);
		pairs.extend(round_pairs);
		consecutive.extend(round_consecutive);
		sparseloco::aggregate(&plan, &grads, &mut theta, params.outer_lr_ppb as f32 / 1e9)?;
		previous = Some(grads);
	}
	summary("honest pairs, same round", pairs);
	summary("honest miner vs its own previous round", consecutive);
	summary("copier vs its source's previous gradient", copy_vs_source);
	summary("honest miner vs a copy of its previous gradient", honest_vs_copy);
	Ok(())
}
