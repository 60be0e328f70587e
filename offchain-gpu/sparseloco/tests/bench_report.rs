//! Prints the one-shot benchmark report (ignored by default, it takes a while):
//! `cargo test --release -p sparseloco --test bench_report -- --ignored --nocapture`.
//! `SPARSELOCO_BENCH_DIM`, `_LAYERS` and `_VOCAB` pick the model size (default 512, 8, 32000).

use sparseloco::{bench_report, BenchConfig};

fn var(name: &str, default: usize) -> usize {
	std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[test]
#[ignore]
fn print_bench_report() {
	let cfg = BenchConfig::llama_like(
		var("SPARSELOCO_BENCH_DIM", 512),
		var("SPARSELOCO_BENCH_LAYERS", 8),
		var("SPARSELOCO_BENCH_VOCAB", 32_000),
	)
	.expect("layout");
	println!("{}", bench_report(&cfg));
}
