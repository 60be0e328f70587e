// Causal softmax of attention scores. `probs` holds `rows = batch * n_heads * seq` rows of
// `seq` scores (already scaled by 1/sqrt(head_dim) in the QK^T gemm); row r is query
// position t = r % seq, which may attend to keys 0..=t. One block per row.

// Forward, in place: scores -> probabilities, zeros above the diagonal.
extern "C" __global__ void causal_softmax_forward(float* probs, int seq) {
    __shared__ float scratch[MAX_BLOCK];
    float* row = probs + (unsigned long long)blockIdx.x * seq;
    const int visible = (int)(blockIdx.x % seq) + 1;

    float m = NEG_INF;
    for (int j = threadIdx.x; j < visible; j += blockDim.x) {
        m = fmaxf(m, row[j]);
    }
    const float row_max = block_max(m, scratch);

    float partial = 0.0f;
    for (int j = threadIdx.x; j < visible; j += blockDim.x) {
        const float e = expf(row[j] - row_max);
        row[j] = e;
        partial += e;
    }
    const float inv = 1.0f / block_sum(partial, scratch);
    for (int j = threadIdx.x; j < seq; j += blockDim.x) {
        row[j] = j < visible ? row[j] * inv : 0.0f;
    }
}

// Backward, in place: with P the saved probabilities and dP the gradient of the
// probabilities (in `grad`), writes dS = scale * P * (dP - rowsum(P * dP)), the gradient of
// the unscaled scores q.k.
extern "C" __global__ void causal_softmax_backward(float* grad, const float* probs, int seq,
                                                   float scale) {
    __shared__ float scratch[MAX_BLOCK];
    const unsigned long long offset = (unsigned long long)blockIdx.x * seq;
    float* g = grad + offset;
    const float* p = probs + offset;
    const int visible = (int)(blockIdx.x % seq) + 1;

    float partial = 0.0f;
    for (int j = threadIdx.x; j < visible; j += blockDim.x) {
        partial += g[j] * p[j];
    }
    const float mean = block_sum(partial, scratch);
    for (int j = threadIdx.x; j < seq; j += blockDim.x) {
        g[j] = j < visible ? p[j] * (g[j] - mean) * scale : 0.0f;
    }
}
