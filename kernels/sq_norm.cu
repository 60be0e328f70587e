// Squared Euclidean norm for global-norm gradient clipping, accumulated in f64.
// Each block sums the squares of its grid-stride share of `x [n]` and writes one partial
// sum to `partial [gridDim.x]`; the caller adds the partials in index order. With a fixed
// grid and block size the result is the same on every run.
extern "C" __global__ void sq_norm_partial(double* partial, const float* x,
                                           unsigned long long n) {
    __shared__ double scratch[MAX_BLOCK];
    double acc = 0.0;
    for (unsigned long long i = grid_start(); i < n; i += grid_stride()) {
        const double g = (double)x[i];
        acc += g * g;
    }
    const double total = block_sum_f64(acc, scratch);
    if (threadIdx.x == 0) {
        partial[blockIdx.x] = total;
    }
}
