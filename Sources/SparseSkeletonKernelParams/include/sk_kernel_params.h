#ifndef SK_KERNEL_PARAMS_H
#define SK_KERNEL_PARAMS_H
// One parameter struct per kernel, passed by value (__grid_constant__); the launch fills it by
// field name on the host. Adding a kernel family: one header here, included below.
#include "sk_params_base.h"
#include "sk_fill_params.h"
#include "sk_attention_params.h"
#include "sk_model_params.h"
#include "sk_minference_params.h"
#include "sk_skeleton_params.h"
#include "sk_fp8_params.h"
#include "sk_tile_mass_params.h"
#endif
