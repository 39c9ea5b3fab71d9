#ifndef SK_FP8_PARAMS_H
#define SK_FP8_PARAMS_H
#include "sk_params_base.h"

// fp8_quantize.cu. A 16-bit tensor src [tokens][heads][headDim] (bf16/fp16 by SK_BF16):
// - fp8_clear:     amax[0 .. heads) = 0;
// - fp8_amax:      amax[h] = max |src[.][h][.]| as float bits (the caller zeroes amax first);
// - fp8_rows:      dst [tokens][heads][headDim] e4m3 = src / scale[h], scale[h] = amax[h] / 448 (1 when amax is 0),
//                  and scales[h] = scale[h];
// - fp8_transpose: dst [heads][headDim][paddedTokens] e4m3, V transposed with its keys permuted inside each group of
//                  32 (the hopper FP8 kernel's P register order) and zeros past tokens; scales[h] as above.
typedef struct SKFP8QuantizeParams {
    SK_PTR(const u16) src;
    SK_PTR(unsigned char) dst;
    SK_PTR(unsigned int) amax;
    SK_PTR(float) scales;
    int tokens;
    int heads;
    int headDim;
    int paddedTokens;
} SKFP8QuantizeParams;
#endif
