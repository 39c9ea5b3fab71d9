#ifndef SK_MODEL_PARAMS_H
#define SK_MODEL_PARAMS_H
#include "sk_params_base.h"

// The model's element-wise kernels (SparseSkeletonModelCUDA/Kernels/model_kernels.cu).
// Layouts, batch 1: x [N, E] fp32; bf16 activations as u16 bits; qkv [N, (H + 2·Hkv)·d] fp32.

// x[t, :] = table[ids[t], :]
typedef struct SKModelEmbedParams {
    SK_PTR(const int) ids;
    SK_PTR(const float) table;
    SK_PTR(float) x;
    int tokens;
    int width;
    int vocab;
} SKModelEmbedParams;

// y[r, :] = bf16(RMSNorm(x[firstRow + r, :]) · gain), r < rows
typedef struct SKModelRMSNormParams {
    SK_PTR(const float) x;
    SK_PTR(const float) gain;
    SK_PTR(u16) y;
    int rows;
    int width;
    float epsilon;
    int firstRow;
} SKModelRMSNormParams;

// qkv → rotated Q [N, H, d], K [N, Hkv, d] and V [N, Hkv, d], bf16
typedef struct SKModelRopeSplitParams {
    SK_PTR(const float) qkv;
    SK_PTR(const float) cosTable;
    SK_PTR(const float) sinTable;
    SK_PTR(u16) q;
    SK_PTR(u16) k;
    SK_PTR(u16) v;
    int tokens;
    int heads;
    int kvHeads;
    int headDim;
} SKModelRopeSplitParams;

// qkv → Q, K each RMSNorm'ed per head (· qGain / kGain, [d]) then rotated, V copied; bf16 (QK-norm)
typedef struct SKModelQKNormRopeSplitParams {
    SKModelRopeSplitParams split;
    SK_PTR(const float) qGain;
    SK_PTR(const float) kGain;
    float epsilon;
} SKModelQKNormRopeSplitParams;

// x[r, :] += RMSNorm(y[r, :]) · gain, fp32 (a post-norm before the residual add)
typedef struct SKModelRMSNormResidualParams {
    SK_PTR(const float) y;
    SK_PTR(const float) gain;
    SK_PTR(float) x;
    int rows;
    int width;
    float epsilon;
} SKModelRMSNormResidualParams;

// The gated activation of the feed-forward: a[t, j] = bf16(act(gate) · up) from gu [N, 2F] = [gate | up]
#define SK_GLU_SILU 0
#define SK_GLU_GELU_TANH 1
typedef struct SKModelGLUParams {
    SK_PTR(const float) gateUp;
    SK_PTR(u16) out;
    int tokens;
    int feedForward;
    int activation;  // SK_GLU_SILU (SwiGLU) or SK_GLU_GELU_TANH (GeGLU)
} SKModelGLUParams;

// out[r] = log softmax(logits[r, :])[targets[r]] in fp64, r < rows (perplexity on the device)
typedef struct SKModelTargetLogProbParams {
    SK_PTR(const float) logits;
    SK_PTR(const int) targets;
    SK_PTR(double) out;
    int rows;
    int vocab;
} SKModelTargetLogProbParams;
#endif
