// Token embedding lookup into `table [vocab, d]` (also the tied output head).

// out[row] = table[tokens[row]], element-wise over `n * d`.
extern "C" __global__ void embedding_forward(float* out, const float* table,
                                             const unsigned int* tokens, int n, int d) {
    const unsigned long long total = (unsigned long long)n * d;
    for (unsigned long long i = grid_start(); i < total; i += grid_stride()) {
        const unsigned long long row = i / d;
        const unsigned long long col = i % d;
        out[i] = table[(unsigned long long)tokens[row] * d + col];
    }
}

// dtable[tokens[row]] += dout[row] (a token seen twice gets both contributions). One thread
// per column walks the rows in order: no two threads touch the same element, so there are
// no atomics, and every element sums in row order exactly like the CPU reference.
extern "C" __global__ void embedding_backward(float* dtable, const float* dout,
                                              const unsigned int* tokens, int n, int d) {
    const int col = blockIdx.x * blockDim.x + threadIdx.x;
    if (col >= d) {
        return;
    }
    for (int row = 0; row < n; ++row) {
        dtable[(unsigned long long)tokens[row] * d + col] += dout[(unsigned long long)row * d + col];
    }
}
