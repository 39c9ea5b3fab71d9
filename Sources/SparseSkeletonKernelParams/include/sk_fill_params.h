#ifndef SK_FILL_PARAMS_H
#define SK_FILL_PARAMS_H
#include "sk_params_base.h"

// fill_random: out[i] = scale · (bell-shaped value from a hash of (seed, i)), i < count.
typedef struct SKFillRandomParams {
    SK_PTR(u16) out;
    long long count;
    unsigned int seed;
    float scale;
} SKFillRandomParams;
#endif
