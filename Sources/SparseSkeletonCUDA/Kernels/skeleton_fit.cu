// Skeleton estimator, step 2: the factor fit and the tile masses (docs/METHOD.md §3–5), the GPU
// twin of SkeletonFactors.fit / tileMasses and SkeletonEstimator.blendLocal.
//
// Fit rows are r_w = o + S·w (w < W, stride S, offset o = S/2) plus T contiguous tail rows.
// Every IPF sum pairs a probe row r with a key j ≤ r. Writing j = S·u + t (t < S) makes
// r − j = S·(w − u) + (o − t), so for each residue t the strided part is a 1-D causal
// convolution / correlation of length ≈ N/S over (w, u):
//     a_t[u] = v[S·u + t],   b_t[k] = s[S·k + o − t]  (0 where the index leaves [0, N))
//     z_w          += Σ_u a_t[u] · b_t[w − u]        (row normaliser, h_w = 1 / z_w)
//     den_s[S·k + o − t] = Σ_w h_w · a_t[w − k]       (every offset δ is one (k, t))
//     den_v[S·u + t]     = Σ_w h_w · b_t[w − u]       (every key j is one (u, t))
// One CTA per (residue t, head): a_t, b_t, h in shared memory; each thread computes 8 (or 4,
// where 8 would leave threads idle) neighbouring outputs with a sliding register window (one new operand per 8 FMAs). The tail
// rows run as further CTAs of the same launch (their part of den in its own array, added by the
// update; z is atomic anyway), so one IPF step is two launches: the sums, then the update. Total work per sweep O(W·N), as on the CPU.
// All factor math is fp32 except the prefix sums of s used for tile masses (double: they are
// differenced).
#include "common.cuh"
#include "sk_skeleton_params.h"

SK_DEVICE void skf_red_global(float* p, float v) { asm volatile("red.global.add.f32 [%0], %1;" ::"l"(p), "f"(v)); }

// The row normaliser of a fit row from its z (skeleton_ipf_finish_h and the persistent fit).
SK_DEVICE float h_of(float z) { return z > 0.f ? 1.f / z : 0.f; }

// factor[i] ← max(observed[i] / d, 1e-30) where d = den[i] (+ tailDen[i]) > 0; den[i] = 0
// (skeleton_ipf_update and the persistent fit: one body, so the same floats).
SK_DEVICE void ipf_update_one(float* x, const float* obs, float* den, const float* tailDen, long long i) {
    const float d = tailDen ? den[i] + tailDen[i] : den[i];
    if (d > 0.f) x[i] = fmaxf(obs[i] / d, 1e-30f);
    den[i] = 0.f;
}

// ---- one IPF step: strided rows and tail rows in one launch ---------------------------------

// Shared arrays are padded: logical float m sits at m + 4·⌊m / 32⌋. The lanes of a warp take
// neighbouring 8-output chunks, so their 16-float windows start 8 floats apart: unpadded that is
// an 8-way bank conflict per 16-byte load, padded 4 wavefronts (the minimum for 512 bytes).
// Every 4-float group stays contiguous and 16-byte aligned (pads fall on multiples of 32).
SK_DEVICE int pad(int m) { return m + ((m >> 5) << 2); }
SK_DEVICE int padded_length(int m) { return pad(m - 1) + 1; }  // m a multiple of 8

// Fills a or b for residue t: logical U + 16 floats, 8 zeros, the U values, 8 zeros (x[m] at x[m + 8]).
// Unrolled: the loads are independent and strided (one sector each), 4 in flight per thread.
SK_DEVICE void gather_a(float* a, const float* v, int n, int stride, int t, int U) {
#pragma unroll 4
    for (int i = threadIdx.x; i < U + 16; i += blockDim.x) {
        const int u = i - 8;
        const long long j = (long long)stride * u + t;
        a[pad(i)] = (u >= 0 && j < n) ? v[j] : 0.f;
    }
}
SK_DEVICE void gather_b(float* b, const float* s, int n, int stride, int offset, int t, int U) {
#pragma unroll 4
    for (int i = threadIdx.x; i < U + 16; i += blockDim.x) {
        const int kk = i - 8;
        const long long d = (long long)stride * kk + offset - t;
        b[pad(i)] = (kk >= 0 && d >= 0 && d < n) ? s[d] : 0.f;
    }
}

// Both loops below take 8 steps per iteration: the 8 steps' operands are one (OUT + 8)-float
// window of shared memory plus 8 broadcast values, and every register index is a compile-time
// constant — 8·OUT FMAs per 2 + (OUT + 8)/4 loads, no register shuffling. m: logical, a multiple of 4.
template <int COUNT>
SK_DEVICE void loadw(float (&r)[COUNT], const float* x, int m) {
    static_assert(COUNT % 4 == 0, "windows are whole float4s");
#pragma unroll
    for (int i = 0; i < COUNT / 4; ++i) {
        const float4 v = *reinterpret_cast<const float4*>(x + pad(m + 4 * i));
        r[4 * i] = v.x; r[4 * i + 1] = v.y; r[4 * i + 2] = v.z; r[4 * i + 3] = v.w;
    }
}

// OUT = 8 or 4 outputs per thread. Output o gets its terms in the same order for either OUT
// (u or w ascending; the extra terms an 8-wide window adds are exact zeros: a zero pad or a
// zero h past W, times a finite factor), so the sums are the same floats — OUT only decides
// how many threads share a residue's outputs (ipf_strided).
// out[w0 + i] = Σ_{u ≤ w0+i} a[u] b[w0 + i − u]  (a, b padded: x[m] at logical m + 8; w0 % OUT == 0).
template <int OUT>
SK_DEVICE void conv_out(const float* a, const float* b, int w0, float (&acc)[OUT]) {
#pragma unroll
    for (int i = 0; i < OUT; ++i) acc[i] = 0.f;
#pragma unroll 2
    for (int u0 = 0; u0 < w0 + OUT; u0 += 8) {
        float av[8], bw[OUT + 8];
        loadw(av, a, u0 + 8);
        loadw(bw, b, w0 - u0);  // bw[x] = b[w0 − u0 − 8 + x]
#pragma unroll
        for (int k = 0; k < 8; ++k)
#pragma unroll
            for (int i = 0; i < OUT; ++i) acc[i] = fmaf(av[k], bw[i - k + 8], acc[i]);
    }
}

// out[k0 + i] = Σ_{w ≥ k0+i}^{W−1} h[w] x[w − k0 − i]  (x as above, h zero past W; k0 % OUT == 0).
template <int OUT>
SK_DEVICE void corr_out(const float* h, const float* x, int k0, int W, float (&acc)[OUT]) {
#pragma unroll
    for (int i = 0; i < OUT; ++i) acc[i] = 0.f;
#pragma unroll 2
    for (int w0 = k0; w0 < W; w0 += 8) {
        float hv[8], xw[OUT + 8];
        loadw(hv, h, w0);
        loadw(xw, x, w0 - k0 + 8 - OUT);  // xw[y] = x[w0 − k0 − OUT + y]
#pragma unroll
        for (int k = 0; k < 8; ++k)
#pragma unroll
            for (int i = 0; i < OUT; ++i) acc[i] = fmaf(hv[k], xw[k - i + OUT], acc[i]);
    }
}

// One thread's outputs base … base + OUT − 1 of the strided item, summed and written.
template <int OUT>
SK_DEVICE void ipf_strided_outputs(const float* a, const float* b, const float* hs, float* out, int mode, int base, int W,
                                   int t, int head, int n, int stride, int offset, int hStride) {
    float acc[OUT];
    if (mode == 0) conv_out<OUT>(a, b, base, acc);
    else corr_out<OUT>(hs, mode == 1 ? a : b, base, W, acc);
#pragma unroll
    for (int i = 0; i < OUT; ++i) {
        const int o = base + i;
        if (o >= W) break;
        if (mode == 0 && acc[i] == 0.f) continue;
        // z sums over residues (atomic); every den entry has one (o, t): a plain store
        if (mode == 0) {
            skf_red_global(&out[(long long)head * hStride + o], acc[i]);
        } else if (mode == 1) {
            const long long d = (long long)stride * o + offset - t;
            if (d >= 0 && d < n) out[(long long)head * n + d] = acc[i];
        } else {
            const long long j = (long long)stride * o + t;
            if (j < n) out[(long long)head * n + j] = acc[i];
        }
    }
}

// Chunks of OUT outputs, chunk c paired with chunk (chunks − 1 − c) so every thread gets about
// the same work.
template <int OUT>
SK_DEVICE void ipf_strided_walk(const float* a, const float* b, const float* hs, float* out, int mode, int W, int t,
                                int head, int n, int stride, int offset, int hStride) {
    const int chunks = (W + OUT - 1) / OUT;
    for (int pc = threadIdx.x; pc < (chunks + 1) / 2; pc += blockDim.x) {
        for (int side = 0; side < 2; ++side) {
            const int c = side == 0 ? pc : chunks - 1 - pc;
            if (side == 1 && c == pc) break;
            ipf_strided_outputs<OUT>(a, b, hs, out, mode, c * OUT, W, t, head, n, stride, offset, hStride);
        }
    }
}

// The strided rows of residue t (mode 0: z, summed over t; mode 1: den_s; mode 2: den_v).
// Shared: a and b (padded_length(L), L = U + 16 rounded up to 8) + h (padded_length(W + 8 rounded up to 8)).
// hFromZ: rowNormalisers points at z and h = h_of(z) is taken on the fly (the persistent fit).
// No __restrict__ on v, s, h / z, out: the persistent fit rewrites them between its phases, so
// their loads must not go through the read-only (non-coherent) cache.
SK_DEVICE void ipf_strided(const SKIPFStepParams& params, float* sh, int t, int head, bool hFromZ = false) {
    const int mode = params.mode;
    const float* v = params.v;
    const float* s = params.s;
    const float* hStrided = params.rowNormalisers;
    float* out = params.out;
    const int n = params.tokens, stride = params.stride, offset = params.offset, W = params.stridedRows, U = params.residueLength;
    const int hStride = params.fitRowStride;
    const float* vh = v + (long long)head * n;
    const float* sHead = s + (long long)head * n;
    const int L = (U + 16 + 7) / 8 * 8;
    const int PL = padded_length(L);
    float* a = sh;
    float* b = a + PL;
    float* hs = b + PL;
    if (mode == 0 || mode == 1) gather_a(a, vh, n, stride, t, L - 16);
    if (mode == 0 || mode == 2) gather_b(b, sHead, n, stride, offset, t, L - 16);
    if (mode != 0) {
        const int WH = (W + 8 + 7) / 8 * 8;
#pragma unroll 4
        for (int i = threadIdx.x; i < WH; i += blockDim.x) {
            const float x = i < W ? hStrided[(long long)head * hStride + i] : 0.f;
            hs[pad(i)] = hFromZ ? h_of(x) : x;
        }
    }
    __syncthreads();
    // 8 outputs per thread where the pairs of 8-output chunks fill the CTA (W ≥ 1024 at 64
    // threads), else 4: at W = 256 (8K, stride 32) 32 threads work instead of 16, each half the walk
    if ((((W + 7) / 8) + 1) / 2 >= (int)blockDim.x)
        ipf_strided_walk<8>(a, b, hs, out, mode, W, t, head, n, stride, offset, hStride);
    else
        ipf_strided_walk<4>(a, b, hs, out, mode, W, t, head, n, stride, offset, hStride);
}

// Tail rows r_i = n − T + i (T ≤ 64), thread i of the CTA's 64.
// mode 0: z_tail[i] += Σ_{j ≤ r_i} v_j s_{r_i − j} over the CTA's chunk of 256 keys (its v and
// the s window it needs staged: vs[256], ss[320]); four interleaved partial sums of 64 keys.
// modes 1, 2: den_s[δ] += Σ_i h_i v[r_i − δ] / den_v[j] += Σ_i h_i s[r_i − j] for the CTA's 256
// outputs (4 per thread), the window of the source they read staged (hs[64], win[320]); stored
// to tailOut (every output written), added to the strided part by the update, in that order.
SK_DEVICE void ipf_tail(const SKIPFStepParams& params, float* sh, int blk, int head, bool hFromZ = false) {
    const int mode = params.mode;
    const float* v = params.v;
    const float* s = params.s;
    const float* h = params.rowNormalisers;
    float* out = params.out;
    const int n = params.tokens, T = params.tailRows, W = params.stridedRows, hStride = params.fitRowStride;
    const int tid = threadIdx.x;
    if (mode == 0) {
        float* vs = sh;
        float* ss = sh + 256;
        const int j0 = blk * 256;
        const float* vh = v + (long long)head * n;
        const float* sHead = s + (long long)head * n;
        const int sBase = n - T - j0 - 255;  // ss[x] = s[sBase + x]
        for (int x = tid; x < 256; x += blockDim.x) vs[x] = j0 + x < n ? vh[j0 + x] : 0.f;
        for (int x = tid; x < 256 + 64; x += blockDim.x) {
            const int d = sBase + x;
            ss[x] = d >= 0 && d < n ? sHead[d] : 0.f;
        }
        __syncthreads();
        if (tid < T) {
            float part[4] = {0.f, 0.f, 0.f, 0.f};
            for (int jj = 0; jj < 64; ++jj) {
#pragma unroll
                for (int q = 0; q < 4; ++q) part[q] = fmaf(vs[q * 64 + jj], ss[tid + 255 - q * 64 - jj], part[q]);
            }
            const float sum = part[0] + part[1] + part[2] + part[3];
            if (sum != 0.f) skf_red_global(&out[(long long)head * hStride + W + tid], sum);
        }
    } else {
        float* hs = sh;
        float* win = sh + 64;
        const int x0 = blk * 256;
        const float* src = (mode == 1 ? v : s) + (long long)head * n;
        const int base = n - T - x0 - 255;  // win[y] = src[base + y]
        for (int i = tid; i < 64; i += blockDim.x) {
            const float x = i < T ? h[(long long)head * hStride + W + i] : 0.f;
            hs[i] = hFromZ ? h_of(x) : x;
        }
        for (int y = tid; y < 256 + 64; y += blockDim.x) {
            const int idx = base + y;
            win[y] = idx >= 0 && idx < n ? src[idx] : 0.f;
        }
        __syncthreads();
        // 4 outputs per thread (tid + 64q), their sums interleaved: 4 independent chains
        float acc[4] = {0.f, 0.f, 0.f, 0.f};
        for (int i = 0; i < T; ++i)
#pragma unroll
            for (int q = 0; q < 4; ++q) acc[q] = fmaf(hs[i], win[i + 255 - (tid + 64 * q)], acc[q]);
#pragma unroll
        for (int q = 0; q < 4; ++q) {
            const int x = x0 + tid + 64 * q;
            if (x < n) params.tailOut[(long long)head * n + x] = acc[q];
        }
    }
}

// One IPF step, grid (stride + tailBlocks, heads), 64 threads: CTA x < stride runs residue t = x
// of the strided rows, the others a chunk of the tail rows. z: both add into it (zero on entry);
// den: the parts go to two arrays, summed by the update. Shared: the larger of the two parts' needs.
extern "C" __global__ void __launch_bounds__(64)
skeleton_ipf_step(const __grid_constant__ SKIPFStepParams params) {
    extern __shared__ __align__(16) float sh[];
    const int x = blockIdx.x, head = blockIdx.y;
    if (x < params.stride) {
        if (params.stridedRows > 0) ipf_strided(params, sh, x, head);
    } else if (params.tailRows > 0) {
        ipf_tail(params, sh, x - params.stride, head);
    }
}

// ---- the whole fit in one persistent launch --------------------------------------------------

// Grid-wide barrier of a co-resident grid: the CTA's writes are released, thread 0 adds its
// arrival to the counter (zeroed by skeleton_estimate_init) and waits until it reaches target
// (every CTA's arrivals so far: k · gridDim.x at the k-th barrier); then the whole CTA proceeds.
SK_DEVICE void ipf_grid_barrier(unsigned* counter, unsigned target) {
    __syncthreads();
    if (threadIdx.x == 0) {
        __threadfence();
        asm volatile("red.release.gpu.global.add.u32 [%0], %1;" ::"l"(counter), "r"(1u) : "memory");
        unsigned seen;
        for (;;) {
            asm volatile("ld.acquire.gpu.global.u32 %0, [%1];" : "=r"(seen) : "l"(counter) : "memory");
            if (seen >= target) break;
            asm volatile("nanosleep.u32 %0;" ::"r"(32u));
        }
        __threadfence();
    }
    __syncthreads();
}

// The update phase of the persistent fit over its whole grid: ipf_update_one for every i < count,
// four elements per thread and round with their loads issued first (the elements are
// independent: the same floats as one thread per element), then h = h_of(z), z = 0 for the next
// step (what skeleton_ipf_finish_h does; the sums before read h from z on the fly).
SK_DEVICE void ipf_fit_update(const SKIPFFitParams& params, float* x, const float* obs) {
    const long long count = (long long)params.heads * params.tokens;
    const long long threads = (long long)gridDim.x * blockDim.x, tid = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    float* den = params.den;
    const float* tail = params.tailRows > 0 ? params.denTail : nullptr;
    for (long long i0 = tid; i0 < count; i0 += 4 * threads) {
        float d[4], o[4];
#pragma unroll
        for (int k = 0; k < 4; ++k) {
            const long long i = i0 + k * threads;
            d[k] = 0.f; o[k] = 0.f;
            if (i < count) { d[k] = tail ? den[i] + tail[i] : den[i]; o[k] = obs[i]; }
        }
#pragma unroll
        for (int k = 0; k < 4; ++k) {
            const long long i = i0 + k * threads;
            if (i < count) {
                if (d[k] > 0.f) x[i] = fmaxf(o[k] / d[k], 1e-30f);
                den[i] = 0.f;
            }
        }
    }
    const int zCount = params.heads * params.fitRowStride;
    for (long long i = tid; i < zCount; i += threads) {
        params.rowNormalisers[i] = h_of(params.z[i]);
        params.z[i] = 0.f;
    }
}

// All `sweeps` IPF sweeps in one launch (grid ≤ the resident CTAs, 64 threads, the step kernel's
// shared memory): each step's sums are the work items of skeleton_ipf_step's grid — residue
// (t, head) items first, then tail (chunk, head) items, CTA b taking items b, b + grid, … — and the
// update is ipf_fit_update; grid barriers between. The same floating-point operations as the
// step-by-step launches: the same item bodies, h = h_of(z) taken where h was read, the update's
// body per element unchanged (z still gets its residues' sums by atomics in arbitrary order, as
// before). Per sweep: z, den_s, update s, z, den_v, update v — 6 barriers (the steps took 8 launches).
extern "C" __global__ void __launch_bounds__(64)
skeleton_ipf_fit(const __grid_constant__ SKIPFFitParams params) {
    extern __shared__ __align__(16) float sh[];
    const int S = params.stride, heads = params.heads;
    const int stridedItems = params.stridedRows > 0 ? S * heads : 0;
    const int tailBlocks = params.tailRows > 0 ? params.tailBlocks : 0;
    const int items = stridedItems + tailBlocks * heads;
    SKIPFStepParams step;
    step.v = params.v; step.s = params.s; step.rowNormalisers = params.z;
    step.tokens = params.tokens; step.stride = S; step.offset = params.offset; step.stridedRows = params.stridedRows;
    step.residueLength = params.residueLength; step.fitRowStride = params.fitRowStride; step.tailRows = params.tailRows;
    step.tailBlocks = tailBlocks;
    unsigned arrivals = 0;
    auto barrier = [&]() { arrivals += gridDim.x; ipf_grid_barrier(params.barrier, arrivals); };
    auto sums = [&](int mode) {
        step.mode = mode;
        step.out = mode == 0 ? params.z : params.den;
        step.tailOut = mode == 0 || params.tailRows == 0 ? nullptr : params.denTail;
        for (int it = blockIdx.x; it < items; it += gridDim.x) {
            if (it < stridedItems) ipf_strided(step, sh, it % S, it / S, true);
            else { const int r = it - stridedItems; ipf_tail(step, sh, r % tailBlocks, r / tailBlocks, true); }
            __syncthreads();  // the next item refills the shared arrays
        }
    };
    const int sweeps = max(1, params.sweeps);
    for (int sweep = 0; sweep < sweeps; ++sweep) {
        sums(0); barrier();
        sums(1); barrier();
        ipf_fit_update(params, params.s, params.diagObs); barrier();
        sums(0); barrier();
        sums(2); barrier();
        ipf_fit_update(params, params.v, params.colObs);
        if (sweep + 1 < sweeps) barrier();
    }
}

// ---- updates ------------------------------------------------------------------------------

// Every accumulator of one estimate set once: colObs, diagObs, den, z = 0; v = s = 1; the
// persistent fit's barrier counter = 0.
extern "C" __global__ void skeleton_estimate_init(const __grid_constant__ SKEstimateInitParams params) {
    const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < params.count) {
        params.colObs[i] = 0.f; params.diagObs[i] = 0.f; params.den[i] = 0.f;
        params.v[i] = 1.f; params.s[i] = 1.f;
    }
    if (i < params.zCount) params.z[i] = 0.f;
    if (i == 0 && params.fitBarrier) *params.fitBarrier = 0u;
}

// h = 1 / z (0 where z ≤ 0), for the W + T fit rows of every head; z back to 0 for the next step.
extern "C" __global__ void skeleton_ipf_finish_h(const __grid_constant__ SKIPFFinishRowsParams params) {
    float* __restrict__ z = params.z;
    float* __restrict__ h = params.rowNormalisers;
    const int count = params.count;
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < count) {
        h[i] = h_of(z[i]);
        z[i] = 0.f;
    }
}

// x ← obs / den where den > 0 (floored at 1e-30), else unchanged, den = strided + tail part (the
// old store-then-add order, so the same float); den back to 0 for the next step.
extern "C" __global__ void skeleton_ipf_update(const __grid_constant__ SKIPFUpdateParams params) {
    const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < params.count) ipf_update_one(params.factor, params.observed, params.denominator, params.tailDenominator, i);
}

extern "C" __global__ void skeleton_fill_f32(const __grid_constant__ SKFillF32Params params) {
    float* __restrict__ x = params.out;
    const float value = params.value;
    const long long count = params.count;
    const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < count) x[i] = value;
}

// ---- tile masses ----------------------------------------------------------------------------

// C[h][d] = Σ_{u<d} s_u in double, d = 0...n; one CTA of 1024 threads per head. Also the window
// sums wq[h][x] = C[x + queryTile] − C[x] (x + queryTile ≤ n), taken in double, stored as float.
extern "C" __global__ void __launch_bounds__(1024)
skeleton_prefix_s(const __grid_constant__ SKPrefixSumsParams params) {
    const float* __restrict__ s = params.s;
    double* __restrict__ c = params.prefix;
    float* __restrict__ wq = params.windowSums;
    const int n = params.tokens, queryTile = params.queryTile;
    const int head = blockIdx.x;
    const float* sh = s + (long long)head * n;
    double* ch = c + (long long)head * (n + 1);
    const int per = (n + blockDim.x - 1) / blockDim.x;
    const int begin = min(n, (int)threadIdx.x * per), end = min(n, begin + per);
    double local = 0.0;
    for (int i = begin; i < end; ++i) local += (double)sh[i];
    __shared__ double part[1024];
    part[threadIdx.x] = local;
    __syncthreads();
    for (int off = 1; off < (int)blockDim.x; off *= 2) {  // inclusive Hillis–Steele scan
        const double add = threadIdx.x >= (unsigned)off ? part[threadIdx.x - off] : 0.0;
        __syncthreads();
        part[threadIdx.x] += add;
        __syncthreads();
    }
    double run = threadIdx.x > 0 ? part[threadIdx.x - 1] : 0.0;
    if (threadIdx.x == 0) ch[0] = 0.0;
    for (int i = begin; i < end; ++i) { run += (double)sh[i]; ch[i + 1] = run; }
    __syncthreads();
    float* wh = wq + (long long)head * n;
    for (int x = threadIdx.x; x < n; x += blockDim.x) wh[x] = x + queryTile <= n ? (float)(ch[x + queryTile] - ch[x]) : 0.f;
}

// Off-diagonal tiles of full query blocks as one product: with r = queryTile / 64 and
// K = r·I − J ≥ 1, m̂[I, J] = Σ_{x<64} v[64J + x] · wq[64K − x] = V[J] · R[K], V[J][x] = v[64J + x],
// R[K][x] = wq[64K − x]. J and K have equal residues mod r, so the product splits into r
// products over J = r·jj + p, K = r·kk + p (p < r; I = jj + kk + 2p/r), none wasted. One CTA
// (256 threads, 2×2 outputs each) per 32×32 block of (jj, kk) and residue, operands in shared
// memory; writes est[h][rowStart[I] + J] (raw, normalised later).
extern "C" __global__ void __launch_bounds__(256)
skeleton_tile_product(const __grid_constant__ SKTileProductParams params) {
    const float* __restrict__ v = params.v;
    const float* __restrict__ wq = params.windowSums;
    const int* __restrict__ rowStart = params.rowStart;
    float* __restrict__ est = params.est;
    const int n = params.tokens, queryTile = params.queryTile, fullBlocks = params.fullBlocks, tilesPerHead = params.tilesPerHead;
    __shared__ float sv[32][65];
    __shared__ float sr[32][65];
    const int r = queryTile / 64;
    const int head = blockIdx.z / r, p = blockIdx.z % r;
    const int jj0 = blockIdx.x * 32, kk0 = blockIdx.y * 32;
    // J = r·jj + p, K = r·kk + p (K ≥ 1); skip blocks whose smallest I is past the full blocks
    if (jj0 + kk0 + (2 * p) / r >= fullBlocks) return;
    const float* vh = v + (long long)head * n;
    const float* wh = wq + (long long)head * n;
    for (int i = threadIdx.x; i < 32 * 64; i += blockDim.x) {
        const int row = i / 64, x = i % 64;
        const int j = 64 * (r * (jj0 + row) + p) + x;
        sv[row][x] = j < n ? vh[j] : 0.f;
        const int w = 64 * (r * (kk0 + row) + p) - x;
        sr[row][x] = w >= 0 && w < n ? wh[w] : 0.f;
    }
    __syncthreads();
    const int tj = threadIdx.x % 16, tk = threadIdx.x / 16;  // outputs (J0 + tj + 16a, K0 + tk + 16b)
    float acc[2][2] = {{0.f, 0.f}, {0.f, 0.f}};
#pragma unroll 8
    for (int x = 0; x < 64; ++x) {
        const float a0 = sv[tj][x], a1 = sv[tj + 16][x];
        const float b0 = sr[tk][x], b1 = sr[tk + 16][x];
        acc[0][0] = fmaf(a0, b0, acc[0][0]); acc[0][1] = fmaf(a0, b1, acc[0][1]);
        acc[1][0] = fmaf(a1, b0, acc[1][0]); acc[1][1] = fmaf(a1, b1, acc[1][1]);
    }
#pragma unroll
    for (int a = 0; a < 2; ++a)
#pragma unroll
        for (int b = 0; b < 2; ++b) {
            const int J = r * (jj0 + tj + 16 * a) + p, K = r * (kk0 + tk + 16 * b) + p;
            const int I = (J + K) / r;
            if (K < 1 || I >= fullBlocks || 64 * J + 63 >= queryTile * I) continue;  // not a full off-diagonal tile
            est[(long long)head * tilesPerHead + rowStart[I] + J] = acc[a][b];
        }
}

// One CTA per (query block, head): the modelled tile masses of the block's causal key tiles
//     m̂[I, J] = Σ_{j∈J, j<i₁} v_j (C[i₁ − j] − C[max(i₀, j) − j])
// (computed here in double for tiles touching the diagonal and for a partial last block; the
// others come from skeleton_tile_product, already in est),
// normalised over the block; then the local blend with the block's fit probes' exact tile
// masses 2^(tileLse2 − rowLse2): m̂ ← (1 − α) m̂ + α · mean_probes(mass), normalised again.
// Writes est[h][rowStart[I] + J] (the core's TileMasses order). Shared: rowLength floats.
extern "C" __global__ void __launch_bounds__(256)
skeleton_tile_masses(const __grid_constant__ SKTileMassesParams params) {
    const float* __restrict__ v = params.v;
    const double* __restrict__ c = params.prefix;
    const int* __restrict__ rowStart = params.rowStart;
    const int* __restrict__ blockProbeStart = params.blockProbeStart;
    const int* __restrict__ probeIndex = params.probeIndex;
    const int* __restrict__ probeRow = params.probeRow;
    const float* __restrict__ tileLse2 = params.tileLse2;
    const float* __restrict__ rowLse2 = params.rowLse2;
    const int probes = params.probes, keyTiles = params.keyTiles;
    const float alpha = params.localWeight;
    float* __restrict__ est = params.est;
    const int n = params.tokens, queryTile = params.queryTile, tilesPerHead = params.tilesPerHead;
    extern __shared__ float row[];
    __shared__ float red[32];
    const int qb = blockIdx.x, head = blockIdx.y;
    const int i0 = qb * queryTile, i1 = min(n, i0 + queryTile);
    const int len = (i1 - 1) / 64 + 1;
    const float* vh = v + (long long)head * n;
    const double* ch = c + (long long)head * (n + 1);
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, warps = blockDim.x / 32;
    const bool full = i1 - i0 == queryTile;
    const float* prior = est + (long long)head * tilesPerHead + rowStart[qb];
    // off-diagonal tiles (64·kb + 63 < i0) of a full block: skeleton_tile_product wrote them, copied
    // by all threads at once; the warps take the few tiles touching the diagonal (r + 1 at most)
    const int offEnd = full ? i0 / 64 : 0;
    for (int kb = threadIdx.x; kb < offEnd; kb += blockDim.x) row[kb] = prior[kb];
    for (int kb = offEnd + warp; kb < len; kb += warps) {
        double acc = 0.0;
        for (int x = lane; x < 64; x += 32) {
            const int j = kb * 64 + x;
            if (j < i1) acc += (double)vh[j] * (ch[i1 - j] - ch[max(i0, j) - j]);
        }
        for (int o = 16; o > 0; o /= 2) acc += __shfl_xor_sync(0xffffffffu, acc, o);
        if (lane == 0) row[kb] = (float)acc;
    }
    __syncthreads();
    auto blockSum = [&](float x) -> float {
        for (int o = 16; o > 0; o /= 2) x += __shfl_xor_sync(0xffffffffu, x, o);
        __syncthreads();
        if (lane == 0) red[warp] = x;
        __syncthreads();
        float t = 0.f;
        for (int w = 0; w < warps; ++w) t += red[w];
        return t;
    };
    // normalise (a row with no positive finite mass becomes uniform, as on the CPU)
    float part = 0.f;
    for (int kb = threadIdx.x; kb < len; kb += blockDim.x) part += fmaxf(0.f, row[kb]);
    const float total = blockSum(part);
    const bool ok = total > 0.f && total < 3.0e38f;
    const int pBegin = blockProbeStart[qb], pEnd = blockProbeStart[qb + 1];
    const float w = pEnd > pBegin ? alpha : 0.f;
    float part2 = 0.f;
    for (int kb = threadIdx.x; kb < len; kb += blockDim.x) {
        float m = ok ? fmaxf(0.f, row[kb]) / total : 1.f / len;
        if (w > 0.f) {
            float local = 0.f;
            for (int p = pBegin; p < pEnd; ++p) {
                const int pi = probeIndex[p], r = probeRow[p];
                if (kb <= r / 64)
                    local += sk_exp2(tileLse2[((long long)head * probes + pi) * keyTiles + kb] - rowLse2[(long long)head * probes + pi]);
            }
            m = (1.f - w) * m + w * local / (float)(pEnd - pBegin);
        }
        row[kb] = m;
        part2 += m;
    }
    const float total2 = blockSum(part2);
    const bool ok2 = total2 > 0.f && total2 < 3.0e38f;
    float* out = est + (long long)head * tilesPerHead + rowStart[qb];
    for (int kb = threadIdx.x; kb < len; kb += blockDim.x) out[kb] = ok2 ? row[kb] / total2 : 1.f / len;
}
