#ifndef SK_SKELETON_PARAMS_H
#define SK_SKELETON_PARAMS_H
#include "sk_params_base.h"

// The GPU skeleton estimator's kernels (SparseSkeletonCUDA/Kernels/skeleton_{probes,fit,mask}.cu).
// Per-head arrays are [head][...]: tile arrays [head][tilesPerHead] in the core's TileMasses
// order (row I starts at rowStart[I]); probe arrays [head][probes] and [head][probes][keyTiles];
// factor arrays [head][tokens]; fit-row arrays [head][fitRowStride]. `tokens` is N.

// ---- probes (skeleton_probes.cu) ----------------------------------------------------------

// Pass 1 over every probe group: tileLse2[h][p][J] (log2-sum-exp of probe p's logits in key tile J).
typedef struct SKProbePass1Params {
    SK_PTR(const u16) q;            // [tokens, queryHeads, headDim]
    SK_PTR(const u16) k;            // [tokens, kvHeads, headDim]
    SK_PTR(const int) groupRows;    // [probes] row of each probe, -1 = padding
    SK_PTR(float) tileLse2;         // out
    int tokens;
    int queryHeads;
    int kvHeads;
    float scaleLog2;                // softmax scale · log2(e)
    int probes;
    int keyTiles;
    int chunks;                     // CTAs per group along the keys
    int chunkTiles;                 // key tiles per chunk
} SKProbePass1Params;

// Pass 2 over the fit groups, grid (head sets, fitGroups · chunks): y < tailGroups · chunks are
// the tail groups [stridedGroups, stridedGroups + tailGroups), the rest the strided groups from
// stridedGroups − 1 down to 0 (longest walks first), chunk = y % chunks: the observed column and
// diagonal masses, summed into colObs[h][j] and diagObs[h][δ].
typedef struct SKProbePass2Params {
    SK_PTR(const u16) q;
    SK_PTR(const u16) k;
    SK_PTR(const int) groupRows;
    SK_PTR(const float) rowLse2;    // [heads][probes], from skeleton_row_lse
    SK_PTR(float) colObs;           // out (+=)
    SK_PTR(float) diagObs;          // out (+=)
    int tokens;
    int queryHeads;
    int kvHeads;
    float scaleLog2;
    int probes;
    int keyTiles;
    int chunks;
    int chunkTiles;
    int window;                     // strided groups' diagonal ring floats per head (a power of two)
    int rowShift;                   // log2 of the row stride's low bits the ring swizzle skips
    int stridedGroups;
    int tailGroups;
    int tailWindow;                 // the tail groups' ring (a power of two ≥ 191)
} SKProbePass2Params;

// rowLse2[h][p] = log2 Σ_J 2^tileLse2[h][p][J]: one warp per (probe, head).
typedef struct SKProbeRowLseParams {
    SK_PTR(const int) groupRows;
    SK_PTR(const float) tileLse2;
    SK_PTR(float) rowLse2;          // out
    int probes;
    int keyTiles;
    int heads;
} SKProbeRowLseParams;

// ---- factor fit and tile masses (skeleton_fit.cu) -----------------------------------------
// Fit rows: `stridedRows` (W) rows offset + stride·w, then `tailRows` (T) contiguous rows;
// fit-row arrays (z, h) hold W + T values per head, `fitRowStride` apart.

// One IPF step (skeleton_ipf_step): CTAs [0, stride) of grid.x = one residue t each (the strided
// rows), CTAs [stride, stride + tailBlocks) = the contiguous tail rows. `out` is zero on entry
// (skeleton_estimate_init, then the finishing kernel of each step zeroes what it consumed).
// mode 0: both parts add into out = z [head][fitRowStride]; mode 1 (den over diagonal offsets) and
// mode 2 (den over keys), [head][tokens]: the strided part is stored to out, the tail part to
// tailOut, and the update adds them. rowNormalisers (h) is read in modes 1 and 2.
typedef struct SKIPFStepParams {
    SK_PTR(const float) v;
    SK_PTR(const float) s;
    SK_PTR(const float) rowNormalisers;
    SK_PTR(float) out;              // += (zero on entry); modes 1, 2: the strided part, stored
    SK_PTR(float) tailOut;          // modes 1, 2: the tail rows' part of den [head][tokens], stored (null when tailRows = 0)
    int mode;
    int tokens;
    int stride;
    int offset;
    int stridedRows;
    int residueLength;              // U = ceil(tokens / stride)
    int fitRowStride;
    int tailRows;
    int tailBlocks;                 // tail CTAs per head (256 keys or outputs each)
} SKIPFStepParams;

// colObs = diagObs = den = 0 and v = s = 1 over [heads·tokens], z = 0 over [zCount], *fitBarrier = 0:
// every accumulator of probes pass 2 and the factor fit, set once per estimate.
typedef struct SKEstimateInitParams {
    SK_PTR(float) colObs;
    SK_PTR(float) diagObs;
    SK_PTR(float) den;
    SK_PTR(float) v;
    SK_PTR(float) s;
    SK_PTR(float) z;
    SK_PTR(u32) fitBarrier;         // skeleton_ipf_fit's barrier counter (null: none)
    long long count;                // heads · tokens
    long long zCount;               // heads · fitRowStride
} SKEstimateInitParams;

// rowNormalisers[i] = 1 / z[i] (0 where z ≤ 0), then z[i] = 0 (the next step adds into it), i < count.
typedef struct SKIPFFinishRowsParams {
    SK_PTR(float) z;
    SK_PTR(float) rowNormalisers;
    int count;
} SKIPFFinishRowsParams;

// With d = denominator[i] + tailDenominator[i] (the strided then the tail rows' part; no tail part
// when null): factor[i] ← max(observed[i] / d, 1e-30) where d > 0, then denominator[i] = 0 (the
// next step stores into it only where strided rows reach), i < count.
typedef struct SKIPFUpdateParams {
    SK_PTR(float) factor;
    SK_PTR(const float) observed;
    SK_PTR(float) denominator;
    SK_PTR(const float) tailDenominator;
    long long count;
} SKIPFUpdateParams;

// Every IPF sweep in one launch (skeleton_ipf_fit, a grid no larger than the resident CTAs):
// per sweep the steps z, den_s, s, z, den_v, v of skeleton_ipf_step / _finish_h / _update, with
// grid barriers (counter `barrier`, zero on entry) between. h is written by each update phase.
typedef struct SKIPFFitParams {
    SK_PTR(float) v;
    SK_PTR(float) s;
    SK_PTR(float) z;                // [head][fitRowStride], zero on entry, zero on exit
    SK_PTR(float) rowNormalisers;   // h, out
    SK_PTR(float) den;              // [head][tokens], zero on entry, zero on exit
    SK_PTR(float) denTail;          // [head][tokens] (unused when tailRows = 0)
    SK_PTR(const float) colObs;
    SK_PTR(const float) diagObs;
    SK_PTR(u32) barrier;
    int tokens;
    int stride;
    int offset;
    int stridedRows;
    int residueLength;
    int fitRowStride;
    int tailRows;
    int tailBlocks;
    int heads;
    int sweeps;
} SKIPFFitParams;

// out[i] = value, i < count.
typedef struct SKFillF32Params {
    SK_PTR(float) out;
    long long count;
    float value;
} SKFillF32Params;

// prefix[h][d] = Σ_{u<d} s[h][u] (double, d ≤ tokens) and the window sums
// windowSums[h][x] = prefix[h][x + queryTile] − prefix[h][x]; one CTA per head.
typedef struct SKPrefixSumsParams {
    SK_PTR(const float) s;
    SK_PTR(double) prefix;          // [head][tokens + 1]
    SK_PTR(float) windowSums;       // [head][tokens]
    int tokens;
    int queryTile;
} SKPrefixSumsParams;

// Off-diagonal tiles of the full query blocks as one product of v and the window sums.
typedef struct SKTileProductParams {
    SK_PTR(const float) v;
    SK_PTR(const float) windowSums;
    SK_PTR(const int) rowStart;     // [queryBlocks + 1]
    SK_PTR(float) est;              // out, raw
    int tokens;
    int queryTile;
    int fullBlocks;                 // query blocks of a whole queryTile rows
    int tilesPerHead;
} SKTileProductParams;

// The remaining modelled tile masses, the local blend with the block's fit probes, normalised.
typedef struct SKTileMassesParams {
    SK_PTR(const float) v;
    SK_PTR(const double) prefix;
    SK_PTR(const int) rowStart;
    SK_PTR(const int) blockProbeStart;  // [queryBlocks + 1] into probeIndex / probeRow
    SK_PTR(const int) probeIndex;       // fit probe's index among all probes
    SK_PTR(const int) probeRow;         // its row
    SK_PTR(const float) tileLse2;
    SK_PTR(const float) rowLse2;
    SK_PTR(float) est;                  // in (product tiles) and out, normalised per row
    int probes;
    int keyTiles;
    float localWeight;                  // α of the blend
    int tokens;
    int queryTile;
    int tilesPerHead;
} SKTileMassesParams;

// ---- mask (skeleton_mask.cu) ----------------------------------------------------------------
// Rows are (head, query block) pairs, row = head · queryBlocks + I; est is normalised per row.
// sinkBlocks / localBlocks: the always-kept first and last key blocks of every row; bandTokens
// widens the last ones to every key tile holding one of the last bandTokens keys of a row.

// One CTA per (query block, head): the row sorted (always-kept first, mass descending, key
// block ascending) and its running mass.
typedef struct SKSortRowsParams {
    SK_PTR(const float) est;
    SK_PTR(const int) rowStart;
    SK_PTR(int) sortedIndex;        // out [head][tilesPerHead]: key block at each sorted position
    SK_PTR(float) cum;              // out [head][tilesPerHead]
    int tokens;
    int queryTile;
    int tilesPerHead;
    int sinkBlocks;
    int localBlocks;
    int bandTokens;                 // row-exact local band (0 = off): AlwaysKeep.bandTokens
} SKSortRowsParams;

// One CTA per (check row, head): the check row's exact tile masses in its block's sorted order,
// as running sums at checkCum[head][checkStart[c] + pos].
typedef struct SKCheckPrefixParams {
    SK_PTR(const int) checkRow;
    SK_PTR(const int) checkProbe;   // the check row's probe index
    SK_PTR(const long long) checkStart;
    SK_PTR(const int) rowStart;
    SK_PTR(const int) sortedIndex;
    SK_PTR(const float) tileLse2;
    SK_PTR(const float) rowLse2;
    SK_PTR(float) checkCum;         // out [head][checkPerHead]
    long long checkPerHead;
    int probes;
    int keyTiles;
    int tokens;
    int queryTile;
    int tilesPerHead;
} SKCheckPrefixParams;

// One CTA per head: the calibrated internal ε' and the check rows' mean recall at it.
typedef struct SKCalibrateParams {
    SK_PTR(const int) checkRow;
    SK_PTR(const long long) checkStart;
    SK_PTR(const int) rowStart;
    SK_PTR(const float) cum;
    SK_PTR(const float) checkCum;
    SK_PTR(float) epsilonOut;       // [heads]
    SK_PTR(float) recallOut;        // [heads]
    long long checkPerHead;
    double tailFloor;               // tail calibration: a check row below this recall counts
    int checks;
    float epsilon;
    float confidenceZ;
    float margin;
    int tailAllowed;                // at most this many may (−1 = off)
    int tokens;
    int queryTile;
    int tilesPerHead;
    int sinkBlocks;
    int localBlocks;
    int bandTokens;                 // row-exact local band (0 = off): AlwaysKeep.bandTokens
} SKCalibrateParams;

// count[row] = the kept prefix of the row at its head's ε'.
typedef struct SKCountErrorBoundParams {
    SK_PTR(const int) rowStart;
    SK_PTR(const float) cum;
    SK_PTR(const float) epsilonHead;  // [heads]
    SK_PTR(int) count;              // out [rows]
    int tokens;
    int queryTile;
    int queryBlocks;
    int heads;
    int tilesPerHead;
    int sinkBlocks;
    int localBlocks;
    int bandTokens;                 // row-exact local band (0 = off): AlwaysKeep.bandTokens
} SKCountErrorBoundParams;

// offsets[0...rows] = exclusive scan of count (one CTA).
typedef struct SKScanRowsParams {
    SK_PTR(const int) count;
    SK_PTR(int) offsets;
    int rows;
} SKScanRowsParams;

// One CTA per (query block, head): the row's first count[row] sorted tiles, ascending, at
// keyBlocks[offsets[row]...].
typedef struct SKFillErrorBoundParams {
    SK_PTR(const int) rowStart;
    SK_PTR(const int) sortedIndex;
    SK_PTR(const int) count;
    SK_PTR(const int) offsets;
    SK_PTR(int) keyBlocks;          // out
    int tokens;
    int queryTile;
    int queryBlocks;
    int tilesPerHead;
} SKFillErrorBoundParams;

// Budget: state[0] = τ's bits fixed so far, state[1] = their mask, state[2] = values still to
// take, state[3] = mode (0 select, 1 keep all, 2 keep none); hist = 256 bins.
typedef struct SKBudgetInitParams {
    SK_PTR(int) state;
    SK_PTR(unsigned int) hist;
    int take;                       // non-always tiles to keep over all heads
} SKBudgetInitParams;

// Histogram of the digit at `shift` of every non-always mass matching the bits fixed so far.
typedef struct SKBudgetHistParams {
    SK_PTR(const float) est;
    SK_PTR(const int) rowStart;
    SK_PTR(const int) state;
    SK_PTR(unsigned int) hist;
    int shift;
    int tokens;
    int queryTile;
    int queryBlocks;
    int tilesPerHead;
    int sinkBlocks;
    int localBlocks;
    int bandTokens;                 // row-exact local band (0 = off): AlwaysKeep.bandTokens
} SKBudgetHistParams;

// Fixes the digit at `shift` of τ from the histogram (one thread); clears the histogram.
typedef struct SKBudgetPickParams {
    SK_PTR(unsigned int) hist;
    SK_PTR(int) state;
    int shift;
} SKBudgetPickParams;

// Per row: tiles kept apart from ties (always + above τ), and ties (== τ) among non-always.
typedef struct SKBudgetCountParams {
    SK_PTR(const float) est;
    SK_PTR(const int) rowStart;
    SK_PTR(const int) state;
    SK_PTR(int) count;              // out [rows]
    SK_PTR(int) ties;               // out [rows]
    int tokens;
    int queryTile;
    int queryBlocks;
    int tilesPerHead;
    int sinkBlocks;
    int localBlocks;
    int bandTokens;                 // row-exact local band (0 = off): AlwaysKeep.bandTokens
} SKBudgetCountParams;

// count[row] += the ties the row takes (the first state[2] ties in row order).
typedef struct SKBudgetAddTiesParams {
    SK_PTR(int) count;
    SK_PTR(const int) ties;
    SK_PTR(const int) tieOffset;    // exclusive scan of ties
    SK_PTR(const int) state;
    int rows;
} SKBudgetAddTiesParams;

// One CTA per (query block, head): the row's kept tiles ascending at keyBlocks[offsets[row]...].
typedef struct SKFillBudgetParams {
    SK_PTR(const float) est;
    SK_PTR(const int) rowStart;
    SK_PTR(const int) state;
    SK_PTR(const int) tieOffset;
    SK_PTR(const int) offsets;
    SK_PTR(int) keyBlocks;          // out
    int tokens;
    int queryTile;
    int queryBlocks;
    int tilesPerHead;
    int sinkBlocks;
    int localBlocks;
    int bandTokens;                 // row-exact local band (0 = off): AlwaysKeep.bandTokens
} SKFillBudgetParams;

#endif
