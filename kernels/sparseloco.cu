// SparseLoCo on the GPU: the miner's compression step and everyone's aggregation step.
// The CPU reference is offchain-gpu/sparseloco (chunk.rs, topk.rs, quant.rs, ef.rs,
// aggregate.rs); these kernels follow it rule for rule.
//
// Compression, in launch order:
//   sl_first_non_finite   refuse a delta holding inf/NaN before anything changes
//   sl_ef_topk            one block per chunk: e = beta e + delta, exact top-k by |e|
//                         (ties: lowest index), kept entries written in index order
//   sl_quant_stats        one block per tensor: shift = mean, scale = 1.5 unbiased sigma
//   sl_quant_encode       one block per tensor: 2-bit codes packed 4 per byte, table of
//                         per-bin means, residual e[i] -= table[code]
// Aggregation:
//   sl_peer_sq_norms      one block per (peer, tensor): squared norm of its kept values
//   sl_scatter_mean_step  one block per chunk: per-coordinate mean over the peers that
//                         kept it, in peer order, then theta -= lr * mean
//
// Determinism: no float atomics anywhere (integer atomics only count, which commutes);
// reductions are fixed trees; f32 products and sums that the CPU reference rounds
// separately use the _rn intrinsics so the compiler cannot fuse them into an FMA.

// One parameter tensor as the kernels see it. Mirrors `SlTensor` (#[repr(C)]) in
// offchain-gpu/cuda/src/sparseloco/mod.rs.
struct SlTensor {
    unsigned long long offset;     // first element in the flat parameter buffer
    unsigned long long kept_base;  // first entry in the model-wide kept list
    unsigned long long code_base;  // first byte of its packed codes
    unsigned int first_chunk;      // model-wide index of its first chunk
    unsigned int kept;             // entries it keeps (>= 1)
    unsigned int rows, cols;       // 1-D tensors are one row
    unsigned int tile_h, tile_w;   // chunk tiling (chunk::Grid)
};

// One chunk: a h x w tile at tensor-relative flat index `origin`, row stride `stride`.
struct SlChunk {
    unsigned long long origin;
    unsigned long long kept_start;  // model-wide kept-list position of its first entry
    unsigned int h, w, stride, kept, tensor;
};

#define SL_MAX_CHUNK 4096
#define SL_RADIX_BITS 8
#define SL_RADIX_BINS 256

__device__ unsigned int sl_min(unsigned int a, unsigned int b) {
    return a < b ? a : b;
}

// Magnitude key of a value: its bits without the sign (orders like |x| for finite x).
__device__ unsigned int sl_key(float x) {
    return __float_as_uint(x) & 0x7fffffffu;
}

__device__ bool sl_finite(float x) {
    return (__float_as_uint(x) & 0x7f800000u) != 0x7f800000u;
}

// Values kept in a chunk of n elements: chunk::kept_for (density of k per edge x edge,
// rounded half up, clamped to 1..=n).
__device__ unsigned int sl_kept_for(unsigned int n, unsigned int edge, unsigned int k) {
    const unsigned long long full = (unsigned long long)edge * edge;
    const unsigned long long kept = (2ull * k * n + full) / (2ull * full);
    return kept < 1 ? 1 : (kept > n ? n : (unsigned int)kept);
}

// Geometry of model-wide chunk `chunk` (chunk::Grid::chunk and plan::TensorPlan::kept_range
// in closed form: all tiles of a band but the last are full width, all bands but the last
// are full height).
__device__ SlChunk sl_chunk(const SlTensor* tensors, unsigned int n_tensors, unsigned int chunk,
                            unsigned int edge, unsigned int k) {
    // Last tensor whose first chunk is <= chunk (tensors[0].first_chunk is 0).
    unsigned int lo = 0, hi = n_tensors;
    while (hi - lo > 1) {
        const unsigned int mid = (lo + hi) / 2;
        if (tensors[mid].first_chunk <= chunk) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    const SlTensor t = tensors[lo];
    const unsigned int across = (t.cols + t.tile_w - 1) / t.tile_w;
    const unsigned int c = chunk - t.first_chunk;
    const unsigned int tile_row = c / across, tile_col = c % across;
    const unsigned int row0 = tile_row * t.tile_h, col0 = tile_col * t.tile_w;
    const unsigned int last_w = t.cols - (across - 1) * t.tile_w;
    SlChunk ch;
    ch.h = sl_min(t.tile_h, t.rows - row0);
    ch.w = sl_min(t.tile_w, t.cols - col0);
    ch.stride = t.cols;
    ch.origin = (unsigned long long)row0 * t.cols + col0;
    const unsigned long long full_band =
        (unsigned long long)(across - 1) * sl_kept_for(t.tile_h * t.tile_w, edge, k) +
        sl_kept_for(t.tile_h * last_w, edge, k);
    ch.kept_start = t.kept_base + (unsigned long long)tile_row * full_band +
                    (unsigned long long)tile_col * sl_kept_for(ch.h * t.tile_w, edge, k);
    ch.kept = sl_kept_for(ch.h * ch.w, edge, k);
    ch.tensor = lo;
    return ch;
}

// Tensor-relative flat index of chunk-relative index i.
__device__ unsigned long long sl_flat(const SlChunk& ch, unsigned int i) {
    return ch.origin + (unsigned long long)(i / ch.w) * ch.stride + i % ch.w;
}

// Inclusive suffix sums suf[d] = hist[d] + ... + hist[255] by a Hillis-Steele scan over
// the two halves of `buf` (2 * SL_RADIX_BINS entries); returns the half holding them.
// Any block size; every thread must call it.
__device__ const unsigned int* sl_suffix_sums(const unsigned int* hist, unsigned int* buf) {
    for (unsigned int d = threadIdx.x; d < SL_RADIX_BINS; d += blockDim.x) {
        buf[d] = hist[d];
    }
    __syncthreads();
    unsigned int src = 0;
    for (unsigned int off = 1; off < SL_RADIX_BINS; off *= 2) {
        const unsigned int* from = buf + src * SL_RADIX_BINS;
        unsigned int* to = buf + (1 - src) * SL_RADIX_BINS;
        for (unsigned int d = threadIdx.x; d < SL_RADIX_BINS; d += blockDim.x) {
            to[d] = from[d] + (d + off < SL_RADIX_BINS ? from[d + off] : 0u);
        }
        __syncthreads();
        src = 1 - src;
    }
    return buf + src * SL_RADIX_BINS;
}

// Exclusive prefix sum of one value per thread, in thread order, by a Hillis-Steele scan
// over `buf` (2 * MAX_BLOCK entries). Every thread must call it.
__device__ unsigned long long sl_exclusive_scan(unsigned long long v, unsigned long long* buf) {
    const unsigned int tid = threadIdx.x;
    buf[tid] = v;
    __syncthreads();
    unsigned int src = 0;
    for (unsigned int off = 1; off < blockDim.x; off *= 2) {
        unsigned long long x = buf[src * MAX_BLOCK + tid];
        if (tid >= off) {
            x += buf[src * MAX_BLOCK + tid - off];
        }
        buf[(1 - src) * MAX_BLOCK + tid] = x;
        __syncthreads();
        src = 1 - src;
    }
    const unsigned long long inclusive = buf[src * MAX_BLOCK + tid];
    __syncthreads();
    return inclusive - v;
}

// Smallest flat index of a non-finite value of x [n] into *first (which the caller sets to
// ~0 beforehand). atomicMin on integers is order-independent.
extern "C" __global__ void sl_first_non_finite(unsigned long long* first, const float* x,
                                               unsigned long long n) {
    for (unsigned long long i = grid_start(); i < n; i += grid_stride()) {
        if (!sl_finite(x[i])) {
            atomicMin(first, i);
            return;  // later indices of this thread are larger
        }
    }
}

// One block per chunk (grid = model-wide chunk count): e = beta e + delta over the chunk,
// then the chunk's `kept` entries of largest |e| (ties to the lowest index), written in
// increasing index order at the chunk's kept-list positions: chunk-relative index, value,
// and tensor-relative flat index (for the residual update of sl_quant_encode).
//
// Selection: a 4-pass radix select (8 bits per pass) over the magnitude keys finds the key
// T of the k-th ranked entry and how many entries equal to T are kept (`take`). Entry i is
// kept when key > T, or key == T and fewer than `take` equal keys precede it. Each thread
// then owns a contiguous index range, so one exclusive scan of (greater, equal) counts
// gives every thread its output position: the output stays in index order.
extern "C" __global__ void sl_ef_topk(float* e, const float* delta, const SlTensor* tensors,
                                      unsigned int n_tensors, unsigned int edge, unsigned int k,
                                      float beta, unsigned short* kept_rel, float* kept_val,
                                      unsigned int* kept_flat) {
    __shared__ float vals[SL_MAX_CHUNK];
    __shared__ unsigned int hist[SL_RADIX_BINS];
    __shared__ unsigned int suffix_buf[2 * SL_RADIX_BINS];
    __shared__ unsigned long long scan_buf[2 * MAX_BLOCK];
    __shared__ unsigned int picked_digit, picked_above;

    const SlChunk ch = sl_chunk(tensors, n_tensors, blockIdx.x, edge, k);
    const unsigned int n = ch.h * ch.w;
    const unsigned long long base = tensors[ch.tensor].offset;

    // 1. Error feedback, product and sum rounded separately as on the CPU.
    for (unsigned int i = threadIdx.x; i < n; i += blockDim.x) {
        const unsigned long long at = base + sl_flat(ch, i);
        const float x = __fadd_rn(__fmul_rn(beta, e[at]), delta[at]);
        e[at] = x;
        vals[i] = x;
    }
    __syncthreads();

    // 2. Radix select, most significant digit first. `prefix`/`mask`: the digits fixed so
    //    far; `take`: how many of the entries matching the prefix are still to be kept.
    unsigned int prefix = 0, mask = 0, take = ch.kept;
    for (int shift = 32 - SL_RADIX_BITS; shift >= 0; shift -= SL_RADIX_BITS) {
        for (unsigned int d = threadIdx.x; d < SL_RADIX_BINS; d += blockDim.x) {
            hist[d] = 0;
        }
        __syncthreads();
        for (unsigned int i = threadIdx.x; i < n; i += blockDim.x) {
            const unsigned int key = sl_key(vals[i]);
            if ((key & mask) == prefix) {
                atomicAdd(&hist[(key >> shift) & (SL_RADIX_BINS - 1)], 1u);
            }
        }
        __syncthreads();
        const unsigned int* suf = sl_suffix_sums(hist, suffix_buf);
        // The digit whose bin holds the take-th largest matching key (exactly one does).
        for (unsigned int d = threadIdx.x; d < SL_RADIX_BINS; d += blockDim.x) {
            const unsigned int above = d + 1 < SL_RADIX_BINS ? suf[d + 1] : 0u;
            if (suf[d] >= take && above < take) {
                picked_digit = d;
                picked_above = above;
            }
        }
        __syncthreads();
        prefix |= picked_digit << shift;
        mask |= (unsigned int)(SL_RADIX_BINS - 1) << shift;
        take -= picked_above;
        __syncthreads();
    }
    const unsigned int threshold = prefix;

    // 3. Ordered compaction over contiguous per-thread ranges.
    const unsigned int per = (n + blockDim.x - 1) / blockDim.x;
    const unsigned int lo = sl_min(n, threadIdx.x * per), hi = sl_min(n, lo + per);
    unsigned int greater = 0, equal = 0;
    for (unsigned int i = lo; i < hi; ++i) {
        const unsigned int key = sl_key(vals[i]);
        greater += key > threshold;
        equal += key == threshold;
    }
    // Both counts are <= 4096, so they add in one word without carrying into each other.
    const unsigned long long before =
        sl_exclusive_scan(((unsigned long long)greater << 32) | equal, scan_buf);
    unsigned int equal_seen = (unsigned int)(before & 0xffffffffu);
    unsigned long long out = ch.kept_start + (before >> 32) + sl_min(equal_seen, take);
    for (unsigned int i = lo; i < hi; ++i) {
        const unsigned int key = sl_key(vals[i]);
        bool keep = key > threshold;
        if (key == threshold) {
            keep = equal_seen < take;
            ++equal_seen;
        }
        if (keep) {
            kept_rel[out] = (unsigned short)i;
            kept_val[out] = vals[i];
            kept_flat[out] = (unsigned int)sl_flat(ch, i);
            ++out;
        }
    }
}

// One block per tensor: stats[2t] = shift (mean of the kept values), stats[2t + 1] =
// scale (1.5 x unbiased standard deviation of the centred values), in f64 like quant.rs.
extern "C" __global__ void sl_quant_stats(double* stats, const float* kept_val,
                                          const SlTensor* tensors) {
    __shared__ double scratch[MAX_BLOCK];
    const SlTensor t = tensors[blockIdx.x];
    const float* v = kept_val + t.kept_base;
    double acc = 0.0;
    for (unsigned int i = threadIdx.x; i < t.kept; i += blockDim.x) {
        acc += (double)v[i];
    }
    const double shift = block_sum_f64(acc, scratch) / (double)t.kept;
    double sq = 0.0;
    for (unsigned int i = threadIdx.x; i < t.kept; i += blockDim.x) {
        const double c = (double)v[i] - shift;
        sq = __dadd_rn(sq, __dmul_rn(c, c));
    }
    const double sum_sq = block_sum_f64(sq, scratch);
    if (threadIdx.x == 0) {
        const double sigma = t.kept > 1 ? sqrt(sum_sq / ((double)t.kept - 1.0)) : 0.0;
        stats[2 * blockIdx.x] = shift;
        stats[2 * blockIdx.x + 1] = 1.5 * sigma;
    }
}

// 2-bit code of a value: clamp(round_half_even((v - shift) / scale + 2), 0, 3), or 2 when
// the scale is unusable (zero or not finite), as quant::quantize.
__device__ unsigned int sl_code(float v, double shift, double scale, bool usable) {
    if (!usable) {
        return 2;
    }
    const double q = rint(((double)v - shift) / scale + 2.0);
    if (!(q > 0.0)) {
        return 0;  // also NaN, like Rust's saturating `as u8`
    }
    return q >= 3.0 ? 3u : (unsigned int)q;
}

__device__ bool sl_scale_usable(double scale) {
    return scale > 0.0 && scale <= 1.7976931348623157e308;  // > 0 and finite
}

// One block per tensor: codes of its kept values packed 4 per byte (first code in the low
// bits) at codes[code_base..], the reconstruction table (mean of each bin's centred values
// plus the shift; the shift alone for an empty bin) at tables[4t..4t+4], and, when the
// table is finite, the residual update e[offset + flat] -= table[code].
extern "C" __global__ void sl_quant_encode(float* e, unsigned char* codes, float* tables,
                                           const double* stats, const float* kept_val,
                                           const unsigned int* kept_flat,
                                           const SlTensor* tensors) {
    __shared__ double scratch[MAX_BLOCK];
    __shared__ float table[4];
    const SlTensor t = tensors[blockIdx.x];
    const float* v = kept_val + t.kept_base;
    const double shift = stats[2 * blockIdx.x], scale = stats[2 * blockIdx.x + 1];
    const bool usable = sl_scale_usable(scale);

    double sums[4] = {0.0, 0.0, 0.0, 0.0};
    double counts[4] = {0.0, 0.0, 0.0, 0.0};  // integers, exact in f64
    const unsigned int bytes = (t.kept + 3) / 4;
    for (unsigned int j = threadIdx.x; j < bytes; j += blockDim.x) {
        unsigned int byte = 0;
        for (unsigned int s = 0; s < 4 && 4 * j + s < t.kept; ++s) {
            const float x = v[4 * j + s];
            const unsigned int q = sl_code(x, shift, scale, usable);
            sums[q] += (double)x - shift;
            counts[q] += 1.0;
            byte |= q << (2 * s);
        }
        codes[t.code_base + j] = (unsigned char)byte;
    }
    for (unsigned int q = 0; q < 4; ++q) {
        const double total = block_sum_f64(sums[q], scratch);
        const double count = block_sum_f64(counts[q], scratch);
        if (threadIdx.x == 0) {
            table[q] = count > 0.0 ? (float)(total / count + shift) : (float)shift;
            tables[4 * blockIdx.x + q] = table[q];
        }
    }
    __syncthreads();
    if (!(sl_finite(table[0]) && sl_finite(table[1]) && sl_finite(table[2]) &&
          sl_finite(table[3]))) {
        return;  // the host reports NonFiniteTable; e keeps beta e + delta
    }
    for (unsigned int m = threadIdx.x; m < t.kept; m += blockDim.x) {
        const unsigned int q = sl_code(v[m], shift, scale, usable);
        e[t.offset + kept_flat[t.kept_base + m]] -= table[q];
    }
}

// Code m of a tensor's packed code section.
__device__ unsigned int sl_unpack(const unsigned char* section, unsigned long long m) {
    return (section[m >> 2] >> (2 * (m & 3))) & 3u;
}

__device__ bool sl_table_finite(const float* table) {
    return sl_finite(table[0]) && sl_finite(table[1]) && sl_finite(table[2]) &&
           sl_finite(table[3]);
}

// One block per (peer, tensor), block index p * n_tensors + t: the squared L2 norm of the
// peer's dequantized kept values, from exact per-code counts: sum_q count_q * table[q]^2
// (every value is one of the four table entries). -1 marks a non-finite table (the peer is
// dropped for that tensor). Peers' buffers are stacked: codes [peers x code_bytes],
// tables [peers x n_tensors x 4].
extern "C" __global__ void sl_peer_sq_norms(double* sq_norms, const unsigned char* codes,
                                            const float* tables, const SlTensor* tensors,
                                            unsigned int n_tensors,
                                            unsigned long long code_bytes) {
    __shared__ double scratch[MAX_BLOCK];
    const unsigned int p = blockIdx.x / n_tensors, ti = blockIdx.x % n_tensors;
    const SlTensor t = tensors[ti];
    const unsigned char* section = codes + p * code_bytes + t.code_base;
    double counts[4] = {0.0, 0.0, 0.0, 0.0};
    for (unsigned int m = threadIdx.x; m < t.kept; m += blockDim.x) {
        counts[sl_unpack(section, m)] += 1.0;
    }
    double total[4];
    for (unsigned int q = 0; q < 4; ++q) {
        total[q] = block_sum_f64(counts[q], scratch);
    }
    if (threadIdx.x == 0) {
        const float* table = tables + (unsigned long long)blockIdx.x * 4;
        double sq = 0.0;
        for (unsigned int q = 0; q < 4; ++q) {
            const double x = (double)table[q];
            sq = __dadd_rn(sq, __dmul_rn(total[q], __dmul_rn(x, x)));
        }
        sq_norms[blockIdx.x] = sl_table_finite(table) ? sq : -1.0;
    }
}

// One block per chunk: for each coordinate of the chunk, the sum of factor_p x value over
// the peers that kept it, added in peer order (as aggregate.rs), and their count; then
// theta -= lr * sum / count where count > 0. Peers with a non-finite table for this tensor
// are skipped. Peers' buffers are stacked: rel [peers x kept_total] (chunk-relative
// indices, each chunk's strictly increasing, validated by the host), codes
// [peers x code_bytes], tables [peers x n_tensors x 4], factors [peers x n_tensors].
extern "C" __global__ void sl_scatter_mean_step(
    float* theta, const unsigned short* rel, const unsigned char* codes, const float* tables,
    const float* factors, const SlTensor* tensors, unsigned int n_tensors, unsigned int edge,
    unsigned int k, unsigned int peers, unsigned long long kept_total,
    unsigned long long code_bytes, float lr) {
    __shared__ float sum[SL_MAX_CHUNK];
    __shared__ unsigned int count[SL_MAX_CHUNK];
    const SlChunk ch = sl_chunk(tensors, n_tensors, blockIdx.x, edge, k);
    const SlTensor t = tensors[ch.tensor];
    const unsigned int n = ch.h * ch.w;
    for (unsigned int i = threadIdx.x; i < n; i += blockDim.x) {
        sum[i] = 0.0f;
        count[i] = 0;
    }
    __syncthreads();
    for (unsigned int p = 0; p < peers; ++p) {
        const unsigned long long pt = (unsigned long long)p * n_tensors + ch.tensor;
        const float* table = tables + pt * 4;
        // The same branch for every thread of the block, so the barrier below is uniform.
        if (sl_table_finite(table)) {
            const float factor = factors[pt];
            const unsigned char* section = codes + p * code_bytes + t.code_base;
            // Within one peer the chunk's indices are distinct: no two threads share a slot.
            for (unsigned int j = threadIdx.x; j < ch.kept; j += blockDim.x) {
                const unsigned long long at = ch.kept_start + j;
                const unsigned int i = rel[p * kept_total + at];
                if (i < n) {
                    const float value = table[sl_unpack(section, at - t.kept_base)];
                    sum[i] = __fadd_rn(sum[i], __fmul_rn(factor, value));
                    count[i] += 1;
                }
            }
        }
        __syncthreads();
    }
    for (unsigned int i = threadIdx.x; i < n; i += blockDim.x) {
        if (count[i] > 0) {
            const unsigned long long at = t.offset + sl_flat(ch, i);
            const float mean = __fdiv_rn(sum[i], (float)count[i]);
            theta[at] = __fsub_rn(theta[at], __fmul_rn(lr, mean));
        }
    }
}
