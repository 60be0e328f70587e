//! End to end: all three methods on a small synthetic corpus (no corpus file).

use training_model::{BatchShape, Corpus, ModelConfig};

use super::methods::compression_plan;
use super::*;

/// Byte-level text with structure a small model picks up within a few hundred steps.
fn synthetic_corpus() -> Corpus {
	let lines = [
		"to be or not to be, that is the question. ",
		"the quick brown fox jumps over the lazy dog. ",
		"all the world's a stage, and all the men and women merely players. ",
	];
	let text: String = (0..120).map(|i| lines[i % lines.len()]).collect();
	Corpus::from_documents([text.as_str()], 0.1).unwrap()
}

/// About 100k parameters: big enough for 64 x 64 chunks, small enough to train in seconds.
fn small_test_config() -> QualityConfig {
	let model = ModelConfig {
		d_model: 64,
		n_layers: 2,
		n_heads: 4,
		d_ff: 128,
		seq_len: 32,
		..ModelConfig::tiny()
	};
	QualityConfig {
		replicas: 2,
		inner_steps: 8,
		rounds: 4,
		shape: BatchShape { batch_size: 4, seq_len: 32 },
		eval_batches: 2,
		inner_lr: 1e-2,
		..QualityConfig::standard(model)
	}
}

#[test]
fn all_methods_learn_and_sparseloco_sends_far_fewer_bytes() {
	let cfg = small_test_config();
	let corpus = synthetic_corpus();
	let mut seen = Vec::new();
	let outcome = run(&cfg, &corpus, &mut |m, p| seen.push((m, p.round))).unwrap();
	assert_eq!(outcome.curves.len(), 3);
	assert_eq!(seen.len(), 3 * (cfg.rounds as usize + 1));

	let n = cfg.model.num_params();
	let blob = compression_plan(&cfg.model, &cfg.sparse).unwrap().blob_len() as u64;
	for c in &outcome.curves {
		let losses: Vec<f32> = c.points.iter().map(|p| p.heldout_loss).collect();
		eprintln!("{}: {losses:?}", c.method);
		assert!(losses.iter().all(|l| l.is_finite()), "{}: {losses:?}", c.method);
		let (first, last) = (losses[0], *losses.last().unwrap());
		assert!((first - (cfg.model.vocab_size as f32).ln()).abs() < 0.2, "{first}");
		assert!(last < 0.8 * first, "{}: {first} -> {last}", c.method);
		assert!(last < losses[1], "{}: no progress after round 1: {losses:?}", c.method);
		for (r, p) in c.points.iter().enumerate() {
			assert_eq!(p.round, r as u64);
			assert_eq!(p.tokens, r as u64 * cfg.tokens_per_round());
		}
		// Bytes per replica: H fp32 gradients (AdamW) or one fp32 pseudo-gradient (DiLoCo)
		// or one wire blob (SparseLoCo) per round.
		let per_round = match c.method {
			Method::AdamW => 4 * n as u64 * cfg.inner_steps,
			Method::DiLoCo => 4 * n as u64,
			Method::SparseLoCo => blob,
		};
		let bytes: Vec<u64> = c.points.iter().map(|p| p.bytes_sent).collect();
		let expected: Vec<u64> = (0..=cfg.rounds).map(|r| r * per_round).collect();
		assert_eq!(bytes, expected, "{}", c.method);
	}
	let (adamw, diloco, sparse) = (&outcome.curves[0], &outcome.curves[1], &outcome.curves[2]);
	assert_eq!(
		(adamw.method, diloco.method, sparse.method),
		(Method::AdamW, Method::DiLoCo, Method::SparseLoCo)
	);
	// The same initial model and evaluation set.
	assert_eq!(adamw.points[0].heldout_loss, sparse.points[0].heldout_loss);
	let (d, s) = (diloco.last().unwrap().bytes_sent, sparse.last().unwrap().bytes_sent);
	assert!(d > 30 * s, "DiLoCo {d} bytes vs SparseLoCo {s}");

	let rows = report::summary_rows(&outcome.curves);
	assert!(rows[2].fewer_than_diloco.unwrap() > 30.0);
}

#[test]
fn runs_are_deterministic() {
	let cfg = QualityConfig { rounds: 2, ..small_test_config() };
	let corpus = synthetic_corpus();
	let bench = methods::Bench::new(&cfg, &corpus).unwrap();
	let a = bench.run(Method::SparseLoCo, &mut |_, _| {}).unwrap();
	let b = bench.run(Method::SparseLoCo, &mut |_, _| {}).unwrap();
	assert_eq!(a.points, b.points);
}

#[test]
fn outputs_are_written() {
	let cfg = QualityConfig { rounds: 1, inner_steps: 2, ..small_test_config() };
	let outcome = run(&cfg, &synthetic_corpus(), &mut |_, _| {}).unwrap();
	let dir = std::env::temp_dir().join(format!("bench-train-{}", std::process::id()));
	let written = write_outputs(&dir, &cfg, &outcome).unwrap();
	let csv = std::fs::read_to_string(&written.csv).unwrap();
	assert_eq!(csv.lines().count(), 1 + 3 * 2);
	assert!(std::fs::read_to_string(&written.svg).unwrap().contains("<polyline"));
	assert_eq!(std::fs::read_to_string(&written.markdown).unwrap(), written.summary);
	std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn invalid_configs_are_refused_before_training() {
	let cfg = QualityConfig { replicas: 0, ..small_test_config() };
	assert!(matches!(
		run(&cfg, &synthetic_corpus(), &mut |_, _| {}),
		Err(QualityError::Config(config::ConfigError::Zero("replicas")))
	));
}
