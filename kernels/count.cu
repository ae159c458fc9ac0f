// actprof CUDA kernels: per-unit counts of x > T, per-unit NaN counts and
// each observation's packed fired bits, from one read of a chunk, with the
// CPU backend's exact rules (strict >, NaN never fires, -0 does not fire at
// T = 0, +Inf fires). T is passed rounded down to float32 (the profiler's
// Threshold.F32), which makes float32/float16/bfloat16 comparisons exact.
//
// Layouts (the profiler's Geometry): a chunk is [outer, units, inner] in C
// order, whole observation groups.
//   rows  (inner == 1): adjacent threads own adjacent units of a row, so a
//         warp reads 128 contiguous bytes; warps of a block take different
//         rows; blockIdx.y splits rows when units are few.
//   runs  (inner > 1): adjacent threads own adjacent positions of one
//         unit's run.
// Counts accumulate in 32-bit registers per thread (a chunk has fewer than
// 2^31 rows), are reduced per block in shared memory and added to 64-bit
// global counters with atomicAdd. Bits: warp ballot in the rows layout
// (bit u%32 of 32-bit word u/32 of the row: the same bytes as the CPU's
// 64-bit little-endian words), atomicOr in the runs layout.

#include <cuda_fp16.h>
#include <stdint.h>

typedef unsigned long long u64;

__device__ __forceinline__ float load_f32(const void *p, size_t i) { return ((const float *)p)[i]; }
__device__ __forceinline__ float load_f16(const void *p, size_t i) { return __half2float(((const __half *)p)[i]); }
__device__ __forceinline__ float load_bf16(const void *p, size_t i) {
    return __uint_as_float(((uint32_t)((const uint16_t *)p)[i]) << 16);
}

#define WARPS 8  // warps per block in the rows kernels

// rows layout: data [rows, units]; counts, nans: [units] u64; bits: rows x
// words32 uint32 (words32 = 2*ceil(units/64)), or NULL.
#define ROWS_KERNEL(NAME, LOAD)                                                              \
extern "C" __global__ void NAME(const void *data, long long rows, int units, float t,         \
                                u64 *counts, u64 *nans, uint32_t *bits, int words32) {        \
    __shared__ uint32_t sc[WARPS][32];                                                        \
    __shared__ uint32_t sn[WARPS][32];                                                        \
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;                                      \
    int u = blockIdx.x * 32 + lane;                                                           \
    bool live = u < units;                                                                    \
    uint32_t c = 0, n = 0;                                                                    \
    for (long long r = (long long)blockIdx.y * WARPS + warp; r < rows;                        \
         r += (long long)gridDim.y * WARPS) {                                                 \
        float x = live ? LOAD(data, (size_t)r * units + u) : 0.0f;                            \
        bool fired = live && x > t;                                                           \
        c += fired;                                                                           \
        n += live && x != x;                                                                  \
        if (bits) {                                                                           \
            uint32_t b = __ballot_sync(0xffffffffu, fired);                                   \
            if (lane == 0) bits[(size_t)r * words32 + blockIdx.x] = b;                        \
        }                                                                                     \
    }                                                                                         \
    sc[warp][lane] = c;                                                                       \
    sn[warp][lane] = n;                                                                       \
    __syncthreads();                                                                          \
    if (warp == 0 && live) {                                                                  \
        u64 tc = 0, tn = 0;                                                                   \
        for (int w = 0; w < WARPS; w++) { tc += sc[w][lane]; tn += sn[w][lane]; }             \
        if (tc) atomicAdd(&counts[u], tc);                                                    \
        if (tn) atomicAdd(&nans[u], tn);                                                      \
    }                                                                                         \
}

ROWS_KERNEL(rows_f32, load_f32)
ROWS_KERNEL(rows_f16, load_f16)
ROWS_KERNEL(rows_bf16, load_bf16)

// runs layout: data [outer, units, inner]; one block per (outer, unit) run
// (blockIdx.x = run index, grid-strided); threads stride over the run.
// bits: observation (o, i) = o*inner+i, words32 per observation, or NULL.
#define RUNS_KERNEL(NAME, LOAD)                                                              \
extern "C" __global__ void NAME(const void *data, long long nruns, int units, long long inner, \
                                float t, u64 *counts, u64 *nans, uint32_t *bits, int words32) { \
    __shared__ uint32_t sc[32];                                                               \
    __shared__ uint32_t sn[32];                                                               \
    for (long long run = blockIdx.x; run < nruns; run += gridDim.x) {                         \
        int u = (int)(run % units);                                                           \
        long long o = run / units;                                                            \
        uint32_t c = 0, n = 0;                                                                \
        for (long long i = threadIdx.x; i < inner; i += blockDim.x) {                         \
            float x = LOAD(data, (size_t)run * inner + i);                                    \
            bool fired = x > t;                                                               \
            c += fired;                                                                       \
            n += x != x;                                                                      \
            if (bits && fired)                                                                \
                atomicOr(&bits[(size_t)(o * inner + i) * words32 + (u >> 5)], 1u << (u & 31)); \
        }                                                                                     \
        for (int off = 16; off > 0; off >>= 1) {                                              \
            c += __shfl_down_sync(0xffffffffu, c, off);                                       \
            n += __shfl_down_sync(0xffffffffu, n, off);                                       \
        }                                                                                     \
        int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;                                 \
        if (lane == 0) { sc[warp] = c; sn[warp] = n; }                                        \
        __syncthreads();                                                                      \
        if (threadIdx.x == 0) {                                                               \
            u64 tc = 0, tn = 0;                                                               \
            for (int w = 0; w < (int)(blockDim.x >> 5); w++) { tc += sc[w]; tn += sn[w]; }    \
            if (tc) atomicAdd(&counts[u], tc);                                                \
            if (tn) atomicAdd(&nans[u], tn);                                                  \
        }                                                                                     \
        __syncthreads();                                                                      \
    }                                                                                         \
}

RUNS_KERNEL(runs_f32, load_f32)
RUNS_KERNEL(runs_f16, load_f16)
RUNS_KERNEL(runs_bf16, load_bf16)
