#ifndef SK_TILE_MASS_PARAMS_H
#define SK_TILE_MASS_PARAMS_H
#include "sk_params_base.h"

// exact_tile_mass (SparseSkeletonCUDA/Kernels/exact_tile_mass.cu): the exact attention mass of
// every (row, 64-key tile) from Q, K and the row LSE of one dense attention pass:
//     mass[h, i, J] = Σ_{j ∈ J, j ≤ i} exp(scale · q_i · k_j − lse[h, i])   (0 for tiles past row i)
// Q [N, queryHeads, d], K [N, kvHeads, d] 16-bit; lse [queryHeads, N] natural log; mass
// [queryHeads, N, keyTiles] fp32, keyTiles = ceil(N / 64).
typedef struct SKTileMassParams {
    SK_PTR(const u16) q;
    SK_PTR(const u16) k;
    SK_PTR(const float) lse;
    SK_PTR(float) mass;
    int tokens;
    int queryHeads;
    int kvHeads;
    int headDim;
    int keyTiles;
    float scaleLog2;   // softmax scale · log2 e
} SKTileMassParams;
#endif
