//! Experiment: how much of a miner's data is visible in its compressed gradient?
//!
//! Simulates the devnet's rounds in-process (no chain): honest miners, one that trains on
//! another account's batches and one that trains on random tokens, all with error feedback,
//! aggregated every round. For each round and miner it prints the cosine between the miner's
//! decoded gradient and probes built from its assigned batches at `theta_r`, the same less
//! the mean over the other miners' probes ("contrast"), and centred cosines (gradients and
//! probes less their mean over the miners).
//!
//! cargo run --release --example data_signal -- [rounds]

use anyhow::Result;
use codec::Encode;
use offchain_gpu::devnet::DevnetConfig;
use offchain_gpu::roles::miner::{noise_batch, MinerConfig};
use offchain_gpu::roles::validator::cosine as cos;
use offchain_gpu::roles::{load_corpus, model_preset, plan_for};
use sparseloco::ErrorFeedback;
use training_model::{AssignedBatches, Assignment, Trainer, Workspace};

fn main() -> Result<()> {
	let rounds: u64 = std::env::args().nth(1).map(|s| s.parse()).transpose()?.unwrap_or(8);
	let n_miners = 6usize;
	let (model, shape) = model_preset("devnet")?;
	let devnet = DevnetConfig::default();
	let params = devnet.run_params(model.config_hash())?;
	let plan = plan_for(&model, &params)?;
	let corpus = load_corpus()?;
	let h = u64::from(params.inner_steps);
	// Exactly the miners' inner loop and error feedback.
	let miner_cfg = MinerConfig::default();
	let train_cfg = miner_cfg.train_config(params.inner_steps);
	let accounts: Vec<[u8; 32]> = (0..n_miners as u8).map(|i| [i + 1; 32]).collect();
	// The last two miners cheat: one trains on someone else's batches, one on random tokens.
	let (cheat, noise) = (n_miners - 2, n_miners - 1);
	let mut trainers: Vec<Trainer> =
		(0..n_miners).map(|_| Trainer::cpu(&model, train_cfg)).collect::<Result<_, _>>()?;
	let mut feedback: Vec<ErrorFeedback> = (0..n_miners)
		.map(|_| ErrorFeedback::new(&plan, miner_cfg.beta))
		.collect::<Result<_, _>>()?;
	let mut theta = training_model::init_params(&model, params.run_seed);
	let mut ws = Workspace::<f32>::new(&model)?;
	let mut replayer = Trainer::cpu(&model, train_cfg)?;
	for r in 0..rounds {
		let assignment =
			|m: usize| Assignment { run_seed: params.run_seed, round: r, miner: accounts[m] };
		let mut grads = Vec::new();
		for m in 0..n_miners {
			let mut a = assignment(m);
			if m == cheat {
				a.miner = sp_crypto_hashing::blake2_256(&(b"other-data", r, accounts[m]).encode());
			}
			let vocab = model.vocab_size;
			let mut batches =
				|step: u64| -> Result<training_model::Batch, training_model::ModelError> {
					if m == noise {
						return Ok(noise_batch(
							vocab,
							shape,
							&(b"random-data", r, accounts[m], step),
						));
					}
					Ok(corpus.assigned_batch(&a, step, shape)?)
				};
			let out = trainers[m].inner_steps(&theta, h, &mut batches)?;
			let delta: Vec<f32> = theta.iter().zip(&out.params).map(|(a, b)| a - b).collect();
			let tensors = feedback[m].compress(&plan, &delta)?;
			let sample = sparseloco::fingerprint::sample(&plan, r, &theta).unwrap();
			let header = sparseloco::Header::new(&plan, 1, r, accounts[m], sample);
			grads.push(sparseloco::SparseGradient { header, tensors });
		}
		// Probes from each miner's assigned batches at theta_r.
		let mut grad_probe = Vec::new();
		let mut few_probe = Vec::new();
		let mut replay_probe = Vec::new();
		let mut one = vec![0.0f32; theta.len()];
		for m in 0..n_miners {
			let mut sum = vec![0.0f32; theta.len()];
			let mut few = vec![0.0f32; theta.len()];
			for s in 0..h {
				let b = corpus.assigned_batch(&assignment(m), s, shape)?;
				ws.loss_and_grad(&theta, &mut one, &b)?;
				sum.iter_mut().zip(&one).for_each(|(a, g)| *a += g);
				if s % 5 == 0 {
					few.iter_mut().zip(&one).for_each(|(a, g)| *a += g);
				}
			}
			grad_probe.push(sum);
			few_probe.push(few);
			replayer.reset_optimizer();
			replayer.set_global_step(r * h);
			let mut batches = AssignedBatches { corpus: &corpus, assignment: assignment(m), shape };
			let out = replayer.inner_steps(&theta, h, &mut batches)?;
			replay_probe
				.push(theta.iter().zip(&out.params).map(|(a, b)| a - b).collect::<Vec<f32>>());
		}
		let dense: Vec<Vec<f32>> = grads.iter().map(|g| g.to_dense(&plan)).collect();
		let contrast = |probe: &[Vec<f32>], m: usize| {
			let own = cos(&dense[m], &probe[m]);
			let others: Vec<f64> =
				(0..n_miners).filter(|&n| n != m).map(|n| cos(&dense[m], &probe[n])).collect();
			(own, own - others.iter().sum::<f64>() / others.len() as f64)
		};
		// Centred: each gradient and each probe less the mean over the miners, which removes
		// the direction every batch shares and keeps what is particular to one miner's data.
		let centred = |v: &[Vec<f32>]| -> Vec<Vec<f32>> {
			let mut mean = vec![0.0f32; theta.len()];
			for x in v {
				mean.iter_mut().zip(x).for_each(|(a, b)| *a += b / v.len() as f32);
			}
			v.iter().map(|x| x.iter().zip(&mean).map(|(a, b)| a - b).collect()).collect()
		};
		let (dense_c, grad_c, replay_c) =
			(centred(&dense), centred(&grad_probe), centred(&replay_probe));
		for m in 0..n_miners {
			let (go, gc) = contrast(&grad_probe, m);
			let (ro, rc) = contrast(&replay_probe, m);
			let (fo, fc) = contrast(&few_probe, m);
			let (cg, cr) = (cos(&dense_c[m], &grad_c[m]), cos(&dense_c[m], &replay_c[m]));
			println!(
				"round {r} miner {m}{}: grad cos {go:+.4} contrast {gc:+.4} | 4-batch cos {fo:+.4} contrast {fc:+.4} | replay cos {ro:+.4} contrast {rc:+.4} | centred grad {cg:+.4} replay {cr:+.4}",
				if m == cheat {
					" (other data)"
				} else if m == noise {
					" (random tokens)"
				} else {
					""
				}
			);
		}
		sparseloco::aggregate(&plan, &grads, &mut theta, 1.0)?;
		let heldout = corpus.heldout_batch(0, shape)?;
		println!("round {r}: held-out loss {:.4}", ws.loss(&theta, &heldout)?);
	}
	Ok(())
}
