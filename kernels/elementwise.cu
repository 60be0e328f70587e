// Element-wise helpers over `n` floats.

// x *= s (gradient clipping).
extern "C" __global__ void scale_inplace(float* x, unsigned long long n, float s) {
    for (unsigned long long i = grid_start(); i < n; i += grid_stride()) {
        x[i] *= s;
    }
}

// acc += other (residual connections).
extern "C" __global__ void add_inplace(float* acc, const float* other, unsigned long long n) {
    for (unsigned long long i = grid_start(); i < n; i += grid_stride()) {
        acc[i] += other[i];
    }
}
