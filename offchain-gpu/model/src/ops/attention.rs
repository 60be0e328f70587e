//! Causal multi-head scaled dot-product attention over `q, k, v [batch * seq, n_heads *
//! head_dim]` (heads side by side in each row). The softmax probabilities are kept,
//! `[batch, n_heads, seq, seq]`, for the backward pass. Sequences run in parallel.

use rayon::prelude::*;

use crate::float::Float;

/// Shape of one attention call.
#[derive(Clone, Copy, Debug)]
pub struct AttnShape {
    pub batch: usize,
    pub seq: usize,
    pub n_heads: usize,
    pub head_dim: usize,
}

impl AttnShape {
    fn width(&self) -> usize {
        self.n_heads * self.head_dim
    }

    pub fn probs_len(&self) -> usize {
        self.batch * self.n_heads * self.seq * self.seq
    }

    fn scale<T: Float>(&self) -> T {
        T::ONE / T::from_f64(self.head_dim as f64).sqrt()
    }
}

fn dot<T: Float>(a: &[T], b: &[T]) -> T {
    a.iter().zip(b).map(|(&x, &y)| x * y).sum()
}

/// `out[t] = sum_{s <= t} softmax_s(q_t . k_s / sqrt(head_dim)) v_s`, per sequence and head.
pub fn forward<T: Float>(out: &mut [T], probs: &mut [T], q: &[T], k: &[T], v: &[T], sh: AttnShape) {
    let (seq, w, hd) = (sh.seq, sh.width(), sh.head_dim);
    let rows = sh.batch * seq;
    for buf in [&*out, q, k, v] {
        assert_eq!(buf.len(), rows * w);
    }
    assert_eq!(probs.len(), sh.probs_len());
    let scale = sh.scale::<T>();
    out.par_chunks_mut(seq * w)
        .zip(probs.par_chunks_mut(sh.n_heads * seq * seq))
        .enumerate()
        .for_each(|(b, (out, probs))| {
            let base = b * seq * w;
            let (q, k, v) = (&q[base..base + seq * w], &k[base..base + seq * w], &v[base..base + seq * w]);
            for h in 0..sh.n_heads {
                let cols = h * hd..(h + 1) * hd;
                for t in 0..seq {
                    let p = &mut probs[(h * seq + t) * seq..(h * seq + t + 1) * seq];
                    let qt = &q[t * w + cols.start..t * w + cols.end];
                    let mut max = T::from_f64(f64::NEG_INFINITY);
                    for s in 0..=t {
                        p[s] = dot(qt, &k[s * w + cols.start..s * w + cols.end]) * scale;
                        max = max.max(p[s]);
                    }
                    let mut sum = T::ZERO;
                    for ps in &mut p[..=t] {
                        *ps = (*ps - max).exp();
                        sum += *ps;
                    }
                    for ps in &mut p[..=t] {
                        *ps /= sum;
                    }
                    p[t + 1..].fill(T::ZERO);
                    let ot = &mut out[t * w + cols.start..t * w + cols.end];
                    ot.fill(T::ZERO);
                    for s in 0..=t {
                        for (o, &vs) in ot.iter_mut().zip(&v[s * w + cols.start..s * w + cols.end]) {
                            *o += p[s] * vs;
                        }
                    }
                }
            }
        });
}

/// Backward of [`forward`]; accumulates into `dq`, `dk`, `dv`. With `P` the saved
/// probabilities: `dP_ts = dout_t . v_s`, `dv_s += P_ts dout_t`,
/// `dS_ts = P_ts (dP_ts - sum_s' P_ts' dP_ts')`, `dq_t += c sum_s dS_ts k_s`,
/// `dk_s += c dS_ts q_t` with `c = 1/sqrt(head_dim)`.
#[allow(clippy::too_many_arguments)]
pub fn backward<T: Float>(
    dq: &mut [T],
    dk: &mut [T],
    dv: &mut [T],
    dout: &[T],
    probs: &[T],
    q: &[T],
    k: &[T],
    v: &[T],
    sh: AttnShape,
) {
    let (seq, w, hd) = (sh.seq, sh.width(), sh.head_dim);
    let rows = sh.batch * seq;
    for buf in [&*dq, &*dk, &*dv, dout, q, k, v] {
        assert_eq!(buf.len(), rows * w);
    }
    assert_eq!(probs.len(), sh.probs_len());
    let scale = sh.scale::<T>();
    dq.par_chunks_mut(seq * w)
        .zip(dk.par_chunks_mut(seq * w))
        .zip(dv.par_chunks_mut(seq * w))
        .enumerate()
        .for_each(|(b, ((dq, dk), dv))| {
            let base = b * seq * w;
            let span = base..base + seq * w;
            let (q, k, v, dout) = (&q[span.clone()], &k[span.clone()], &v[span.clone()], &dout[span]);
            let probs = &probs[b * sh.n_heads * seq * seq..(b + 1) * sh.n_heads * seq * seq];
            let mut dp = vec![T::ZERO; seq];
            for h in 0..sh.n_heads {
                let c0 = h * hd;
                let at = |t: usize| t * w + c0..t * w + c0 + hd;
                for t in 0..seq {
                    let p = &probs[(h * seq + t) * seq..(h * seq + t) * seq + t + 1];
                    let dot_t = &dout[at(t)];
                    for s in 0..=t {
                        dp[s] = dot(dot_t, &v[at(s)]);
                        for (dv, &g) in dv[at(s)].iter_mut().zip(dot_t) {
                            *dv += p[s] * g;
                        }
                    }
                    let mean = p.iter().zip(&dp).map(|(&p, &g)| p * g).sum::<T>();
                    for s in 0..=t {
                        let ds = p[s] * (dp[s] - mean) * scale;
                        let (qs, ks) = (at(t), at(s));
                        for j in 0..hd {
                            dq[qs.start + j] += ds * k[ks.start + j];
                            dk[ks.start + j] += ds * q[qs.start + j];
                        }
                    }
                }
            }
        });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::gradcheck::{assert_grad_close, numeric_grad, rand_vec};

    const SH: AttnShape = AttnShape { batch: 2, seq: 5, n_heads: 2, head_dim: 3 };

    fn run(q: &[f64], k: &[f64], v: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let mut out = vec![0.0; q.len()];
        let mut probs = vec![0.0; SH.probs_len()];
        forward(&mut out, &mut probs, q, k, v, SH);
        (out, probs)
    }

    #[test]
    fn is_causal_and_rows_sum_to_one() {
        let n = SH.batch * SH.seq * SH.width();
        let (q, k, v) = (rand_vec(n, 1), rand_vec(n, 2), rand_vec(n, 3));
        let (out, probs) = run(&q, &k, &v);
        for row in probs.chunks(SH.seq) {
            assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        }
        // Changing the last position's key/value must not change earlier outputs.
        let (mut k2, mut v2) = (k.clone(), v.clone());
        let last = (SH.seq - 1) * SH.width();
        for i in last..last + SH.width() {
            k2[i] += 1.0;
            v2[i] -= 1.0;
        }
        let (out2, _) = run(&q, &k2, &v2);
        assert_eq!(&out[..last], &out2[..last]);
        assert_ne!(&out[last..last + SH.width()], &out2[last..last + SH.width()]);
    }

    #[test]
    fn backward_matches_finite_differences() {
        let n = SH.batch * SH.seq * SH.width();
        let (q, k, v) = (rand_vec(n, 4), rand_vec(n, 5), rand_vec(n, 6));
        let dy = rand_vec(n, 7);
        let loss = |q: &[f64], k: &[f64], v: &[f64]| {
            run(q, k, v).0.iter().zip(&dy).map(|(a, b)| a * b).sum::<f64>()
        };
        let (_, probs) = run(&q, &k, &v);
        let (mut dq, mut dk, mut dv) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
        backward(&mut dq, &mut dk, &mut dv, &dy, &probs, &q, &k, &v, SH);
        assert_grad_close("attention dq", &dq, &numeric_grad(&q, |x| loss(x, &k, &v)), 1e-8);
        assert_grad_close("attention dk", &dk, &numeric_grad(&k, |x| loss(&q, x, &v)), 1e-8);
        assert_grad_close("attention dv", &dv, &numeric_grad(&v, |x| loss(&q, &k, x)), 1e-8);
    }
}
