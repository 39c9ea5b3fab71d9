#ifndef SK_ATTENTION_PARAMS_H
#define SK_ATTENTION_PARAMS_H
#include "sk_params_base.h"

// sparse_flash_fwd (SparseSkeletonCUDA/Kernels/sparse_flash_attention.cu), both kernel families.
// Layouts: q, o [tokens, queryHeads, d]; k, v [tokens, kvHeads, d] (16-bit); lse [queryHeads, tokens]
// fp32. CSR block mask: rowOffsets[queryHeads · queryBlocks + 1], keyBlocks ascending per row
// (row r = head · queryBlocks + query block); rowOffsets = 0: dense (every reachable causal tile).
typedef struct SKAttentionParams {
    SK_PTR(const u16) q;
    SK_PTR(const u16) k;
    SK_PTR(const u16) v;
    SK_PTR(u16) o;
    SK_PTR(float) lse;
    SK_PTR(const int) rowOffsets;
    SK_PTR(const int) keyBlocks;
    int tokens;
    int queryHeads;
    int kvHeads;
    float scaleLog2;  // softmax scale · log2(e)
    int window;       // query i sees keys j ≥ i − window + 1; 0 = no window
    // Work-item order in L2 sections: items run section by section, a section being this many
    // consecutive query heads (whole KV groups), longest rows first inside it, so the CTAs in flight
    // share few K/V heads. 0 = one section of all heads (query block outermost, head fastest).
    int headSection;
    // Persistent kernel on a CSR mask: two ints, zero between launches (the kernel's last CTA resets
    // them); CTAs take their next item from [0]'s counter, so per-head tile counts cannot unbalance
    // them. 0 = the static snake order.
    SK_PTR(int) workQueue;
} SKAttentionParams;

// flash_attention_hopper.cu (the warp-specialized TMA kernel): the same fields plus TMA tensor maps of
// Q, K, V and O (cuTensorMapEncodeTiled's 128 opaque bytes each; TMA wants them 64-byte aligned in the
// kernel's parameter space; O's boxes are 64 rows, the others' the kernel's tiles), and K and V again with
// 128-row boxes (the paired kernel loads two adjacent 64-key tiles as one box; unused elsewhere). In the FP8
// kernel tmV maps the transposed V [kvHeads][d][keys] in boxes of 128 keys × d rows. The maps
// come first, at offsets 0, 128, …, 640 on both sides; the padding makes the host's size the device's (a
// multiple of the 64-byte alignment).
#if defined(__CUDACC__) || defined(__CUDACC_RTC__)
#define SK_TMAP_ALIGN __align__(64)
#else
#define SK_TMAP_ALIGN
#endif
typedef struct SK_TMAP_ALIGN SKTensorMap {
    unsigned long long words[16];
} SKTensorMap;
typedef struct SK_TMAP_ALIGN SKHopperAttentionParams {
    SKTensorMap tmQ;
    SKTensorMap tmK;
    SKTensorMap tmV;
    SKTensorMap tmO;
    SKTensorMap tmKPair;
    SKTensorMap tmVPair;
    SKAttentionParams attention;
    // FP8 kernel (SK_FP8): Q, K (row-major as above) and V (transposed, see fp8_quantize.cu) in e4m3, and
    // their dequantisation scales: [queryHeads] of Q, then [kvHeads] of K, then [kvHeads] of V. 0 elsewhere.
    SK_PTR(const float) fp8Scales;
    unsigned char padding[32];
} SKHopperAttentionParams;

// One layout on both sides: Swift's MemoryLayout is tested against the same number.
#ifdef __cplusplus
static_assert(sizeof(SKAttentionParams) == 88, "SKAttentionParams layout");
static_assert(sizeof(SKHopperAttentionParams) == 896, "SKHopperAttentionParams layout");
#else
_Static_assert(sizeof(SKAttentionParams) == 88, "SKAttentionParams layout");
_Static_assert(sizeof(SKHopperAttentionParams) == 896, "SKHopperAttentionParams layout");
#endif
#endif
