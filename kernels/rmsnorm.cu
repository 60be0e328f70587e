// RMSNorm: y = x / sqrt(mean(x^2) + eps) * g, one block per row of `inp [n, d]`.

// Forward: writes `out [n, d]` and the per-row 1/rms into `rstd [n]` for the backward pass.
extern "C" __global__ void rmsnorm_forward(float* out, float* rstd, const float* inp,
                                           const float* gain, int d, float eps) {
    __shared__ float scratch[MAX_BLOCK];
    const float* x = inp + (unsigned long long)blockIdx.x * d;
    float* y = out + (unsigned long long)blockIdx.x * d;

    float sq = 0.0f;
    for (int i = threadIdx.x; i < d; i += blockDim.x) {
        sq += x[i] * x[i];
    }
    const float ms = block_sum(sq, scratch) / (float)d;
    // 1/sqrt rather than rsqrtf: correctly rounded, like the CPU reference.
    const float r = 1.0f / sqrtf(ms + eps);
    if (threadIdx.x == 0) {
        rstd[blockIdx.x] = r;
    }
    for (int i = threadIdx.x; i < d; i += blockDim.x) {
        y[i] = x[i] * r * gain[i];
    }
}

// Backward to the input, accumulating: with r = 1/rms and s = mean_j(g_j dy_j x_j),
// dx_i += r (g_i dy_i - x_i r^2 s). One block per row.
extern "C" __global__ void rmsnorm_backward_input(float* dinp, const float* dout,
                                                  const float* inp, const float* gain,
                                                  const float* rstd, int d) {
    __shared__ float scratch[MAX_BLOCK];
    const unsigned long long row = (unsigned long long)blockIdx.x * d;
    const float* x = inp + row;
    const float* dy = dout + row;
    float* dx = dinp + row;
    const float r = rstd[blockIdx.x];

    float partial = 0.0f;
    for (int i = threadIdx.x; i < d; i += blockDim.x) {
        partial += gain[i] * dy[i] * x[i];
    }
    const float s = block_sum(partial, scratch) / (float)d;
    for (int i = threadIdx.x; i < d; i += blockDim.x) {
        dx[i] += r * (gain[i] * dy[i] - x[i] * r * r * s);
    }
}

// Backward to the gain, accumulating: dg_i += sum_rows dy_i x_i r. One thread per column
// walks the rows in order, which is deterministic without atomics and sums in the same
// order as the CPU reference.
extern "C" __global__ void rmsnorm_backward_gain(float* dgain, const float* dout,
                                                 const float* inp, const float* rstd, int n,
                                                 int d) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= d) {
        return;
    }
    float acc = dgain[i];
    for (int row = 0; row < n; ++row) {
        const unsigned long long at = (unsigned long long)row * d + i;
        acc += dout[at] * inp[at] * rstd[row];
    }
    dgain[i] = acc;
}
