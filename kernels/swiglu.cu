// SwiGLU gate of the feed-forward block, element-wise over `n` values:
// a = silu(gate) * up with silu(x) = x * sigmoid(x). The expressions keep the CPU
// reference's operation order.

__device__ float sigmoid(float x) {
    return 1.0f / (1.0f + expf(-x));
}

extern "C" __global__ void swiglu_forward(float* out, const float* gate, const float* up,
                                          unsigned long long n) {
    for (unsigned long long i = grid_start(); i < n; i += grid_stride()) {
        const float g = gate[i];
        out[i] = g * sigmoid(g) * up[i];
    }
}

// Overwrites `dgate` and `dup`: dup = da * silu(g),
// dgate = da * u * sigmoid(g) * (1 + g (1 - sigmoid(g))).
extern "C" __global__ void swiglu_backward(float* dgate, float* dup, const float* dout,
                                           const float* gate, const float* up,
                                           unsigned long long n) {
    for (unsigned long long i = grid_start(); i < n; i += grid_stride()) {
        const float g = gate[i];
        const float da = dout[i];
        const float s = sigmoid(g);
        dup[i] = da * g * s;
        dgate[i] = da * up[i] * s * (1.0f + g * (1.0f - s));
    }
}
