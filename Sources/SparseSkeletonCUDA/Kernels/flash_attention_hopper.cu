// Block-sparse causal FlashAttention forward for Hopper (sm_90a), warp-specialized:
// the same contract as sparse_flash_attention.cu (CSR mask or dense, scale, window, GQA in place,
// O [N, qHeads, D], LSE [qHeads, N], O = 0 and LSE = -inf for a row that sees no key), with
//   - a producer warp that loads Q and the K/V tiles with TMA (tensor maps in the parameter struct)
//     into a ring of STAGES K/V stages and Q_BUFFERS Q buffers, each guarded by full/empty mbarriers,
//     walking the CSR row itself (the consumers never read the mask);
//   - two consumer warpgroups of 64 query rows each (BM = 128) that only compute, with registers
//     reallocated from the producer to them (setmaxnreg);
//   - inside a consumer warpgroup, tile i's S = Q K_i^T issued together with tile i−1's O += P V,
//     so the softmax of tile i overlaps the P V of tile i−1 on the tensor cores;
//   - between the two warpgroups a ping-pong (two named barriers): one issues its MMAs while the
//     other runs its softmax;
//   - a persistent grid: the producer takes work items (query block, head) longest rows first, in
//     L2 sections of p.headSection heads —
//     the static snake over CTAs, or with p.workQueue the next item of a global
//     counter — and publishes them to the consumers through a two-slot ring in shared memory, so
//     the next item's Q and first tiles load while the current item is computed.
// Shared tiles are TMA boxes of [rows][64] 16-bit values with the 128-byte swizzle (D/64 boxes per
// tile): the canonical wgmma SWIZZLE_128B layout, addressed by the same descriptors as the old kernel.
//
// Epilogue (SK_TMA_STORE = 1): each consumer warpgroup writes its normalised O rows into its own
// staging buffer in shared memory and one thread hands them to a TMA store, so the warpgroup goes on to
// the next item while the store drains; 0 stores O from registers.
//
// Paired key tiles (SK_PAIR_TILES = 1, a mask of 64-key tiles): each step computes a 128-key S tile made of two
// of the row's kept 64-key tiles — the producer loads each into one half of a 128-row stage (two TMA boxes per
// 64 columns) — so a step's fixed cost (barrier waits, hand-over, row-max shuffles) is paid per 128 keys as in
// the dense kernel. A row with an odd count ends on a half whose keys are all masked (its stage half holds a
// copy of the first half's tile, so P V multiplies finite values by 0). On a full mask the pairs are the dense
// kernel's 128-key tiles, so the arithmetic is the same.
//
// Item overlap (SK_ITEM_OVERLAP = 1, an option: measured slower, bench/NOTES.md v5.4): a consumer warpgroup issues the
// next item's first S in the same turn as the current item's last P V, so that S runs during the current item's epilogue.
//
// FP8 (SK_FP8 = 1; d 128, 128-key tiles): Q, K and V in e4m3 with per-head scales (p.fp8Scales), bf16 O. 8-bit wgmma reads
// both operands K-major, so V comes transposed ([kvHeads][d][keys], fp8_quantize.cu) and the P V MMA's B tile is
// [d][128 keys]. P is scaled by 256 before its e4m3 rounding (so probabilities down to 2^-17 keep a value) and the
// epilogue divides it out. P goes to the MMA in the register order it has — for each thread the 8-bit A fragment's
// keys 4t..4t+3 (+16) are its accumulator columns 2t, 2t+1, 2t+8, 2t+9 (+16) — so V's keys are stored in that order
// inside each group of 32 (fp8_quantize.cu's permutation); no shuffle of P is needed.
//
// Compile-time traits (-D): SK_HEAD_DIM 64/128/256, SK_BLOCK_N 64/128 (the mask's key tile), SK_PAIR_TILES, SK_ITEM_OVERLAP, SK_FP8,
// SK_STAGES 2–4, SK_Q_BUFFERS 1–2, SK_TMA_STORE, SK_WORK_QUEUE, SK_BF16. BM is 128 (SK_BLOCK_M must be 128).
#include "common.cuh"
#include "sk_attention_params.h"

#ifndef SK_BLOCK_N
#define SK_BLOCK_N 128
#endif
#ifndef SK_STAGES
#define SK_STAGES 2
#endif
#ifndef SK_Q_BUFFERS
#define SK_Q_BUFFERS 2
#endif
#ifndef SK_WORK_QUEUE
#define SK_WORK_QUEUE 0
#endif
#ifndef SK_TMA_STORE
#define SK_TMA_STORE 1
#endif
#ifndef SK_PAIR_TILES
#define SK_PAIR_TILES 0
#endif
#ifndef SK_ITEM_OVERLAP
#define SK_ITEM_OVERLAP 0
#endif
#ifndef SK_FP8
#define SK_FP8 0
#endif
#ifndef SK_FMA_EXP  // FP8: of every 8 accumulator tiles of S, this many take 2^x on the FMA pipe (sk_exp2_fma)
#define SK_FMA_EXP 0
#endif
#include "attention_tiles.cuh"
#include "hopper.cuh"

constexpr int STAGES = SK_STAGES;
constexpr int Q_BUFFERS = SK_Q_BUFFERS;
constexpr int CONSUMERS = 2;                     // consumer warpgroups, 64 query rows each
constexpr int THREADS = 128 * (CONSUMERS + 1);   // warpgroup 0 is the producer
constexpr int CONSUMER_THREADS = 128 * CONSUMERS;
constexpr int CONSUMER_WARPS = 4 * CONSUMERS;
constexpr int ES = SK_FP8 ? 1 : 2;               // bytes per Q / K / V element
constexpr int P_SHIFT = SK_FP8 ? 8 : 0;          // log2 of P's scale: e4m3 P spends its range on (0, 256]
constexpr int BOX_COLS = 128 / ES;               // elements in one 128-byte TMA box row
constexpr int BOXES = D / BOX_COLS;              // TMA boxes (128 bytes) per row block
constexpr int PAIR = SK_PAIR_TILES ? 2 : 1;     // mask tiles per step
constexpr int TN = PAIR * BN;                    // keys per step (the S tile's width)
constexpr int KSTEP = 32 / ES;                   // the MMAs' K per instruction (32 bytes)
constexpr u32 Q_BYTES = BM * D * ES, KV_BYTES = TN * D * ES;
#if SK_TMA_STORE
constexpr u32 O_STAGE_BYTES = 64 * D * 2;  // per consumer warpgroup
#endif
static_assert(BM == 128, "two consumer warpgroups of 64 rows");
static_assert(BN == 64 || BN == 128, "BN must be 64 or 128");
static_assert(D == 64 || D == 128 || D == 256, "head dim must be 64, 128 or 256");
static_assert(!SK_PAIR_TILES || (BN == 64 && D <= 128), "paired tiles: two 64-key mask tiles per step, d ≤ 128 (registers)");
static_assert(STAGES >= 2 && STAGES <= 4 && Q_BUFFERS >= 1 && Q_BUFFERS <= 2, "2–4 K/V stages, 1–2 Q buffers");
static_assert(!SK_FP8 || (D == 128 && BN == 128 && !SK_PAIR_TILES && !SK_ITEM_OVERLAP), "FP8: d 128, 128-key tiles, unpaired");

// Named barriers of the ping-pong: consumer warpgroup g waits on TURN0 + g for its turn to issue;
// WG_SYNC0 + g synchronises warpgroup g alone (its epilogue's staging buffer).
constexpr int TURN0 = 1;
#if SK_TMA_STORE
constexpr int WG_SYNC0 = 3;
#endif

// The ring barriers and the item slots (static shared memory).
struct Rings {
    u64 qFull[Q_BUFFERS], qEmpty[Q_BUFFERS];
    u64 kFull[STAGES], vFull[STAGES], kEmpty[STAGES], vEmpty[STAGES];
    u64 itemFull[2], itemEmpty[2];
    int item[2];
};

// Position in a ring of `size` slots: the use'th fill of a slot waits for the (use−1)'th release
// (parity (use & 1) ^ 1, which a fresh barrier passes) and is consumed at parity use & 1.
struct RingPos {
    int slot, parity;
};
template <int SIZE> SK_DEVICE RingPos ring_pos(int i) { return {i % SIZE, (i / SIZE) & 1}; }

// The causal and window masks of one step: key tile kbA (paired: kbA in the first 64 columns, kbB in the
// last 64, kbB < 0 when the row has no second tile — that half is dropped entirely).
template <int NT>
SK_DEVICE void mask_step(float (&s)[NT][4], int kbA, int kbB, int qb, int rowBase, int row0, int lane, int window) {
#if SK_PAIR_TILES
    constexpr int H = NT / 2;
    const int colA = kbA * BN, colB = (kbB < 0 ? kbA : kbB) * BN;
    auto col = [=](int nt) { return nt < H ? colA + nt * 8 : colB + (nt - H) * 8; };
    const int last = max(colA, colB) + BN - 1;
    if (last > rowBase) mask_tile_cols(s, row0, lane, col, [](int r, int c) { return c > r; });
    if (window_edge_tile(kbA, qb, window) || (kbB >= 0 && window_edge_tile(kbB, qb, window)))
        mask_tile_cols(s, row0, lane, col, [window](int r, int c) { return outside_window(r, c, window); });
    if (kbB < 0) {
#pragma unroll
        for (int nt = H; nt < NT; ++nt)
#pragma unroll
            for (int e = 0; e < 4; ++e) s[nt][e] = sk_neg_inf();
    }
#else
    mask_causal_window(s, kbA, qb, rowBase, row0, lane, window);
#endif
}


extern "C" __global__ void __launch_bounds__(THREADS, 1)
flash_fwd_hopper(const __grid_constant__ SKHopperAttentionParams hp) {
    const SKAttentionParams& p = hp.attention;  // Q, K and V are read through the tensor maps
#if !SK_TMA_STORE
    u16* __restrict__ o = p.o;  // else written through tmO
#endif
    float* __restrict__ lse = p.lse;
    const int* __restrict__ rowOffsets = p.rowOffsets;
    const int* __restrict__ keyBlocks = p.keyBlocks;
    const int n = p.tokens, qHeads = p.queryHeads, kvHeads = p.kvHeads, window = p.window;
    const float scaleLog2 = p.scaleLog2;
    extern __shared__ __align__(128) unsigned char smemRaw[];
    __shared__ Rings rings;
    // the 128-byte swizzle pattern repeats every 1024 bytes: tiles start 1024-aligned
    const u32 base = (sk_smem_addr(smemRaw) + 1023u) & ~1023u;
    const u32 sQ0 = base, sK0 = sQ0 + Q_BUFFERS * Q_BYTES, sV0 = sK0 + STAGES * KV_BYTES;
#if SK_TMA_STORE
    const u32 sO0 = sV0 + STAGES * KV_BYTES;  // the two warpgroups' O staging buffers
#endif

    const int qBlocks = (n + BM - 1) / BM;
    const int items = qBlocks * qHeads;
    const int groupSize = qHeads / kvHeads;
    const int tid = threadIdx.x;
    const int group = tid / 128;  // 0 producer, 1 and 2 consumers
    const bool sparse = rowOffsets != nullptr;
    auto bar = [](const u64& b) { return sk_smem_addr(&b); };

    if (tid == 0) {
        for (int i = 0; i < Q_BUFFERS; ++i) { mbar_init(bar(rings.qFull[i]), 1); mbar_init(bar(rings.qEmpty[i]), CONSUMER_WARPS); }
        for (int i = 0; i < STAGES; ++i) {
            mbar_init(bar(rings.kFull[i]), 1); mbar_init(bar(rings.vFull[i]), 1);
            mbar_init(bar(rings.kEmpty[i]), CONSUMER_WARPS); mbar_init(bar(rings.vEmpty[i]), CONSUMER_WARPS);
        }
        for (int i = 0; i < 2; ++i) { mbar_init(bar(rings.itemFull[i]), 1); mbar_init(bar(rings.itemEmpty[i]), CONSUMER_WARPS); }
        mbar_fence_init();
    }
    __syncthreads();

    if (group == 0) {
        // ================= producer =================
        regs_dec<40>();
        if (tid != 0) return;
        tma_prefetch_map(&hp.tmQ); tma_prefetch_map(&hp.tmK); tma_prefetch_map(&hp.tmV);
        if (SK_PAIR_TILES) { tma_prefetch_map(&hp.tmKPair); tma_prefetch_map(&hp.tmVPair); }
        int* const queue = SK_WORK_QUEUE ? p.workQueue : nullptr;  // the host passes one for sparse masks and sectioned dense walks
        const int G = (int)gridDim.x;
        int t = blockIdx.x, round = 0;
        int nItems = 0, nQ = 0, nTiles = 0;  // items published, Q loads, K/V tiles loaded
        // one ring slot: wait until it is released, then TMA `rows` rows of one head (D/64 boxes) into it
        auto fill = [&](const u64& empty, const u64& full, int parity, u32 dst, int rows, const SKTensorMap* map, int head, int row0) {
            mbar_wait(bar(empty), parity ^ 1);
            mbar_arrive_expect_tx(bar(full), (u32)rows * D * ES);
#pragma unroll
            for (int b = 0; b < BOXES; ++b) tma_load_3d(dst + b * (rows * 128), map, bar(full), b * BOX_COLS, head, row0);
        };
        // one K or V stage of a step: key block a (paired: a into rows [0, 64), b into rows [64, 128) of each
        // 64-column box; 64 rows are 8 swizzle periods, so the halves form one 128-row box's layout; adjacent
        // blocks, as dense rows and most kept runs are, come in one 128-row box of `pairMap`)
        auto fill_step = [&](const u64& empty, const u64& full, int parity, u32 dst, const SKTensorMap* map, const SKTensorMap* pairMap,
                             int head, int a, int b) {
#if SK_PAIR_TILES
            if (b == a + 1) {
                fill(empty, full, parity, dst, TN, pairMap, head, a * BN);
                return;
            }
            mbar_wait(bar(empty), parity ^ 1);
            mbar_arrive_expect_tx(bar(full), (u32)TN * D * 2);
#pragma unroll
            for (int x = 0; x < BOXES; ++x) {
                tma_load_3d(dst + x * (TN * 128), map, bar(full), x * 64, head, a * BN);
                tma_load_3d(dst + x * (TN * 128) + BN * 128, map, bar(full), x * 64, head, b * BN);
            }
#else
            (void)b; (void)pairMap;
            fill(empty, full, parity, dst, BN, map, head, a * BN);
#endif
        };
        while (true) {
            const RingPos ip = ring_pos<2>(nItems++);
            mbar_wait(bar(rings.itemEmpty[ip.slot]), ip.parity ^ 1);
            rings.item[ip.slot] = t < items ? t : -1;
            mbar_arrive(bar(rings.itemFull[ip.slot]));
            if (t >= items) break;
            const WorkItem w = work_item(t, qBlocks, qHeads, n, rowOffsets, keyBlocks, window, p.headSection);
            if (w.count > 0) {
                const RingPos qp = ring_pos<Q_BUFFERS>(nQ++);
                fill(rings.qEmpty[qp.slot], rings.qFull[qp.slot], qp.parity, sQ0 + qp.slot * Q_BYTES, BM, &hp.tmQ, w.head, w.qb * BM);
            }
            const int kvHead = w.head / groupSize;
            const int steps = (w.count + PAIR - 1) / PAIR;
            // the key blocks of step i (b: the second of a pair, the first again where the row has none)
            auto blocks = [&](int i, int& a, int& b) {
                const int j = PAIR * i;
                a = sparse ? keyBlocks[w.begin + j] : w.begin + j;
                b = PAIR == 2 && j + 1 < w.count ? (sparse ? keyBlocks[w.begin + j + 1] : w.begin + j + 1) : a;
            };
            int nextA = 0, nextB = 0;
            if (steps > 0) blocks(0, nextA, nextB);
            for (int i = 0; i < steps; ++i) {
                const int a = nextA, b = nextB;
                if (i + 1 < steps) blocks(i + 1, nextA, nextB);  // in flight during the waits
                const RingPos sp = ring_pos<STAGES>(nTiles++);
                fill_step(rings.kEmpty[sp.slot], rings.kFull[sp.slot], sp.parity, sK0 + sp.slot * KV_BYTES, &hp.tmK, &hp.tmKPair, kvHead, a, b);
#if SK_FP8
                {  // V transposed: one box of 128 keys (bytes) × D rows of this KV head
                    mbar_wait(bar(rings.vEmpty[sp.slot]), sp.parity ^ 1);
                    mbar_arrive_expect_tx(bar(rings.vFull[sp.slot]), (u32)TN * D);
                    tma_load_3d(sV0 + sp.slot * KV_BYTES, &hp.tmV, bar(rings.vFull[sp.slot]), a * BN, 0, kvHead);
                }
#else
                fill_step(rings.vEmpty[sp.slot], rings.vFull[sp.slot], sp.parity, sV0 + sp.slot * KV_BYTES, &hp.tmV, &hp.tmVPair, kvHead, a, b);
#endif
            }
            ++round;
            if (queue != nullptr) t = G + atomicAdd(queue, 1);
            else t = round * G + ((round & 1) ? G - 1 - (int)blockIdx.x : (int)blockIdx.x);  // snake
        }
        if (queue != nullptr) {  // the last CTA out resets the queue for the next launch on the stream
            __threadfence();
            if (atomicAdd(queue + 1, 1) == G - 1) { queue[0] = 0; queue[1] = 0; }
        }
        return;
    }

    // ================= consumers =================
    regs_inc<232>();
    const int cg = group - 1;  // consumer warpgroup: query rows [64·cg, 64·cg + 64) of the block
    const int warp = (tid % 128) / 32, lane = tid % 32;
    const bool warpLeader = lane == 0;
    auto turn_wait = [&]() { bar_sync(TURN0 + cg, CONSUMER_THREADS); };
    auto turn_pass = [&]() { bar_arrive(TURN0 + (cg ^ 1), CONSUMER_THREADS); };
    auto release = [&](const u64& b) { __syncwarp(); if (warpLeader) mbar_arrive(bar(b)); };
    if (cg == 1) turn_pass();  // warpgroup 0 issues first
#if SK_FP8
    const float* __restrict__ fp8Scales = hp.fp8Scales;
    auto head_qk_scale = [&](int head) { return fp8Scales[head] * fp8Scales[qHeads + head / groupSize]; };
    auto out_scale = [&](int head) { return fp8Scales[qHeads + kvHeads + head / groupSize]; };  // V's scale (P's 2^8 cancels in O / l)
    auto pack_p_step = [](const float (&sv)[TN / 8][4], u32 (&pv)[TN / 32][4]) {
#pragma unroll
        for (int kc = 0; kc < TN / 32; ++kc) {  // keys 32kc..32kc+31: accumulator tiles 4kc..4kc+3
            const int a = 4 * kc;
            pv[kc][0] = sk_pack4_e4m3(sv[a][0], sv[a][1], sv[a + 1][0], sv[a + 1][1]);  // P already 2^8-scaled (P_SHIFT)
            pv[kc][1] = sk_pack4_e4m3(sv[a][2], sv[a][3], sv[a + 1][2], sv[a + 1][3]);
            pv[kc][2] = sk_pack4_e4m3(sv[a + 2][0], sv[a + 2][1], sv[a + 3][0], sv[a + 3][1]);
            pv[kc][3] = sk_pack4_e4m3(sv[a + 2][2], sv[a + 2][3], sv[a + 3][2], sv[a + 3][3]);
        }
    };
#else
    auto head_qk_scale = [](int) { return 1.f; };
    auto out_scale = [](int) { return 1.f; };
    auto pack_p_step = [](const float (&sv)[TN / 8][4], u32 (&pv)[TN / 16][4]) { pack_p(sv, pv); };
#endif

    int nItems = 0, nQ = 0, nTiles = 0;
    auto next_item = [&]() {
        const RingPos ip = ring_pos<2>(nItems++);
        mbar_wait(bar(rings.itemFull[ip.slot]), ip.parity);
        const int t = rings.item[ip.slot];
        release(rings.itemEmpty[ip.slot]);
        return t;
    };
    // The current item's state. An item is "started" once its first S has gone through the softmax
    // (P of step 0 in pa, rowMax / rowSum of step 0, accO = 0); the loop body then runs its other steps,
    // its epilogue, and starts the next item — whose first S (SK_ITEM_OVERLAP) is issued in the same turn
    // as this item's last P V, so that S and the wait for the last P V hide behind this item's epilogue.
    // No accumulator is live across the loop's back edge (S is consumed by the next item's first softmax
    // before it), so the wgmma pipeline is not serialised.
    float accO[D / 8][4], rowMax[2], rowSum[2];
    u32 pa[TN / KSTEP][4];  // P of the previous step (A operand of its P V)
    float s[TN / 8][4];
    float alpha[2];
    float itemScaleLog2 = scaleLog2;  // the current item's softmax scale (FP8: × its head's Q and K scales, loaded once per item)
    RingPos qp{0, 0};    // the current item's Q slot
    int stage = 0;       // the stage of the current item's last S (its P V comes next)
    auto q_addr = [&](int slot) { return sQ0 + slot * Q_BYTES + cg * 64 * 128; };
    auto issue_s = [&](u32 qAddr, int st) {
        const u32 kAddr = sK0 + st * KV_BYTES;
#pragma unroll
        for (int ks = 0; ks < D / KSTEP; ++ks) {
            const u32 off = (ks % 4) * 32;  // one K step = 32 bytes inside the 128-byte row
            const u64 da = gmma_desc(qAddr + (ks / 4) * (BM * 128) + off, 16, 1024), db = gmma_desc(kAddr + (ks / 4) * (TN * 128) + off, 16, 1024);
#if SK_FP8
            mma_s_e4m3(s, da, db, ks > 0 ? 1 : 0);
#else
            mma_s(s, da, db, ks > 0 ? 1 : 0);
#endif
        }
    };
    auto issue_pv = [&](int st) {
        const u32 vAddr = sV0 + st * KV_BYTES;
#pragma unroll
#if SK_FP8
        for (int kc = 0; kc < TN / 32; ++kc) wgmma_rs_n128_e4m3(accO, pa[kc], gmma_desc(vAddr + kc * 32, 16, 1024));  // Vᵀ rows: d, K-major
#else
        for (int kc = 0; kc < TN / 16; ++kc) mma_o(accO, pa[kc], gmma_desc(vAddr + kc * 16 * 128, TN * 128, 1024));
#endif
    };
    // step i's key blocks of item w (kbB = −1: no second tile)
    auto blocks = [&](const WorkItem& w, int i, int& kbA, int& kbB) {
        const int j = PAIR * i;
        kbA = sparse ? keyBlocks[w.begin + j] : w.begin + j;
        kbB = PAIR == 2 && j + 1 < w.count ? (sparse ? keyBlocks[w.begin + j + 1] : w.begin + j + 1) : -1;
    };
    auto steps_of = [](const WorkItem& w) { return (w.count + PAIR - 1) / PAIR; };
    auto row_base = [&](const WorkItem& w) { return w.qb * BM + cg * 64; };  // this warpgroup's first row
    // mask and online softmax of s (item w's step with key blocks kbA, kbB) → alpha, rowMax, rowSum
    auto softmax = [&](const WorkItem& w, int kbA, int kbB) {
        const int rb = row_base(w);
        mask_step(s, kbA, kbB, w.qb, rb, rb + warp * 16 + lane / 4, lane, window);
        online_softmax<TN / 8, P_SHIFT, SK_FP8 ? SK_FMA_EXP : 0>(s, rowMax, rowSum, alpha, itemScaleLog2);
    };
    // the first S of item w: issued in a turn of its own unless `issued` (then: Q slot nq, stage ns)
    auto start_item = [&](const WorkItem& w, bool issued, RingPos nq, int ns) {
        int kbA, kbB;
        blocks(w, 0, kbA, kbB);
        if (!issued) {
            nq = ring_pos<Q_BUFFERS>(nQ++);
            mbar_wait(bar(rings.qFull[nq.slot]), nq.parity);
            const RingPos sp = ring_pos<STAGES>(nTiles++);
            ns = sp.slot;
            mbar_wait(bar(rings.kFull[sp.slot]), sp.parity);
            turn_wait();
            wg_fence();
            issue_s(q_addr(nq.slot), sp.slot);
            wg_commit();
            turn_pass();
        }
        wg_wait<0>();
        reg_fence(s);
        release(rings.kEmpty[ns]);
        if (steps_of(w) == 1) release(rings.qEmpty[nq.slot]);
        start_rows(accO, rowMax, rowSum);  // no MMA in flight here
        itemScaleLog2 = SK_FP8 ? scaleLog2 * head_qk_scale(w.head) : scaleLog2;
        softmax(w, kbA, kbB);
        reg_fence(s);
        pack_p_step(s, pa);
        qp = nq;
        stage = ns;
    };

    // ---- epilogue of item w: O /= l, LSE (after its last P V has retired) ----
    auto epilogue = [&](const WorkItem& w, int rowBase, int row0) {
        float inv[2];
#pragma unroll
        for (int h = 0; h < 2; ++h) {
            float l = rowSum[h];
            l += __shfl_xor_sync(0xffffffffu, l, 1);
            l += __shfl_xor_sync(0xffffffffu, l, 2);
            inv[h] = l > 0.f ? out_scale(w.head) / l : 0.f;
            const int row = row0 + 8 * h;
            if (row < n && lane % 4 == 0)
                lse[(long long)w.head * n + row] = l > 0.f ? (rowMax[h] + sk_log2(l) - (float)P_SHIFT) * 0.6931471805599453f : sk_neg_inf();
        }
#if SK_TMA_STORE
        // rows [rowBase, rowBase + 64) into this warpgroup's staging buffer as D/64 swizzled [64][64] boxes,
        // then one TMA store per box (rows at or past N are dropped by the store)
        const u32 sO = sO0 + cg * O_STAGE_BYTES;
        const bool storer = tid % 128 == 0;
        if (storer) bulk_wait_read();  // the previous item's store has read the buffer
        bar_sync(WG_SYNC0 + cg, 128);
#pragma unroll
        for (int h = 0; h < 2; ++h) {
            const int r = warp * 16 + lane / 4 + 8 * h;  // row inside the warpgroup's 64
#pragma unroll
            for (int dt = 0; dt < D / 8; ++dt) {
                const u32 addr = sO + (dt / 8) * (64 * 128) + r * 128 + (((dt % 8) ^ (r & 7)) << 4) + (lane % 4) * 4;
                const u32 val = sk_pack2(accO[dt][2 * h] * inv[h], accO[dt][2 * h + 1] * inv[h]);
                asm volatile("st.shared.b32 [%0], %1;\n" ::"r"(addr), "r"(val) : "memory");
            }
        }
        fence_proxy_async();  // the writes above are read by the TMA engine (async proxy)
        bar_sync(WG_SYNC0 + cg, 128);
        if (storer) {
#pragma unroll
            for (int b = 0; b < D / 64; ++b) tma_store_3d(&hp.tmO, sO + b * (64 * 128), b * 64, w.head, rowBase);  // O is 16-bit
            bulk_commit();
        }
#else
#pragma unroll
        for (int h = 0; h < 2; ++h) {
            const int row = row0 + 8 * h;
            if (row < n) {
                u16* dst = o + ((long long)row * qHeads + w.head) * D + (lane % 4) * 2;
#pragma unroll
                for (int dt = 0; dt < D / 8; ++dt)
                    *reinterpret_cast<u32*>(dst + dt * 8) = sk_pack2(accO[dt][2 * h] * inv[h], accO[dt][2 * h + 1] * inv[h]);
            }
        }
#endif
    };

    int t = next_item();
    WorkItem w{};
    if (t >= 0) {
        w = work_item(t, qBlocks, qHeads, n, rowOffsets, keyBlocks, window, p.headSection);
        if (w.count > 0) start_item(w, false, qp, 0); else start_rows(accO, rowMax, rowSum);
    }
    while (t >= 0) {
        const int rowBase = row_base(w);
        const int row0 = rowBase + warp * 16 + lane / 4;  // this thread's rows: row0, row0 + 8
        const int steps = steps_of(w);
        // step i: S_i issued with P_{i−1} V_{i−1}; the softmax of S_i runs while P V is on the tensor cores
        for (int i = 1; i < steps; ++i) {
            int kbA, kbB;
            blocks(w, i, kbA, kbB);
            const RingPos sp = ring_pos<STAGES>(nTiles++);
            mbar_wait(bar(rings.kFull[sp.slot]), sp.parity);
            mbar_wait(bar(rings.vFull[stage]), ring_pos<STAGES>(nTiles - 2).parity);
            turn_wait();
            reg_fence(accO);
            wg_fence();
            issue_s(q_addr(qp.slot), sp.slot);
            wg_commit();
            issue_pv(stage);
            wg_commit();
            turn_pass();
            wg_wait<1>();
            reg_fence(s);
            release(rings.kEmpty[sp.slot]);
            if (i + 1 == steps) release(rings.qEmpty[qp.slot]);  // every S of the item is done
            softmax(w, kbA, kbB);
            wg_wait<0>();
            reg_fence(accO);
            release(rings.vEmpty[stage]);
            rescale_rows(accO, alpha);  // accO (P V of the tiles before i included) to the new row max
            pack_p_step(s, pa);
            stage = sp.slot;
        }
        // the next item, and (overlapping) its first S with this item's last P V
        const int tNext = next_item();
        WorkItem wn{};
        if (tNext >= 0) wn = work_item(tNext, qBlocks, qHeads, n, rowOffsets, keyBlocks, window, p.headSection);
        const bool nextHasTiles = tNext >= 0 && wn.count > 0;
        bool overlapped = false;
        RingPos nq{0, 0};
        int ns = 0;
        if (w.count > 0) {
            const int lastParity = ring_pos<STAGES>(nTiles - 1).parity;
            overlapped = SK_ITEM_OVERLAP && nextHasTiles;
            if (overlapped) {
                nq = ring_pos<Q_BUFFERS>(nQ++);
                const RingPos sp = ring_pos<STAGES>(nTiles++);
                ns = sp.slot;
                mbar_wait(bar(rings.qFull[nq.slot]), nq.parity);
                mbar_wait(bar(rings.kFull[sp.slot]), sp.parity);
            }
            mbar_wait(bar(rings.vFull[stage]), lastParity);
            // two straight-line paths from the fence to the next item's start: a branch between the warpgroup fence and
            // an MMA, or a join while the next S is in flight, makes ptxas serialise every wgmma of the kernel
            if (overlapped) {
                turn_wait();
                reg_fence(accO);
                wg_fence();
                issue_pv(stage);
                wg_commit();
                issue_s(q_addr(nq.slot), ns);
                wg_commit();
                turn_pass();
                wg_wait<1>();
                reg_fence(accO);
                release(rings.vEmpty[stage]);
                epilogue(w, rowBase, row0);
                start_item(wn, true, nq, ns);  // its S was in flight during the epilogue
            } else {
                turn_wait();
                reg_fence(accO);
                wg_fence();
                issue_pv(stage);
                wg_commit();
                turn_pass();
                wg_wait<0>();
                reg_fence(accO);
                release(rings.vEmpty[stage]);
                epilogue(w, rowBase, row0);
            }
        } else {
            epilogue(w, rowBase, row0);
        }
        if (!overlapped) {  // start the next item
            if (nextHasTiles) start_item(wn, false, nq, ns);
            else start_rows(accO, rowMax, rowSum);
        }
        w = wn;
        t = tNext;
    }
#if SK_TMA_STORE
    if (tid % 128 == 0) bulk_wait_read();  // shared memory stays valid until the last store has read it
#endif
    if (cg == 0) turn_wait();  // takes warpgroup 1's last hand-over, so no arrival is left pending
}
