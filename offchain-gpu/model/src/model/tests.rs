use super::*;
use crate::init::init_params_with;
use crate::ops::gradcheck::{max_rel_error, numeric_grad, rand_vec};

fn test_batch(cfg: &ModelConfig, batch_size: usize, seq_len: usize, seed: u64) -> Batch {
	let n = batch_size * seq_len;
	let tok = |v: f64| ((v + 1.0) * 0.5 * cfg.vocab_size as f64) as u32 % cfg.vocab_size as u32;
	Batch {
		batch_size,
		seq_len,
		inputs: rand_vec(n, seed).into_iter().map(tok).collect(),
		targets: rand_vec(n, seed + 1).into_iter().map(tok).collect(),
	}
}

/// Parameters with every tensor (norm gains included) randomized at a scale where all
/// paths carry signal, so a wrong derivative anywhere shows up.
fn random_params(cfg: &ModelConfig) -> Vec<f64> {
	let mut p: Vec<f64> = init_params_with(cfg, 3, 0.4);
	let noise = rand_vec(p.len(), 11);
	let layout = ParamLayout::new(cfg);
	for spec in layout.specs().iter().filter(|s| !s.is_matrix()) {
		for i in spec.range() {
			p[i] += 0.3 * noise[i];
		}
	}
	p
}

#[test]
fn whole_model_gradient_matches_finite_differences_f64() {
	let cfg = ModelConfig::tiny();
	let params = random_params(&cfg);
	let batch = test_batch(&cfg, 2, 6, 21);
	let mut ws = Workspace::<f64>::new(&cfg).unwrap();
	let mut grads = vec![0.0; params.len()];
	ws.loss_and_grad(&params, &mut grads, &batch).unwrap();
	let numeric = numeric_grad(&params, |p| ws.loss(p, &batch).unwrap());
	let layout = ParamLayout::new(&cfg);
	let mut worst = 0.0f64;
	for spec in layout.specs() {
		let (a, n) = (&grads[spec.range()], &numeric[spec.range()]);
		assert!(a.iter().any(|v| v.abs() > 1e-7), "{} has an all-zero gradient", spec.name);
		let err = max_rel_error(a, n);
		assert!(err < 1e-7, "{}: max relative error {err:e}", spec.name);
		worst = worst.max(err);
	}
	eprintln!(
		"whole-model f64 gradient check: worst relative error {worst:e} over {} params",
		params.len()
	);
}

#[test]
fn f32_path_agrees_with_f64_path() {
	let cfg = ModelConfig::tiny();
	let p64 = random_params(&cfg);
	let p32: Vec<f32> = p64.iter().map(|&v| v as f32).collect();
	let batch = test_batch(&cfg, 3, 16, 5);
	let (mut g64, mut g32) = (vec![0.0f64; p64.len()], vec![0.0f32; p32.len()]);
	let l64 = Workspace::<f64>::new(&cfg).unwrap().loss_and_grad(&p64, &mut g64, &batch).unwrap();
	let l32 = Workspace::<f32>::new(&cfg).unwrap().loss_and_grad(&p32, &mut g32, &batch).unwrap();
	assert!((l64 - l32 as f64).abs() < 1e-4 * l64.abs(), "{l64} vs {l32}");
	let g32: Vec<f64> = g32.iter().map(|&v| v as f64).collect();
	let scale = g64.iter().fold(0.0f64, |m, v| m.max(v.abs()));
	let err = g64.iter().zip(&g32).fold(0.0f64, |m, (a, b)| m.max((a - b).abs())) / scale;
	assert!(err < 1e-4, "f32 gradient deviates by {err:e} of the largest entry");
}

#[test]
fn workspace_reshapes_between_batches() {
	let cfg = ModelConfig::tiny();
	let params = random_params(&cfg);
	let mut ws = Workspace::<f64>::new(&cfg).unwrap();
	let small = test_batch(&cfg, 1, 4, 1);
	let first = ws.loss(&params, &small).unwrap();
	ws.loss(&params, &test_batch(&cfg, 4, 16, 2)).unwrap();
	assert_eq!(ws.loss(&params, &small).unwrap(), first);
}

#[test]
fn rejects_bad_inputs() {
	let cfg = ModelConfig::tiny();
	let params = random_params(&cfg);
	let mut ws = Workspace::<f64>::new(&cfg).unwrap();
	let mut bad = test_batch(&cfg, 1, 4, 1);
	bad.inputs[2] = cfg.vocab_size as u32;
	assert!(matches!(ws.loss(&params, &bad), Err(ModelError::TokenOutOfRange { .. })));
	let long = test_batch(&cfg, 1, cfg.seq_len + 1, 1);
	assert!(matches!(ws.loss(&params, &long), Err(ModelError::SequenceTooLong { .. })));
	let mut ragged = test_batch(&cfg, 2, 4, 1);
	ragged.targets.pop();
	assert!(matches!(ws.loss(&params, &ragged), Err(ModelError::BadBatch(_))));
	let ok = test_batch(&cfg, 1, 4, 1);
	assert!(matches!(ws.loss(&params[1..], &ok), Err(ModelError::ParamLength { .. })));
}

#[test]
fn the_memory_model_counts_what_the_workspace_allocates() {
	for (cfg, batch, seq) in
		[(ModelConfig::tiny(), 3, 16), (ModelConfig::small(), 2, 128), (ModelConfig::small(), 1, 7)]
	{
		let mut ws = Workspace::<f32>::new(&cfg).unwrap();
		assert_eq!(ws.allocated(), 0);
		let params: Vec<f32> = crate::init::init_params(&cfg, 1);
		let b = Batch {
			batch_size: batch,
			seq_len: seq,
			inputs: vec![1; batch * seq],
			targets: vec![2; batch * seq],
		};
		ws.loss(&params, &b).unwrap();
		let model = cfg.training_memory(batch, seq);
		assert_eq!(ws.allocated() * 4, model.cpu_workspace_bytes, "{cfg:?} at {batch} x {seq}");
	}
}
