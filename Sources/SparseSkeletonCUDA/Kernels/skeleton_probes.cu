// Skeleton estimator, step 1: the exact probe rows (docs/METHOD.md §2), on the tensor cores.
//
// A probe group is 64 query rows of one head (a list of row indices, -1 = padding; strided fit
// rows, the last rows, or check rows — never mixed, so a group's rows span at most 63·stride).
// One CTA = (group, query head); 4 warps × 16 rows; it walks every key tile of 64 keys up to its
// last row, S = Q_g K_J^T with mma.sync (fp32 accumulators), causal per row (key j > row r is out).
//
// SK_PROBE_PASS 1 (every probe): per (probe, key tile) the tile's log2-sum-exp
//     tileLse2[h][p][J] = log2 Σ_{j∈J, j≤r} 2^(x_rj),   x = s · log2(e)/√d,
// and the row's log2-sum-exp rowLse2[h][p]; a tile mass is then 2^(tileLse2 − rowLse2). Only
// tiles J ≤ r/64 are written (readers never look further).
// SK_PROBE_PASS 2 (fit probes, after pass 1): p_rj = 2^(x_rj − rowLse2), summed into
//     colObs[h][j] += Σ_r p_rj      and      diagObs[h][r − j] += Σ_r p_rj,
// the observed column and diagonal masses the factor fit matches (SkeletonFactors.fit).
// Diagonals: the CTA's live offsets δ = r − j lie in a window of (row span + 128) values that
// slides down by 64 per key tile, so they are summed in a shared ring of `window` (a power of
// two ≥ span + 128) floats; after each tile the 64 offsets no later tile can reach are final and
// go to global memory once (one atomic per offset per CTA instead of one per element).
//
// Layout: Q [N, qHeads, D], K [N, kvHeads, D] (16-bit), GQA in place (kv head = h / group).

#ifndef SK_HEAD_DIM
#define SK_HEAD_DIM 128
#endif
#ifndef SK_PROBE_PASS
#define SK_PROBE_PASS 1
#endif

constexpr int D = SK_HEAD_DIM;
constexpr int PROBES = 64;       // rows per group (4 warps × 16)
constexpr int BN = 64;           // keys per tile (the mask's key tile)
constexpr int THREADS = 128;
constexpr int CHUNKS = D / 8;    // 16-byte chunks per row

SK_DEVICE int swz(int row, int chunk) { return row * D + ((chunk ^ (row & 7)) << 3); }

SK_DEVICE void red_shared(float* p, float v) {
    asm volatile("red.shared.add.f32 [%0], %1;" ::"r"(sk_smem_addr(p)), "f"(v));
}
SK_DEVICE void red_global(float* p, float v) { asm volatile("red.global.add.f32 [%0], %1;" ::"l"(p), "f"(v)); }

// Gathers the group's query rows (row -1 → zeros) into a swizzled [64, D] tile.
SK_DEVICE void load_rows(u16* tile, const u16* __restrict__ g, const int* rows, int stride) {
#pragma unroll
    for (int it = 0; it < PROBES * CHUNKS / THREADS; ++it) {
        const int c = it * THREADS + (int)threadIdx.x;
        const int r = c / CHUNKS, ch = c % CHUNKS;
        const int gr = rows[r];
        const u16* src = g + (long long)(gr >= 0 ? gr : 0) * stride + ch * 8;
        sk_cp_async16(sk_smem_addr(tile + swz(r, ch)), src, gr >= 0 ? 16 : 0);
    }
}

// Contiguous key rows [row0, row0 + 64), rows ≥ n zero-filled.
SK_DEVICE void load_keys(u16* tile, const u16* __restrict__ g, int row0, int n, int stride) {
#pragma unroll
    for (int it = 0; it < BN * CHUNKS / THREADS; ++it) {
        const int c = it * THREADS + (int)threadIdx.x;
        const int r = c / CHUNKS, ch = c % CHUNKS;
        const int gr = row0 + r;
        const u16* src = g + (long long)(gr < n ? gr : 0) * stride + ch * 8;
        sk_cp_async16(sk_smem_addr(tile + swz(r, ch)), src, gr < n ? 16 : 0);
    }
}

extern "C" __global__ void __launch_bounds__(THREADS)
skeleton_probe_pass(const u16* __restrict__ q, const u16* __restrict__ k, const int* __restrict__ groupRows,
                    int n, int qHeads, int kvHeads, float scaleLog2, int probes, int keyTiles,
                    float* __restrict__ tileLse2, float* __restrict__ rowLse2,
                    float* __restrict__ colObs, float* __restrict__ diagObs, int window) {
    extern __shared__ __align__(128) u16 smem[];
    u16* sQ = smem;
    u16* sK = sQ + PROBES * D;                       // two K buffers
    int* sRows = reinterpret_cast<int*>(sK + 2 * BN * D);
#if SK_PROBE_PASS == 2
    float* sCol = reinterpret_cast<float*>(sRows + PROBES);  // [64]
    float* sRing = sCol + BN;                                // [window]
#endif
    const int group = blockIdx.x, head = blockIdx.y;
    const int kvHead = head / (qHeads / kvHeads);
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int p0 = group * PROBES;
    if (threadIdx.x < PROBES) sRows[threadIdx.x] = groupRows[p0 + threadIdx.x];
#if SK_PROBE_PASS == 2
    for (int i = threadIdx.x; i < window; i += THREADS) sRing[i] = 0.f;
    if (threadIdx.x < BN) sCol[threadIdx.x] = 0.f;
#endif
    __syncthreads();
    // rows ascend inside a group; padding (-1) only at the end
    int rMin = sRows[0], rMax = -1;
    for (int i = 0; i < PROBES; ++i) rMax = max(rMax, sRows[i]);
    if (rMin < 0) return;  // empty group (whole CTA exits together)
    const int lastTile = rMax / BN;

    const u16* gQ = q + (long long)head * D;
    const u16* gK = k + (long long)kvHead * D;
    load_rows(sQ, gQ, sRows, qHeads * D);
    load_keys(sK, gK, 0, n, kvHeads * D);
    sk_cp_async_commit();

    const int r0 = warp * 16 + lane / 4;             // this thread's two rows in the group
    const int row[2] = {sRows[r0], sRows[r0 + 8]};
#if SK_PROBE_PASS == 1
    float runMax[2] = {sk_neg_inf(), sk_neg_inf()}, runSum[2] = {0.f, 0.f};
#else
    const float lse[2] = {row[0] >= 0 ? rowLse2[(long long)head * probes + p0 + r0] : 0.f,
                          row[1] >= 0 ? rowLse2[(long long)head * probes + p0 + r0 + 8] : 0.f};
#endif
    const int lane7 = lane & 7;
    const u32 sQaddr = sk_smem_addr(sQ);

    for (int kb = 0; kb <= lastTile; ++kb) {
        sk_cp_async_wait<0>();
        __syncthreads();  // K_kb landed; the other buffer is free (and, pass 2, the ring flush is done)
        if (kb < lastTile) load_keys(sK + ((kb + 1) & 1) * BN * D, gK, (kb + 1) * BN, n, kvHeads * D);
        sk_cp_async_commit();
        const u32 sKaddr = sk_smem_addr(sK + (kb & 1) * BN * D);

        float s[BN / 8][4];
#pragma unroll
        for (int nt = 0; nt < BN / 8; ++nt)
#pragma unroll
            for (int e = 0; e < 4; ++e) s[nt][e] = 0.f;
#pragma unroll
        for (int kc = 0; kc < D / 16; ++kc) {
            u32 qa[4];
            const int qrow = warp * 16 + (lane % 8) + ((lane / 8) % 2) * 8;
            sk_ldsm_x4(qa, sQaddr + 2 * (qrow * D + (((kc * 2 + lane / 16) ^ lane7) << 3)));
#pragma unroll
            for (int nt = 0; nt < BN / 8; nt += 2) {
                u32 b[4];
                const int krow = nt * 8 + (lane % 8) + (lane / 16) * 8;
                sk_ldsm_x4(b, sKaddr + 2 * (krow * D + (((kc * 2 + (lane / 8) % 2) ^ lane7) << 3)));
                sk_mma16816(s[nt], qa, b[0], b[1]);
                sk_mma16816(s[nt + 1], qa, b[2], b[3]);
            }
        }
        // element (nt, e): row[e / 2], key kb·64 + nt·8 + (lane % 4)·2 + (e & 1)
#if SK_PROBE_PASS == 1
#pragma unroll
        for (int h = 0; h < 2; ++h) {
            float mx = sk_neg_inf();
#pragma unroll
            for (int nt = 0; nt < BN / 8; ++nt)
#pragma unroll
                for (int c = 0; c < 2; ++c) {
                    const int j = kb * BN + nt * 8 + (lane % 4) * 2 + c;
                    const float x = j <= row[h] ? s[nt][2 * h + c] * scaleLog2 : sk_neg_inf();
                    s[nt][2 * h + c] = x;
                    mx = fmaxf(mx, x);
                }
            mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
            mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
            float l = 0.f;
            if (mx != sk_neg_inf()) {
#pragma unroll
                for (int nt = 0; nt < BN / 8; ++nt) l += sk_exp2(s[nt][2 * h] - mx) + sk_exp2(s[nt][2 * h + 1] - mx);
            }
            l += __shfl_xor_sync(0xffffffffu, l, 1);
            l += __shfl_xor_sync(0xffffffffu, l, 2);
            if (mx != sk_neg_inf()) {
                const float tile = mx + sk_log2(l);
                if (lane % 4 == 0)
                    tileLse2[((long long)head * probes + p0 + r0 + 8 * h) * keyTiles + kb] = tile;
                const float m2 = fmaxf(runMax[h], tile);
                runSum[h] = runSum[h] * sk_exp2(runMax[h] - m2) + sk_exp2(tile - m2);
                runMax[h] = m2;
            }
        }
#else
        float col[BN / 8][2];
#pragma unroll
        for (int nt = 0; nt < BN / 8; ++nt)
#pragma unroll
            for (int c = 0; c < 2; ++c) {
                const int j = kb * BN + nt * 8 + (lane % 4) * 2 + c;
                float sum = 0.f;
#pragma unroll
                for (int h = 0; h < 2; ++h) {
                    if (j <= row[h]) {
                        const float pr = sk_exp2(fmaf(s[nt][2 * h + c], scaleLog2, -lse[h]));
                        sum += pr;
                        red_shared(&sRing[(row[h] - j) & (window - 1)], pr);
                    }
                }
                col[nt][c] = sum;
            }
        // column sums over the warp's 16 rows: lanes with equal lane % 4 hold equal columns
#pragma unroll
        for (int nt = 0; nt < BN / 8; ++nt)
#pragma unroll
            for (int c = 0; c < 2; ++c) {
                float v = col[nt][c];
                v += __shfl_xor_sync(0xffffffffu, v, 4);
                v += __shfl_xor_sync(0xffffffffu, v, 8);
                v += __shfl_xor_sync(0xffffffffu, v, 16);
                if (lane < 4 && v != 0.f) red_shared(&sCol[nt * 8 + lane * 2 + c], v);
            }
        __syncthreads();  // ring and column partials of this tile complete
        if (threadIdx.x < BN) {
            const int t = threadIdx.x;
            const int j = kb * BN + t;
            const float cv = sCol[t];
            if (cv != 0.f && j < n) red_global(&colObs[(long long)head * n + j], cv);
            sCol[t] = 0.f;
            // offsets above rMax − (kb+1)·64 are final: no later tile reaches them
            const int delta = rMax - kb * BN - t;
            if (delta >= 0) {
                float* cell = &sRing[delta & (window - 1)];
                if (*cell != 0.f) red_global(&diagObs[(long long)head * n + delta], *cell);
                *cell = 0.f;
            }
        }
#endif
    }
    sk_cp_async_wait<0>();
#if SK_PROBE_PASS == 1
#pragma unroll
    for (int h = 0; h < 2; ++h)
        if (lane % 4 == 0 && row[h] >= 0)
            rowLse2[(long long)head * probes + p0 + r0 + 8 * h] = runMax[h] + sk_log2(runSum[h]);
#else
    __syncthreads();
    // what is left in the ring: offsets [max(0, rMin − last key), rMax − lastTile·64 − 64]
    const int hi = rMax - lastTile * BN - BN;
    const int lo = max(0, rMin - (lastTile * BN + BN - 1));
    for (int delta = lo + (int)threadIdx.x; delta <= hi; delta += THREADS) {
        const float v = sRing[delta & (window - 1)];
        if (v != 0.f) red_global(&diagObs[(long long)head * n + delta], v);
    }
#endif
}
