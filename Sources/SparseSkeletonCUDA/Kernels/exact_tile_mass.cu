// The exact attention mass of every (query row, 64-key tile) of one dense pass, from Q, K and the
// pass's row LSE (sk_tile_mass_params.h): the truth that mask recall is scored against, N × N/64
// floats per head instead of the N² probabilities. One CTA: 64 query rows × one key tile of one
// head, 256 threads of 4 rows × 4 keys each (rows ty + 16a, keys tx + 16b); the head dim goes
// through shared memory in chunks of 32, stored transposed and padded so that neither the
// stores nor the reads conflict. Scores in fp32 FMA from the 16-bit inputs (SIMT: this runs once
// per layer, accuracy over speed).
#include "common.cuh"
#include "sk_tile_mass_params.h"

#define TM_ROWS 64
#define TM_KEYS 64
#define TM_CHUNK 32
#define TM_PAD (TM_ROWS + 1)

extern "C" __global__ void __launch_bounds__(256) exact_tile_mass(const __grid_constant__ SKTileMassParams p) {
    const int tile = blockIdx.x, qb = blockIdx.y, head = blockIdx.z;
    const int n = p.tokens, d = p.headDim;
    const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
    const int row0 = qb * TM_ROWS, key0 = tile * TM_KEYS;
    float* __restrict__ mass = p.mass;
    const long long massRow0 = ((long long)head * n + row0) * p.keyTiles + tile;
    if (key0 > row0 + TM_ROWS - 1) {  // a tile past every row of this block: no mass
        if (tid < TM_ROWS && row0 + tid < n) mass[massRow0 + (long long)tid * p.keyTiles] = 0.f;
        return;
    }
    __shared__ float sQ[TM_CHUNK][TM_PAD];
    __shared__ float sK[TM_CHUNK][TM_PAD];
    const int kvHead = head / (p.queryHeads / p.kvHeads);
    float acc[4][4];
#pragma unroll
    for (int a = 0; a < 4; ++a)
#pragma unroll
        for (int b = 0; b < 4; ++b) acc[a][b] = 0.f;
    for (int c0 = 0; c0 < d; c0 += TM_CHUNK) {
#pragma unroll
        for (int t = 0; t < (TM_ROWS * TM_CHUNK) / 256; ++t) {
            const int idx = tid + 256 * t, r = idx / TM_CHUNK, dd = idx % TM_CHUNK;
            const int i = row0 + r, j = key0 + r;
            sQ[dd][r] = i < n ? sk_to_float(p.q[((long long)i * p.queryHeads + head) * d + c0 + dd]) : 0.f;
            sK[dd][r] = j < n ? sk_to_float(p.k[((long long)j * p.kvHeads + kvHead) * d + c0 + dd]) : 0.f;
        }
        __syncthreads();
#pragma unroll 8
        for (int dd = 0; dd < TM_CHUNK; ++dd) {
            float qv[4], kv[4];
#pragma unroll
            for (int a = 0; a < 4; ++a) qv[a] = sQ[dd][ty + 16 * a];
#pragma unroll
            for (int b = 0; b < 4; ++b) kv[b] = sK[dd][tx + 16 * b];
#pragma unroll
            for (int a = 0; a < 4; ++a)
#pragma unroll
                for (int b = 0; b < 4; ++b) acc[a][b] = fmaf(qv[a], kv[b], acc[a][b]);
        }
        __syncthreads();
    }
    const float log2e = 1.4426950408889634f;
#pragma unroll
    for (int a = 0; a < 4; ++a) {
        const int r = ty + 16 * a, i = row0 + r;
        const float lse = i < n ? p.lse[(long long)head * n + i] : 0.f;
        const bool finite = lse > -3.0e38f && lse < 3.0e38f;
        float s = 0.f;
#pragma unroll
        for (int b = 0; b < 4; ++b) {
            const int j = key0 + tx + 16 * b;
            if (finite && i < n && j <= i) s += sk_exp2(fmaf(acc[a][b], p.scaleLog2, -lse * log2e));
        }
        // the 16 threads of one row are lanes tx = 0..15 of one half-warp
        s += __shfl_xor_sync(0xffffffffu, s, 8);
        s += __shfl_xor_sync(0xffffffffu, s, 4);
        s += __shfl_xor_sync(0xffffffffu, s, 2);
        s += __shfl_xor_sync(0xffffffffu, s, 1);
        if (tx == 0 && i < n) mass[massRow0 + (long long)r * p.keyTiles] = s;
    }
}
