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

// Bitonic compare-exchange result for the element at position i whose partner (position i ^ j)
// holds b: the lower position of a pair keeps the minimum in an ascending run ((i & k) == 0).
SK_DEVICE unsigned long long bitonic_keep(unsigned long long a, unsigned long long b, int i, int j, int k) {
    const bool keepMin = ((i & j) == 0) == ((i & k) == 0);
    return keepMin ? (a < b ? a : b) : (a < b ? b : a);
}
SK_DEVICE unsigned long long shfl_xor_u64(unsigned long long x, int j) {
    const unsigned lo = __shfl_xor_sync(0xffffffffu, (unsigned)x, j);
    const unsigned hi = __shfl_xor_sync(0xffffffffu, (unsigned)(x >> 32), j);
    return ((unsigned long long)hi << 32) | lo;
}

// One CTA (512 threads) per (query block, head): the row's keys (always-first, mass descending,
// key block ascending; all distinct) sorted ascending by a bitonic network — the same network
// and comparisons as a plain shared-memory bitonic sort, so the same order, but each element
// lives in a register of thread (position mod 512), slot (position / 512): partners closer than a
// warp are exchanged by shuffles, partners ≥ 512 apart inside the thread, and only the distances
// 32…256 go through shared memory (18 of the 66 stages at 2048 keys need barriers, not 66).
// Rows longer than 2048 tiles take the plain shared-memory network. Then the running mass.
constexpr int SORT_THREADS = 512, SORT_SLOTS = 4;
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
    auto keyAt = [&](int i) -> unsigned long long {
        if (i >= len) return ~0ull;
        const unsigned bits = __float_as_uint(fmaxf(0.f, est[base + i]));
        const unsigned hi = always_kept(i, len, sink, rowLocal) ? 0u : 0xffffffffu - bits;
        return ((unsigned long long)hi << 32) | (unsigned)i;
    };
    const int t = threadIdx.x;
    if (p2 <= SORT_THREADS * SORT_SLOTS && blockDim.x == SORT_THREADS) {
        const int E = p2 > SORT_THREADS ? p2 / SORT_THREADS : 1;  // slots in use
        unsigned long long x[SORT_SLOTS];
        auto spill = [&]() {  // the slots in use to the shared array, slot e of thread t at e * SORT_THREADS + t
#pragma unroll
            for (int e = 0; e < SORT_SLOTS; ++e) {
                const int i = e * SORT_THREADS + t;
                if (e < E && i < p2) keys[i] = x[e];
            }
        };
#pragma unroll
        for (int e = 0; e < SORT_SLOTS; ++e) x[e] = e < E ? keyAt(e * SORT_THREADS + t) : ~0ull;
        for (int k = 2; k <= p2; k *= 2)
            for (int j = k / 2; j > 0; j /= 2) {
                if (j >= SORT_THREADS) {  // partner in this thread, slot e ^ (j / 512): constant slots
                    auto exchange = [&](unsigned long long& lo, unsigned long long& hi, int e) {
                        const int i = e * SORT_THREADS + t;
                        const unsigned long long a = lo, b = hi;
                        lo = bitonic_keep(a, b, i, j, k);
                        hi = bitonic_keep(b, a, i ^ j, j, k);
                    };
                    if (j == SORT_THREADS) { exchange(x[0], x[1], 0); if (E == 4) exchange(x[2], x[3], 2); }
                    else { exchange(x[0], x[2], 0); exchange(x[1], x[3], 1); }  // j = 1024: E = 4
                } else if (j >= 32) {  // partner in another warp of this CTA
                    __syncthreads();
                    spill();
                    __syncthreads();
#pragma unroll
                    for (int e = 0; e < SORT_SLOTS; ++e) {
                        const int i = e * SORT_THREADS + t;
                        if (e < E && i < p2) x[e] = bitonic_keep(x[e], keys[i ^ j], i, j, k);
                    }
                } else {  // partner in this warp (padding lanes pair among themselves)
#pragma unroll
                    for (int e = 0; e < SORT_SLOTS; ++e) {
                        if (e >= E) continue;
                        const int i = e * SORT_THREADS + t;
                        x[e] = bitonic_keep(x[e], shfl_xor_u64(x[e], j), i, j, k);
                    }
                }
            }
        __syncthreads();
        spill();
        __syncthreads();
    } else {
        for (int i = t; i < p2; i += blockDim.x) keys[i] = keyAt(i);
        __syncthreads();
        for (int k = 2; k <= p2; k *= 2)
            for (int j = k / 2; j > 0; j /= 2) {
                for (int i = t; i < p2; i += blockDim.x) {
                    const int l = i ^ j;
                    if (l > i) {
                        const unsigned long long a = keys[i], b = keys[l];
                        const bool up = (i & k) == 0;
                        if ((a > b) == up) { keys[i] = b; keys[l] = a; }
                    }
                }
                __syncthreads();
            }
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

// Shortest kept prefixes for G goals at once over one row (the goals' binary searches run in
// lockstep, so their loads are independent and overlap instead of queueing one after another).
template <int G>
SK_DEVICE void kept_prefixes(const float* cum, int len, int nA, const float (&goal)[G], int (&m)[G]) {
    int hi[G];
#pragma unroll
    for (int g = 0; g < G; ++g) { m[g] = nA; hi[g] = len; }
    for (;;) {
        bool open = false;
#pragma unroll
        for (int g = 0; g < G; ++g) open |= m[g] < hi[g];
        if (!open) break;
        float c[G];
        int mid[G];
#pragma unroll
        for (int g = 0; g < G; ++g) {
            mid[g] = (m[g] + hi[g]) / 2;
            c[g] = m[g] < hi[g] && mid[g] > 0 ? cum[mid[g] - 1] : 0.f;
        }
#pragma unroll
        for (int g = 0; g < G; ++g) {
            if (m[g] >= hi[g]) continue;
            if (mid[g] > 0 && c[g] >= goal[g]) hi[g] = mid[g]; else m[g] = mid[g] + 1;
        }
    }
}

// Calibration state of one head's CTA (shared): per candidate the check rows' mean recall, the
// lower bound and the rows below the tail floor.
struct SKCalibrationRound {
    double partial[3][16][8];  // [statistic][candidate][warp]
    double mean[16], bound[16], below[16];
};

// Evaluates G candidate ε' (e[g]) on the head's check rows at once: for each, the kept prefix of
// each check row's block at goal 1 − e and its exact recall there, summed in the same order as
// one candidate alone (per thread over c = tid, tid + 256, …; warp shuffles; warps in order).
template <int G>
SK_DEVICE void evaluate_candidates(const SKCalibrateParams& params, int head, const double (&e)[G], SKCalibrationRound& out) {
    const int* __restrict__ checkRow = params.checkRow;
    const long long* __restrict__ checkStart = params.checkStart;
    const int* __restrict__ rowStart = params.rowStart;
    const float* __restrict__ cum = params.cum;
    const float* __restrict__ checkCum = params.checkCum;
    const int n = params.tokens, queryTile = params.queryTile, tilesPerHead = params.tilesPerHead, checks = params.checks;
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
    float goal[G];
    double s1[G], s2[G], below[G];
#pragma unroll
    for (int g = 0; g < G; ++g) { goal[g] = (float)(1.0 - e[g]); s1[g] = 0.0; s2[g] = 0.0; below[g] = 0.0; }
    for (int c = threadIdx.x; c < checks; c += blockDim.x) {
        const int qb = checkRow[c] / queryTile;
        const int len = row_len(qb, n, queryTile);
        const int rowLocal = row_local(qb, len, params.localBlocks, params.bandTokens, queryTile);
        const long long base = (long long)head * tilesPerHead + rowStart[qb];
        int m[G];
        kept_prefixes<G>(cum + base, len, always_count(len, params.sinkBlocks, rowLocal), goal, m);
        const float* cc = checkCum + (long long)head * params.checkPerHead + checkStart[c];
        double rec[G];
#pragma unroll
        for (int g = 0; g < G; ++g) rec[g] = m[g] > 0 ? (double)cc[m[g] - 1] : 0.0;
#pragma unroll
        for (int g = 0; g < G; ++g) {
            s1[g] += rec[g]; s2[g] += rec[g] * rec[g];
            below[g] += rec[g] < params.tailFloor ? 1.0 : 0.0;
        }
    }
#pragma unroll
    for (int g = 0; g < G; ++g)
        for (int o = 16; o > 0; o /= 2) {
            s1[g] += __shfl_xor_sync(0xffffffffu, s1[g], o); s2[g] += __shfl_xor_sync(0xffffffffu, s2[g], o);
            below[g] += __shfl_xor_sync(0xffffffffu, below[g], o);
        }
    __syncthreads();
    if (lane == 0) {
#pragma unroll
        for (int g = 0; g < G; ++g) { out.partial[0][g][warp] = s1[g]; out.partial[1][g][warp] = s2[g]; out.partial[2][g][warp] = below[g]; }
    }
    __syncthreads();
    if (threadIdx.x < G) {
        const int g = threadIdx.x;
        double a = 0.0, b = 0.0, cnt2 = 0.0;
        for (int w = 0; w < warps; ++w) { a += out.partial[0][g][w]; b += out.partial[1][g][w]; cnt2 += out.partial[2][g][w]; }
        const double cnt = (double)checks;
        const double mean = a / cnt;
        const double sd = cnt > 1 ? sqrt(fmax(0.0, (b - cnt * mean * mean) / (cnt - 1))) : 0.0;
        out.mean[g] = mean;
        out.bound[g] = mean - (double)params.confidenceZ * sd / sqrt(cnt);
        out.below[g] = cnt2;
    }
    __syncthreads();
}

// One CTA (256 threads) per head: the calibrated internal ε' (SkeletonEstimator.calibratedEpsilon):
// the largest ε' in [ε/256, min(0.9, 4ε)] (bisection on log ε', 12 steps) whose mask keeps, on the
// held-out check rows, mean − z · sd / √count ≥ 1 − ε + margin and, with tail calibration
// (tailAllowed ≥ 0), at most tailAllowed check rows below tailFloor. Writes epsOut[h], recallOut[h].
// The bisection is the CPU's step for step, but 4 levels per round: the 15 midpoints those levels
// can visit (computed by the same halvings, so the same doubles) are evaluated together and the
// walk down them reads the results — 4 rounds of evaluation instead of 15.
extern "C" __global__ void __launch_bounds__(256)
skeleton_calibrate(const __grid_constant__ SKCalibrateParams params) {
    const double epsilon = params.epsilon;
    const int tailAllowed = params.tailAllowed;
    __shared__ SKCalibrationRound round;
    const int head = blockIdx.x;
    const double boundGoal = fmin(1.0, 1.0 - epsilon + (double)params.margin);
    auto passes = [&](int g) { return round.bound[g] >= boundGoal && (tailAllowed < 0 || round.below[g] <= (double)tailAllowed); };
    double lo = log(fmax(epsilon / 256.0, 1e-6)), hi = log(fmin(0.9, 4.0 * epsilon));
    double chosen, mean;
    {
        const double ends[2] = {exp(hi), exp(lo)};
        evaluate_candidates<2>(params, head, ends, round);
    }
    if (passes(0)) { chosen = exp(hi); mean = round.mean[0]; }
    else if (!passes(1)) { chosen = exp(lo); mean = round.mean[1]; }
    else {
        mean = round.mean[1];
        for (int r = 0; r < 3; ++r) {
            // the subtree of the next 4 levels in level order: node j of level k at 2^k − 1 + j
            double nlo[15], nhi[15], mid[15], cand[15];
            nlo[0] = lo; nhi[0] = hi;
#pragma unroll
            for (int i = 0; i < 15; ++i) {
                mid[i] = 0.5 * (nlo[i] + nhi[i]);
                cand[i] = exp(mid[i]);
                if (2 * i + 2 < 15) {
                    nlo[2 * i + 1] = nlo[i]; nhi[2 * i + 1] = mid[i];  // fails: hi = mid (left child)
                    nlo[2 * i + 2] = mid[i]; nhi[2 * i + 2] = nhi[i];  // passes: lo = mid (right child)
                }
            }
            evaluate_candidates<15>(params, head, cand, round);
            int i = 0;
            for (int level = 0; level < 4; ++level) {
                const bool ok = passes(i);
                if (ok) { lo = mid[i]; mean = round.mean[i]; } else hi = mid[i];
                i = 2 * i + (ok ? 2 : 1);
            }
        }
        chosen = exp(lo);
    }
    if (threadIdx.x == 0) { params.epsilonOut[head] = (float)chosen; params.recallOut[head] = (float)mean; }
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
