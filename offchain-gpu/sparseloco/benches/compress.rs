//! Criterion benchmarks of the hot paths: `cargo bench -p sparseloco --bench compress`.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use sparseloco::bench::synthetic_delta;
use sparseloco::{
	aggregate, compress_in_place, decode, encode, ChunkParams, Header, Layout, Plan,
	SparseGradient, TensorSpec,
};

fn plan(rows: usize, cols: usize) -> Plan {
	let layout = Layout::new(vec![TensorSpec::new("w", &[rows, cols])]).expect("layout");
	Plan::new(layout, ChunkParams::default()).expect("params")
}

fn blob(plan: &Plan, seed: u64) -> Vec<u8> {
	let delta = synthetic_delta(plan, seed);
	let mut e = vec![0.0; plan.len()];
	let tensors = compress_in_place(plan, 0.95, &mut e, &delta).expect("compress");
	let grad = SparseGradient { header: Header::new(plan, 0, 0, [0; 32], [0.0; 16]), tensors };
	encode(plan, &grad).expect("encode")
}

fn compress(c: &mut Criterion) {
	let plan = plan(2048, 4096);
	let delta = synthetic_delta(&plan, 1);
	let mut e = vec![0.0f32; plan.len()];
	let mut g = c.benchmark_group("sparseloco");
	g.sample_size(10);
	g.throughput(Throughput::Bytes(4 * plan.len() as u64));
	g.bench_function("memcpy 8M f32", |b| {
		let mut dst = vec![0.0f32; plan.len()];
		b.iter(|| dst.copy_from_slice(&delta))
	});
	g.bench_function("compress 8M f32", |b| {
		b.iter(|| compress_in_place(&plan, 0.95, &mut e, &delta).expect("compress"))
	});
	let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().expect("pool");
	g.bench_function("compress 8M f32, 1 thread", |b| {
		b.iter(|| one.install(|| compress_in_place(&plan, 0.95, &mut e, &delta).expect("compress")))
	});
	let wire = blob(&plan, 2);
	g.bench_function("decode 8M f32", |b| b.iter(|| decode(&plan, &wire).expect("decode")));
	let grad = decode(&plan, &wire).expect("decode");
	g.bench_function("encode 8M f32", |b| b.iter(|| encode(&plan, &grad).expect("encode")));

	let peers: Vec<SparseGradient> =
		(0..20).map(|p| decode(&plan, &blob(&plan, 10 + p)).expect("decode")).collect();
	g.throughput(Throughput::Bytes(4 * 20 * plan.len() as u64));
	g.bench_function("aggregate 20 peers x 8M f32", |b| {
		b.iter_batched_ref(
			|| vec![0.0f32; plan.len()],
			|theta| aggregate(&plan, &peers, theta, 0.4).expect("aggregate"),
			BatchSize::LargeInput,
		)
	});
	g.finish();
}

criterion_group!(benches, compress);
criterion_main!(benches);
