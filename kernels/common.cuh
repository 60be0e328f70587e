// Shared device helpers. Every kernels/*.cu file is compiled with this file prepended (the
// Rust loader concatenates the texts; NVRTC gets no include paths), so the .cu files do
// not #include it themselves.
//
// Reductions are fixed-order trees in shared memory: the same inputs and block size give
// bit-identical results on every run, with no float atomics.
//
// Block-level helpers require blockDim.x to be a power of two no larger than MAX_BLOCK, and
// every thread of the block to call them (they contain __syncthreads()).

#define MAX_BLOCK 1024

// Sum of `v` over the threads of the block, returned to every thread. `scratch` is a
// __shared__ array of at least blockDim.x floats; it may be reused after the call returns.
__device__ float block_sum(float v, float* scratch) {
    const unsigned int tid = threadIdx.x;
    scratch[tid] = v;
    __syncthreads();
    for (unsigned int stride = blockDim.x / 2; stride > 0; stride /= 2) {
        if (tid < stride) {
            scratch[tid] += scratch[tid + stride];
        }
        __syncthreads();
    }
    const float total = scratch[0];
    __syncthreads();
    return total;
}

// Maximum of `v` over the threads of the block (exact: max does not round), returned to
// every thread. Same contract as block_sum.
__device__ float block_max(float v, float* scratch) {
    const unsigned int tid = threadIdx.x;
    scratch[tid] = v;
    __syncthreads();
    for (unsigned int stride = blockDim.x / 2; stride > 0; stride /= 2) {
        if (tid < stride) {
            scratch[tid] = fmaxf(scratch[tid], scratch[tid + stride]);
        }
        __syncthreads();
    }
    const float total = scratch[0];
    __syncthreads();
    return total;
}

// Double-precision block_sum, for the gradient norm.
__device__ double block_sum_f64(double v, double* scratch) {
    const unsigned int tid = threadIdx.x;
    scratch[tid] = v;
    __syncthreads();
    for (unsigned int stride = blockDim.x / 2; stride > 0; stride /= 2) {
        if (tid < stride) {
            scratch[tid] += scratch[tid + stride];
        }
        __syncthreads();
    }
    const double total = scratch[0];
    __syncthreads();
    return total;
}

// Index of the first element of this thread in a grid-stride loop, and the stride.
__device__ unsigned long long grid_start() {
    return (unsigned long long)blockIdx.x * blockDim.x + threadIdx.x;
}

__device__ unsigned long long grid_stride() {
    return (unsigned long long)gridDim.x * blockDim.x;
}

// -infinity, the identity of max (spelled without math.h, which NVRTC does not have).
#define NEG_INF __int_as_float(0xff800000)
