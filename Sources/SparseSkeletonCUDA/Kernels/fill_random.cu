// Fills a 16-bit tensor with reproducible pseudo-random values on the GPU, so benchmarks at
// 1M tokens need no host generation or upload (gigabytes). Value i is
//     scale * (u1 + u2 + u3 - 1.5) * 2          u_k uniform in [0, 1) from a hash of (seed, i, k)
// (an Irwin-Hall sum: bell-shaped, mean 0, variance 1), rounded to bf16/fp16 (SK_BF16).
// Never zeros: benchmarks must not time zero data (MMA units run faster on it).
#include "common.cuh"
#include "sk_fill_params.h"

SK_DEVICE u32 sk_hash(u32 x) {
    x ^= x >> 16; x *= 0x7feb352du;
    x ^= x >> 15; x *= 0x846ca68bu;
    x ^= x >> 16;
    return x;
}

extern "C" __global__ void fill_random(const __grid_constant__ SKFillRandomParams p) {
    u16* __restrict__ out = p.out;
    const long long count = p.count;
    const u32 seed = p.seed;
    const float scale = p.scale;
    const long long stride = (long long)gridDim.x * blockDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < count; i += stride) {
        const u32 base = sk_hash(seed ^ sk_hash((u32)i) ^ sk_hash((u32)(i >> 32) + 0x9e3779b9u));
        const float u1 = (sk_hash(base + 1u) >> 8) * (1.0f / 16777216.0f);
        const float u2 = (sk_hash(base + 2u) >> 8) * (1.0f / 16777216.0f);
        const float u3 = (sk_hash(base + 3u) >> 8) * (1.0f / 16777216.0f);
        const float x = scale * (u1 + u2 + u3 - 1.5f) * 2.0f;
        out[i] = (u16)(sk_pack2(x, 0.f) & 0xffffu);
    }
}
