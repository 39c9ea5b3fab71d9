// Tile bookkeeping shared by the attention kernels (sparse_flash_attention.cu, flash_attention_hopper.cu):
// the parameter struct's fields as locals, the sliding window at tile granularity, and the work item
// of one (query block, head), the mask / softmax / P steps on one S tile. Tile defaults (a kernel may set
// its own before including this): d 128, 128 × 64 tiles; D, BM and BN name them.
#pragma once
#include "common.cuh"
#include "sk_attention_params.h"

#ifndef SK_HEAD_DIM
#define SK_HEAD_DIM 128
#endif
#ifndef SK_BLOCK_M
#define SK_BLOCK_M 128
#endif
#ifndef SK_BLOCK_N
#define SK_BLOCK_N 64
#endif
constexpr int D = SK_HEAD_DIM;
constexpr int BM = SK_BLOCK_M;
constexpr int BN = SK_BLOCK_N;

// Both kernel families name the parameter struct's fields alike.
#define SK_ATTENTION_FIELDS(p)                                                                    \
    const u16* __restrict__ q = (p).q;                                                            \
    const u16* __restrict__ k = (p).k;                                                            \
    const u16* __restrict__ v = (p).v;                                                            \
    u16* __restrict__ o = (p).o;                                                                  \
    float* __restrict__ lse = (p).lse;                                                            \
    const int* __restrict__ rowOffsets = (p).rowOffsets;                                          \
    const int* __restrict__ keyBlocks = (p).keyBlocks;                                            \
    const int n = (p).tokens, qHeads = (p).queryHeads, kvHeads = (p).kvHeads, window = (p).window; \
    const float scaleLog2 = (p).scaleLog2

// ---- the sliding window at tile granularity (both families; mirrored by FlashWindowTiles.swift) ----
// The first key block a row of query block qb reaches: its first row qb·BM sees keys from
// qb·BM − window + 1 on, and later rows start later. 0 without a window.
SK_DEVICE int window_first_key_block(int qb, int window) {
    return window > 0 ? max(0, qb * SK_BLOCK_M - window + 1) / SK_BLOCK_N : 0;
}
// True when key block kb holds a key that some row of query block qb must not see through the
// window: the block's last row qb·BM + BM − 1 drops keys j ≤ qb·BM + BM − 1 − window.
SK_DEVICE bool window_edge_tile(int kb, int qb, int window) {
    return window > 0 && kb * SK_BLOCK_N <= qb * SK_BLOCK_M + SK_BLOCK_M - 1 - window;
}
// Per element of an edge tile: key col is left of row's window.
SK_DEVICE bool outside_window(int row, int col, int window) { return row - col >= window; }
// The first position in [lo, hi) of the ascending list a whose value is ≥ x (hi when none).
SK_DEVICE int first_at_least(const int* __restrict__ a, int lo, int hi, int x) {
    while (lo < hi) {
        const int mid = lo + (hi - lo) / 2;
        if (a[mid] < x) lo = mid + 1; else hi = mid;
    }
    return lo;
}

// One work item = one (query block, head); items are numbered longest rows first:
// t -> query block qBlocks - 1 - t / qHeads, head t % qHeads.
struct WorkItem {
    int qb, head, begin, count;
};
// Dense: key blocks begin, begin + 1, …, the last causal one (begin = the window's first, else 0).
// CSR: keyBlocks[begin, begin + count), the row's entries left of the window dropped.
SK_DEVICE WorkItem work_item(int t, int qBlocks, int qHeads, int n, const int* __restrict__ rowOffsets,
                             const int* __restrict__ keyBlocks, int window, int headSection = 0) {
    WorkItem w;
    const int section = headSection > 0 && headSection < qHeads ? headSection : qHeads;
    const int perSection = qBlocks * section;  // items of one section: its heads × every query block
    const int r = t % perSection;
    w.qb = qBlocks - 1 - r / section;
    w.head = (t / perSection) * section + r % section;
    const int first = window_first_key_block(w.qb, window);
    w.begin = first;
    w.count = (min((w.qb + 1) * SK_BLOCK_M, n) - 1) / SK_BLOCK_N + 1 - first;  // every reachable causal key block (dense)
    if (rowOffsets != nullptr) {
        const int r = w.head * qBlocks + w.qb;
        const int end = rowOffsets[r + 1];
        w.begin = window > 0 ? first_at_least(keyBlocks, rowOffsets[r], end, first) : rowOffsets[r];
        w.count = end - w.begin;
    }
    return w;
}


// ---- one warp's S tile in the mma.sync / wgmma m64 accumulator layout (both Hopper kernels) ----
// Element (nt, e) of a thread is row row0 + 8·(e ≥ 2), key col(nt) + 2·(lane % 4) + (e & 1), where col(nt)
// is the key of the 8-column group nt (col0 + 8·nt for one contiguous key tile).
template <int NT, typename Col, typename Drop>
SK_DEVICE void mask_tile_cols(float (&s)[NT][4], int row0, int lane, Col col, Drop drop) {
#pragma unroll
    for (int nt = 0; nt < NT; ++nt)
#pragma unroll
        for (int e = 0; e < 4; ++e)
            if (drop(row0 + (e >= 2 ? 8 : 0), col(nt) + (lane % 4) * 2 + (e & 1))) s[nt][e] = sk_neg_inf();
}
template <int NT, typename Drop>
SK_DEVICE void mask_tile(float (&s)[NT][4], int row0, int col0, int lane, Drop drop) {
    mask_tile_cols(s, row0, lane, [col0](int nt) { return col0 + nt * 8; }, drop);
}
// The causal mask (tiles reaching past rowBase, the first row the tile's rows share) and the window's
// left edge (tiles straddling it) on key tile kb of query block qb; other tiles pay no per-element test.
template <int NT>
SK_DEVICE void mask_causal_window(float (&s)[NT][4], int kb, int qb, int rowBase, int row0, int lane, int window) {
    const int col0 = kb * SK_BLOCK_N;
    if (col0 + SK_BLOCK_N - 1 > rowBase) mask_tile(s, row0, col0, lane, [](int r, int c) { return c > r; });
    if (window_edge_tile(kb, qb, window)) mask_tile(s, row0, col0, lane, [window](int r, int c) { return outside_window(r, c, window); });
}
// 2^x on the FMA pipe instead of the MUFU unit (whose 16 results per SM and clock bound the FP8 kernel's
// softmax): x = j + f with j the nearest integer (the 1.5·2^23 rounding trick), a cubic for 2^f on [−½, ½]
// (relative error 7.5e-5, fitted here), j added to the exponent bits; 0 below 2^−126 as ex2.approx.ftz gives.
SK_DEVICE float sk_exp2_fma(float x) {
    const float xc = fmaxf(x, -126.f);
    const float t = __fadd_rn(xc, 12582912.f);
    const float f = __fsub_rn(xc, __fsub_rn(t, 12582912.f));
    const float p = fmaf(fmaf(fmaf(0.055171530693769455f, f, 0.24261100590229034f), f, 0.6932609677314758f), f, 0.9999280571937561f);
    return x > -126.f ? __int_as_float(__float_as_int(p) + (__float_as_int(t) << 23)) : 0.f;
}
// Online softmax of one tile in the log2 domain for the thread's two rows (row0, row0 + 8): s becomes
// 2^(s·c − m' + SHIFT), rowMax m' and the per-thread partial rowSum (of those values) are updated, and
// alpha = 2^(m − m') is the factor the caller applies to O. A row with every key masked so far keeps
// m = −∞ and gets P = 0. SHIFT scales P for a narrow P type (FP8: 2^8, so P spends e4m3's range) at no
// cost; the LSE then takes SHIFT off. Accumulator tiles nt with nt % 8 < FMA_EXP take sk_exp2_fma.
template <int NT, int SHIFT = 0, int FMA_EXP = 0>
SK_DEVICE void online_softmax(float (&s)[NT][4], float (&rowMax)[2], float (&rowSum)[2], float (&alpha)[2], float scaleLog2) {
#pragma unroll
    for (int h = 0; h < 2; ++h) {
        float mx = sk_neg_inf();
#pragma unroll
        for (int nt = 0; nt < NT; ++nt) mx = fmaxf(mx, fmaxf(s[nt][2 * h], s[nt][2 * h + 1]));
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
        const float newMax = fmaxf(rowMax[h], mx * scaleLog2);
        const float mBase = newMax == sk_neg_inf() ? 0.f : newMax;  // all masked so far
        alpha[h] = sk_exp2(rowMax[h] - mBase);
        rowMax[h] = newMax;
        float sum = 0.f;
#pragma unroll
        for (int nt = 0; nt < NT; ++nt) {
            const float x0 = fmaf(s[nt][2 * h], scaleLog2, (float)SHIFT - mBase), x1 = fmaf(s[nt][2 * h + 1], scaleLog2, (float)SHIFT - mBase);
            s[nt][2 * h] = nt % 8 < FMA_EXP ? sk_exp2_fma(x0) : sk_exp2(x0);
            s[nt][2 * h + 1] = nt % 8 < FMA_EXP ? sk_exp2_fma(x1) : sk_exp2(x1);
            sum += s[nt][2 * h] + s[nt][2 * h + 1];
        }
        rowSum[h] = rowSum[h] * alpha[h] + sum;  // per-thread partial; quad-reduced at the end
    }
}
// P as 16-bit A fragments of the P·V MMA: two n8 accumulator tiles make one k16 fragment.
template <int NT>
SK_DEVICE void pack_p(const float (&s)[NT][4], u32 (&pa)[NT / 2][4]) {
#pragma unroll
    for (int kc = 0; kc < NT / 2; ++kc) {
        pa[kc][0] = sk_pack2(s[2 * kc][0], s[2 * kc][1]);
        pa[kc][1] = sk_pack2(s[2 * kc][2], s[2 * kc][3]);
        pa[kc][2] = sk_pack2(s[2 * kc + 1][0], s[2 * kc + 1][1]);
        pa[kc][3] = sk_pack2(s[2 * kc + 1][2], s[2 * kc + 1][3]);
    }
}
// O *= alpha per row (accumulator layout: elements 0, 1 of row row0, 2, 3 of row row0 + 8).
template <int DT>
SK_DEVICE void rescale_rows(float (&o)[DT][4], const float (&alpha)[2]) {
#pragma unroll
    for (int dt = 0; dt < DT; ++dt) {
        o[dt][0] *= alpha[0]; o[dt][1] *= alpha[0];
        o[dt][2] *= alpha[1]; o[dt][3] *= alpha[1];
    }
}
// A row pair's state before its first tile: O = 0, running max −∞, running sum 0.
template <int DT>
SK_DEVICE void start_rows(float (&o)[DT][4], float (&rowMax)[2], float (&rowSum)[2]) {
#pragma unroll
    for (int dt = 0; dt < DT; ++dt)
#pragma unroll
        for (int e = 0; e < 4; ++e) o[dt][e] = 0.f;
    rowMax[0] = rowMax[1] = sk_neg_inf();
    rowSum[0] = rowSum[1] = 0.f;
}
