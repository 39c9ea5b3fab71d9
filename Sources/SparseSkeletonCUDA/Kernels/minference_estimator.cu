// MInference-style vertical-slash estimator on the GPU (the CPU twin is the core's
// MInferenceEstimator; GPUMInferenceEstimator.swift launches these kernels in this order):
//
//   1 minf_probe<stats>   per (key chunk, KV head): S = q_r · k_j / sqrt(d) for the last L <= 64
//                         queries r of every query head of the group against the chunk's keys
//                         (mma.sync), each row's partial (max, sum 2^(S - max)) in the log2 domain
//   2 minf_lse            per (head, row): the row's log2-sum-exp from the partials
//   3 minf_probe<scores>  the same products again; p = 2^(S - lse) written to a shared tile;
//                         column scores (sum over the L rows, one writer per column) and diagonal
//                         scores delta = r - j (per chunk: its own delta range + a 63-wide spill
//                         into the next chunk's range, so nothing is added atomically)
//   4 minf_diag_combine   adds the spills: diag[h][delta] for every delta in [0, N)
//   5 minf_select         per (head, columns|diagonals): radix select (4 x 8 bits on the float's
//                         order-preserving bits) of the k-th largest score, ties taken by
//                         ascending index as the CPU's stable order does, plus the forced first
//                         entries; writes kept-column flags per key block, and the prefix count of
//                         kept diagonals
//   6 minf_diag_table     per (head, D = i0 - j0): does tile offset D hold a kept diagonal
//   7 minf_mask_rows      one warp per CSR row: tile kept = column flag || diagonal; count pass
//   8 minf_scan           one block: row offsets = exclusive scan of the counts
//   9 minf_mask_rows      write pass: ascending key blocks at the row's offset
//
// Density mode (.density(d), the CPU's bisection over one count scale alpha) repeats 5-8 for
// each bisection step on the device: minf_density_step reads the kept-tile total from the scan
// and chooses the next alpha; kernels given `done` skip once the search has finished. Nothing is
// read back to the host.
//
// Sizes: nothing N x N; probe work is heads x L x N x d; buffers O(heads x N) plus the CSR.
// Layout: Q [N, qHeads, D], K [N, kvHeads, D] 16-bit (SK_BF16); query head h reads K head
// h / (qHeads / kvHeads).
#include "common.cuh"
#include "sk_minference_params.h"

#ifndef SK_HEAD_DIM
#define SK_HEAD_DIM 128
#endif

constexpr int MD = SK_HEAD_DIM;
constexpr int M_ROWS = 64;            // probe rows per tile (the last L <= 64 queries)
constexpr int M_KEYS = 64;            // keys per tile
constexpr int M_TILES = 4;            // key tiles per CTA chunk
constexpr int M_SPAN = M_KEYS * M_TILES;
constexpr int M_THREADS = 128;        // 4 warps x 16 rows
constexpr int M_QS = MD + 8;          // padded shared row (16 B pad: ldmatrix rows hit different banks)
constexpr int M_PS = M_KEYS + 1;      // padded probability row (floats)
constexpr int M_DIAG = M_SPAN + 64;   // chunk diagonal accumulator (span + 63 used)

static_assert(MD % 16 == 0 && MD <= 256, "head dim must be a multiple of 16, at most 256");

SK_DEVICE float m_neg_inf() { return sk_neg_inf(); }

// Shared memory of minf_probe (bytes): Q tile, K tile, probability tile, chunk diagonals.
// The host computes the same number (GPUMInferenceEstimator.probeSharedBytes).
typedef SKMInferenceRowPartial MPair;  // a row's partial (max, sum) over one chunk

constexpr int M_SMEM = 2 * M_ROWS * M_QS * 2 + M_ROWS * M_PS * 4 + M_DIAG * 4;
static_assert(M_SMEM <= 227 * 1024, "probe tiles exceed shared memory");

// 16-byte async copies of 64 rows x D of one head into a padded [64][M_QS] tile; `valid(row)`
// false -> zeros.
SK_DEVICE void m_load_rows(u16* tile, const u16* __restrict__ base, long long rowStride, int firstRow, int firstValid, int lastValid) {
    constexpr int CH = MD / 8;
    for (int c = threadIdx.x; c < M_ROWS * CH; c += M_THREADS) {
        const int r = c / CH, ch = c % CH;
        const int gr = firstRow + r;
        const bool ok = gr >= firstValid && gr <= lastValid;
        const u16* src = base + (long long)(ok ? gr : firstValid) * rowStride + ch * 8;
        sk_cp_async16(sk_smem_addr(tile + r * M_QS + ch * 8), src, ok ? 16 : 0);
    }
    sk_cp_async_commit();
}

// Probe pass. SCORES = false: partial (max, sum) per (head, row, chunk) into `part`.
// SCORES = true: column scores into `col`, diagonal scores into `own` / `spill`.
template <bool SCORES>
SK_DEVICE void m_probe(const u16* __restrict__ q, const u16* __restrict__ k, int n, int qHeads, int kvHeads, int lastRows,
                       float scaleLog2, int chunks, MPair* __restrict__ part, const float* __restrict__ lse2,
                       float* __restrict__ col, float* __restrict__ own, float* __restrict__ spill) {
    extern __shared__ __align__(16) unsigned char m_smem[];
    u16* qs = (u16*)m_smem;
    u16* ks = qs + M_ROWS * M_QS;
    float* ps = (float*)(ks + M_ROWS * M_QS);
    float* cdiag = ps + M_ROWS * M_PS;

    const int chunk = blockIdx.x, kv = blockIdx.y;
    const int group = qHeads / kvHeads;
    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    const int cj0 = chunk * M_SPAN;
    const int rb = n - M_ROWS;                 // query index of tile row 0 (may be negative)
    const int firstValidRow = M_ROWS - lastRows;
    const int tilesHere = min(M_TILES, (n - cj0 + M_KEYS - 1) / M_KEYS);
    // the two rows this thread holds in the mma accumulators
    const int rowA = warp * 16 + (lane >> 2), rowB = rowA + 8;
    const bool okA = rowA >= firstValidRow, okB = rowB >= firstValidRow;
    const int qA = rb + rowA, qB = rb + rowB;

    for (int g = 0; g < group; ++g) {
        const int h = kv * group + g;
        __syncthreads();  // previous head's shared tiles are no longer read
        m_load_rows(qs, q + (long long)h * MD, (long long)qHeads * MD, rb, n - lastRows, n - 1);
        if (SCORES) for (int i = tid; i < M_DIAG; i += M_THREADS) cdiag[i] = 0.f;
        float lA = 0.f, lB = 0.f;  // log2-sum-exp of the two rows (scores pass)
        if (SCORES) {
            lA = okA ? lse2[h * M_ROWS + rowA] : 0.f;
            lB = okB ? lse2[h * M_ROWS + rowB] : 0.f;
        }
        float mA = m_neg_inf(), mB = m_neg_inf(), sA = 0.f, sB = 0.f;  // running stats (stats pass)
        u32 qa[MD / 16][4];
        bool haveQ = false;

        for (int t = 0; t < tilesHere; ++t) {
            const int j0 = cj0 + t * M_KEYS;
            __syncthreads();  // K and P tiles free
            m_load_rows(ks, k + (long long)kv * MD, (long long)kvHeads * MD, j0, 0, n - 1);
            sk_cp_async_wait<0>();
            __syncthreads();
            if (!haveQ) {
#pragma unroll
                for (int kk = 0; kk < MD / 16; ++kk) {
                    const int r = warp * 16 + (lane & 7) + 8 * ((lane >> 3) & 1);
                    const int c = kk * 16 + 8 * (lane >> 4);
                    sk_ldsm_x4(qa[kk], sk_smem_addr(qs + r * M_QS + c));
                }
                haveQ = true;
            }
            float acc[8][4];
#pragma unroll
            for (int nt = 0; nt < 8; ++nt) acc[nt][0] = acc[nt][1] = acc[nt][2] = acc[nt][3] = 0.f;
#pragma unroll
            for (int kk = 0; kk < MD / 16; ++kk) {
#pragma unroll
                for (int np = 0; np < 4; ++np) {
                    const int key = np * 16 + (lane & 7) + 8 * (lane >> 4);
                    const int dim = kk * 16 + 8 * ((lane >> 3) & 1);
                    u32 b[4];
                    sk_ldsm_x4(b, sk_smem_addr(ks + key * M_QS + dim));
                    sk_mma16816(acc[2 * np], qa[kk], b[0], b[1]);
                    sk_mma16816(acc[2 * np + 1], qa[kk], b[2], b[3]);
                }
            }
            if (!SCORES) {
                float tA = m_neg_inf(), tB = m_neg_inf();
#pragma unroll
                for (int nt = 0; nt < 8; ++nt) {
#pragma unroll
                    for (int e = 0; e < 2; ++e) {
                        const int j = j0 + nt * 8 + 2 * (lane & 3) + e;
                        acc[nt][e] = (okA && j <= qA) ? acc[nt][e] * scaleLog2 : m_neg_inf();
                        acc[nt][2 + e] = (okB && j <= qB) ? acc[nt][2 + e] * scaleLog2 : m_neg_inf();
                        tA = fmaxf(tA, acc[nt][e]);
                        tB = fmaxf(tB, acc[nt][2 + e]);
                    }
                }
                const float nA = fmaxf(mA, tA), nB = fmaxf(mB, tB);
                if (nA != m_neg_inf()) {
                    float s = (mA == m_neg_inf()) ? 0.f : sA * sk_exp2(mA - nA);
#pragma unroll
                    for (int nt = 0; nt < 8; ++nt) { s += sk_exp2(acc[nt][0] - nA) + sk_exp2(acc[nt][1] - nA); }
                    sA = s; mA = nA;
                }
                if (nB != m_neg_inf()) {
                    float s = (mB == m_neg_inf()) ? 0.f : sB * sk_exp2(mB - nB);
#pragma unroll
                    for (int nt = 0; nt < 8; ++nt) { s += sk_exp2(acc[nt][2] - nB) + sk_exp2(acc[nt][3] - nB); }
                    sB = s; mB = nB;
                }
            } else {
#pragma unroll
                for (int nt = 0; nt < 8; ++nt) {
#pragma unroll
                    for (int e = 0; e < 2; ++e) {
                        const int c = nt * 8 + 2 * (lane & 3) + e;
                        const int j = j0 + c;
                        ps[rowA * M_PS + c] = (okA && j <= qA) ? sk_exp2(acc[nt][e] * scaleLog2 - lA) : 0.f;
                        ps[rowB * M_PS + c] = (okB && j <= qB) ? sk_exp2(acc[nt][2 + e] * scaleLog2 - lB) : 0.f;
                    }
                }
                __syncthreads();
                // diagonal dl = i - c + 63 of this tile, i.e. delta = rb + i - (j0 + c)
                if (tid < 2 * M_KEYS - 1) {
                    const int dl = tid;
                    const int i0 = max(0, dl - (M_KEYS - 1)), i1 = min(M_ROWS - 1, dl);
                    float s = 0.f;
                    for (int i = i0; i <= i1; ++i) s += ps[i * M_PS + (i - dl + M_KEYS - 1)];
                    cdiag[(M_TILES - 1 - t) * M_KEYS + dl] += s;  // one writer per index per tile
                }
                if (tid < M_KEYS) {
                    float s = 0.f;
#pragma unroll 8
                    for (int i = 0; i < M_ROWS; ++i) s += ps[i * M_PS + tid];
                    if (j0 + tid < n) col[(long long)h * n + j0 + tid] = s;
                }
            }
        }
        if (!SCORES) {
            // merge the four lanes that share a row
#pragma unroll
            for (int off = 1; off <= 2; off <<= 1) {
                const float omA = __shfl_xor_sync(0xffffffffu, mA, off), osA = __shfl_xor_sync(0xffffffffu, sA, off);
                const float omB = __shfl_xor_sync(0xffffffffu, mB, off), osB = __shfl_xor_sync(0xffffffffu, sB, off);
                float nm = fmaxf(mA, omA);
                if (nm != m_neg_inf()) { sA = (mA == m_neg_inf() ? 0.f : sA * sk_exp2(mA - nm)) + (omA == m_neg_inf() ? 0.f : osA * sk_exp2(omA - nm)); mA = nm; }
                nm = fmaxf(mB, omB);
                if (nm != m_neg_inf()) { sB = (mB == m_neg_inf() ? 0.f : sB * sk_exp2(mB - nm)) + (omB == m_neg_inf() ? 0.f : osB * sk_exp2(omB - nm)); mB = nm; }
            }
            if ((lane & 3) == 0) {
                part[((long long)h * M_ROWS + rowA) * chunks + chunk] = MPair{mA, sA};
                part[((long long)h * M_ROWS + rowB) * chunks + chunk] = MPair{mB, sB};
            }
        } else {
            __syncthreads();
            // chunk diagonals: index x <-> delta = n - 63 - cj0 - M_SPAN + x. The lowest 63 belong
            // to the next chunk's range (spill); the rest [n - cj0 - M_SPAN, n - 1 - cj0] are ours.
            const int dmin = n - (M_KEYS - 1) - cj0 - M_SPAN;
            for (int x = tid; x < M_SPAN + M_KEYS - 1; x += M_THREADS) {
                const int delta = dmin + x;
                if (x < M_KEYS - 1) spill[((long long)h * chunks + chunk) * 64 + x] = cdiag[x];
                else if (delta >= 0 && delta < n) own[(long long)h * n + delta] = cdiag[x];
            }
        }
    }
}

extern "C" __global__ void __launch_bounds__(M_THREADS) minf_probe_stats(const __grid_constant__ SKMInferenceProbeStatsParams p) {
    const SKMInferenceProbeInputs& in = p.probe;
    m_probe<false>(in.q, in.k, in.tokens, in.queryHeads, in.kvHeads, in.lastRows, in.scaleLog2, in.chunks, p.partials,
                   nullptr, nullptr, nullptr, nullptr);
}

extern "C" __global__ void __launch_bounds__(M_THREADS) minf_probe_scores(const __grid_constant__ SKMInferenceProbeScoresParams p) {
    const SKMInferenceProbeInputs& in = p.probe;
    m_probe<true>(in.q, in.k, in.tokens, in.queryHeads, in.kvHeads, in.lastRows, in.scaleLog2, in.chunks, nullptr,
                  p.lse2, p.columnScores, p.diagonalScores, p.spill);
}

// One warp per (head, row): lse2 = log2 sum_j 2^(S_j) from the chunk partials.
extern "C" __global__ void minf_lse(const __grid_constant__ SKMInferenceLseParams prm) {
    const MPair* __restrict__ part = prm.partials;
    float* __restrict__ lse2 = prm.lse2;
    const int chunks = prm.chunks, rows = prm.rows;
    const int w = (blockIdx.x * blockDim.x + threadIdx.x) >> 5, lane = threadIdx.x & 31;
    if (w >= rows) return;
    const MPair* p = part + (long long)w * chunks;
    float m = m_neg_inf();
    for (int c = lane; c < chunks; c += 32) m = fmaxf(m, p[c].max);
    for (int off = 16; off; off >>= 1) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, off));
    float s = 0.f;
    if (m != m_neg_inf())
        for (int c = lane; c < chunks; c += 32) { const MPair v = p[c]; if (v.max != m_neg_inf()) s += v.sum * sk_exp2(v.max - m); }
    for (int off = 16; off; off >>= 1) s += __shfl_xor_sync(0xffffffffu, s, off);
    if (lane == 0) lse2[w] = (m == m_neg_inf()) ? 0.f : m + sk_log2(s);
}

// diag[h][delta] = own + the previous chunk's spill (delta in the top 63 of its owner's range).
extern "C" __global__ void minf_diag_combine(const __grid_constant__ SKMInferenceDiagCombineParams p) {
    float* __restrict__ own = p.diagonalScores;
    const float* __restrict__ spill = p.spill;
    const int n = p.tokens, chunks = p.chunks;
    const int h = blockIdx.y;
    const int delta = blockIdx.x * blockDim.x + threadIdx.x;
    if (delta >= n) return;
    const int c = (n - 1 - delta) / M_SPAN;
    const int lo = n - (M_KEYS - 1) - c * M_SPAN;
    if (c >= 1 && delta >= lo) own[(long long)h * n + delta] += spill[((long long)h * chunks + c - 1) * 64 + (delta - lo)];
}

// ---- selection ---------------------------------------------------------------------------

constexpr int S_THREADS = 1024;

SK_DEVICE u32 m_order_key(float f) {
    const u32 b = __float_as_uint(f);
    return (b & 0x80000000u) ? ~b : (b | 0x80000000u);
}

// Inclusive block scan of one int per thread (S_THREADS threads); returns the inclusive value,
// `total` the block's sum. `ws` holds 33 ints of shared memory.
SK_DEVICE int m_block_scan(int v, int* ws, int& total) {
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
    int x = v;
#pragma unroll
    for (int off = 1; off < 32; off <<= 1) { const int y = __shfl_up_sync(0xffffffffu, x, off); if (lane >= off) x += y; }
    if (lane == 31) ws[w] = x;
    __syncthreads();
    if (w == 0) {
        const int s = ws[lane];
        int y = s;
#pragma unroll
        for (int off = 1; off < 32; off <<= 1) { const int z = __shfl_up_sync(0xffffffffu, y, off); if (lane >= off) y += z; }
        ws[lane] = y - s;  // exclusive per warp
        if (lane == 31) ws[32] = y;
    }
    __syncthreads();
    const int r = x + ws[w];
    total = ws[32];
    __syncthreads();
    return r;
}

// Device state of the density bisection (see minf_density_step).
typedef SKMInferenceDensityState MDensity;

// grid (heads, 2): y = 0 columns (k = kCol, forced first forcedCol), y = 1 diagonals.
// `st` non-null: counts come from the density state; `evalOnly` skips the work once it is done.
extern "C" __global__ void __launch_bounds__(S_THREADS) minf_select(const __grid_constant__ SKMInferenceSelectParams p) {
    const float* __restrict__ colScore = p.columnScores;
    const float* __restrict__ diagScore = p.diagonalScores;
    const MDensity* __restrict__ st = p.density;
    int* __restrict__ colBlk = p.columnBlocks;
    int* __restrict__ diagPre = p.diagonalPrefix;
    const int n = p.tokens, kCol = p.kColumns, kDiag = p.kDiagonals, forcedCol = p.forcedColumns, forcedDiag = p.forcedDiagonals;
    const int evalOnly = p.evalOnly, keyTile = p.keyTile, keyBlocks = p.keyBlocks;
    __shared__ u32 hist[256];
    __shared__ int ws[33];
    __shared__ u32 shPrefix;
    __shared__ int shRemaining;
    __shared__ int blkFlag[S_THREADS / 64];
    if (st && evalOnly && st->done) return;
    const int h = blockIdx.x, which = blockIdx.y, tid = threadIdx.x, lane = tid & 31;
    const float* score = (which == 0 ? colScore : diagScore) + (long long)h * n;
    int kTop = which == 0 ? (st ? st->kCol : kCol) : (st ? st->kDiag : kDiag);
    const int forced = which == 0 ? forcedCol : forcedDiag;

    // threshold key T and how many entries equal to T are taken (by ascending index)
    u32 thr = 0;
    int needEq = 0;
    bool all = false;
    if (kTop >= n) all = true;
    else if (kTop > 0) {
        u32 prefix = 0, pmask = 0;
        int remaining = kTop;
        for (int shift = 24; shift >= 0; shift -= 8) {
            if (tid < 256) hist[tid] = 0;
            __syncthreads();
            for (int i = tid; i < n; i += S_THREADS) {
                const u32 key = m_order_key(score[i]);
                if ((key & pmask) == prefix) atomicAdd(&hist[(key >> shift) & 255u], 1u);
            }
            __syncthreads();
            if (tid < 32) {
                // lane l holds bins 255 - 8l down to 248 - 8l (descending order across lanes)
                int s = 0;
#pragma unroll
                for (int b = 0; b < 8; ++b) s += (int)hist[255 - 8 * lane - b];
                int cum = s;
#pragma unroll
                for (int off = 1; off < 32; off <<= 1) { const int y = __shfl_up_sync(0xffffffffu, cum, off); if (lane >= off) cum += y; }
                const u32 hit = __ballot_sync(0xffffffffu, cum >= remaining);
                const int first = __ffs(hit) - 1;
                if (lane == first) {
                    int before = cum - s;
                    for (int b = 0; b < 8; ++b) {
                        const int bin = 255 - 8 * lane - b;
                        const int c = (int)hist[bin];
                        if (before + c >= remaining) {
                            shPrefix = prefix | ((u32)bin << shift);
                            shRemaining = remaining - before;
                            break;
                        }
                        before += c;
                    }
                }
            }
            __syncthreads();
            prefix = shPrefix; remaining = shRemaining;
            pmask |= 255u << shift;
            __syncthreads();
        }
        thr = prefix; needEq = remaining;
    }

    if (which == 1 && tid == 0) diagPre[(long long)h * (n + 1)] = 0;
    int eqCarry = 0, keepCarry = 0;
    for (int base = 0; base < n; base += S_THREADS) {
        const int i = base + tid;
        bool keep = false, eq = false;
        if (i < n) {
            if (all) keep = true;
            else if (kTop > 0) {
                const u32 key = m_order_key(score[i]);
                keep = key > thr;
                eq = key == thr;
            }
        }
        int eqTotal;
        const int eqIncl = m_block_scan(eq ? 1 : 0, ws, eqTotal);
        if (eq && eqCarry + eqIncl - 1 < needEq) keep = true;
        eqCarry += eqTotal;
        if (i < n && i < forced) keep = true;
        if (which == 0) {
            if (tid < S_THREADS / 64) blkFlag[tid] = 0;
            __syncthreads();
            const u32 any = __ballot_sync(0xffffffffu, keep);
            if (lane == 0 && any) atomicOr(&blkFlag[(tid & ~31) / keyTile], 1);
            __syncthreads();
            const int blocksHere = S_THREADS / keyTile;
            if (tid < blocksHere) {
                const int kb = base / keyTile + tid;
                if (kb < keyBlocks) colBlk[(long long)h * keyBlocks + kb] = blkFlag[tid];
            }
        } else {
            int keepTotal;
            const int keepIncl = m_block_scan(keep ? 1 : 0, ws, keepTotal);
            if (i < n) diagPre[(long long)h * (n + 1) + i + 1] = keepCarry + keepIncl;
            keepCarry += keepTotal;
        }
    }
}

// tbl[h][m] = 1 when a kept diagonal lies in [D - kt + 1, D + qt - 1] (clipped to [0, n)),
// D = m * g - qt: the diagonals a full tile (i0, j0) with i0 - j0 = D touches.
extern "C" __global__ void minf_diag_table(const __grid_constant__ SKMInferenceDiagTableParams prm) {
    const int* __restrict__ pre = prm.diagonalPrefix;
    const MDensity* __restrict__ st = prm.density;
    int* __restrict__ tbl = prm.table;
    const int n = prm.tokens, qt = prm.queryTile, kt = prm.keyTile, g = prm.granule, entries = prm.entries;
    if (st && st->done) return;
    const int h = blockIdx.y, m = blockIdx.x * blockDim.x + threadIdx.x;
    if (m >= entries) return;
    const int d = m * g - qt;
    const int lo = max(0, d - kt + 1), hi = min(n - 1, d + qt - 1);
    const int* p = pre + (long long)h * (n + 1);
    tbl[(long long)h * entries + m] = (hi >= lo && p[hi + 1] - p[lo] > 0) ? 1 : 0;
}

// One warp per CSR row (head h, query block qb). rowOffsets == null: count pass (counts[row]);
// else write pass (ascending key blocks at rowOffsets[row]).
extern "C" __global__ void minf_mask_rows(const __grid_constant__ SKMInferenceMaskRowsParams prm) {
    const int* __restrict__ colBlk = prm.columnBlocks;
    const int* __restrict__ tbl = prm.table;
    const int* __restrict__ pre = prm.diagonalPrefix;
    const MDensity* __restrict__ st = prm.density;
    int* __restrict__ counts = prm.counts;
    const int* __restrict__ rowOffsets = prm.rowOffsets;
    int* __restrict__ out = prm.keyBlockIndices;
    const int n = prm.tokens, heads = prm.heads, qt = prm.queryTile, kt = prm.keyTile, g = prm.granule, entries = prm.entries;
    const int keyBlocks = prm.keyBlocks, queryBlocks = prm.queryBlocks;
    if (st && st->done) return;
    const int row = (blockIdx.x * blockDim.x + threadIdx.x) >> 5, lane = threadIdx.x & 31;
    if (row >= heads * queryBlocks) return;
    const int h = row / queryBlocks, qb = row % queryBlocks;
    const int i0 = qb * qt, i1 = min(n, i0 + qt);
    const int last = (i1 - 1) / kt;
    const bool partial = i1 - i0 < qt;
    const int* cb = colBlk + (long long)h * keyBlocks;
    const int* tb = tbl + (long long)h * entries;
    const int* p = pre + (long long)h * (n + 1);
    int pos = rowOffsets ? rowOffsets[row] : 0, count = 0;
    for (int base = 0; base <= last; base += 32) {
        const int kb = base + lane;
        bool keep = false;
        if (kb <= last) {
            keep = cb[kb] != 0;
            if (!keep) {
                if (!partial) keep = tb[(i0 - kb * kt + qt) / g] != 0;
                else {
                    const int j0 = kb * kt, j1 = min(n, j0 + kt);
                    const int lo = max(0, i0 - (j1 - 1)), hi = min(n - 1, i1 - 1 - j0);
                    keep = hi >= lo && p[hi + 1] - p[lo] > 0;
                }
            }
        }
        const u32 b = __ballot_sync(0xffffffffu, keep);
        if (out && keep) out[pos + count + __popc(b & ((1u << lane) - 1u))] = kb;
        count += __popc(b);
    }
    if (!rowOffsets && lane == 0) counts[row] = count;
}

// One block: rowOffsets[0] = 0, rowOffsets[r + 1] = counts[0] + ... + counts[r].
extern "C" __global__ void __launch_bounds__(S_THREADS)
minf_scan(const __grid_constant__ SKMInferenceScanParams p) {
    const int* __restrict__ counts = p.counts;
    const MDensity* __restrict__ st = p.density;
    int* __restrict__ rowOffsets = p.rowOffsets;
    const int rows = p.rows;
    __shared__ int ws[33];
    if (st && st->done) return;
    if (threadIdx.x == 0) rowOffsets[0] = 0;
    int carry = 0;
    for (int base = 0; base < rows; base += S_THREADS) {
        const int r = base + threadIdx.x;
        int total;
        const int incl = m_block_scan(r < rows ? counts[r] : 0, ws, total);
        if (r < rows) rowOffsets[r + 1] = carry + incl;
        carry += total;
    }
}

// The CPU's TargetSearch.knobForDensity on the device, one thread. initialize: lo/hi/target/causal
// from the parameters, evaluate hi first. Otherwise consume the density of the mask just counted
// (rowOffsets[rows] / causal) and choose the next alpha; counts = round(alpha * default count).
SK_DEVICE void m_set_counts(MDensity* s, int verticalCount, int slashCount) {
    s->kCol = (int)round(s->alpha * (double)verticalCount);
    s->kDiag = (int)round(s->alpha * (double)slashCount);
}

extern "C" __global__ void minf_density_step(const __grid_constant__ SKMInferenceDensityStepParams p) {
    MDensity* __restrict__ s = p.state;
    const int* __restrict__ rowOffsets = p.rowOffsets;
    const int rows = p.rows, verticalCount = p.verticalCount, slashCount = p.slashCount, init = p.initialize, iterations = p.iterations;
    const double lo = p.lo, hi = p.hi, target = p.target, causal = p.causal;
    if (threadIdx.x != 0 || blockIdx.x != 0) return;
    if (init) {
        s->lo = lo; s->hi = hi; s->target = target; s->causal = causal;
        s->dLo = 0; s->dHi = 0; s->phase = 0; s->iter = 0; s->done = 0;
        s->alpha = hi;
        m_set_counts(s, verticalCount, slashCount);
        return;
    }
    if (s->done) return;
    const double dens = (double)rowOffsets[rows] / s->causal;
    if (s->phase == 0) {  // evaluated hi
        s->dHi = dens;
        if (dens <= s->target) { s->done = 1; s->alpha = s->hi; }
        else { s->phase = 1; s->alpha = s->lo; }
    } else if (s->phase == 1) {  // evaluated lo
        s->dLo = dens;
        if (dens >= s->target) { s->done = 1; s->alpha = s->lo; }
        else { s->phase = 2; s->iter = 0; s->alpha = (s->lo + s->hi) / 2; }
    } else {  // evaluated mid = alpha
        if (dens < s->target) { s->lo = s->alpha; s->dLo = dens; } else { s->hi = s->alpha; s->dHi = dens; }
        s->iter += 1;
        if (s->iter < iterations) s->alpha = (s->lo + s->hi) / 2;
        else { s->done = 1; s->alpha = fabs(s->dLo - s->target) <= fabs(s->dHi - s->target) ? s->lo : s->hi; }
    }
    m_set_counts(s, verticalCount, slashCount);
}
