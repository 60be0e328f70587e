//! Every kernel of `kernels/`, run on the host by the CUDA simulator, against
//! training-model's CPU ops.
//!
//! Exactness: where the kernel does the same f32 operations in the same order as the CPU
//! reference (element-wise ops, gathers, per-column sums in row order, AdamW) the results
//! must be bit-identical. Block reductions (row sums in RMSNorm, softmax and cross-entropy)
//! add in tree order instead of left to right, so those results are compared with
//! `|got - want| <= TOL * max|want|` over the tensor, `TOL = 1e-6` (a few f32 ulps of the
//! tensor's scale). The attention decomposition goes through naive f32 products here
//! instead of gemm, so it gets `GEMM_TOL = 1e-5`. The f64 gradient norm gets `1e-12`
//! relative.

use training_cuda::sim::{self, Shape};
use training_cuda::{rope_tables, AdamWStep};
use training_model::ops::attention::{self, AttnShape};
use training_model::ops::rope::RopeTable;
use training_model::ops::{cross_entropy, embedding, rmsnorm, swiglu};
use training_model::optim::{clip_grad_norm, global_norm};
use training_model::{AdamW, AdamWConfig, ModelConfig, ParamLayout};

const TOL: f32 = 1e-6;
const GEMM_TOL: f32 = 1e-5;

/// Deterministic values in [-scale, scale) from a 64-bit LCG.
fn rand_vec(n: usize, seed: u64, scale: f32) -> Vec<f32> {
	let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
	(0..n)
		.map(|_| {
			state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
			((state >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * scale
		})
		.collect()
}

fn rand_tokens(n: usize, vocab: usize, seed: u64) -> Vec<u32> {
	rand_vec(n, seed, 1.0)
		.iter()
		.map(|v| ((v + 1.0) * 0.5 * vocab as f32) as u32 % vocab as u32)
		.collect()
}

fn assert_bits(name: &str, got: &[f32], want: &[f32]) {
	assert_eq!(got.len(), want.len(), "{name}: length");
	for (i, (g, w)) in got.iter().zip(want).enumerate() {
		assert_eq!(g.to_bits(), w.to_bits(), "{name}[{i}]: got {g:e}, want {w:e}");
	}
}

fn assert_close(name: &str, got: &[f32], want: &[f32], tol: f32) {
	assert_eq!(got.len(), want.len(), "{name}: length");
	let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
	assert!(scale > 0.0, "{name}: all-zero reference");
	for (i, (g, w)) in got.iter().zip(want).enumerate() {
		assert!(
			(g - w).abs() <= tol * scale,
			"{name}[{i}]: got {g:e}, want {w:e} (scale {scale:e})"
		);
	}
}

/// Reduction kernels are tested with a small block (many strided elements per thread) and
/// the backend's block (more threads than elements).
const BLOCKS: [u32; 2] = [32, training_cuda::kernels::REDUCE_BLOCK];

#[test]
fn rmsnorm_forward_matches_cpu() {
	let (n, d, eps) = (7, 100, 1e-5f32);
	let x = rand_vec(n * d, 1, 3.0);
	let g = rand_vec(d, 2, 1.0);
	let (mut y, mut r) = (vec![0.0; n * d], vec![0.0; n]);
	rmsnorm::forward(&mut y, &mut r, &x, &g, d, eps);
	for block in BLOCKS {
		let (mut sy, mut sr) = (vec![0.0; n * d], vec![0.0; n]);
		sim::rmsnorm_forward(block, &mut sy, &mut sr, &x, &g, eps);
		assert_close("rmsnorm out", &sy, &y, TOL);
		assert_close("rmsnorm rstd", &sr, &r, TOL);
	}
}

#[test]
fn rmsnorm_backward_matches_cpu() {
	let (n, d, eps) = (6, 72, 1e-5f32);
	let x = rand_vec(n * d, 3, 2.0);
	let g = rand_vec(d, 4, 1.0);
	let dy = rand_vec(n * d, 5, 1.0);
	let (mut y, mut r) = (vec![0.0; n * d], vec![0.0; n]);
	rmsnorm::forward(&mut y, &mut r, &x, &g, d, eps);
	// Non-zero starting gradients check that both backward kernels accumulate.
	let dx0 = rand_vec(n * d, 6, 0.5);
	let dg0 = rand_vec(d, 7, 0.5);
	let (mut dx, mut dg) = (dx0.clone(), dg0.clone());
	rmsnorm::backward(&mut dx, &mut dg, &dy, &x, &g, &r, d);
	for block in BLOCKS {
		let mut sdx = dx0.clone();
		sim::rmsnorm_backward_input(block, &mut sdx, &dy, &x, &g, &r);
		assert_close("rmsnorm dx", &sdx, &dx, TOL);
		let mut sdg = dg0.clone();
		sim::rmsnorm_backward_gain(block, &mut sdg, &dy, &x, &r);
		assert_bits("rmsnorm dgain", &sdg, &dg);
	}
}

#[test]
fn rope_matches_cpu_both_directions() {
	let (seq, head_dim, heads, batch, theta) = (9, 8, 3, 2, 10_000.0);
	let width = heads * head_dim;
	let table = RopeTable::<f32>::new(16, head_dim, theta);
	let (cos, sin) = rope_tables(16, head_dim, theta);
	let x = rand_vec(batch * seq * width, 8, 2.0);
	for inverse in [false, true] {
		let mut want = x.clone();
		table.apply(&mut want, seq, width, inverse);
		// A grid smaller than the work exercises the grid-stride loop.
		for shape in [Shape::new(3, 32), Shape::new(64, 256)] {
			let mut got = x.clone();
			sim::rope_apply(shape, &mut got, &cos, &sin, seq, width, head_dim / 2, inverse);
			assert_bits("rope", &got, &want);
		}
	}
}

/// `[batch, heads, seq, seq]` scores `scale * q_h k_h^T` by naive f32 products.
fn scores(q: &[f32], k: &[f32], sh: AttnShape) -> Vec<f32> {
	let (seq, hd) = (sh.seq, sh.head_dim);
	let w = sh.n_heads * hd;
	let scale = 1.0 / (hd as f32).sqrt();
	let mut s = vec![0.0; sh.probs_len()];
	for b in 0..sh.batch {
		for h in 0..sh.n_heads {
			for t in 0..seq {
				for u in 0..seq {
					let dot: f32 = (0..hd)
						.map(|c| {
							q[(b * seq + t) * w + h * hd + c] * k[(b * seq + u) * w + h * hd + c]
						})
						.sum();
					s[((b * sh.n_heads + h) * seq + t) * seq + u] = scale * dot;
				}
			}
		}
	}
	s
}

const ATTN: AttnShape = AttnShape { batch: 2, seq: 7, n_heads: 3, head_dim: 4 };

#[test]
fn causal_softmax_forward_matches_cpu_attention_probs() {
	let n = ATTN.batch * ATTN.seq * ATTN.n_heads * ATTN.head_dim;
	let (q, k, v) = (rand_vec(n, 9, 2.0), rand_vec(n, 10, 2.0), rand_vec(n, 11, 1.0));
	let (mut out, mut probs) = (vec![0.0; n], vec![0.0; ATTN.probs_len()]);
	attention::forward(&mut out, &mut probs, &q, &k, &v, ATTN);
	for block in BLOCKS {
		let mut got = scores(&q, &k, ATTN);
		sim::causal_softmax_forward(block, &mut got, ATTN.seq);
		assert_close("softmax probs", &got, &probs, GEMM_TOL);
		// Exact zeros above the diagonal.
		for (r, row) in got.chunks(ATTN.seq).enumerate() {
			assert!(row[r % ATTN.seq + 1..].iter().all(|&p| p == 0.0));
		}
	}
}

/// The backward decomposition the GPU backend runs (dP = dout V^T on cuBLAS, the softmax
/// backward kernel, then dQ = dS K, dK = dS^T Q, dV = P^T dout on cuBLAS) must give the
/// CPU attention backward's gradients.
#[test]
fn causal_softmax_backward_gives_cpu_attention_gradients() {
	let sh = ATTN;
	let (seq, hd) = (sh.seq, sh.head_dim);
	let w = sh.n_heads * hd;
	let n = sh.batch * seq * w;
	let (q, k, v) = (rand_vec(n, 12, 2.0), rand_vec(n, 13, 2.0), rand_vec(n, 14, 1.0));
	let dout = rand_vec(n, 15, 1.0);
	let (mut out, mut probs) = (vec![0.0; n], vec![0.0; sh.probs_len()]);
	attention::forward(&mut out, &mut probs, &q, &k, &v, sh);
	let (mut dq, mut dk, mut dv) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
	attention::backward(&mut dq, &mut dk, &mut dv, &dout, &probs, &q, &k, &v, sh);

	let at = |b: usize, t: usize, h: usize, c: usize| (b * seq + t) * w + h * hd + c;
	let pi = |b: usize, h: usize, t: usize, u: usize| ((b * sh.n_heads + h) * seq + t) * seq + u;
	// dP = dout V^T
	let mut ds = vec![0.0f32; sh.probs_len()];
	for b in 0..sh.batch {
		for h in 0..sh.n_heads {
			for t in 0..seq {
				for u in 0..seq {
					ds[pi(b, h, t, u)] =
						(0..hd).map(|c| dout[at(b, t, h, c)] * v[at(b, u, h, c)]).sum();
				}
			}
		}
	}
	sim::causal_softmax_backward(32, &mut ds, &probs, seq, 1.0 / (hd as f32).sqrt());
	let (mut gq, mut gk, mut gv) = (vec![0.0f32; n], vec![0.0f32; n], vec![0.0f32; n]);
	for b in 0..sh.batch {
		for h in 0..sh.n_heads {
			for t in 0..seq {
				for c in 0..hd {
					for u in 0..seq {
						gq[at(b, t, h, c)] += ds[pi(b, h, t, u)] * k[at(b, u, h, c)];
						gk[at(b, t, h, c)] += ds[pi(b, h, u, t)] * q[at(b, u, h, c)];
						gv[at(b, t, h, c)] += probs[pi(b, h, u, t)] * dout[at(b, u, h, c)];
					}
				}
			}
		}
	}
	assert_close("attention dq", &gq, &dq, GEMM_TOL);
	assert_close("attention dk", &gk, &dk, GEMM_TOL);
	assert_close("attention dv", &gv, &dv, GEMM_TOL);
}

#[test]
fn swiglu_matches_cpu_bit_for_bit() {
	let n = 1000;
	let gate = rand_vec(n, 16, 6.0);
	let up = rand_vec(n, 17, 2.0);
	let da = rand_vec(n, 18, 1.0);
	let mut want = vec![0.0; n];
	swiglu::forward(&mut want, &gate, &up);
	let (mut wdg, mut wdu) = (vec![0.0; n], vec![0.0; n]);
	swiglu::backward(&mut wdg, &mut wdu, &da, &gate, &up);
	for shape in [Shape::new(2, 64), Shape::new(4, 256)] {
		let mut got = vec![0.0; n];
		sim::swiglu_forward(shape, &mut got, &gate, &up);
		assert_bits("swiglu out", &got, &want);
		let (mut dg, mut du) = (vec![7.0; n], vec![7.0; n]);
		sim::swiglu_backward(shape, &mut dg, &mut du, &da, &gate, &up);
		assert_bits("swiglu dgate", &dg, &wdg);
		assert_bits("swiglu dup", &du, &wdu);
	}
}

#[test]
fn cross_entropy_matches_cpu() {
	let (n, vocab) = (5, 300);
	let logits = rand_vec(n * vocab, 19, 8.0);
	let targets = rand_tokens(n, vocab, 20);
	let mut probs = logits.clone();
	let loss = cross_entropy::forward(&mut probs, &targets, vocab);
	for block in BLOCKS {
		let mut got = logits.clone();
		let mut losses = vec![0.0; n];
		sim::cross_entropy_forward(block, &mut got, &mut losses, &targets, vocab);
		assert_close("cross-entropy probs", &got, &probs, TOL);
		let mean = losses.iter().map(|&l| l as f64).sum::<f64>() / n as f64;
		assert!(((mean as f32) - loss).abs() <= TOL * loss.abs(), "loss {mean} vs {loss}");
	}
	// Backward from the same probabilities is element-wise: bit-exact.
	let mut want = probs.clone();
	cross_entropy::backward(&mut want, &targets, vocab);
	let mut got = probs.clone();
	sim::cross_entropy_backward(Shape::new(3, 128), &mut got, &targets, vocab, 1.0 / n as f32);
	assert_bits("cross-entropy dlogits", &got, &want);
}

#[test]
fn embedding_matches_cpu_with_repeated_tokens() {
	let (vocab, d, n) = (11, 40, 30);
	let table = rand_vec(vocab * d, 21, 1.0);
	let mut tokens = rand_tokens(n, vocab, 22);
	tokens[5] = tokens[0];
	tokens[17] = tokens[0];
	let mut want = vec![0.0; n * d];
	embedding::forward(&mut want, &table, &tokens, d);
	let mut got = vec![0.0; n * d];
	sim::embedding_forward(Shape::new(5, 64), &mut got, &table, &tokens, d);
	assert_bits("embedding out", &got, &want);

	let dout = rand_vec(n * d, 23, 1.0);
	let dtable0 = rand_vec(vocab * d, 24, 0.1);
	let mut want = dtable0.clone();
	embedding::backward(&mut want, &dout, &tokens, d);
	for block in [16, 256] {
		let mut got = dtable0.clone();
		sim::embedding_backward(block, &mut got, &dout, &tokens, d);
		assert_bits("embedding dtable", &got, &want);
	}
}

#[test]
fn adamw_matches_cpu_bit_for_bit_over_steps() {
	let cfg = ModelConfig { vocab_size: 13, ..ModelConfig::tiny() };
	let layout = ParamLayout::new(&cfg);
	let acfg = AdamWConfig::default();
	let mut opt = AdamW::new(&layout, acfg);
	let n = layout.len();
	let mut want = rand_vec(n, 25, 1.0);
	let mut got = want.clone();
	let (mut m, mut v) = (vec![0.0; n], vec![0.0; n]);
	for t in 1..=3u64 {
		let grads = rand_vec(n, 26 + t, 0.5);
		let lr = 0.01 * t as f32;
		opt.step(&mut want, &grads, lr);
		let step = AdamWStep::new(&acfg, t, lr);
		for spec in layout.specs() {
			let r = spec.range();
			let step = if spec.is_matrix() { step } else { step.without_decay() };
			sim::adamw_update(
				Shape::new(2, 64),
				&mut got[r.clone()],
				&grads[r.clone()],
				&mut m[r.clone()],
				&mut v[r],
				step,
			);
		}
		assert_bits("adamw params", &got, &want);
	}
}

#[test]
fn squared_norm_and_scale_match_cpu_clipping() {
	let g = rand_vec(10_007, 30, 1.0);
	let want = global_norm(&g);
	for shape in [Shape::new(4, 32), Shape::new(64, 256)] {
		let sum: f64 = sim::sq_norm_partial(shape, &g).iter().sum();
		let got = sum.sqrt();
		assert!((got - want).abs() <= 1e-12 * want, "norm {got} vs {want}");
	}
	let mut clipped = g.clone();
	let stats = clip_grad_norm(&mut clipped, 1.0);
	assert!(stats.scale < 1.0);
	let mut got = g.clone();
	sim::scale_inplace(Shape::new(8, 256), &mut got, stats.scale);
	assert_bits("scaled grads", &got, &clipped);
}

#[test]
fn add_matches_cpu() {
	let (a, b) = (rand_vec(777, 31, 1.0), rand_vec(777, 32, 1.0));
	let want: Vec<f32> = a.iter().zip(&b).map(|(x, y)| x + y).collect();
	let mut got = a.clone();
	sim::add_inplace(Shape::new(2, 128), &mut got, &b);
	assert_bits("add", &got, &want);
}
