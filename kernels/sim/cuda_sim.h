// Host simulation of the small CUDA subset used by kernels/*.cu, so the same sources compile
// as C++17 with the host compiler and their logic can be tested without a GPU.
//
// Model: a grid runs one block at a time; a block's threads run as std::threads that meet at
// a shared barrier for __syncthreads(). Because blocks never overlap, a function-local
// `static` array is exactly one block's shared memory, and launches are serialized by a
// global mutex so concurrent callers cannot share it. Built-ins (threadIdx, ...) are
// thread-local. Float math uses the C library (expf, logf, sqrtf), which is what the Rust
// reference calls too, so element-wise kernels are bit-identical when compiled without FP
// contraction (-ffp-contract=off).
#pragma once

#include <math.h>

#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

struct dim3 {
    unsigned int x = 1, y = 1, z = 1;
};

inline thread_local dim3 threadIdx;
inline thread_local dim3 blockIdx;
inline thread_local dim3 blockDim;
inline thread_local dim3 gridDim;

#define __global__
#define __device__ static inline
#define __shared__ static

namespace cuda_sim {

// A reusable barrier for a fixed number of threads (std::barrier is C++20).
class Barrier {
public:
    explicit Barrier(unsigned int count) : count_(count) {}

    void wait() {
        std::unique_lock<std::mutex> lock(mutex_);
        const unsigned long long generation = generation_;
        if (++arrived_ == count_) {
            arrived_ = 0;
            ++generation_;
            released_.notify_all();
        } else {
            released_.wait(lock, [&] { return generation_ != generation; });
        }
    }

private:
    std::mutex mutex_;
    std::condition_variable released_;
    const unsigned int count_;
    unsigned int arrived_ = 0;
    unsigned long long generation_ = 0;
};

inline thread_local Barrier* block_barrier = nullptr;

inline std::mutex& launch_mutex() {
    static std::mutex mutex;
    return mutex;
}

// Runs `kernel(args...)` over a 1-D grid of 1-D blocks on host memory.
template <typename Kernel, typename... Args>
void launch(unsigned int grid, unsigned int block, Kernel kernel, Args... args) {
    std::lock_guard<std::mutex> serialized(launch_mutex());
    for (unsigned int b = 0; b < grid; ++b) {
        Barrier barrier(block);
        std::vector<std::thread> threads;
        threads.reserve(block);
        for (unsigned int t = 0; t < block; ++t) {
            threads.emplace_back([&, t] {
                threadIdx = dim3{t, 0, 0};
                blockIdx = dim3{b, 0, 0};
                blockDim = dim3{block, 1, 1};
                gridDim = dim3{grid, 1, 1};
                block_barrier = &barrier;
                kernel(args...);
            });
        }
        for (std::thread& thread : threads) {
            thread.join();
        }
    }
}

}  // namespace cuda_sim

inline void __syncthreads() {
    cuda_sim::block_barrier->wait();
}

inline float __int_as_float(int bits) {
    float f;
    std::memcpy(&f, &bits, sizeof f);
    return f;
}

inline unsigned int __float_as_uint(float f) {
    unsigned int bits;
    std::memcpy(&bits, &f, sizeof bits);
    return bits;
}

// Explicitly rounded arithmetic (the device forms exist so that NVRTC cannot fuse a product
// and a sum into an FMA); the host build already compiles with -ffp-contract=off.
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fdiv_rn(float a, float b) { return a / b; }
inline double __dadd_rn(double a, double b) { return a + b; }
inline double __dmul_rn(double a, double b) { return a * b; }

// Integer atomics (counts and minima only: their results do not depend on thread order).
inline unsigned int atomicAdd(unsigned int* address, unsigned int value) {
    return __atomic_fetch_add(address, value, __ATOMIC_RELAXED);
}

inline unsigned long long atomicMin(unsigned long long* address, unsigned long long value) {
    unsigned long long old = __atomic_load_n(address, __ATOMIC_RELAXED);
    while (value < old &&
           !__atomic_compare_exchange_n(address, &old, value, false, __ATOMIC_RELAXED,
                                        __ATOMIC_RELAXED)) {
    }
    return old;
}
