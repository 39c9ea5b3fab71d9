// The model's element-wise kernels, compiled at run time by NVRTC. Each takes its parameter
// struct (sk_model_params.h) by value. Launch shapes: embed grid (N) and rmsnorm grid (rows) with
// block 256; rope_split and glu one thread per output element, block 256; qknorm_rope_split grid
// (N · (H + 2·Hkv)) and rmsnorm_residual grid (rows), block 256; target_logprob grid (rows), block 256.
#include "common.cuh"
#include "sk_model_params.h"

// fp32 -> bf16 bits, round to nearest even (NaN kept quiet).
__device__ __forceinline__ u16 mk_bf16(float f) {
    u32 u = __float_as_uint(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (u16)((u >> 16) | 0x40u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (u16)(u >> 16);
}

// The sum of every thread's `s` over the block (warp shuffles, then one warp over the warps'
// partials), returned to all threads. Every thread of the block must call it.
template <typename T> __device__ __forceinline__ T block_sum_of(T s) {
    __shared__ T partial[32];
    for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    if (lane == 0) partial[warp] = s;
    __syncthreads();
    if (warp == 0) {
        int warps = (blockDim.x + 31) >> 5;
        s = lane < warps ? partial[lane] : T(0);
        for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
        if (lane == 0) partial[0] = s;
    }
    __syncthreads();
    T total = partial[0];
    __syncthreads();  // partial is reused by the next call
    return total;
}
__device__ __forceinline__ float block_sum(float s) { return block_sum_of(s); }
__device__ __forceinline__ double block_sum_f64(double s) { return block_sum_of(s); }

// The maximum of every thread's `m` over the block, returned to all threads (as block_sum).
__device__ __forceinline__ float block_max(float m) {
    __shared__ float partial[32];
    for (int o = 16; o > 0; o >>= 1) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, o));
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    if (lane == 0) partial[warp] = m;
    __syncthreads();
    if (warp == 0) {
        int warps = (blockDim.x + 31) >> 5;
        m = lane < warps ? partial[lane] : sk_neg_inf();
        for (int o = 16; o > 0; o >>= 1) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, o));
        if (lane == 0) partial[0] = m;
    }
    __syncthreads();
    float total = partial[0];
    __syncthreads();
    return total;
}


// out[r] = (logits[r, t] - m) - log(Σ_c exp(logits[r, c] - m)), t = targets[r], m = the row's
// maximum (fp32); the exponentials and their sum in fp64, as the host's perplexity did (a
// 262K-entry row summed in fp32 would lose ~1e-4 relative). A target outside the vocabulary
// gives NaN. grid (rows), block 256.
extern "C" __global__ void model_target_logprob(const __grid_constant__ SKModelTargetLogProbParams p) {
    int r = blockIdx.x;
    if (r >= p.rows) return;
    const int v = p.vocab;
    const float* row = p.logits + (long long)r * v;
    float m = sk_neg_inf();
    for (int c = threadIdx.x; c < v; c += blockDim.x) m = fmaxf(m, row[c]);
    m = block_max(m);
    double s = 0.0;
    for (int c = threadIdx.x; c < v; c += blockDim.x) s += exp((double)row[c] - (double)m);
    s = block_sum_f64(s);
    if (threadIdx.x == 0) {
        int t = p.targets[r];
        p.out[r] = (t >= 0 && t < v) ? ((double)row[t] - (double)m) - log(s) : __longlong_as_double(0x7ff8000000000000LL);
    }
}

// x[t, :] = table[ids[t], :]. grid (N), block 256.
extern "C" __global__ void model_embed(const __grid_constant__ SKModelEmbedParams p) {
    const int* ids = p.ids; const float* table = p.table; float* x = p.x;
    const int n = p.tokens, e = p.width, vocab = p.vocab;
    int t = blockIdx.x;
    if (t >= n) return;
    int id = ids[t];
    if (id < 0 || id >= vocab) id = 0;  // ids are validated on the host; never read out of range
    const float* src = table + (long long)id * e;
    float* dst = x + (long long)t * e;
    for (int c = threadIdx.x; c < e; c += blockDim.x) dst[c] = src[c];
}

// y[r, :] = bf16( x[r0 + r, :] * rsqrt(mean(x²) + eps) * gain ). grid (rows), block 256.
// The mean of squares is summed per thread in fp32, then across the block (warp shuffles).
extern "C" __global__ void model_rmsnorm_bf16(const __grid_constant__ SKModelRMSNormParams p) {
    const float* x = p.x; const float* gain = p.gain; u16* y = p.y;
    const int rows = p.rows, width = p.width, firstRow = p.firstRow;
    const float eps = p.epsilon;
    int r = blockIdx.x;
    if (r >= rows) return;
    const float* row = x + (long long)(firstRow + r) * width;
    float s = 0.f;
    for (int c = threadIdx.x; c < width; c += blockDim.x) { float v = row[c]; s += v * v; }
    s = block_sum(s);
    float scale = rsqrtf(s / (float)width + eps);
    u16* out = y + (long long)r * width;
    for (int c = threadIdx.x; c < width; c += blockDim.x) out[c] = mk_bf16(row[c] * scale * gain[c]);
}

// Splits qkv into Q [N, H, d], K [N, Hkv, d], V [N, Hkv, d] (bf16) and rotates Q and K with the
// half-split RoPE: for pair (i, i + d/2) of a head at position t,
//   (a, b) <- (a cos θ - b sin θ, a sin θ + b cos θ),  θ = angle table [t, i].
// One thread per (token, head of H + 2·Hkv, pair i < d/2).
extern "C" __global__ void model_rope_split(const __grid_constant__ SKModelRopeSplitParams p) {
    const float* qkv = p.qkv; const float* cosT = p.cosTable; const float* sinT = p.sinTable;
    u16* q = p.q; u16* k = p.k; u16* v = p.v;
    const int n = p.tokens, hq = p.heads, hkv = p.kvHeads, d = p.headDim;
    int half = d >> 1, heads = hq + 2 * hkv;
    long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    long long total = (long long)n * heads * half;
    if (idx >= total) return;
    int i = (int)(idx % half);
    int h = (int)((idx / half) % heads);
    int t = (int)(idx / ((long long)half * heads));
    const float* src = qkv + (long long)t * heads * d + (long long)h * d;
    float a = src[i], b = src[i + half];
    if (h < hq + hkv) {
        float c = cosT[(long long)t * half + i], s = sinT[(long long)t * half + i];
        float ra = a * c - b * s, rb = a * s + b * c;
        a = ra; b = rb;
    }
    u16* dst;
    if (h < hq) dst = q + ((long long)t * hq + h) * d;
    else if (h < hq + hkv) dst = k + ((long long)t * hkv + (h - hq)) * d;
    else dst = v + ((long long)t * hkv + (h - hq - hkv)) * d;
    dst[i] = mk_bf16(a);
    dst[i + half] = mk_bf16(b);
}

// y[r, :] += RMSNorm(yin[r, :]) * gain, all fp32: a post-norm (Gemma-3's after attention and
// after the feed-forward) added into the residual stream. grid (rows), block 256.
extern "C" __global__ void model_rmsnorm_residual(const __grid_constant__ SKModelRMSNormResidualParams p) {
    const float* y = p.y; const float* gain = p.gain; float* x = p.x;
    const int rows = p.rows, width = p.width;
    int r = blockIdx.x;
    if (r >= rows) return;
    const float* row = y + (long long)r * width;
    float s = 0.f;
    for (int c = threadIdx.x; c < width; c += blockDim.x) { float v = row[c]; s += v * v; }
    float scale = rsqrtf(block_sum(s) / (float)width + p.epsilon);
    float* out = x + (long long)r * width;
    for (int c = threadIdx.x; c < width; c += blockDim.x) out[c] += row[c] * scale * gain[c];
}

// As model_rope_split, with QK-norm first: each Q and K head row (d values) is RMSNorm'ed in fp32
// (· qGain or kGain) and then rotated; V is copied. One block per (token, head of H + 2·Hkv),
// each thread a few pairs (i, i + d/2).
extern "C" __global__ void model_qknorm_rope_split(const __grid_constant__ SKModelQKNormRopeSplitParams p) {
    const SKModelRopeSplitParams& sp = p.split;
    const int n = sp.tokens, hq = sp.heads, hkv = sp.kvHeads, d = sp.headDim;
    int half = d >> 1, heads = hq + 2 * hkv;
    int row = blockIdx.x;
    if (row >= n * heads) return;
    int h = row % heads, t = row / heads;
    const float* src = sp.qkv + (long long)row * d;
    const bool isQ = h < hq, isK = !isQ && h < hq + hkv;
    float scale = 1.f;
    if (isQ || isK) {
        float s = 0.f;
        for (int i = threadIdx.x; i < d; i += blockDim.x) { float v = src[i]; s += v * v; }
        scale = rsqrtf(block_sum(s) / (float)d + p.epsilon);
    }
    const float* gain = isQ ? p.qGain : p.kGain;
    u16* dst;
    if (isQ) dst = sp.q + ((long long)t * hq + h) * d;
    else if (isK) dst = sp.k + ((long long)t * hkv + (h - hq)) * d;
    else dst = sp.v + ((long long)t * hkv + (h - hq - hkv)) * d;
    for (int i = threadIdx.x; i < half; i += blockDim.x) {
        float a = src[i], b = src[i + half];
        if (isQ || isK) {
            a *= scale * gain[i]; b *= scale * gain[i + half];
            float c = sp.cosTable[(long long)t * half + i], s = sp.sinTable[(long long)t * half + i];
            float ra = a * c - b * s, rb = a * s + b * c;
            a = ra; b = rb;
        }
        dst[i] = mk_bf16(a);
        dst[i + half] = mk_bf16(b);
    }
}

// a[t, j] = bf16( act(g) * u ), g = gu[t, j], u = gu[t, F + j]: SwiGLU with silu(z) = z / (1 + e^-z),
// GeGLU with the tanh GELU, gelu(z) = z/2 · (1 + tanh(√(2/π)(z + 0.044715 z³))).
extern "C" __global__ void model_glu(const __grid_constant__ SKModelGLUParams p) {
    const float* gu = p.gateUp; u16* a = p.out;
    const int n = p.tokens, f = p.feedForward;
    long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (long long)n * f) return;
    long long t = idx / f, j = idx % f;
    float g = gu[t * 2 * f + j], u = gu[t * 2 * f + f + j];
    float act;
    if (p.activation == SK_GLU_GELU_TANH) {
        const float c = 0.7978845608028654f;  // √(2/π)
        act = 0.5f * g * (1.f + tanhf(c * (g + 0.044715f * g * g * g)));
    } else {
        act = g / (1.f + __expf(-g));
    }
    a[idx] = mk_bf16(act * u);
}
