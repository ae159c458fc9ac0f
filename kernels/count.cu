// actprof CUDA kernels: per-unit counts of x > T, per-unit NaN counts and
// each observation's packed fired bits, from one read of a chunk, with the
// CPU backend's exact rules (strict >, NaN never fires, -0 does not fire at
// T = 0, +Inf fires). T is passed rounded down to float32 (the profiler's
// Threshold.F32), which makes float32/float16/bfloat16 comparisons exact.
//
// Layouts (the profiler's Geometry): a chunk is [outer, units, inner] in C
// order, whole observation groups.
//   rows  (inner == 1): adjacent threads own adjacent units of a row (rows2:
//         adjacent pairs of units, when units is even), so a warp reads
//         contiguous bytes; warps of a block take different rows;
//         blockIdx.y splits rows when units are few.
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

// rows layout, two units per thread (units even): each thread loads one
// aligned pair (8 bytes of float32, 4 of float16/bfloat16), so a warp reads
// 64 units of a row at once: 256 or 128 contiguous bytes, where one unit per
// thread would read 64 bytes of a 16-bit row per request. Thread lane owns
// units 64*blockIdx.x + 2*lane and +1; the two ballots are interleaved into
// the row's 64-bit word blockIdx.x (the CPU's layout).
__device__ __forceinline__ void load2_f32(const void *p, size_t i, float &a, float &b) {
    float2 v = ((const float2 *)p)[i];
    a = v.x; b = v.y;
}
__device__ __forceinline__ void load2_f16(const void *p, size_t i, float &a, float &b) {
    float2 v = __half22float2(((const __half2 *)p)[i]);
    a = v.x; b = v.y;
}
__device__ __forceinline__ void load2_bf16(const void *p, size_t i, float &a, float &b) {
    uint32_t v = ((const uint32_t *)p)[i];
    a = __uint_as_float(v << 16); b = __uint_as_float(v & 0xffff0000u);
}
// spread spreads the 32 bits of x to the even bits of a 64-bit word.
__device__ __forceinline__ u64 spread(uint32_t x) {
    u64 v = x;
    v = (v | (v << 16)) & 0x0000ffff0000ffffull;
    v = (v | (v << 8)) & 0x00ff00ff00ff00ffull;
    v = (v | (v << 4)) & 0x0f0f0f0f0f0f0f0full;
    v = (v | (v << 2)) & 0x3333333333333333ull;
    v = (v | (v << 1)) & 0x5555555555555555ull;
    return v;
}

#define ROWS2_KERNEL(NAME, LOAD2)                                                             \
extern "C" __global__ void NAME(const void *data, long long rows, int units, float t,         \
                                u64 *counts, u64 *nans, uint32_t *bits, int words32) {        \
    __shared__ uint32_t sc[WARPS][64];                                                        \
    __shared__ uint32_t sn[WARPS][64];                                                        \
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;                                      \
    int u = blockIdx.x * 64 + 2 * lane;                                                       \
    bool live = u < units; /* units is even: u+1 is live too */                               \
    uint32_t c0 = 0, c1 = 0, n0 = 0, n1 = 0;                                                  \
    u64 *bits64 = (u64 *)bits;                                                                \
    for (long long r = (long long)blockIdx.y * WARPS + warp; r < rows;                        \
         r += (long long)gridDim.y * WARPS) {                                                 \
        float x0 = 0.0f, x1 = 0.0f;                                                           \
        if (live) LOAD2(data, ((size_t)r * units + u) >> 1, x0, x1);                          \
        bool f0 = live && x0 > t, f1 = live && x1 > t;                                        \
        c0 += f0; c1 += f1;                                                                   \
        n0 += live && x0 != x0; n1 += live && x1 != x1;                                       \
        if (bits) {                                                                           \
            uint32_t b0 = __ballot_sync(0xffffffffu, f0);                                     \
            uint32_t b1 = __ballot_sync(0xffffffffu, f1);                                     \
            if (lane == 0) bits64[(size_t)r * (words32 >> 1) + blockIdx.x] = spread(b0) | (spread(b1) << 1); \
        }                                                                                     \
    }                                                                                         \
    sc[warp][2 * lane] = c0; sc[warp][2 * lane + 1] = c1;                                     \
    sn[warp][2 * lane] = n0; sn[warp][2 * lane + 1] = n1;                                     \
    __syncthreads();                                                                          \
    if (warp < 2) {                                                                           \
        int k = warp * 32 + lane, v = blockIdx.x * 64 + k;                                    \
        if (v < units) {                                                                      \
            u64 tc = 0, tn = 0;                                                               \
            for (int w = 0; w < WARPS; w++) { tc += sc[w][k]; tn += sn[w][k]; }               \
            if (tc) atomicAdd(&counts[v], tc);                                                \
            if (tn) atomicAdd(&nans[v], tn);                                                  \
        }                                                                                     \
    }                                                                                         \
}

ROWS2_KERNEL(rows2_f32, load2_f32)
ROWS2_KERNEL(rows2_f16, load2_f16)
ROWS2_KERNEL(rows2_bf16, load2_bf16)

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
