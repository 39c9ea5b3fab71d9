// Skeleton estimator, step 1: the exact probe rows (docs/METHOD.md §2), on the tensor cores.
//
// A probe group is 64 query rows (a list of row indices, -1 = padding; strided fit rows, the last
// rows, or check rows — never mixed, so a group's rows span at most 63·stride). One CTA = (group,
// SK_PROBE_HEADS = 1 or 2 query heads of one KV group): every K tile it loads serves all its
// heads (the K traffic, not the MMAs, bounds this kernel at long N). Warps: 4 row blocks of 16,
// each warp holding its rows of every head (the heads' MMA row tiles share each K fragment). It
// walks every key tile of 64 keys up to its last row, S = Q_g K_J^T with mma.sync (fp32
// accumulators), causal per row (key j > row r is out). Pass 2 splits each tile's keys over two
// warps per row block: twice the warps per SM for its latency-bound bookkeeping; it holds its Q
// rows in registers (the MMA A fragments, loaded once), so the shared memory that staged them
// becomes the column / ring / diagonal buffers — at 128K with stride 256 that is what lets two
// CTAs share a multiprocessor (and __launch_bounds__ keeps the registers at ≤ 128 for it).
//
// SK_PROBE_PASS 1 (every probe): per (probe, key tile) the tile's log2-sum-exp
//     tileLse2[h][p][J] = log2 Σ_{j∈J, j≤r} 2^(x_rj),   x = s · log2(e)/√d,
// and the row's log2-sum-exp rowLse2[h][p]; a tile mass is then 2^(tileLse2 − rowLse2). Only
// tiles J ≤ r/64 are written (readers never look further).
// SK_PROBE_PASS 2 (fit probes, after pass 1): p_rj = 2^(x_rj − rowLse2), summed into
//     colObs[h][j] += Σ_r p_rj      and      diagObs[h][r − j] += Σ_r p_rj,
// the observed column and diagonal masses the factor fit matches (SkeletonFactors.fit).
// Diagonals: the CTA's live offsets δ = r − j lie in a window of (row span + 128) values that
// slides down by 64 per key tile, so they are summed in a shared ring (per head) of `window` (a
// power of two ≥ span + 128) floats; after each tile the 64 offsets no later tile can reach are
// final and go to global memory once (one atomic per offset per CTA instead of one per element).
// No shared atomics (a float atomic add on shared memory is a compare-and-swap loop): strided rows
// (stride ≥ 32) put at most one element of a 32-key half tile on each δ, so the tile is added in
// two halves with a barrier between; contiguous rows (the tail group) are summed per diagonal of
// the tile first (through a padded shared tile), one writer per δ. The ring index is XOR-swizzled
// with the row bits of δ so the 8 rows of a warp's MMA fragment hit 8 different banks. The tail
// group's CTAs come first in the same launch as the strided groups' (their own ring size).
//
// Layout: Q [N, qHeads, D], K [N, kvHeads, D] (16-bit), GQA in place (kv head = h / group).
#include "common.cuh"
#include "sk_skeleton_params.h"

#ifndef SK_HEAD_DIM
#define SK_HEAD_DIM 128
#endif
#ifndef SK_PROBE_PASS
#define SK_PROBE_PASS 1
#endif
#ifndef SK_PROBE_HEADS
#define SK_PROBE_HEADS 1
#endif

constexpr int D = SK_HEAD_DIM;
constexpr int H = SK_PROBE_HEADS;            // query heads per CTA (MMA row tiles per warp), one KV head
constexpr int PROBES = 64;                   // rows per group
constexpr int BN = 64;                       // keys per tile (the mask's key tile)
constexpr int KS = SK_PROBE_PASS == 2 ? 2 : 1;  // warps sharing a row block, each on 64/KS keys
constexpr int WARPS = 4 * KS;
constexpr int NT = BN / 8 / KS;              // n8 tiles per warp
constexpr int THREADS = WARPS * 32;
constexpr int CHUNKS = D / 8;                // 16-byte chunks per row
constexpr int DIAG_PITCH = BN + 1;           // padded row of the tail group's shared tile
constexpr int TAIL_ROW_SHIFT = 5;            // ring swizzle bits of the tail group (contiguous rows)
static_assert(H == 1 || H == 2, "SK_PROBE_HEADS must be 1 or 2");

SK_DEVICE int swz(int row, int chunk) { return row * D + ((chunk ^ (row & 7)) << 3); }

SK_DEVICE void red_global(float* p, float v) { asm volatile("red.global.add.f32 [%0], %1;" ::"l"(p), "f"(v)); }

// Ring slot of offset δ: δ mod window with bits 3, 4 and 0 XORed by the three bits above the
// stride (the row bits of strided probes), a bijection because those bits are left unchanged.
SK_DEVICE int ring_slot(int delta, int window, int rowShift) {
    const int g = delta & (window - 1);
    return g ^ ((((g >> rowShift) & 3) << 3) | ((g >> (rowShift + 2)) & 1));
}
SK_DEVICE int ring_xor(int rowBits) { return ((rowBits & 3) << 3) | ((rowBits >> 2) & 1); }  // the same bits, of (g >> rowShift) & 7

// ring_slot of δ = base − k for 0 ≤ k < 32 (one thread's elements of one row in a tile) when
// rowShift ≥ 5 (and window ≥ 2^(rowShift+3), true of every ring): the XOR bits are those of
// base >> 5 for k ≤ base & 31 and of (base >> 5) − 1 above (one borrow at most), so two masks
// per row replace the per-element shifts: slot = ((base − k) & (window − 1)) ^ mask.
struct RingRow {
    int base, low, maskHi, maskLo;
    SK_DEVICE RingRow(int b, int rowShift) : base(b), low(b & 31) {
        const int hi = b >> 5;
        maskHi = ring_xor((hi >> (rowShift - 5)) & 7);
        maskLo = ring_xor(((hi - 1) >> (rowShift - 5)) & 7);
    }
    SK_DEVICE int slot(int k, int window) const { return ((base - k) & (window - 1)) ^ (k <= low ? maskHi : maskLo); }
};

// The MMA A fragment of k step kc of this warp's 16 rows (row block rowBlock) of a staged Q tile.
SK_DEVICE void load_q_fragment(u32 (&a)[4], const u16* tile, int rowBlock, int kc, int lane) {
    const int qrow = rowBlock * 16 + (lane % 8) + ((lane / 8) % 2) * 8;
    sk_ldsm_x4(a, sk_smem_addr(tile) + 2 * (qrow * D + (((kc * 2 + lane / 16) ^ (lane & 7)) << 3)));
}

// Gathers the group's query rows (row -1 → zeros) into a swizzled [64, D] tile.
SK_DEVICE void load_rows(u16* tile, const u16* __restrict__ g, const int* rows, int stride) {
    for (int c = threadIdx.x; c < PROBES * CHUNKS; c += THREADS) {
        const int r = c / CHUNKS, ch = c % CHUNKS;
        const int gr = rows[r];
        const u16* src = g + (long long)(gr >= 0 ? gr : 0) * stride + ch * 8;
        sk_cp_async16(sk_smem_addr(tile + swz(r, ch)), src, gr >= 0 ? 16 : 0);
    }
}

// Contiguous key rows [row0, row0 + 64), rows ≥ n zero-filled.
SK_DEVICE void load_keys(u16* tile, const u16* __restrict__ g, int row0, int n, int stride) {
    for (int c = threadIdx.x; c < BN * CHUNKS; c += THREADS) {
        const int r = c / CHUNKS, ch = c % CHUNKS;
        const int gr = row0 + r;
        const u16* src = g + (long long)(gr < n ? gr : 0) * stride + ch * 8;
        sk_cp_async16(sk_smem_addr(tile + swz(r, ch)), src, gr < n ? 16 : 0);
    }
}

// The same copy, straight-line with its fixed per-thread part out of the tile loop (the loop
// above costs ~30 instructions per 16-byte copy and holds registers across the walk; at d ≤ 128
// only: at d256 pass 2 would spill): thread t copies chunk t % CHUNKS of rows t / CHUNKS +
// i · ROW_STEP, and as ROW_STEP is a multiple of 8 the swizzle is the same for all i.
#define SK_KEY_LOADER (SK_HEAD_DIM <= 128)
#if SK_KEY_LOADER
struct KeyLoader {
    static constexpr int PER_THREAD = BN * CHUNKS / THREADS;
    static constexpr int ROW_STEP = THREADS / CHUNKS;
    static_assert(BN * CHUNKS % THREADS == 0 && THREADS % CHUNKS == 0 && ROW_STEP % 8 == 0, "KeyLoader layout");
    int r0;                 // the thread's first row in the tile
    u32 dst;                // its first destination (shared byte address, buffer 0)
    const u16* src;         // its chunk of key row 0 (also the in-bounds address of a zero fill)
    int stride;             // elements between consecutive key rows

    SK_DEVICE KeyLoader(const u16* tile0, const u16* __restrict__ g, int rowStride) {
        r0 = threadIdx.x / CHUNKS;
        const int ch = threadIdx.x % CHUNKS;
        dst = sk_smem_addr(tile0 + swz(r0, ch));
        src = g + ch * 8;
        stride = rowStride;
    }
    // rows [row0, row0 + 64) into buffer `buffer` (BN · D elements each), rows ≥ n zero-filled
    SK_DEVICE void load(int buffer, int row0, int n) const {
        const u32 d = dst + buffer * (BN * D * 2);
#pragma unroll
        for (int i = 0; i < PER_THREAD; ++i) {
            const int gr = row0 + r0 + i * ROW_STEP;
            const bool in = gr < n;
            sk_cp_async16(d + i * (ROW_STEP * D * 2), in ? src + (long long)gr * stride : src, in ? 16 : 0);
        }
    }
};
#endif

// f(mt, nt, e) for every accumulator element a thread holds of an S tile (H heads × NT n8 tiles × 4), unrolled.
template <typename F> SK_DEVICE void for_each_element(F f) {
#pragma unroll
    for (int mt = 0; mt < H; ++mt)
#pragma unroll
        for (int nt = 0; nt < NT; ++nt)
#pragma unroll
            for (int e = 0; e < 4; ++e) f(mt, nt, e);
}

#if SK_PROBE_PASS == 1
typedef SKProbePass1Params SKProbePassParams;
#else
typedef SKProbePass2Params SKProbePassParams;
#endif

#if SK_PROBE_PASS == 2
#define SK_PROBE_BOUNDS __launch_bounds__(THREADS, 2)  /* ≤ 128 registers: two CTAs per multiprocessor */
#else
#define SK_PROBE_BOUNDS __launch_bounds__(THREADS)
#endif
extern "C" __global__ void SK_PROBE_BOUNDS
skeleton_probe_pass(const __grid_constant__ SKProbePassParams params) {
    const u16* __restrict__ q = params.q;
    const u16* __restrict__ k = params.k;
    const int* __restrict__ groupRows = params.groupRows;
    const int n = params.tokens, qHeads = params.queryHeads, kvHeads = params.kvHeads;
    const float scaleLog2 = params.scaleLog2;
    const int probes = params.probes, keyTiles = params.keyTiles, chunks = params.chunks, chunkTiles = params.chunkTiles;
#if SK_PROBE_PASS == 1
    float* __restrict__ tileLse2 = params.tileLse2;
    // one CTA per (group, key chunk of chunkTiles tiles; head set)
    const int group = (int)blockIdx.x / chunks, chunk = (int)blockIdx.x % chunks, headSet = blockIdx.y;
#else
    const float* __restrict__ rowLse2 = params.rowLse2;
    float* __restrict__ colObs = params.colObs;
    float* __restrict__ diagObs = params.diagObs;
    // grid (head sets, fit groups · chunks): the hardware starts CTAs x fastest, so every head set's
    // CTA of one (group, chunk) starts before the next, and y orders them longest walks first: the
    // tail group(s) (whole rows of N keys), then the strided groups from the last (longest rows) down
    const int tailBlocks = params.tailGroups * chunks;
    const bool tailBlock = (int)blockIdx.y < tailBlocks;
    const int window = tailBlock ? params.tailWindow : params.window;
    const int rowShift = tailBlock ? TAIL_ROW_SHIFT : params.rowShift;
    const int b = tailBlock ? (int)blockIdx.y : (int)blockIdx.y - tailBlocks;
    const int chunk = b % chunks, headSet = blockIdx.x;
    const int group = tailBlock ? params.stridedGroups + b / chunks : params.stridedGroups - 1 - b / chunks;
#endif
    extern __shared__ __align__(128) u16 smem[];
#if SK_PROBE_PASS == 1
    u16* sQ = smem;                                  // [H][64][D]
    u16* sK = sQ + H * PROBES * D;                   // two K buffers
    int* sRows = reinterpret_cast<int*>(sK + 2 * BN * D);
#else
    u16* sK = smem;                                  // two K buffers
    int* sRows = reinterpret_cast<int*>(sK + 2 * BN * D);
    u16* sQ = reinterpret_cast<u16*>(sRows + PROBES);  // [H][64][D], only until Q is in registers
    float* sCol = reinterpret_cast<float*>(sQ);      // [H][4 row blocks][64], over the staged Q
    float* sRing = sCol + H * 4 * BN;                // [H][window]
    float* sDiag = sRing + H * window;               // [H][64][DIAG_PITCH] (tail group)
#endif
    // long rows are split over CTAs (chunks of chunkTiles key tiles)
    const int head0 = headSet * H;                   // H consecutive query heads of one KV head
    const int kvHead = head0 / (qHeads / kvHeads);
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int keyPart = warp / 4, rowBlock = warp % 4;
    const int ntBase = keyPart * NT;                 // this warp's first n8 tile of the key tile
    const int p0 = group * PROBES;
    if (threadIdx.x < PROBES) sRows[threadIdx.x] = groupRows[p0 + threadIdx.x];
    __syncthreads();
    // rows ascend inside a group; padding (-1) only at the end
    const int rMin = sRows[0];
    int rMax = -1;
    for (int i = 0; i < PROBES; ++i) rMax = max(rMax, sRows[i]);
    const int firstTile = chunk * chunkTiles;
    const int lastTile = min(rMax / BN, firstTile + chunkTiles - 1);
    if (rMin < 0 || firstTile > lastTile) return;  // empty group or chunk (whole CTA exits together)
#if SK_PROBE_PASS == 2
    const bool contiguous = sRows[1] == rMin + 1;    // the tail group
#endif

    const u16* gK = k + (long long)kvHead * D;
#pragma unroll
    for (int hl = 0; hl < H; ++hl) load_rows(sQ + hl * PROBES * D, q + (long long)(head0 + hl) * D, sRows, qHeads * D);
#if SK_KEY_LOADER
    const KeyLoader keys(sK, gK, kvHeads * D);
    keys.load(firstTile & 1, firstTile * BN, n);
#else
    load_keys(sK + (firstTile & 1) * BN * D, gK, firstTile * BN, n, kvHeads * D);
#endif
    sk_cp_async_commit();

    const int r0 = rowBlock * 16 + lane / 4;         // this thread's two rows in the group
    const int row[2] = {sRows[r0], sRows[r0 + 8]};
#if SK_PROBE_PASS == 2
    float lse[H][2];
#pragma unroll
    for (int mt = 0; mt < H; ++mt)
#pragma unroll
        for (int h = 0; h < 2; ++h)
            lse[mt][h] = row[h] >= 0 ? rowLse2[(long long)(head0 + mt) * probes + p0 + r0 + 8 * h] : 0.f;
#endif
    const int lane7 = lane & 7;
#if SK_PROBE_PASS == 2
    u32 qf[H][D / 16][4];                            // the A fragments of every k step, loaded once
    {
        sk_cp_async_wait<0>();
        __syncthreads();  // Q (and K_first) landed
#pragma unroll
        for (int mt = 0; mt < H; ++mt)
#pragma unroll
            for (int kc = 0; kc < D / 16; ++kc) load_q_fragment(qf[mt][kc], sQ + mt * PROBES * D, rowBlock, kc, lane);
        __syncthreads();  // every warp holds its fragments: the staging area becomes sCol / sRing / sDiag
        for (int i = threadIdx.x; i < H * window; i += THREADS) sRing[i] = 0.f;
    }
#endif

    for (int kb = firstTile; kb <= lastTile; ++kb) {
        sk_cp_async_wait<0>();
        __syncthreads();  // K_kb landed; the other buffer is free (and, pass 2, the ring flush is done)
#if SK_KEY_LOADER
        if (kb < lastTile) keys.load((kb + 1) & 1, (kb + 1) * BN, n);
#else
        if (kb < lastTile) load_keys(sK + ((kb + 1) & 1) * BN * D, gK, (kb + 1) * BN, n, kvHeads * D);
#endif
        sk_cp_async_commit();
        const u32 sKaddr = sk_smem_addr(sK + (kb & 1) * BN * D);

        float s[H][NT][4];
#pragma unroll
        for (int mt = 0; mt < H; ++mt)
#pragma unroll
            for (int nt = 0; nt < NT; ++nt)
#pragma unroll
                for (int e = 0; e < 4; ++e) s[mt][nt][e] = 0.f;
#pragma unroll
        for (int kc = 0; kc < D / 16; ++kc) {
            u32 qa[H][4];
#if SK_PROBE_PASS == 2
#pragma unroll
            for (int mt = 0; mt < H; ++mt)
#pragma unroll
                for (int i = 0; i < 4; ++i) qa[mt][i] = qf[mt][kc][i];
#else
#pragma unroll
            for (int mt = 0; mt < H; ++mt) load_q_fragment(qa[mt], sQ + mt * PROBES * D, rowBlock, kc, lane);
#endif
#pragma unroll
            for (int nt = 0; nt < NT; nt += 2) {
                u32 b[4];
                const int krow = (ntBase + nt) * 8 + (lane % 8) + (lane / 16) * 8;
                sk_ldsm_x4(b, sKaddr + 2 * (krow * D + (((kc * 2 + (lane / 8) % 2) ^ lane7) << 3)));
#pragma unroll
                for (int mt = 0; mt < H; ++mt) {
                    sk_mma16816(s[mt][nt], qa[mt], b[0], b[1]);
                    sk_mma16816(s[mt][nt + 1], qa[mt], b[2], b[3]);
                }
            }
        }
        // element (mt, nt, e): head head0 + mt, row[e / 2], key kb·64 + (ntBase + nt)·8 + (lane % 4)·2 + (e & 1)
#if SK_PROBE_PASS == 1
#pragma unroll
        for (int mt = 0; mt < H; ++mt)
#pragma unroll
            for (int h = 0; h < 2; ++h) {  // the tile's log2-sum-exp per row
                float mx = sk_neg_inf();
#pragma unroll
                for (int nt = 0; nt < NT; ++nt)
#pragma unroll
                    for (int c = 0; c < 2; ++c) {
                        const int j = kb * BN + nt * 8 + (lane % 4) * 2 + c;
                        const float x = j <= row[h] ? s[mt][nt][2 * h + c] * scaleLog2 : sk_neg_inf();
                        s[mt][nt][2 * h + c] = x;
                        mx = fmaxf(mx, x);
                    }
                mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
                mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
                float l = 0.f;
                if (mx != sk_neg_inf()) {
#pragma unroll
                    for (int nt = 0; nt < NT; ++nt) l += sk_exp2(s[mt][nt][2 * h] - mx) + sk_exp2(s[mt][nt][2 * h + 1] - mx);
                }
                l += __shfl_xor_sync(0xffffffffu, l, 1);
                l += __shfl_xor_sync(0xffffffffu, l, 2);
                if (mx != sk_neg_inf() && lane % 4 == 0)
                    tileLse2[((long long)(head0 + mt) * probes + p0 + r0 + 8 * h) * keyTiles + kb] = mx + sk_log2(l);
            }
#else
        // probabilities in place (0 outside the causal range and on padding rows)
#pragma unroll
        for (int mt = 0; mt < H; ++mt)
#pragma unroll
            for (int nt = 0; nt < NT; ++nt)
#pragma unroll
                for (int e = 0; e < 4; ++e) {
                    const int j = kb * BN + (ntBase + nt) * 8 + (lane % 4) * 2 + (e & 1);
                    s[mt][nt][e] = j <= row[e / 2] ? sk_exp2(fmaf(s[mt][nt][e], scaleLog2, -lse[mt][e / 2])) : 0.f;
                }
        // column sums over the warp's 16 rows (lanes with equal lane % 4 hold equal columns)
#pragma unroll
        for (int mt = 0; mt < H; ++mt)
#pragma unroll
            for (int nt = 0; nt < NT; ++nt)
#pragma unroll
                for (int c = 0; c < 2; ++c) {
                    float v = s[mt][nt][c] + s[mt][nt][2 + c];
                    v += __shfl_xor_sync(0xffffffffu, v, 4);
                    v += __shfl_xor_sync(0xffffffffu, v, 8);
                    v += __shfl_xor_sync(0xffffffffu, v, 16);
                    if (lane < 4) sCol[(mt * 4 + rowBlock) * BN + (ntBase + nt) * 8 + lane * 2 + c] = v;
                }
        if (!contiguous) {
            // strided rows: a δ gets at most one element of each 32-key half of the tile; at stride
            // ≥ 64 at most one of the whole tile. Halves that may collide are added one after the other.
            // A thread's own elements lie on distinct δ (its two rows are 8 strides apart, its keys
            // < 64), so on distinct slots: all its loads are issued first, then the stores (the
            // compiler cannot see that they do not alias and would chain load → add → store).
            auto addToRing = [&]() {
                int slot[H][NT][4];
                float old[H][NT][4];
#if SK_HEAD_DIM <= 128  // (at d256 the second copy of the slot code would spill)
                if (rowShift >= 5) {  // every stride ≥ 32, the stride policy's minimum
                    // element (nt, e) of row e / 2 lies on δ = row − base − (nt · 8 + (e & 1))
                    const int base = kb * BN + ntBase * 8 + (lane % 4) * 2;
                    const RingRow rr[2] = {RingRow(row[0] - base, rowShift), RingRow(row[1] - base, rowShift)};
                    for_each_element([&](int mt, int nt, int e) {
                        slot[mt][nt][e] = s[mt][nt][e] != 0.f ? mt * window + rr[e / 2].slot(nt * 8 + (e & 1), window) : -1;
                    });
                } else
#endif
                {
                    for_each_element([&](int mt, int nt, int e) {
                        const int j = kb * BN + (ntBase + nt) * 8 + (lane % 4) * 2 + (e & 1);
                        slot[mt][nt][e] = s[mt][nt][e] != 0.f ? mt * window + ring_slot(row[e / 2] - j, window, rowShift) : -1;
                    });
                }
                for_each_element([&](int mt, int nt, int e) { if (slot[mt][nt][e] >= 0) old[mt][nt][e] = sRing[slot[mt][nt][e]]; });
                for_each_element([&](int mt, int nt, int e) { if (slot[mt][nt][e] >= 0) sRing[slot[mt][nt][e]] = old[mt][nt][e] + s[mt][nt][e]; });
            };
            const bool halvesCollide = (1 << rowShift) < 64;
            if (halvesCollide) {
                if (keyPart == 0) addToRing();
                __syncthreads();
                if (keyPart == 1) addToRing();
                __syncthreads();
            } else {
                addToRing();
                __syncthreads();
            }
        } else {
            // contiguous rows: sum each diagonal of the tile, then one add per δ
#pragma unroll
            for (int mt = 0; mt < H; ++mt)
#pragma unroll
                for (int nt = 0; nt < NT; ++nt)
#pragma unroll
                    for (int e = 0; e < 4; ++e)
                        sDiag[(mt * PROBES + r0 + 8 * (e / 2)) * DIAG_PITCH + (ntBase + nt) * 8 + (lane % 4) * 2 + (e & 1)] = s[mt][nt][e];
            __syncthreads();
            for (int t = threadIdx.x; t < H * 127; t += THREADS) {
                const int hl = t / 127, e = t % 127 - 63;  // e = row index − column index
                float sum = 0.f;
                for (int ri = max(0, e); ri < min(PROBES, BN + e); ++ri) sum += sDiag[(hl * PROBES + ri) * DIAG_PITCH + ri - e];
                const int delta = rMin - kb * BN + e;
                if (delta >= 0 && sum != 0.f) sRing[hl * window + ring_slot(delta, window, rowShift)] += sum;
            }
            __syncthreads();
        }
        // columns on threads [0, H·64), the ring's final offsets on the next H·64 (independent)
        for (int t = threadIdx.x; t < 2 * H * BN; t += THREADS) {
            const int hl = (t / BN) % H, c = t % BN;
            const int head = head0 + hl;
            if (t < H * BN) {
                const int j = kb * BN + c;
                const float* cp = sCol + hl * 4 * BN + c;
                const float cv = cp[0] + cp[BN] + cp[2 * BN] + cp[3 * BN];
                if (cv != 0.f && j < n) red_global(&colObs[(long long)head * n + j], cv);
            } else {
                // offsets above rMax − (kb+1)·64 are final: no later tile reaches them
                const int delta = rMax - kb * BN - c;
                if (delta >= 0) {
                    float* cell = &sRing[hl * window + ring_slot(delta, window, rowShift)];
                    if (*cell != 0.f) red_global(&diagObs[(long long)head * n + delta], *cell);
                    *cell = 0.f;
                }
            }
        }
#endif
    }
    sk_cp_async_wait<0>();
#if SK_PROBE_PASS == 2
    __syncthreads();
    // what is left in the ring: offsets [max(0, rMin − last key), rMax − lastTile·64 − 64]
    const int hi = rMax - lastTile * BN - BN;
    const int lo = max(0, rMin - (lastTile * BN + BN - 1));
    for (int hl = 0; hl < H; ++hl)
        for (int delta = lo + (int)threadIdx.x; delta <= hi; delta += THREADS) {
            const float v = sRing[hl * window + ring_slot(delta, window, rowShift)];
            if (v != 0.f) red_global(&diagObs[(long long)(head0 + hl) * n + delta], v);
        }
#endif
}

#if SK_PROBE_PASS == 1
// rowLse2[h][p] = log2 Σ_{J ≤ r/64} 2^tileLse2[h][p][J]: one warp per (probe, head).
extern "C" __global__ void __launch_bounds__(256)
skeleton_row_lse(const __grid_constant__ SKProbeRowLseParams params) {
    const int* __restrict__ groupRows = params.groupRows;
    const float* __restrict__ tileLse2 = params.tileLse2;
    float* __restrict__ rowLse2 = params.rowLse2;
    const int probes = params.probes, keyTiles = params.keyTiles, heads = params.heads;
    const int wid = (int)((blockIdx.x * blockDim.x + threadIdx.x) / 32), lane = threadIdx.x % 32;
    if (wid >= probes * heads) return;
    const int head = wid / probes, p = wid % probes;
    const int r = groupRows[p];
    if (r < 0) return;
    const float* t = tileLse2 + ((long long)head * probes + p) * keyTiles;
    const int last = r / BN;
    float m = sk_neg_inf();
    for (int kb = lane; kb <= last; kb += 32) m = fmaxf(m, t[kb]);
    for (int o = 16; o > 0; o /= 2) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, o));
    float l = 0.f;
    for (int kb = lane; kb <= last; kb += 32) l += sk_exp2(t[kb] - m);
    for (int o = 16; o > 0; o /= 2) l += __shfl_xor_sync(0xffffffffu, l, o);
    if (lane == 0) rowLse2[(long long)head * probes + p] = m + sk_log2(l);
}
#endif
