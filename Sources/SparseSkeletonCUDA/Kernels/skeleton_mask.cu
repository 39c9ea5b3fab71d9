// Skeleton estimator, step 3: from estimated tile masses to the CSR block mask, on the GPU —
// the twin of Threshold/ErrorBoundThreshold (with SkeletonEstimator's per-head calibration) and
// Threshold/BudgetThreshold. Inputs: est[h][rowStart[I] + J], each (head, query block) row
// normalised to 1. Output: rowOffsets[heads·queryBlocks + 1], keyBlocks[...] ascending.
//
// Error bound: each row is sorted once (always-kept tiles first, then mass descending, ties by
// key block), with the running mass cum[pos]. The kept set for any ε is then a prefix: the
// shortest one (at least the always-kept tiles) whose mass reaches 1 − ε. Calibration bisects
// each head's internal ε' on held-out check rows: per check row, the prefix sums of its exact
// tile masses in its block's sorted order make the true recall of any prefix one lookup.
// Budget: one threshold τ over every head: a radix select (4 passes of 8 bits over the float
// bits, which order like the values for non-negative floats) finds the K-th largest non-always
// mass; ties at τ are taken in (head, query block, key block) order so the total is exact.
#include "common.cuh"
#include "sk_skeleton_params.h"

#define SK_KEY_TILE 64

SK_DEVICE int row_len(int qb, int n, int queryTile) { return (min(n, (qb + 1) * queryTile) - 1) / SK_KEY_TILE + 1; }
SK_DEVICE bool always_kept(int kb, int len, int sink, int local) { return kb < sink || kb >= len - local; }
// The row's always-kept local tiles: its last `local`, widened to the row-exact band of `band`
// tokens (AlwaysKeep.firstLocalBlock): every key tile holding one of the last `band` keys of a row.
SK_DEVICE int row_local(int qb, int len, int local, int band, int queryTile) {
    if (band > 0) local = max(local, len - max(0, qb * queryTile - band + 1) / SK_KEY_TILE);
    return local;
}
SK_DEVICE int always_count(int len, int sink, int local) {
    int c = min(sink, len);
    for (int kb = max(0, len - local); kb < len; ++kb) c += kb >= sink ? 1 : 0;
    return c;
}

// Block-wide inclusive scan of one value per thread (blockDim a multiple of 32, ≤ 1024); the
// block's total in *total. Starts with a barrier, so the scratch can be reused call after call.
template <typename T>
SK_DEVICE T block_inclusive_scan(T x, T* total, T* scratch /* ≥ 32 */) {
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
    T incl = x;
    for (int o = 1; o < 32; o *= 2) {
        const T y = __shfl_up_sync(0xffffffffu, incl, o);
        if (lane >= o) incl += y;
    }
    __syncthreads();
    if (lane == 31) scratch[warp] = incl;
    __syncthreads();
    T before = 0, t = 0;
    for (int w = 0; w < warps; ++w) { if (w < warp) before += scratch[w]; t += scratch[w]; }
    *total = t;
    return before + incl;
}
SK_DEVICE int block_exclusive_scan(int x, int* total, int* scratch) { return block_inclusive_scan(x, total, scratch) - x; }

// Shortest kept prefix: m ≥ nA with m == len or cum[m − 1] ≥ goal.
SK_DEVICE int kept_prefix(const float* cum, int len, int nA, float goal) {
    int lo = nA, hi = len;  // answer in [lo, hi]
    while (lo < hi) {
        const int mid = (lo + hi) / 2;
        if (mid > 0 && cum[mid - 1] >= goal) hi = mid; else lo = mid + 1;
    }
    return lo;
}

// ---- error bound ----------------------------------------------------------------------------

// One CTA per (query block, head): bitonic sort of the row's (always-first, mass descending,
// key block ascending) keys in shared memory (pow2 ≥ len u64s), then the running mass.
extern "C" __global__ void __launch_bounds__(512)
skeleton_sort_rows(const __grid_constant__ SKSortRowsParams params) {
    const float* __restrict__ est = params.est;
    const int* __restrict__ rowStart = params.rowStart;
    int* __restrict__ sortedIdx = params.sortedIndex;
    float* __restrict__ cum = params.cum;
    const int n = params.tokens, queryTile = params.queryTile, tilesPerHead = params.tilesPerHead;
    const int sink = params.sinkBlocks, local = params.localBlocks;
    extern __shared__ unsigned long long keys[];
    __shared__ float fscratch[32];
    const int qb = blockIdx.x, head = blockIdx.y;
    const int len = row_len(qb, n, queryTile);
    const int rowLocal = row_local(qb, len, local, params.bandTokens, queryTile);
    int p2 = 1;
    while (p2 < len) p2 *= 2;
    const long long base = (long long)head * tilesPerHead + rowStart[qb];
    for (int i = threadIdx.x; i < p2; i += blockDim.x) {
        unsigned long long key = ~0ull;
        if (i < len) {
            const unsigned bits = __float_as_uint(fmaxf(0.f, est[base + i]));
            const unsigned hi = always_kept(i, len, sink, rowLocal) ? 0u : 0xffffffffu - bits;
            key = ((unsigned long long)hi << 32) | (unsigned)i;
        }
        keys[i] = key;
    }
    __syncthreads();
    for (int k = 2; k <= p2; k *= 2)
        for (int j = k / 2; j > 0; j /= 2) {
            for (int i = threadIdx.x; i < p2; i += blockDim.x) {
                const int l = i ^ j;
                if (l > i) {
                    const unsigned long long a = keys[i], b = keys[l];
                    const bool up = (i & k) == 0;
                    if ((a > b) == up) { keys[i] = b; keys[l] = a; }
                }
            }
            __syncthreads();
        }
    // running mass, in chunks of blockDim positions
    float carry = 0.f;
    for (int start = 0; start < len; start += blockDim.x) {
        const int pos = start + threadIdx.x;
        const int idx = pos < len ? (int)(keys[pos] & 0xffffffffu) : 0;
        float total;
        const float incl = block_inclusive_scan(pos < len ? fmaxf(0.f, est[base + idx]) : 0.f, &total, fscratch);
        if (pos < len) {
            sortedIdx[base + pos] = idx;
            cum[base + pos] = carry + incl;
        }
        carry += total;
    }
}

// One CTA per (check row c, head): the check row's exact tile masses, in its block's sorted
// order, as running sums: checkCum[h][checkStart[c] + pos].
extern "C" __global__ void __launch_bounds__(256)
skeleton_check_prefix(const __grid_constant__ SKCheckPrefixParams params) {
    const int* __restrict__ checkRow = params.checkRow;
    const int* __restrict__ checkProbe = params.checkProbe;
    const long long* __restrict__ checkStart = params.checkStart;
    const long long checkPerHead = params.checkPerHead;
    const int* __restrict__ rowStart = params.rowStart;
    const int* __restrict__ sortedIdx = params.sortedIndex;
    const float* __restrict__ tileLse2 = params.tileLse2;
    const float* __restrict__ rowLse2 = params.rowLse2;
    const int probes = params.probes, keyTiles = params.keyTiles;
    float* __restrict__ checkCum = params.checkCum;
    const int n = params.tokens, queryTile = params.queryTile, tilesPerHead = params.tilesPerHead;
    __shared__ float fscratch[32];
    const int c = blockIdx.x, head = blockIdx.y;
    const int r = checkRow[c], pi = checkProbe[c];
    const int qb = r / queryTile;
    const int len = row_len(qb, n, queryTile);
    const long long base = (long long)head * tilesPerHead + rowStart[qb];
    const float lse = rowLse2[(long long)head * probes + pi];
    const float* tl = tileLse2 + ((long long)head * probes + pi) * keyTiles;
    float* out = checkCum + (long long)head * checkPerHead + checkStart[c];
    float carry = 0.f;
    for (int start = 0; start < len; start += blockDim.x) {
        const int pos = start + threadIdx.x;
        float x = 0.f;
        if (pos < len) {
            const int kb = sortedIdx[base + pos];
            x = kb <= r / SK_KEY_TILE ? sk_exp2(tl[kb] - lse) : 0.f;
        }
        float total;
        const float incl = block_inclusive_scan(x, &total, fscratch);
        if (pos < len) out[pos] = carry + incl;
        carry += total;
    }
}

// One CTA per head: the calibrated internal ε' (SkeletonEstimator.calibratedEpsilon): the
// largest ε' in [ε/256, min(0.9, 4ε)] (bisection on log ε', 12 steps) whose mask keeps, on the
// held-out check rows, mean − z · sd / √count ≥ 1 − ε + margin and, with tail calibration
// (tailAllowed ≥ 0), at most tailAllowed check rows below tailFloor. Writes epsOut[h], recallOut[h].
extern "C" __global__ void __launch_bounds__(256)
skeleton_calibrate(const __grid_constant__ SKCalibrateParams params) {
    const int* __restrict__ checkRow = params.checkRow;
    const long long* __restrict__ checkStart = params.checkStart;
    const long long checkPerHead = params.checkPerHead;
    const int checks = params.checks;
    const int* __restrict__ rowStart = params.rowStart;
    const float* __restrict__ cum = params.cum;
    const float* __restrict__ checkCum = params.checkCum;
    const float epsilon = params.epsilon, z = params.confidenceZ, margin = params.margin;
    float* __restrict__ epsOut = params.epsilonOut;
    float* __restrict__ recallOut = params.recallOut;
    const int n = params.tokens, queryTile = params.queryTile, tilesPerHead = params.tilesPerHead;
    const int sink = params.sinkBlocks, local = params.localBlocks;
    const int band = params.bandTokens;
    const double tailFloor = params.tailFloor;
    const int tailAllowed = params.tailAllowed;
    __shared__ double rs[3][32];
    __shared__ double result[3];
    const int head = blockIdx.x;
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
    const double boundGoal = fmin(1.0, 1.0 - (double)epsilon + (double)margin);
    auto evaluate = [&](double e) {  // → result[0] = mean, [1] = bound, [2] = rows below the tail floor (all threads)
        const float goal = (float)(1.0 - e);
        double s1 = 0.0, s2 = 0.0, below = 0.0;
        for (int c = threadIdx.x; c < checks; c += blockDim.x) {
            const int qb = checkRow[c] / queryTile;
            const int len = row_len(qb, n, queryTile);
            const int rowLocal = row_local(qb, len, local, band, queryTile);
            const long long base = (long long)head * tilesPerHead + rowStart[qb];
            const int m = kept_prefix(cum + base, len, always_count(len, sink, rowLocal), goal);
            const double rec = m > 0 ? (double)checkCum[(long long)head * checkPerHead + checkStart[c] + m - 1] : 0.0;
            s1 += rec; s2 += rec * rec;
            below += rec < tailFloor ? 1.0 : 0.0;
        }
        for (int o = 16; o > 0; o /= 2) {
            s1 += __shfl_xor_sync(0xffffffffu, s1, o); s2 += __shfl_xor_sync(0xffffffffu, s2, o);
            below += __shfl_xor_sync(0xffffffffu, below, o);
        }
        __syncthreads();
        if (lane == 0) { rs[0][warp] = s1; rs[1][warp] = s2; rs[2][warp] = below; }
        __syncthreads();
        if (threadIdx.x == 0) {
            double a = 0.0, b = 0.0, c = 0.0;
            for (int w = 0; w < warps; ++w) { a += rs[0][w]; b += rs[1][w]; c += rs[2][w]; }
            const double cnt = (double)checks;
            const double mean = a / cnt;
            const double sd = cnt > 1 ? sqrt(fmax(0.0, (b - cnt * mean * mean) / (cnt - 1))) : 0.0;
            result[0] = mean;
            result[1] = mean - (double)z * sd / sqrt(cnt);
            result[2] = c;
        }
        __syncthreads();
    };
    auto passes = [&]() { return result[1] >= boundGoal && (tailAllowed < 0 || result[2] <= (double)tailAllowed); };
    double lo = log(fmax((double)epsilon / 256.0, 1e-6)), hi = log(fmin(0.9, 4.0 * (double)epsilon));
    // The walk of the CPU's bisection, one evaluation per round at one call site (inlined once:
    // four copies made ptxas spill): round 0 the upper end (passes: taken), round 1 the lower end
    // (fails: taken), rounds 2–13 the 12 halvings (lo passes, hi fails). ε' = exp(lo); its mean is
    // the one of the round that set lo (the same summation, so the same double as evaluating
    // exp(lo) once more, which the step-by-step version did).
    double chosen = 0.0, mean = 0.0, passMean = 0.0, mid = 0.0;
    double e = exp(hi);
    for (int round = 0;; ++round) {
        evaluate(e);
        const bool ok = passes();
        if (round == 0 && ok) { chosen = e; mean = result[0]; break; }
        if (round == 1 && !ok) { chosen = e; mean = result[0]; break; }
        if (round == 1) passMean = result[0];
        if (round >= 2) {
            if (ok) { lo = mid; passMean = result[0]; } else hi = mid;
        }
        if (round == 13) { chosen = exp(lo); mean = passMean; break; }
        if (round == 0) e = exp(lo);
        else { mid = 0.5 * (lo + hi); e = exp(mid); }
    }
    if (threadIdx.x == 0) { epsOut[head] = (float)chosen; recallOut[head] = (float)mean; }
}

// Kept tiles per row for the error bound: count[h·QB + I] = kept prefix at ε'_h.
extern "C" __global__ void skeleton_count_error_bound(const __grid_constant__ SKCountErrorBoundParams params) {
    const int* __restrict__ rowStart = params.rowStart;
    const float* __restrict__ cum = params.cum;
    const float* __restrict__ epsHead = params.epsilonHead;
    int* __restrict__ count = params.count;
    const int n = params.tokens, queryTile = params.queryTile, queryBlocks = params.queryBlocks, heads = params.heads;
    const int tilesPerHead = params.tilesPerHead, sink = params.sinkBlocks, local = params.localBlocks;
    const int r = blockIdx.x * blockDim.x + threadIdx.x;
    if (r >= heads * queryBlocks) return;
    const int head = r / queryBlocks, qb = r % queryBlocks;
    const int len = row_len(qb, n, queryTile);
    const int rowLocal = row_local(qb, len, local, params.bandTokens, queryTile);
    const long long base = (long long)head * tilesPerHead + rowStart[qb];
    count[r] = kept_prefix(cum + base, len, always_count(len, sink, rowLocal), 1.f - epsHead[head]);
}

// Exclusive scan of `rows` ints into offsets[rows + 1] (one CTA of 1024 threads).
extern "C" __global__ void __launch_bounds__(1024)
skeleton_scan_rows(const __grid_constant__ SKScanRowsParams params) {
    const int* __restrict__ count = params.count;
    int* __restrict__ offsets = params.offsets;
    const int rows = params.rows;
    __shared__ int scratch[32];
    const int per = (rows + blockDim.x - 1) / blockDim.x;
    const int begin = min(rows, (int)threadIdx.x * per), end = min(rows, begin + per);
    int local = 0;
    for (int i = begin; i < end; ++i) local += count[i];
    int total;
    int run = block_exclusive_scan(local, &total, scratch);
    for (int i = begin; i < end; ++i) { offsets[i] = run; run += count[i]; }
    if (threadIdx.x == 0) offsets[rows] = total;
}

// One CTA per (query block, head): marks the first count[row] sorted tiles and writes them in
// ascending key-block order at keyBlocks[offsets[row]...]. Shared: len ints.
extern "C" __global__ void __launch_bounds__(256)
skeleton_fill_error_bound(const __grid_constant__ SKFillErrorBoundParams params) {
    const int* __restrict__ rowStart = params.rowStart;
    const int* __restrict__ sortedIdx = params.sortedIndex;
    const int* __restrict__ count = params.count;
    const int* __restrict__ offsets = params.offsets;
    int* __restrict__ keyBlocks = params.keyBlocks;
    const int n = params.tokens, queryTile = params.queryTile, queryBlocks = params.queryBlocks, tilesPerHead = params.tilesPerHead;
    extern __shared__ int flag[];
    __shared__ int scratch[32];
    const int qb = blockIdx.x, head = blockIdx.y;
    const int row = head * queryBlocks + qb;
    const int len = row_len(qb, n, queryTile);
    const long long base = (long long)head * tilesPerHead + rowStart[qb];
    for (int i = threadIdx.x; i < len; i += blockDim.x) flag[i] = 0;
    __syncthreads();
    const int m = count[row];
    for (int i = threadIdx.x; i < m; i += blockDim.x) flag[sortedIdx[base + i]] = 1;
    __syncthreads();
    const int per = (len + blockDim.x - 1) / blockDim.x;
    const int begin = min(len, (int)threadIdx.x * per), end = min(len, begin + per);
    int local = 0;
    for (int i = begin; i < end; ++i) local += flag[i];
    int total;
    int at = offsets[row] + block_exclusive_scan(local, &total, scratch);
    for (int i = begin; i < end; ++i) if (flag[i]) keyBlocks[at++] = i;
}

// ---- budget ---------------------------------------------------------------------------------

// state[0] = prefix bits fixed so far, state[1] = mask of those bits, state[2] = how many of the
// remaining largest values are still to take, state[3] = mode (0 select, 1 keep all, 2 keep none).

extern "C" __global__ void skeleton_budget_init(const __grid_constant__ SKBudgetInitParams params) {
    int* __restrict__ state = params.state;
    unsigned* __restrict__ hist = params.hist;
    const int take = params.take;
    if (threadIdx.x < 4) state[threadIdx.x] = threadIdx.x == 2 ? take : 0;
    hist[threadIdx.x] = 0;  // 256 threads
}

// Histogram of the next 8-bit digit of every non-always mass whose higher bits match the prefix.
// Grid (ceil(queryBlocks / 8), heads); 256 threads; shared 256 bins, flushed where non-zero.
extern "C" __global__ void __launch_bounds__(256)
skeleton_budget_hist(const __grid_constant__ SKBudgetHistParams params) {
    const float* __restrict__ est = params.est;
    const int* __restrict__ rowStart = params.rowStart;
    const int* __restrict__ state = params.state;
    unsigned* __restrict__ hist = params.hist;
    const int shift = params.shift;
    const int n = params.tokens, queryTile = params.queryTile, queryBlocks = params.queryBlocks, tilesPerHead = params.tilesPerHead;
    const int sink = params.sinkBlocks, local = params.localBlocks;
    __shared__ unsigned bins[256];
    bins[threadIdx.x] = 0;
    __syncthreads();
    const unsigned prefix = (unsigned)state[0], mask = (unsigned)state[1];
    const int head = blockIdx.y;
    for (int qb = blockIdx.x * 8; qb < min(queryBlocks, blockIdx.x * 8 + 8); ++qb) {
        const int len = row_len(qb, n, queryTile);
        const int rowLocal = row_local(qb, len, local, params.bandTokens, queryTile);
        const long long base = (long long)head * tilesPerHead + rowStart[qb];
        for (int kb = threadIdx.x; kb < len; kb += blockDim.x) {
            if (always_kept(kb, len, sink, rowLocal)) continue;
            const unsigned bits = __float_as_uint(fmaxf(0.f, est[base + kb]));
            if ((bits & mask) == prefix) atomicAdd(&bins[(bits >> shift) & 255u], 1u);
        }
    }
    __syncthreads();
    if (bins[threadIdx.x]) atomicAdd(&hist[threadIdx.x], bins[threadIdx.x]);
}

// One thread: picks the digit where the count from the top reaches the remaining K; clears hist.
extern "C" __global__ void skeleton_budget_pick(const __grid_constant__ SKBudgetPickParams params) {
    unsigned* __restrict__ hist = params.hist;
    int* __restrict__ state = params.state;
    const int shift = params.shift;
    if (threadIdx.x != 0 || blockIdx.x != 0) return;
    if (state[3] != 0) { for (int b = 0; b < 256; ++b) hist[b] = 0; return; }
    unsigned long long total = 0;
    for (int b = 0; b < 256; ++b) total += hist[b];
    long long need = state[2];
    if (shift == 24) {  // first pass: the whole candidate set is in the histogram
        if (need <= 0) state[3] = 2;
        else if ((unsigned long long)need >= total) state[3] = 1;
    }
    if (state[3] == 0) {
        for (int b = 255; b >= 0; --b) {
            if ((long long)hist[b] >= need) {
                state[0] = (int)((unsigned)state[0] | ((unsigned)b << shift));
                state[1] = (int)((unsigned)state[1] | (255u << shift));
                state[2] = (int)need;
                break;
            }
            need -= hist[b];
        }
    }
    for (int b = 0; b < 256; ++b) hist[b] = 0;
}

// Per row: kept tiles other than ties (always + above τ), and ties (== τ) among non-always.
extern "C" __global__ void __launch_bounds__(256)
skeleton_budget_count(const __grid_constant__ SKBudgetCountParams params) {
    const float* __restrict__ est = params.est;
    const int* __restrict__ rowStart = params.rowStart;
    const int* __restrict__ state = params.state;
    int* __restrict__ count = params.count;
    int* __restrict__ ties = params.ties;
    const int n = params.tokens, queryTile = params.queryTile, queryBlocks = params.queryBlocks, tilesPerHead = params.tilesPerHead;
    const int sink = params.sinkBlocks, local = params.localBlocks;
    __shared__ int scratch[32];
    const int qb = blockIdx.x, head = blockIdx.y;
    const int len = row_len(qb, n, queryTile);
    const int rowLocal = row_local(qb, len, local, params.bandTokens, queryTile);
    const long long base = (long long)head * tilesPerHead + rowStart[qb];
    const unsigned tau = (unsigned)state[0];
    const int mode = state[3];
    int kept = 0, tie = 0;
    for (int kb = threadIdx.x; kb < len; kb += blockDim.x) {
        if (always_kept(kb, len, sink, rowLocal) || mode == 1) { kept++; continue; }
        if (mode == 2) continue;
        const unsigned bits = __float_as_uint(fmaxf(0.f, est[base + kb]));
        if (bits > tau) kept++;
        else if (bits == tau) tie++;
    }
    int t1, t2;
    block_exclusive_scan(kept, &t1, scratch);
    block_exclusive_scan(tie, &t2, scratch);
    if (threadIdx.x == 0) { count[head * queryBlocks + qb] = t1; ties[head * queryBlocks + qb] = t2; }
}

// count[row] += the ties this row takes: the first state[2] ties in row order are kept.
extern "C" __global__ void skeleton_budget_add_ties(const __grid_constant__ SKBudgetAddTiesParams params) {
    int* __restrict__ count = params.count;
    const int* __restrict__ ties = params.ties;
    const int* __restrict__ tieOffset = params.tieOffset;
    const int* __restrict__ state = params.state;
    const int rows = params.rows;
    const int r = blockIdx.x * blockDim.x + threadIdx.x;
    if (r >= rows || state[3] != 0) return;
    count[r] += max(0, min(ties[r], state[2] - tieOffset[r]));
}

// One CTA per (query block, head): writes the kept tiles ascending (ties by key-block order).
extern "C" __global__ void __launch_bounds__(256)
skeleton_fill_budget(const __grid_constant__ SKFillBudgetParams params) {
    const float* __restrict__ est = params.est;
    const int* __restrict__ rowStart = params.rowStart;
    const int* __restrict__ state = params.state;
    const int* __restrict__ tieOffset = params.tieOffset;
    const int* __restrict__ offsets = params.offsets;
    int* __restrict__ keyBlocks = params.keyBlocks;
    const int n = params.tokens, queryTile = params.queryTile, queryBlocks = params.queryBlocks, tilesPerHead = params.tilesPerHead;
    const int sink = params.sinkBlocks, local = params.localBlocks;
    __shared__ int scratch[32];
    const int qb = blockIdx.x, head = blockIdx.y;
    const int row = head * queryBlocks + qb;
    const int len = row_len(qb, n, queryTile);
    const int rowLocal = row_local(qb, len, local, params.bandTokens, queryTile);
    const long long base = (long long)head * tilesPerHead + rowStart[qb];
    const unsigned tau = (unsigned)state[0];
    const int mode = state[3], takeTies = state[2];
    const int per = (len + blockDim.x - 1) / blockDim.x;
    const int begin = min(len, (int)threadIdx.x * per), end = min(len, begin + per);
    int myTies = 0;
    for (int kb = begin; kb < end; ++kb)
        if (mode == 0 && !always_kept(kb, len, sink, rowLocal) && __float_as_uint(fmaxf(0.f, est[base + kb])) == tau) myTies++;
    int total;
    const int tieBefore = tieOffset[row] + block_exclusive_scan(myTies, &total, scratch);
    // two walks over the same tiles in the same order: count, then write at the row's offset
    auto kept = [&](int kb, int& tieRank) -> bool {
        if (always_kept(kb, len, sink, rowLocal) || mode == 1) return true;
        if (mode != 0) return false;
        const unsigned bits = __float_as_uint(fmaxf(0.f, est[base + kb]));
        if (bits > tau) return true;
        return bits == tau && tieRank++ < takeTies;
    };
    int keep = 0, tieRank = tieBefore;
    for (int kb = begin; kb < end; ++kb) keep += kept(kb, tieRank) ? 1 : 0;
    int at = offsets[row] + block_exclusive_scan(keep, &total, scratch);
    tieRank = tieBefore;
    for (int kb = begin; kb < end; ++kb) {
        if (kept(kb, tieRank)) keyBlocks[at++] = kb;
    }
}
