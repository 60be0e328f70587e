// The kernels of kernels/*.cu built for the host simulator (cuda_sim.h), each exported as
// `sim_<kernel>(grid, block, kernel arguments...)`, which runs the whole grid on host memory
// and returns when it is done. Used by the training-cuda crate's tests through FFI.

#include "cuda_sim.h"

// The prelude first, as the NVRTC loader does, then every kernel file.
#include "../common.cuh"
#include "../adamw.cu"
#include "../cross_entropy.cu"
#include "../elementwise.cu"
#include "../embedding.cu"
#include "../rmsnorm.cu"
#include "../rope.cu"
#include "../softmax.cu"
#include "../sparseloco.cu"
#include "../sq_norm.cu"
#include "../swiglu.cu"

#define UNPAREN(...) __VA_ARGS__

// sim_<kernel>(grid, block, PARAMS) launching kernel(ARGS).
#define SIM_LAUNCHER(kernel, PARAMS, ARGS)                                            \
    extern "C" void sim_##kernel(unsigned int grid, unsigned int block, UNPAREN PARAMS) { \
        cuda_sim::launch(grid, block, kernel, UNPAREN ARGS);                          \
    }

typedef unsigned long long u64;

SIM_LAUNCHER(rmsnorm_forward,
             (float* out, float* rstd, const float* inp, const float* gain, int d, float eps),
             (out, rstd, inp, gain, d, eps))
SIM_LAUNCHER(rmsnorm_backward_input,
             (float* dinp, const float* dout, const float* inp, const float* gain,
              const float* rstd, int d),
             (dinp, dout, inp, gain, rstd, d))
SIM_LAUNCHER(rmsnorm_backward_gain,
             (float* dgain, const float* dout, const float* inp, const float* rstd, int n, int d),
             (dgain, dout, inp, rstd, n, d))
SIM_LAUNCHER(rope_apply,
             (float* x, const float* cos_table, const float* sin_table, int rows, int seq,
              int width, int half, int inverse),
             (x, cos_table, sin_table, rows, seq, width, half, inverse))
SIM_LAUNCHER(causal_softmax_forward, (float* probs, int seq), (probs, seq))
SIM_LAUNCHER(causal_softmax_backward, (float* grad, const float* probs, int seq, float scale),
             (grad, probs, seq, scale))
SIM_LAUNCHER(swiglu_forward, (float* out, const float* gate, const float* up, u64 n),
             (out, gate, up, n))
SIM_LAUNCHER(swiglu_backward,
             (float* dgate, float* dup, const float* dout, const float* gate, const float* up,
              u64 n),
             (dgate, dup, dout, gate, up, n))
SIM_LAUNCHER(cross_entropy_forward,
             (float* logits, float* losses, const unsigned int* targets, int vocab),
             (logits, losses, targets, vocab))
SIM_LAUNCHER(cross_entropy_backward,
             (float* probs, const unsigned int* targets, int n, int vocab, float inv_n),
             (probs, targets, n, vocab, inv_n))
SIM_LAUNCHER(embedding_forward,
             (float* out, const float* table, const unsigned int* tokens, int n, int d),
             (out, table, tokens, n, d))
SIM_LAUNCHER(embedding_backward,
             (float* dtable, const float* dout, const unsigned int* tokens, int n, int d),
             (dtable, dout, tokens, n, d))
SIM_LAUNCHER(adamw_update,
             (float* params, const float* grads, float* m, float* v, u64 n, float lr,
              float beta1, float beta2, float eps, float weight_decay, float inv_bc1,
              float inv_sqrt_bc2),
             (params, grads, m, v, n, lr, beta1, beta2, eps, weight_decay, inv_bc1,
              inv_sqrt_bc2))
SIM_LAUNCHER(sq_norm_partial, (double* partial, const float* x, u64 n), (partial, x, n))
SIM_LAUNCHER(scale_inplace, (float* x, u64 n, float s), (x, n, s))
SIM_LAUNCHER(add_inplace, (float* acc, const float* other, u64 n), (acc, other, n))
SIM_LAUNCHER(sl_first_non_finite, (u64* first, const float* x, u64 n), (first, x, n))
SIM_LAUNCHER(sl_ef_topk,
             (float* e, const float* delta, const SlTensor* tensors, unsigned int n_tensors,
              unsigned int edge, unsigned int k, float beta, unsigned short* kept_rel,
              float* kept_val, unsigned int* kept_flat),
             (e, delta, tensors, n_tensors, edge, k, beta, kept_rel, kept_val, kept_flat))
SIM_LAUNCHER(sl_quant_stats, (double* stats, const float* kept_val, const SlTensor* tensors),
             (stats, kept_val, tensors))
SIM_LAUNCHER(sl_quant_encode,
             (float* e, unsigned char* codes, float* tables, const double* stats,
              const float* kept_val, const unsigned int* kept_flat, const SlTensor* tensors),
             (e, codes, tables, stats, kept_val, kept_flat, tensors))
SIM_LAUNCHER(sl_peer_sq_norms,
             (double* sq_norms, const unsigned char* codes, const float* tables,
              const SlTensor* tensors, unsigned int n_tensors, u64 code_bytes),
             (sq_norms, codes, tables, tensors, n_tensors, code_bytes))
SIM_LAUNCHER(sl_scatter_mean_step,
             (float* theta, const unsigned short* rel, const unsigned char* codes,
              const float* tables, const float* factors, const SlTensor* tensors,
              unsigned int n_tensors, unsigned int edge, unsigned int k, unsigned int peers,
              u64 kept_total, u64 code_bytes, float lr),
             (theta, rel, codes, tables, factors, tensors, n_tensors, edge, k, peers,
              kept_total, code_bytes, lr))
