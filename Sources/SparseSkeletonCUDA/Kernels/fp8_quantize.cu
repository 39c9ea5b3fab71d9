// Quantizes attention inputs to FP8 (e4m3, max 448) with one scale per head, for the hopper kernel's FP8
// build: amax per head, then Q and K row-major and V transposed (8-bit wgmma reads both operands K-major,
// and in P V the keys are K). x → x · (448 / amax) rounded to nearest even; the scale kept is amax / 448
// (1 for an all-zero head; NaN when amax is not finite, so that such a head's output is NaN, not wrong).
#include "common.cuh"
#include "sk_fp8_params.h"

SK_DEVICE float fp8_amax_of(const unsigned int* amax, int h) { return __uint_as_float(amax[h]); }
// __fdiv_rn: correctly rounded whatever the compile flags (the kernels build with --use_fast_math, whose division is
// approximate), so that the CPU twin's IEEE divisions give the same scales and codes bit for bit.
SK_DEVICE float fp8_scale(float a) { return a > 0.f && a <= 3.402823466e38f ? __fdiv_rn(a, 448.f) : (a == 0.f ? 1.f : __int_as_float(0x7fc00000)); }
SK_DEVICE float fp8_inverse(float a) { return a > 0.f && a <= 3.402823466e38f ? __fdiv_rn(448.f, a) : (a == 0.f ? 1.f : __int_as_float(0x7fc00000)); }

// Four floats -> four e4m3 bytes, x0 lowest (round to nearest even, saturating at ±448).
SK_DEVICE u32 fp8_pack4(float x0, float x1, float x2, float x3) {
    unsigned short lo, hi;
    asm("cvt.rn.satfinite.e4m3x2.f32 %0, %1, %2;\n" : "=h"(lo) : "f"(x1), "f"(x0));
    asm("cvt.rn.satfinite.e4m3x2.f32 %0, %1, %2;\n" : "=h"(hi) : "f"(x3), "f"(x2));
    return (u32)lo | ((u32)hi << 16);
}

// amax[0 .. heads) = 0, in the stream's order (a memset of the legacy stream is not ordered with a non-blocking stream).
extern "C" __global__ void fp8_clear(const __grid_constant__ SKFP8QuantizeParams p) {
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < p.heads; i += gridDim.x * blockDim.x) p.amax[i] = 0u;
}

// Eight 16-bit elements (one 16-byte load) as floats.
SK_DEVICE void fp8_load8(const u16* src, float (&x)[8]) {
    const uint4 w = *reinterpret_cast<const uint4*>(src);
    const u32 v[4] = {w.x, w.y, w.z, w.w};
#pragma unroll
    for (int i = 0; i < 4; ++i) { x[2 * i] = sk_to_float((u16)(v[i] & 0xffffu)); x[2 * i + 1] = sk_to_float((u16)(v[i] >> 16)); }
}
SK_DEVICE float fp8_max_nan(float a, float b) { return b > a || b != b ? b : a; }  // NaN wins

// grid (blocks, heads): block (b, h) reduces a strided share of head h's tokens · headDim elements, 8 per load
// (headDim % 8 == 0: loads are 16-byte aligned).
extern "C" __global__ void fp8_amax(const __grid_constant__ SKFP8QuantizeParams p) {
    const int h = blockIdx.y, d = p.headDim;
    const long long chunks = (long long)p.tokens * d / 8, stride = (long long)gridDim.x * blockDim.x;
    float m = 0.f;
    for (long long e = (long long)blockIdx.x * blockDim.x + threadIdx.x; e < chunks; e += stride) {
        const long long row = e * 8 / d;
        float x[8];
        fp8_load8(p.src + (row * p.heads + h) * d + (e * 8 - row * d), x);
#pragma unroll
        for (int i = 0; i < 8; ++i) m = fp8_max_nan(m, fabsf(x[i]));
    }
    for (int o = 16; o > 0; o >>= 1) m = fp8_max_nan(m, __shfl_xor_sync(0xffffffffu, m, o));
    __shared__ float warpMax[32];
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    if (lane == 0) warpMax[warp] = m;
    __syncthreads();
    if (warp == 0) {
        m = lane < (int)(blockDim.x / 32) ? warpMax[lane] : 0.f;
        for (int o = 16; o > 0; o >>= 1) m = fp8_max_nan(m, __shfl_xor_sync(0xffffffffu, m, o));
        // non-negative floats (and NaN, above +inf) order as their bit patterns
        if (lane == 0) atomicMax(p.amax + h, __float_as_uint(m));
    }
}

// dst[t][h][c] = e4m3(src[t][h][c] / scale[h]); eight elements per thread (headDim % 8 == 0).
extern "C" __global__ void fp8_rows(const __grid_constant__ SKFP8QuantizeParams p) {
    const long long chunks = (long long)p.tokens * p.heads * p.headDim / 8, stride = (long long)gridDim.x * blockDim.x;
    const long long first = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (first < p.heads) p.scales[first] = fp8_scale(fp8_amax_of(p.amax, (int)first));
    for (long long e = first; e < chunks; e += stride) {
        const int h = (int)((e * 8 / p.headDim) % p.heads);
        const float inv = fp8_inverse(fp8_amax_of(p.amax, h));
        float x[8];
        fp8_load8(p.src + e * 8, x);
        reinterpret_cast<uint2*>(p.dst)[e] = make_uint2(fp8_pack4(x[0] * inv, x[1] * inv, x[2] * inv, x[3] * inv),
                                                        fp8_pack4(x[4] * inv, x[5] * inv, x[6] * inv, x[7] * inv));
    }
}

// The key stored at position k (0..31) of a group of 32: the hopper FP8 kernel hands P to the P V MMA in its
// accumulator's register order, in which a thread's A-fragment bytes 4t..4t+3 (+16) are keys 2t, 2t+1, 2t+8, 2t+9 (+16).
SK_DEVICE int fp8_key_of_position(int k) { return 16 * (k / 16) + 2 * ((k % 16) / 4) + ((k % 4) & 1) + 8 * ((k % 4) >> 1); }

// grid (paddedTokens / 64, heads), 256 threads: one 64-key tile of one head through shared memory.
// dst[h][c][j] = e4m3(src[key(j)][h][c] / scale[h]), key(j) = 32 (j / 32) + fp8_key_of_position(j % 32), 0 past tokens.
extern "C" __global__ void fp8_transpose(const __grid_constant__ SKFP8QuantizeParams p) {
    constexpr int KEYS = 64, MAX_D = 256;
    __shared__ u16 tile[KEYS][MAX_D + 2];  // +2: rows start in different banks
    const int h = blockIdx.y, d = p.headDim, key0 = blockIdx.x * KEYS;
    if (blockIdx.x == 0 && threadIdx.x == 0) p.scales[h] = fp8_scale(fp8_amax_of(p.amax, h));
    const float inv = fp8_inverse(fp8_amax_of(p.amax, h));
    for (int e = threadIdx.x; e < KEYS * d / 8; e += blockDim.x) {  // 16-byte loads
        const int k = e * 8 / d, c = e * 8 - k * d, key = key0 + k;
        uint4 w = make_uint4(0u, 0u, 0u, 0u);
        if (key < p.tokens) w = *reinterpret_cast<const uint4*>(p.src + ((long long)key * p.heads + h) * d + c);
        const u32 v[4] = {w.x, w.y, w.z, w.w};
#pragma unroll
        for (int i = 0; i < 4; ++i) { tile[k][c + 2 * i] = (u16)(v[i] & 0xffffu); tile[k][c + 2 * i + 1] = (u16)(v[i] >> 16); }
    }
    __syncthreads();
    for (int w = threadIdx.x; w < d * (KEYS / 4); w += blockDim.x) {  // one 4-byte word: positions 4j'..4j'+3 of row c
        const int c = w / (KEYS / 4), pos = 4 * (w % (KEYS / 4)), g = 32 * (pos / 32), k = pos % 32;
        float x[4];
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            const int key = g + fp8_key_of_position(k + i);
            x[i] = key0 + key < p.tokens ? sk_to_float(tile[key][c]) * inv : 0.f;
        }
        *reinterpret_cast<u32*>(p.dst + ((long long)h * d + c) * p.paddedTokens + key0 + pos) = fp8_pack4(x[0], x[1], x[2], x[3]);
    }
}
