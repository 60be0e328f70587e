// Host simulation of the small CUDA subset used by kernels/*.cu, so the same sources compile
// as C++17 with the host compiler and their logic can be tested (and the whole CUDA backend
// run, as the simulated device) without a GPU.
//
// Model: a grid runs one block at a time on the calling OS thread; a block's threads are
// fibers (stackful coroutines) that the launcher resumes in thread order, and __syncthreads() yields
// to it, so one pass over the fibers carries every thread from one barrier to the next.
// Thread 0 runs first: if it finishes without reaching a barrier, the kernel has none (a
// barrier must be reached by every thread of the block), and the other threads run as plain
// calls with no fiber at all, which keeps element-wise kernels cheap. Because blocks never
// overlap, a function-local `static` array is exactly one block's shared memory, and
// launches are serialized by a global mutex so concurrent callers cannot share it.
// Built-ins (threadIdx, ...) are set before each thread runs or resumes. Float math uses
// the C library (expf, logf, sqrtf), which is what the Rust reference calls too, so
// element-wise kernels are bit-identical when compiled without FP contraction
// (-ffp-contract=off).
#pragma once

#include <math.h>
#include <ucontext.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <tuple>
#include <mutex>
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

// Stack of one simulated thread: kernels keep a few scalars and small arrays on it (shared
// memory is static), and the C library's math functions need some room.
constexpr size_t kFiberStack = 64 * 1024;

// A context switch saves the callee-saved registers and the stack pointer of the running
// side and resumes the other. On x86-64 it is a few instructions (no signal-mask system call,
// which ucontext's swapcontext makes on every switch and which dominated the simulator's
// time); other targets use ucontext.
#if defined(__x86_64__)
extern "C" void cuda_sim_switch(void** save_sp, void* load_sp);
asm(R"(
    .text
    .globl cuda_sim_switch
    .type cuda_sim_switch,@function
cuda_sim_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size cuda_sim_switch, .-cuda_sim_switch
)");

struct Context {
    void* sp = nullptr;
};

inline void switch_to(Context& save, Context& load) { cuda_sim_switch(&save.sp, load.sp); }

// Prepares `c` to start `entry` on the stack [base, base + size) at the next switch to it.
// `color` staggers the stack tops of a block's fibers, which would otherwise all sit at the
// same offset modulo the (power-of-two) stack size and compete for the same cache sets.
inline void prepare(Context& c, char* base, size_t size, unsigned int color, void (*entry)()) {
    uintptr_t top = (reinterpret_cast<uintptr_t>(base) + size - (color % 61) * 80) & ~uintptr_t{15};
    void** sp = reinterpret_cast<void**>(top - 64);
    for (int r = 0; r < 6; ++r) sp[r] = nullptr;  // r15 .. rbp
    sp[6] = reinterpret_cast<void*>(entry);     // where `ret` goes: rsp is then 8 mod 16
    sp[7] = nullptr;                            // entry never returns
    c.sp = sp;
}
#else
struct Context {
    ucontext_t uc;
};

inline void switch_to(Context& save, Context& load) { swapcontext(&save.uc, &load.uc); }

inline void prepare(Context& c, char* base, size_t size, unsigned int, void (*entry)()) {
    getcontext(&c.uc);
    c.uc.uc_stack.ss_sp = base;
    c.uc.uc_stack.ss_size = size;
    c.uc.uc_link = nullptr;  // entry never returns
    makecontext(&c.uc, entry, 0);
}
#endif

struct Fiber {
    Context context;
    std::unique_ptr<char[]> stack{new char[kFiberStack]};
    bool done = false;
};

// The launcher's state on this OS thread while a block runs.
struct Scheduler {
    Context launcher;
    Fiber* current = nullptr;  // null when a thread runs as a plain call
    void (*body)(void*) = nullptr;
    void* arg = nullptr;
    std::vector<std::unique_ptr<Fiber>> pool;  // reused across blocks and launches
};

inline thread_local Scheduler scheduler;

[[noreturn]] inline void fiber_entry() {
    Scheduler& s = scheduler;
    s.body(s.arg);
    Fiber* self = s.current;
    self->done = true;
    switch_to(self->context, s.launcher);
    std::abort();  // a finished fiber is never resumed
}

inline void set_thread(unsigned int t) { threadIdx = dim3{t, 0, 0}; }

// Starts fiber `f` as thread `t` and runs it to its first barrier or its end.
inline void start(Fiber& f, unsigned int t) {
    Scheduler& s = scheduler;
    f.done = false;
    prepare(f.context, f.stack.get(), kFiberStack, t, fiber_entry);
    set_thread(t);
    s.current = &f;
    switch_to(s.launcher, f.context);
}

inline void resume(Fiber& f, unsigned int t) {
    Scheduler& s = scheduler;
    set_thread(t);
    s.current = &f;
    switch_to(s.launcher, f.context);
}

inline std::mutex& launch_mutex() {
    static std::mutex mutex;
    return mutex;
}

// Runs one block: `body(arg)` is the kernel call with its arguments bound.
inline void run_block(unsigned int block, void (*body)(void*), void* arg) {
    Scheduler& s = scheduler;
    s.body = body;
    s.arg = arg;
    while (s.pool.size() < block) s.pool.push_back(std::make_unique<Fiber>());
    start(*s.pool[0], 0);
    if (s.pool[0]->done) {
        // No barrier in this kernel: the other threads are plain calls.
        s.current = nullptr;
        for (unsigned int t = 1; t < block; ++t) {
            set_thread(t);
            body(arg);
        }
        return;
    }
    for (unsigned int t = 1; t < block; ++t) start(*s.pool[t], t);
    bool pending = true;
    while (pending) {
        pending = false;
        for (unsigned int t = 0; t < block; ++t) {
            if (s.pool[t]->done) continue;
            resume(*s.pool[t], t);
            pending |= !s.pool[t]->done;
        }
    }
    s.current = nullptr;
}

// Runs `kernel(args...)` over a 1-D grid of 1-D blocks on host memory.
template <typename Kernel, typename... Args>
void launch(unsigned int grid, unsigned int block, Kernel kernel, Args... args) {
    std::lock_guard<std::mutex> serialized(launch_mutex());
    struct Call {
        Kernel kernel;
        std::tuple<Args...> args;
        static void run(void* self) {
            Call* c = static_cast<Call*>(self);
            std::apply(c->kernel, c->args);
        }
    } call{kernel, std::tuple<Args...>(args...)};
    blockDim = dim3{block, 1, 1};
    gridDim = dim3{grid, 1, 1};
    for (unsigned int b = 0; b < grid; ++b) {
        blockIdx = dim3{b, 0, 0};
        run_block(block, &Call::run, &call);
    }
}

}  // namespace cuda_sim

inline void __syncthreads() {
    cuda_sim::Scheduler& s = cuda_sim::scheduler;
    if (s.current == nullptr) {
        // Thread 0 finished without a barrier, so no thread may reach one.
        std::fprintf(stderr, "cuda_sim: __syncthreads() reached by only part of a block\n");
        std::abort();
    }
    cuda_sim::Fiber* self = s.current;
    cuda_sim::switch_to(self->context, s.launcher);
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
