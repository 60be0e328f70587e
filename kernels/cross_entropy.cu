// Softmax cross-entropy over the vocabulary. `logits [n, vocab]`, `targets [n]`.

// Forward, one block per row: turns the row's logits into probabilities in place and writes
// the row's negative log-likelihood -log p[target] = max - logit[target] + log(sum exp) to
// `losses [n]` (from the logits, so it stays exact where p underflows). The caller averages
// `losses` (on the host, in f64, like the CPU reference).
extern "C" __global__ void cross_entropy_forward(float* logits, float* losses,
                                                 const unsigned int* targets, int vocab) {
    __shared__ float scratch[MAX_BLOCK];
    float* row = logits + (unsigned long long)blockIdx.x * vocab;

    float m = NEG_INF;
    for (int j = threadIdx.x; j < vocab; j += blockDim.x) {
        m = fmaxf(m, row[j]);
    }
    const float row_max = block_max(m, scratch);
    // Read before the row is overwritten; the block_sum barrier orders it before the writes
    // of other threads.
    const float target_logit = row[targets[blockIdx.x]];
    __syncthreads();

    float partial = 0.0f;
    for (int j = threadIdx.x; j < vocab; j += blockDim.x) {
        const float e = expf(row[j] - row_max);
        row[j] = e;
        partial += e;
    }
    const float sum = block_sum(partial, scratch);
    const float inv = 1.0f / sum;
    for (int j = threadIdx.x; j < vocab; j += blockDim.x) {
        row[j] *= inv;
    }
    if (threadIdx.x == 0) {
        losses[blockIdx.x] = row_max - target_logit + logf(sum);
    }
}

// Backward, element-wise over `n * vocab`: overwrites the probabilities with
// dlogits = (p - onehot(target)) * inv_n, where inv_n = 1/n is computed by the caller.
extern "C" __global__ void cross_entropy_backward(float* probs, const unsigned int* targets,
                                                  int n, int vocab, float inv_n) {
    const unsigned long long total = (unsigned long long)n * vocab;
    for (unsigned long long i = grid_start(); i < total; i += grid_stride()) {
        const unsigned long long row = i / vocab;
        const unsigned int col = (unsigned int)(i % vocab);
        float v = probs[i];
        if (col == targets[row]) {
            v -= 1.0f;
        }
        probs[i] = v * inv_n;
    }
}
