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
// One CTA per (residue t, head): a_t, b_t, h in shared memory; each thread computes 8
// neighbouring outputs with a sliding register window (one new operand per 8 FMAs). The tail
// rows are added by small direct kernels. Total work per sweep O(W·N), as on the CPU.
// All factor math is fp32 except the prefix sums of s used for tile masses (double: they are
// differenced).

#define SK_OUT 8  // outputs per thread

SK_DEVICE void skf_red_global(float* p, float v) { asm volatile("red.global.add.f32 [%0], %1;" ::"l"(p), "f"(v)); }

// ---- strided part -------------------------------------------------------------------------

// Fills a or b for residue t: U + 16 floats, 8 zeros, the U values, 8 zeros (x[m] at x[m + 8]).
SK_DEVICE void gather_a(float* a, const float* __restrict__ v, int n, int stride, int t, int U) {
    for (int i = threadIdx.x; i < U + 16; i += blockDim.x) {
        const int u = i - 8;
        const long long j = (long long)stride * u + t;
        a[i] = (u >= 0 && j < n) ? v[j] : 0.f;
    }
}
SK_DEVICE void gather_b(float* b, const float* __restrict__ s, int n, int stride, int offset, int t, int U) {
    for (int i = threadIdx.x; i < U + 16; i += blockDim.x) {
        const int kk = i - 8;
        const long long d = (long long)stride * kk + offset - t;
        b[i] = (kk >= 0 && d >= 0 && d < n) ? s[d] : 0.f;
    }
}

// out[w0 + i] = Σ_{u ≤ w0+i} a[u] b[w0 + i − u]  (a, b with 8 leading zeros: x[m] at x[m + 8]).
SK_DEVICE void conv8(const float* a, const float* b, int w0, float (&acc)[SK_OUT]) {
    float win[SK_OUT];  // win[i] = b[m + i], m = w0 − u
#pragma unroll
    for (int i = 0; i < SK_OUT; ++i) { acc[i] = 0.f; win[i] = b[w0 + i + 8]; }
    for (int u = 0; u <= w0 + SK_OUT - 1; ++u) {
        const float au = a[u + 8];
#pragma unroll
        for (int i = 0; i < SK_OUT; ++i) acc[i] = fmaf(au, win[i], acc[i]);
#pragma unroll
        for (int i = SK_OUT - 1; i > 0; --i) win[i] = win[i - 1];
        win[0] = b[w0 - u - 1 + 8];  // ≥ index 0 of the padded array while u ≤ w0 + 7
    }
}

// out[k0 + i] = Σ_{w ≥ k0+i}^{W−1} h[w] x[w − k0 − i]  (x with 8 leading zeros).
SK_DEVICE void corr8(const float* h, const float* x, int k0, int W, float (&acc)[SK_OUT]) {
    float win[SK_OUT];  // win[i] = x[m − i], m = w − k0
#pragma unroll
    for (int i = 0; i < SK_OUT; ++i) { acc[i] = 0.f; win[i] = x[-i + 8]; }
    for (int w = k0; w < W; ++w) {
        const float hw = h[w];
#pragma unroll
        for (int i = 0; i < SK_OUT; ++i) acc[i] = fmaf(hw, win[i], acc[i]);
#pragma unroll
        for (int i = SK_OUT - 1; i > 0; --i) win[i] = win[i - 1];
        win[0] = x[w - k0 + 1 + 8];  // x is zero-padded up to index U + 15 ≥ W + 8
    }
}

// mode 0: z (atomically summed over t); mode 1: den_s; mode 2: den_v.
// Shared: a (U + 16) + b (U + 16) + h (W) floats.
extern "C" __global__ void __launch_bounds__(128)
skeleton_ipf_strided(int mode, const float* __restrict__ v, const float* __restrict__ s, const float* __restrict__ hStrided,
                     float* __restrict__ z, float* __restrict__ den, int n, int stride, int offset, int W, int U, int hStride) {
    extern __shared__ float sh[];
    const int t = blockIdx.x, head = blockIdx.y;
    const float* vh = v + (long long)head * n;
    const float* sHead = s + (long long)head * n;
    float* a = sh;
    float* b = a + U + 16;
    float* hs = b + U + 16;
    if (mode == 0 || mode == 1) gather_a(a, vh, n, stride, t, U);
    if (mode == 0 || mode == 2) gather_b(b, sHead, n, stride, offset, t, U);
    if (mode != 0)
        for (int i = threadIdx.x; i < W; i += blockDim.x) hs[i] = hStrided[(long long)head * hStride + i];
    __syncthreads();
    const int chunks = (W + SK_OUT - 1) / SK_OUT;
    // pair chunk c with chunk (chunks − 1 − c) so every thread gets about the same work
    for (int pc = threadIdx.x; pc < (chunks + 1) / 2; pc += blockDim.x) {
        for (int side = 0; side < 2; ++side) {
            const int c = side == 0 ? pc : chunks - 1 - pc;
            if (side == 1 && c == pc) break;
            const int base = c * SK_OUT;
            float acc[SK_OUT];
            if (mode == 0) conv8(a, b, base, acc);
            else corr8(hs, mode == 1 ? a : b, base, W, acc);
#pragma unroll
            for (int i = 0; i < SK_OUT; ++i) {
                const int o = base + i;
                if (o >= W) break;
                if (mode == 0) {
                    if (acc[i] != 0.f) skf_red_global(&z[(long long)head * hStride + o], acc[i]);
                } else if (mode == 1) {
                    const long long d = (long long)stride * o + offset - t;
                    if (d >= 0 && d < n) den[(long long)head * n + d] = acc[i];
                } else {
                    const long long j = (long long)stride * o + t;
                    if (j < n) den[(long long)head * n + j] = acc[i];
                }
            }
        }
    }
}

// ---- tail rows (contiguous, r = n − T + i) ------------------------------------------------

// z_tail[i] = Σ_{j ≤ r_i} v_j s_{r_i − j}; one CTA (256 threads) per (tail row, head).
extern "C" __global__ void __launch_bounds__(256)
skeleton_ipf_tail_z(const float* __restrict__ v, const float* __restrict__ s, float* __restrict__ z, int n, int T, int W, int hStride) {
    const int i = blockIdx.x, head = blockIdx.y;
    const int r = n - T + i;
    const float* vh = v + (long long)head * n;
    const float* sHead = s + (long long)head * n;
    float acc = 0.f;
    for (int j = threadIdx.x; j <= r; j += blockDim.x) acc = fmaf(vh[j], sHead[r - j], acc);
    __shared__ float part[32];
    for (int o = 16; o > 0; o /= 2) acc += __shfl_xor_sync(0xffffffffu, acc, o);
    if (threadIdx.x % 32 == 0) part[threadIdx.x / 32] = acc;
    __syncthreads();
    if (threadIdx.x < 32) {
        float x = threadIdx.x < blockDim.x / 32 ? part[threadIdx.x] : 0.f;
        for (int o = 16; o > 0; o /= 2) x += __shfl_xor_sync(0xffffffffu, x, o);
        if (threadIdx.x == 0) z[(long long)head * hStride + W + i] = x;
    }
}

// mode 1: den_s[δ] += Σ_i h_i v[r_i − δ];  mode 2: den_v[j] += Σ_i h_i s[r_i − j]  (r_i ≥ index).
extern "C" __global__ void __launch_bounds__(256)
skeleton_ipf_tail_den(int mode, const float* __restrict__ v, const float* __restrict__ s, const float* __restrict__ h,
                      float* __restrict__ den, int n, int T, int W, int hStride) {
    const int head = blockIdx.y;
    const int x = blockIdx.x * blockDim.x + threadIdx.x;
    __shared__ float hs[64];
    if (threadIdx.x < T) hs[threadIdx.x] = h[(long long)head * hStride + W + threadIdx.x];
    __syncthreads();
    if (x >= n) return;
    const float* src = (mode == 1 ? v : s) + (long long)head * n;
    float acc = 0.f;
    for (int i = 0; i < T; ++i) {
        const int r = n - T + i;
        if (r >= x) acc = fmaf(hs[i], src[r - x], acc);
    }
    den[(long long)head * n + x] += acc;
}

// ---- updates ------------------------------------------------------------------------------

// h = 1 / z (0 where z ≤ 0), for the W + T fit rows of every head.
extern "C" __global__ void skeleton_ipf_finish_h(const float* __restrict__ z, float* __restrict__ h, int count) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < count) h[i] = z[i] > 0.f ? 1.f / z[i] : 0.f;
}

// x ← obs / den where den > 0 (floored at 1e-30), else unchanged.
extern "C" __global__ void skeleton_ipf_update(float* __restrict__ x, const float* __restrict__ obs, const float* __restrict__ den, long long count) {
    const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < count && den[i] > 0.f) x[i] = fmaxf(obs[i] / den[i], 1e-30f);
}

extern "C" __global__ void skeleton_fill_f32(float* __restrict__ x, float value, long long count) {
    const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < count) x[i] = value;
}

// ---- tile masses ----------------------------------------------------------------------------

// C[h][d] = Σ_{u<d} s_u in double, d = 0...n; one CTA of 1024 threads per head.
extern "C" __global__ void __launch_bounds__(1024)
skeleton_prefix_s(const float* __restrict__ s, double* __restrict__ c, int n) {
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
}

// One CTA per (query block, head): the modelled tile masses of the block's causal key tiles
//     m̂[I, J] = Σ_{j∈J, j<i₁} v_j (C[i₁ − j] − C[max(i₀, j) − j]),
// normalised over the block; then the local blend with the block's fit probes' exact tile
// masses 2^(tileLse2 − rowLse2): m̂ ← (1 − α) m̂ + α · mean_probes(mass), normalised again.
// Writes est[h][rowStart[I] + J] (the core's TileMasses order). Shared: rowLength floats.
extern "C" __global__ void __launch_bounds__(256)
skeleton_tile_masses(const float* __restrict__ v, const double* __restrict__ c, const int* __restrict__ rowStart,
                     const int* __restrict__ blockProbeStart, const int* __restrict__ probeIndex, const int* __restrict__ probeRow,
                     const float* __restrict__ tileLse2, const float* __restrict__ rowLse2, int probes, int keyTiles,
                     float alpha, float* __restrict__ est, int n, int queryTile, int tilesPerHead) {
    extern __shared__ float row[];
    __shared__ float red[32];
    const int qb = blockIdx.x, head = blockIdx.y;
    const int i0 = qb * queryTile, i1 = min(n, i0 + queryTile);
    const int len = (i1 - 1) / 64 + 1;
    const float* vh = v + (long long)head * n;
    const double* ch = c + (long long)head * (n + 1);
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, warps = blockDim.x / 32;
    for (int kb = warp; kb < len; kb += warps) {
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
