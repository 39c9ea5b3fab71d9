#ifndef SK_MINFERENCE_PARAMS_H
#define SK_MINFERENCE_PARAMS_H
#include "sk_params_base.h"

// The GPU MInference estimator (SparseSkeletonCUDA/Kernels/minference_estimator.cu), one struct
// per entry. Q [N, qHeads, d], K [N, kvHeads, d] 16-bit; per-head arrays are [heads][N].

// One probe row's partial softmax statistics over one key chunk (log2 domain).
typedef struct SKMInferenceRowPartial {
    float max;
    float sum;
} SKMInferenceRowPartial;

// The density bisection's device state (minf_density_step writes it; select / table / rows /
// scan read the counts and `done`). The host reads `alpha` back for reports.
typedef struct SKMInferenceDensityState {
    double lo, hi, dLo, dHi, target, alpha, causal;
    int phase, iter, done, kCol, kDiag;
} SKMInferenceDensityState;

// What both probe passes read: the last `lastRows` queries of every head against all keys,
// S = q · k · scaleLog2 (the softmax scale times log2 e), keys split into `chunks` CTAs.
typedef struct SKMInferenceProbeInputs {
    SK_PTR(const u16) q;
    SK_PTR(const u16) k;
    int tokens;
    int queryHeads;
    int kvHeads;
    int lastRows;
    float scaleLog2;
    int chunks;
} SKMInferenceProbeInputs;

// minf_probe_stats: partials[head][row][chunk]
typedef struct SKMInferenceProbeStatsParams {
    SKMInferenceProbeInputs probe;
    SK_PTR(SKMInferenceRowPartial) partials;
} SKMInferenceProbeStatsParams;

// minf_probe_scores: column scores, own-chunk diagonal scores and the spill into the next chunk
typedef struct SKMInferenceProbeScoresParams {
    SKMInferenceProbeInputs probe;
    SK_PTR(const float) lse2;
    SK_PTR(float) columnScores;
    SK_PTR(float) diagonalScores;
    SK_PTR(float) spill;
} SKMInferenceProbeScoresParams;

// minf_lse: lse2[row] from partials[row][chunk], rows = heads · 64
typedef struct SKMInferenceLseParams {
    SK_PTR(const SKMInferenceRowPartial) partials;
    SK_PTR(float) lse2;
    int chunks;
    int rows;
} SKMInferenceLseParams;

// minf_diag_combine: diagonalScores += the previous chunk's spill
typedef struct SKMInferenceDiagCombineParams {
    SK_PTR(float) diagonalScores;
    SK_PTR(const float) spill;
    int tokens;
    int chunks;
} SKMInferenceDiagCombineParams;

// minf_select: top kColumns columns / kDiagonals diagonals (from `density` when non-null; with
// `evalOnly`, skipped once the search is done) plus the forced first entries.
typedef struct SKMInferenceSelectParams {
    SK_PTR(const float) columnScores;
    SK_PTR(const float) diagonalScores;
    SK_PTR(const SKMInferenceDensityState) density;
    SK_PTR(int) columnBlocks;
    SK_PTR(int) diagonalPrefix;
    int tokens;
    int kColumns;
    int kDiagonals;
    int forcedColumns;
    int forcedDiagonals;
    int evalOnly;
    int keyTile;
    int keyBlocks;
} SKMInferenceSelectParams;

// minf_diag_table: table[head][m], tile offset D = m · granule − queryTile
typedef struct SKMInferenceDiagTableParams {
    SK_PTR(const int) diagonalPrefix;
    SK_PTR(const SKMInferenceDensityState) density;
    SK_PTR(int) table;
    int tokens;
    int queryTile;
    int keyTile;
    int granule;
    int entries;
} SKMInferenceDiagTableParams;

// minf_mask_rows: rowOffsets null = count pass (counts[row]); else write pass (keyBlocks)
typedef struct SKMInferenceMaskRowsParams {
    SK_PTR(const int) columnBlocks;
    SK_PTR(const int) table;
    SK_PTR(const int) diagonalPrefix;
    SK_PTR(const SKMInferenceDensityState) density;
    SK_PTR(int) counts;
    SK_PTR(const int) rowOffsets;
    SK_PTR(int) keyBlockIndices;
    int tokens;
    int heads;
    int queryTile;
    int keyTile;
    int granule;
    int entries;
    int keyBlocks;
    int queryBlocks;
} SKMInferenceMaskRowsParams;

// minf_scan: rowOffsets = exclusive scan of counts
typedef struct SKMInferenceScanParams {
    SK_PTR(const int) counts;
    SK_PTR(const SKMInferenceDensityState) density;
    SK_PTR(int) rowOffsets;
    int rows;
} SKMInferenceScanParams;

// minf_density_step: initialize (lo, hi, target, causal tile count) or consume rowOffsets[rows]
typedef struct SKMInferenceDensityStepParams {
    SK_PTR(SKMInferenceDensityState) state;
    SK_PTR(const int) rowOffsets;
    double lo;
    double hi;
    double target;
    double causal;
    int rows;
    int verticalCount;
    int slashCount;
    int initialize;
    int iterations;
} SKMInferenceDensityStepParams;
#endif
