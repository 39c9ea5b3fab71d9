// Tile bookkeeping shared by the attention kernels (sparse_flash_attention.cu, flash_attention_hopper.cu):
// the parameter struct's fields as locals, the sliding window at tile granularity, and the work item
// of one (query block, head). The including kernel defines SK_BLOCK_M / SK_BLOCK_N first.
#pragma once
#include "common.cuh"
#include "sk_attention_params.h"

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
                             const int* __restrict__ keyBlocks, int window) {
    WorkItem w;
    w.qb = qBlocks - 1 - t / qHeads;
    w.head = t % qHeads;
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

