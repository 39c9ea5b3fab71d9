// Block-sparse causal FlashAttention forward. Two kernels share this file and the entry name
// `sparse_flash_fwd`, chosen at compile time by SK_WGMMA (FlashKernelTraits.family):
//   SK_WGMMA = 1  Hopper (sm_90a) warpgroup-MMA kernel, the default on sm_90a (first section);
//   SK_WGMMA = 0  FA2-style mma.sync kernel, any sm_80+ GPU (second section).
// Both take the same SKAttentionParams, read the same CSR mask and write the same O and LSE.
//
// Attention spec: scale · log2(e) is a parameter; a sliding window (p.window > 0: query i sees keys
// j ∈ [i − window + 1, i]) starts the dense key loop at the first reachable tile, drops the CSR
// row's tiles wholly left of the window, and masks the tiles straddling its edge per element, as
// the diagonal tile is masked for causality. Tiles inside the window pay no per-element test.
#include "common.cuh"
#include "sk_attention_params.h"

#ifndef SK_WORK_QUEUE
#define SK_WORK_QUEUE 0
#endif
#ifndef SK_WGMMA
#define SK_WGMMA 0
#endif
#include "attention_tiles.cuh"  // tile defaults (d 128, 128 × 64) and D, BM, BN

#if SK_WGMMA
#include "hopper.cuh"
// Block-sparse causal FlashAttention forward for Hopper (sm_90a): warpgroup MMA (wgmma).
//
// Same contract as the mma.sync kernel of the second section (kept for other architectures and
// as the reference layout): one CTA computes one (query head h, query block I),
// rows [I*BM, I*BM+BM) of O_h, walking the key blocks of its CSR row (row r = h * queryBlocks + I,
// ascending) or every causal block when rowOffsets is null (dense). Same math: exp2 online softmax
// with the scale folded in, O = 0 and LSE = -inf for a row that sees no key. GQA reads K/V head
// h / (qHeads / kvHeads) in place. Layout: Q, O [N, qHeads, D]; K, V [N, kvHeads, D]; LSE [qHeads, N].
//
// Per CTA: BM / 64 warpgroups (4 warps each); warpgroup g owns query rows [64g, 64g + 64) of the
// block. Per key tile J:
//     S_g   = Q_g K_J^T   wgmma m64nBNk16, A = Q and B = K both from shared memory (K-major)
//     mask, online softmax on S_g in registers (the accumulator layout is the mma.sync one per warp)
//     O_g  += P_g V_J     wgmma m64nDk16, A = P from registers, B = V from shared memory (MN-major)
// Shared tiles [rows, D] are stored as D/64 column blocks of [rows][64] 16-bit values (128-byte
// rows) with the 128-byte swizzle (16-byte chunk c of row r at c ^ (r & 7)): the canonical
// wgmma SWIZZLE_128B layout, so K-major (Q, K) and MN-major (V) descriptors address them directly.
// Pipeline: SK_STAGES (2–4) K/V stages; all threads load tiles J+1 … J+STAGES−1 with cp.async
// while tile J is computed (no producer warp, no TMA yet). SK_PERSISTENT = 1: a persistent grid whose CTAs walk the
// (query block, head) items longest first and load the next item's Q and first K/V tile during
// the current item's last tile (two Q buffers).
//
// Compile-time traits (-D): SK_WGMMA = 1, SK_HEAD_DIM 64/128/256, SK_BLOCK_M 64/128,
// SK_BLOCK_N 64/128, SK_STAGES, SK_MIN_BLOCKS (__launch_bounds__), SK_PERSISTENT, SK_BF16.

#ifndef SK_MIN_BLOCKS
#define SK_MIN_BLOCKS 1
#endif
#ifndef SK_PERSISTENT
#define SK_PERSISTENT 0
#endif

constexpr int GROUPS = BM / 64;        // warpgroups per CTA
constexpr int THREADS = GROUPS * 128;
constexpr int CHUNKS = D / 8;          // 16-byte chunks per row
#ifndef SK_STAGES
#define SK_STAGES 2
#endif
constexpr int STAGES = SK_STAGES;  // K/V tiles resident or in flight
static_assert(STAGES >= 2 && STAGES <= 4, "2 to 4 K/V stages");
constexpr int Q_BUFFERS = SK_PERSISTENT ? 2 : 1;

static_assert(BM == 64 || BM == 128, "BM must be 64 or 128 (one wgmma m64 tile per warpgroup)");
static_assert(BN == 64 || BN == 128, "BN must be 64 or 128");
static_assert(D == 64 || D == 128 || D == 256, "head dim must be 64, 128 or 256");


// Element offset of (row, 16-byte chunk) in a [rows, D] tile stored as D/64 swizzled [rows][64] blocks.
template <int ROWS>
SK_DEVICE int tile_off(int row, int chunk) {
    return (chunk >> 3) * (ROWS * 64) + row * 64 + (((chunk & 7) ^ (row & 7)) << 3);
}

// Asynchronously copies rows [row0, row0 + ROWS) of one head (row stride `stride` elements) into a
// swizzled tile; rows at or past N are zero-filled. Consecutive threads take consecutive chunks.
template <int ROWS>
SK_DEVICE void load_tile(u32 tileAddr, const u16* __restrict__ g, int row0, int n, int stride) {
    static_assert((ROWS * CHUNKS) % THREADS == 0, "tile chunks must split evenly over the threads");
#pragma unroll
    for (int it = 0; it < ROWS * CHUNKS / THREADS; ++it) {
        const int c = it * THREADS + (int)threadIdx.x;
        const int r = c / CHUNKS, ch = c % CHUNKS;
        const int gr = row0 + r;
        const bool ok = gr < n;
        const u16* src = g + (long long)(ok ? gr : 0) * stride + ch * 8;
        sk_cp_async16(tileAddr + 2 * tile_off<ROWS>(r, ch), src, ok ? 16 : 0);
    }
}


// Grid: (min(items, resident CTAs), 1, 1) with SK_PERSISTENT = 1 (CTA c takes item r·G + c in
// even rounds r and r·G + G − 1 − c in odd ones, G = gridDim.x: a snake over the longest-first
// order, so every CTA gets about the same number of tiles when every row has about the same; on a
// CSR mask with p.workQueue set, rounds after the first take the queue's next item instead), else
// (items, 1, 1) (one item per CTA).
// Loads: a producer position walks the flat stream of K/V tiles — the current item's, then the
// next item's (whose Q joins its first tile's commit group) — keeping up to STAGES tiles resident
// or in flight (slot = flat tile number % STAGES), one cp.async group per tile; so a short sparse
// row's prologue and the memory latency of tiles that miss L2 overlap the tiles before them.
extern "C" __global__ void __launch_bounds__(THREADS, SK_MIN_BLOCKS)
sparse_flash_fwd(const __grid_constant__ SKAttentionParams p) {
    SK_ATTENTION_FIELDS(p);
    extern __shared__ __align__(128) unsigned char smemRaw[];
    // the 128-byte swizzle pattern repeats every 1024 bytes: tiles start 1024-aligned
    const u32 base = (sk_smem_addr(smemRaw) + 1023u) & ~1023u;
    constexpr u32 Q_BYTES = BM * D * 2, KV_BYTES = BN * D * 2;
    const u32 sQ0 = base;                              // Q buffers (2 when persistent)
    const u32 sK0 = sQ0 + Q_BUFFERS * Q_BYTES;         // K stages, then V stages
    const u32 sV0 = sK0 + STAGES * KV_BYTES;

    const int qBlocks = (n + BM - 1) / BM;
    const int items = qBlocks * qHeads;
    const int groupSize = qHeads / kvHeads;
    const int tid = threadIdx.x;
    const int group = tid / 128, warp = (tid % 128) / 32, lane = tid % 32;
    const int strideQ = qHeads * D, strideKV = kvHeads * D;
    const bool sparse = rowOffsets != nullptr;

    // Dynamic order (sparse, persistent): after its first item a CTA takes the next one from the
    // queue's counter, longest causal rows first; the static snake balances tile counts only when
    // every head's row holds about the same number of tiles.
    // Compiled in for sparse launches only (SK_WORK_QUEUE = 1), so the dense kernel stays as it was.
    int* const queue = SK_WORK_QUEUE && SK_PERSISTENT && sparse ? p.workQueue : nullptr;
    __shared__ int sNextItem[2];  // double-buffered: a slot is rewritten a round after it was read, behind a tile barrier
    auto leave = [&]() {          // the last CTA out resets the queue for the next launch on the stream
        if (queue != nullptr && tid == 0) {
            __threadfence();
            if (atomicAdd(queue + 1, 1) == (int)gridDim.x - 1) { queue[0] = 0; queue[1] = 0; }
        }
    };

    int t = blockIdx.x, round = 0;
    if (t >= items) { leave(); return; }
    WorkItem cur = work_item(t, qBlocks, qHeads, n, rowOffsets, keyBlocks, window, p.headSection);
    // The queue is read two rounds ahead and published without a barrier of its own: during round r
    // thread 0 stores round r + 2's item (taken in round r − 1) into slot (r + 1) & 1 before the first
    // tile's __syncthreads, and takes the next one; round r + 1 reads that slot at its start, where it
    // wants its successor's item for the producer. A barrier per item stalled both warpgroups at every
    // item boundary (measured: uniform masks 2–9% slower at 8K–32K).
    int pending = 0;
    auto publish = [&]() {
        if (tid == 0) {
            sNextItem[(round + 1) & 1] = pending;
            pending = (int)gridDim.x + atomicAdd(queue, 1);
        }
    };
    if (queue != nullptr) {
        if (tid == 0) {
            sNextItem[0] = (int)gridDim.x + atomicAdd(queue, 1);
            pending = (int)gridDim.x + atomicAdd(queue, 1);
        }
        __syncthreads();
    }

    // loads: the Q rows of (query block qb, head) into Q buffer b; key block kb of a head's K/V into stage st
    auto load_q = [&](int head, int qb, int b) {
        load_tile<BM>(sQ0 + b * Q_BYTES, q + (long long)head * D, qb * BM, n, strideQ);
    };
    auto load_kv = [&](int head, int kb, int st) {
        const long long off = (long long)(head / groupSize) * D;
        load_tile<BN>(sK0 + st * KV_BYTES, k + off, kb * BN, n, strideKV);
        load_tile<BN>(sV0 + st * KV_BYTES, v + off, kb * BN, n, strideKV);
    };

    int issued = 0, consumed = 0;  // flat tile numbers: tiles whose loads were issued / computed
    int pIdx = 0;                  // producer: next tile index of cur (pOnNext false) or of nxt
    bool pOnNext = false;
    bool loadCurQ = true;          // cur's Q still to be loaded with its first tile
    int qbuf = 0;                  // cur's Q buffer
    auto produce = [&](const WorkItem& cw, const WorkItem& nw, bool hasNext) {
        while (issued - consumed < STAGES) {
            const bool onNext = pOnNext;
            const int wCount = onNext ? nw.count : cw.count;
            if (pIdx >= wCount) {
                if (!onNext && hasNext) { pOnNext = true; pIdx = 0; continue; }
                break;  // at most one item ahead: the Q buffers hold two items
            }
            const int wHead = onNext ? nw.head : cw.head, wBegin = onNext ? nw.begin : cw.begin;
            if (pIdx == 0 && (onNext || loadCurQ)) {
                load_q(wHead, onNext ? nw.qb : cw.qb, onNext ? qbuf ^ 1 : qbuf);
                if (!onNext) loadCurQ = false;
            }
            load_kv(wHead, sparse ? keyBlocks[wBegin + pIdx] : wBegin + pIdx, issued % STAGES);
            sk_cp_async_commit();
            ++issued;
            ++pIdx;
        }
    };

    while (true) {
        const int G = (int)gridDim.x;
        int tn;
        if (queue != nullptr) {
            tn = sNextItem[round & 1];  // published in the previous round (or before the loop)
        } else {
            tn = (round + 1) * G + (((round + 1) & 1) ? G - 1 - (int)blockIdx.x : (int)blockIdx.x);
        }
        const bool hasNext = SK_PERSISTENT && tn < items;
        WorkItem nxt = cur;
        if (hasNext) nxt = work_item(tn, qBlocks, qHeads, n, rowOffsets, keyBlocks, window, p.headSection);

        float accO[D / 8][4], rowMax[2], rowSum[2];
        start_rows(accO, rowMax, rowSum);
        const int row0 = cur.qb * BM + group * 64 + warp * 16 + lane / 4;  // this thread's rows: row0, row0 + 8
        const u32 qAddr = sQ0 + qbuf * Q_BYTES + group * 64 * 128;      // this warpgroup's 64 rows

        for (int i = 0; i < cur.count; ++i) {
            const int kb = sparse ? keyBlocks[cur.begin + i] : cur.begin + i;
            produce(cur, nxt, hasNext);
            // tile i's group (with cur's Q for i = 0) is followed by issued - consumed - 1 groups
            switch (issued - consumed - 1) {
                case 0: sk_cp_async_wait<0>(); break;
                case 1: sk_cp_async_wait<1>(); break;
                case 2: sk_cp_async_wait<2>(); break;
                default: sk_cp_async_wait<3>(); break;
            }
            fence_proxy_async();
            __syncthreads();  // everyone's copies landed and are visible to the tensor cores

            const int stage = consumed % STAGES;
            const u32 kAddr = sK0 + stage * KV_BYTES, vAddr = sV0 + stage * KV_BYTES;
            // ---- S = Q K^T ----
            float s[BN / 8][4];
            wg_fence();
#pragma unroll
            for (int ks = 0; ks < D / 16; ++ks) {
                const u32 off = (ks % 4) * 32;  // 16 elements = 32 bytes inside the 128-byte row
                const u64 da = gmma_desc(qAddr + (ks / 4) * (BM * 128) + off, 16, 1024);
                const u64 db = gmma_desc(kAddr + (ks / 4) * (BN * 128) + off, 16, 1024);
                mma_s(s, da, db, ks > 0 ? 1 : 0);
            }
            wg_commit();
            wg_wait<0>();

            // ---- causal and window masks, online softmax (log2 domain), P for P V ----
            mask_causal_window(s, kb, cur.qb, cur.qb * BM, row0, lane, window);
            float alpha[2];
            online_softmax(s, rowMax, rowSum, alpha, scaleLog2);
            rescale_rows(accO, alpha);
            u32 pa[BN / 16][4];
            pack_p(s, pa);
            wg_fence();
#pragma unroll
            for (int kc = 0; kc < BN / 16; ++kc)
                mma_o(accO, pa[kc], gmma_desc(vAddr + kc * 16 * 128, BN * 128, 1024));
            wg_commit();
            wg_wait<0>();
            if (queue != nullptr && i == 0) publish();
            __syncthreads();  // every warpgroup finished reading this stage before it is refilled
            ++consumed;
        }
        if (queue != nullptr && cur.count == 0) {  // an empty row has no tile barrier to publish behind
            publish();
            __syncthreads();
        }
        // ---- epilogue: O /= l, LSE ----
#pragma unroll
        for (int h = 0; h < 2; ++h) {
            float l = rowSum[h];
            l += __shfl_xor_sync(0xffffffffu, l, 1);
            l += __shfl_xor_sync(0xffffffffu, l, 2);
            const float inv = l > 0.f ? 1.f / l : 0.f;
            const int row = row0 + 8 * h;
            if (row < n) {
                u16* dst = o + ((long long)row * qHeads + cur.head) * D + (lane % 4) * 2;
#pragma unroll
                for (int dt = 0; dt < D / 8; ++dt)
                    *reinterpret_cast<u32*>(dst + dt * 8) = sk_pack2(accO[dt][2 * h] * inv, accO[dt][2 * h + 1] * inv);
                if (lane % 4 == 0)
                    lse[(long long)cur.head * n + row] = l > 0.f ? (rowMax[h] + sk_log2(l)) * 0.6931471805599453f : sk_neg_inf();
            }
        }

        if (!hasNext) break;
        t = tn;
        ++round;
        cur = nxt;
        qbuf ^= 1;
        if (pOnNext) {
            pOnNext = false;  // the producer is already inside the new cur (its Q is loading)
        } else {
            pIdx = 0;  // it never reached it (the old cur was empty): start it, Q first
            loadCurQ = true;
        }
    }
    sk_cp_async_wait<0>();
    leave();
}

#else  // ---------------- SK_WGMMA = 0: the FA2-style mma.sync kernel ----------------

// Block-sparse causal FlashAttention forward (FA2 style: mma.sync m16n8k16, ldmatrix, cp.async).
//
// One CTA computes one (query head h, query block I): rows [I*BM, I*BM+BM) of O_h.
// It walks the key blocks J of its CSR row (rowOffsets / keyBlocks, built by the core's
// BlockMask: row r = h * queryBlocks + I), or every causal block 0...last when rowOffsets
// is null (dense: the same kernel with an implicit full mask). For each key tile:
//     S   = Q_I K_J^T                      (fp32 accumulators, tensor cores)
//     S  += -inf where key > query          (only tiles touching the diagonal)
//     S  += -inf where key <= query - window (only tiles straddling the window's edge)
//     m'  = max(m, rowmax(S) * c)            c = scale · log2(e), scale 1/sqrt(d) by default (log2 domain)
//     P   = 2^(S*c - m'),  l = l * 2^(m - m') + rowsum(P),  O = O * 2^(m - m') + P V_J
// and finally O /= l, LSE = (m + log2 l) * ln 2 (natural log of sum_j exp(scale · s_ij)).
// A row that sees no unmasked key (possible with a sparse mask that skips the diagonal) gets
// O = 0 and LSE = -inf rather than NaN.
//
// GQA: query head h reads K/V head h / (qHeads / kvHeads) in place; nothing is copied.
// Layout: Q, O [N, qHeads, D]; K, V [N, kvHeads, D]; LSE [qHeads, N] (fp32).
//
// Kernel traits (compile-time, set with -D by the host; see KernelTraits.swift):
//   SK_HEAD_DIM D (64/128/256), SK_BLOCK_M BM and SK_BLOCK_N BN (the mask's tiles, 64/128),
//   SK_WARP_MT: 16-row MMA tiles per warp (warps = BM / (16 * MT)), SK_MIN_BLOCKS for
//   __launch_bounds__, SK_BF16.
//
// Pipeline (one K buffer, one V buffer, FA2's schedule): while S = Q K_J^T runs, V_J is in
// flight; while O += P V_J runs, K_{J+1} is in flight.
// Shared tiles are stored with a 16-byte-chunk XOR swizzle (chunk ^ (row & 7)) so that the
// eight row addresses of one ldmatrix hit eight different bank groups.

#ifndef SK_WARP_MT
#define SK_WARP_MT 1
#endif
#ifndef SK_MIN_BLOCKS
#define SK_MIN_BLOCKS 1
#endif

constexpr int MT = SK_WARP_MT;
constexpr int WARP_ROWS = 16 * MT;
constexpr int WARPS = BM / WARP_ROWS;
constexpr int THREADS = WARPS * 32;
constexpr int CHUNKS = D / 8;  // 16-byte chunks per row

static_assert(BM % WARP_ROWS == 0, "BM must be a multiple of 16 * MT");
static_assert(D % 64 == 0, "head dim must be a multiple of 64 (swizzle needs >= 8 chunks)");
static_assert(BN % 16 == 0, "BN must be a multiple of 16");

// Element offset of (row, 16-byte chunk) in a swizzled [rows, D] tile.
SK_DEVICE int swz(int row, int chunk) { return row * D + ((chunk ^ (row & 7)) << 3); }
// The same when the caller knows row & 7 (every ldmatrix row address is 8·k + lane % 8, so the
// XOR term is one per-thread constant and the compiler can fold the rest into immediates).
SK_DEVICE int swz_known(int row, int chunk, int row7) { return row * D + ((chunk ^ row7) << 3); }

// Asynchronously copies rows [row0, row0 + ROWS) of one head (row stride `stride` elements)
// into a swizzled tile; rows at or past N are zero-filled.
template <int ROWS>
SK_DEVICE void load_tile(u16* tile, const u16* __restrict__ g, int row0, int n, int stride) {
    static_assert((ROWS * CHUNKS) % THREADS == 0, "tile chunks must split evenly over the threads");
#pragma unroll
    for (int it = 0; it < ROWS * CHUNKS / THREADS; ++it) {
        const int c = it * THREADS + (int)threadIdx.x;
        const int r = c / CHUNKS, ch = c % CHUNKS;
        const int gr = row0 + r;
        const bool ok = gr < n;
        const u16* src = g + (long long)(ok ? gr : 0) * stride + ch * 8;
        sk_cp_async16(sk_smem_addr(tile + swz(r, ch)), src, ok ? 16 : 0);
    }
}

extern "C" __global__ void __launch_bounds__(THREADS, SK_MIN_BLOCKS)
sparse_flash_fwd(const __grid_constant__ SKAttentionParams p) {
    SK_ATTENTION_FIELDS(p);
    extern __shared__ __align__(128) u16 smem[];
    u16* sQ = smem;
    u16* sK = sQ + BM * D;
    u16* sV = sK + BN * D;

    const int qBlocks = (n + BM - 1) / BM;
    const int qb = qBlocks - 1 - (int)blockIdx.x;  // longest rows first
    const int head = blockIdx.y;
    const int kvHead = head / (qHeads / kvHeads);
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int strideQ = qHeads * D, strideKV = kvHeads * D;
    const u16* gQ = q + (long long)head * D;
    const u16* gK = k + (long long)kvHead * D;
    const u16* gV = v + (long long)kvHead * D;

    // dense: key blocks begin … lastKeyBlock; CSR: keyBlocks[begin, begin + count) (entries left of the window dropped)
    const int lastKeyBlock = (min((qb + 1) * BM, n) - 1) / BN;
    const int firstKeyBlock = window_first_key_block(qb, window);
    int begin = firstKeyBlock, count = lastKeyBlock + 1 - firstKeyBlock;
    if (rowOffsets != nullptr) {
        const int r = head * qBlocks + qb;
        const int end = rowOffsets[r + 1];
        begin = window > 0 ? first_at_least(keyBlocks, rowOffsets[r], end, firstKeyBlock) : rowOffsets[r];
        count = end - begin;
    }

    float accO[MT][D / 8][4];
    float rowMax[MT][2], rowSum[MT][2];
#pragma unroll
    for (int mt = 0; mt < MT; ++mt) {
#pragma unroll
        for (int dt = 0; dt < D / 8; ++dt)
#pragma unroll
            for (int e = 0; e < 4; ++e) accO[mt][dt][e] = 0.f;
        rowMax[mt][0] = rowMax[mt][1] = sk_neg_inf();
        rowSum[mt][0] = rowSum[mt][1] = 0.f;
    }

    load_tile<BM>(sQ, gQ, qb * BM, n, strideQ);
    if (count > 0) {
        const int kb0 = rowOffsets != nullptr ? keyBlocks[begin] : begin;
        load_tile<BN>(sK, gK, kb0 * BN, n, strideKV);
    }
    sk_cp_async_commit();

    const int warpRow0 = qb * BM + warp * WARP_ROWS;  // first query row of this warp
    const int lane7 = lane & 7;
    const u32 sQaddr = sk_smem_addr(sQ), sKaddr = sk_smem_addr(sK), sVaddr = sk_smem_addr(sV);

    for (int i = 0; i < count; ++i) {
        const int kb = rowOffsets != nullptr ? keyBlocks[begin + i] : begin + i;
        sk_cp_async_wait<0>();
        __syncthreads();  // K_J landed; every warp finished the previous P V (V buffer free)
        load_tile<BN>(sV, gV, kb * BN, n, strideKV);
        sk_cp_async_commit();

        // ---- S = Q K^T ----
        float s[MT][BN / 8][4];
#pragma unroll
        for (int mt = 0; mt < MT; ++mt)
#pragma unroll
            for (int nt = 0; nt < BN / 8; ++nt)
#pragma unroll
                for (int e = 0; e < 4; ++e) s[mt][nt][e] = 0.f;
#pragma unroll
        for (int kc = 0; kc < D / 16; ++kc) {
            u32 qa[MT][4];
#pragma unroll
            for (int mt = 0; mt < MT; ++mt) {
                const int row = warp * WARP_ROWS + mt * 16 + (lane % 8) + ((lane / 8) % 2) * 8;
                sk_ldsm_x4(qa[mt], sQaddr + 2 * swz_known(row, kc * 2 + lane / 16, lane7));
            }
#pragma unroll
            for (int nt = 0; nt < BN / 8; nt += 2) {
                u32 b[4];
                const int krow = nt * 8 + (lane % 8) + (lane / 16) * 8;
                sk_ldsm_x4(b, sKaddr + 2 * swz_known(krow, kc * 2 + (lane / 8) % 2, lane7));
#pragma unroll
                for (int mt = 0; mt < MT; ++mt) {
                    sk_mma16816(s[mt][nt], qa[mt], b[0], b[1]);
                    sk_mma16816(s[mt][nt + 1], qa[mt], b[2], b[3]);
                }
            }
        }

        // ---- causal mask (only tiles reaching past the block's first row) ----
        if (kb * BN + BN - 1 > qb * BM) {
#pragma unroll
            for (int mt = 0; mt < MT; ++mt)
#pragma unroll
                for (int nt = 0; nt < BN / 8; ++nt)
#pragma unroll
                    for (int e = 0; e < 4; ++e) {
                        const int row = warpRow0 + mt * 16 + lane / 4 + (e >= 2 ? 8 : 0);
                        const int col = kb * BN + nt * 8 + (lane % 4) * 2 + (e & 1);
                        if (col > row) s[mt][nt][e] = sk_neg_inf();
                    }
        }
        // ---- window mask (only tiles straddling the window's left edge) ----
        if (window_edge_tile(kb, qb, window)) {
#pragma unroll
            for (int mt = 0; mt < MT; ++mt)
#pragma unroll
                for (int nt = 0; nt < BN / 8; ++nt)
#pragma unroll
                    for (int e = 0; e < 4; ++e) {
                        const int row = warpRow0 + mt * 16 + lane / 4 + (e >= 2 ? 8 : 0);
                        const int col = kb * BN + nt * 8 + (lane % 4) * 2 + (e & 1);
                        if (outside_window(row, col, window)) s[mt][nt][e] = sk_neg_inf();
                    }
        }

        // ---- online softmax (log2 domain); rows lane/4 and lane/4 + 8 of each 16-row tile ----
#pragma unroll
        for (int mt = 0; mt < MT; ++mt)
#pragma unroll
            for (int h = 0; h < 2; ++h) {
                float mx = sk_neg_inf();
#pragma unroll
                for (int nt = 0; nt < BN / 8; ++nt) mx = fmaxf(mx, fmaxf(s[mt][nt][2 * h], s[mt][nt][2 * h + 1]));
                mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
                mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
                const float newMax = fmaxf(rowMax[mt][h], mx * scaleLog2);
                const float base = newMax == sk_neg_inf() ? 0.f : newMax;  // all masked so far
                const float alpha = sk_exp2(rowMax[mt][h] - base);
                rowMax[mt][h] = newMax;
                float sum = 0.f;
#pragma unroll
                for (int nt = 0; nt < BN / 8; ++nt) {
                    s[mt][nt][2 * h] = sk_exp2(fmaf(s[mt][nt][2 * h], scaleLog2, -base));
                    s[mt][nt][2 * h + 1] = sk_exp2(fmaf(s[mt][nt][2 * h + 1], scaleLog2, -base));
                    sum += s[mt][nt][2 * h] + s[mt][nt][2 * h + 1];
                }
                rowSum[mt][h] = rowSum[mt][h] * alpha + sum;  // per-thread partial; quad-reduced at the end
#pragma unroll
                for (int dt = 0; dt < D / 8; ++dt) {
                    accO[mt][dt][2 * h] *= alpha;
                    accO[mt][dt][2 * h + 1] *= alpha;
                }
            }

        sk_cp_async_wait<0>();
        __syncthreads();  // V_J landed; every warp finished reading K_J
        if (i + 1 < count) {
            const int nkb = rowOffsets != nullptr ? keyBlocks[begin + i + 1] : begin + i + 1;
            load_tile<BN>(sK, gK, nkb * BN, n, strideKV);
        }
        sk_cp_async_commit();

        // ---- O += P V ----  (the S accumulator layout is the A-operand layout, two n8 tiles per k16)
#pragma unroll
        for (int kc = 0; kc < BN / 16; ++kc) {
            u32 pa[MT][4];
#pragma unroll
            for (int mt = 0; mt < MT; ++mt) {
                pa[mt][0] = sk_pack2(s[mt][2 * kc][0], s[mt][2 * kc][1]);
                pa[mt][1] = sk_pack2(s[mt][2 * kc][2], s[mt][2 * kc][3]);
                pa[mt][2] = sk_pack2(s[mt][2 * kc + 1][0], s[mt][2 * kc + 1][1]);
                pa[mt][3] = sk_pack2(s[mt][2 * kc + 1][2], s[mt][2 * kc + 1][3]);
            }
#pragma unroll
            for (int dt = 0; dt < D / 8; dt += 2) {
                u32 b[4];
                const int vrow = kc * 16 + (lane % 8) + ((lane / 8) % 2) * 8;
                sk_ldsm_x4_trans(b, sVaddr + 2 * swz_known(vrow, dt + lane / 16, lane7));
#pragma unroll
                for (int mt = 0; mt < MT; ++mt) {
                    sk_mma16816(accO[mt][dt], pa[mt], b[0], b[1]);
                    sk_mma16816(accO[mt][dt + 1], pa[mt], b[2], b[3]);
                }
            }
        }
    }
    sk_cp_async_wait<0>();

    // ---- epilogue: O /= l, LSE ----
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
        for (int h = 0; h < 2; ++h) {
            float l = rowSum[mt][h];
            l += __shfl_xor_sync(0xffffffffu, l, 1);
            l += __shfl_xor_sync(0xffffffffu, l, 2);
            const float inv = l > 0.f ? 1.f / l : 0.f;
            const int row = warpRow0 + mt * 16 + lane / 4 + 8 * h;
            if (row < n) {
                u16* dst = o + ((long long)row * qHeads + head) * D + (lane % 4) * 2;
#pragma unroll
                for (int dt = 0; dt < D / 8; ++dt)
                    *reinterpret_cast<u32*>(dst + dt * 8) = sk_pack2(accO[mt][dt][2 * h] * inv, accO[mt][dt][2 * h + 1] * inv);
                if (lane % 4 == 0)
                    lse[(long long)head * n + row] =
                        l > 0.f ? (rowMax[mt][h] + sk_log2(l)) * 0.6931471805599453f : sk_neg_inf();
            }
        }
}

#endif  // SK_WGMMA
