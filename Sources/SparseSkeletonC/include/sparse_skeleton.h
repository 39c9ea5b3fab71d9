/* sparse_skeleton.h — C ABI of SparseSkeleton's GPU path (libSparseSkeletonC.so), version 3.
 *
 * A context (sk_context_create) holds one CUDA device: its primary context (the one PyTorch
 * uses), the compiled kernels and the mask estimators. Every device pointer is caller-owned and
 * must belong to that device; `stream` is a CUstream / cudaStream_t as an integer (0 = legacy
 * default stream). Every call queues its work on the caller's stream and returns without
 * synchronising (sk_calibrate_time_budget alone synchronises, and says so). What a call writes
 * lies in the caller's buffers (output, LSE, mask, workspace), sized by the size queries below;
 * the library keeps no result that a later call overwrites.
 *
 * The first call at a new shape compiles or loads its kernels and allocates the estimator's
 * internal arrays (synchronous driver calls): run each shape once before capturing a CUDA graph.
 * Those arrays (one set per estimator and sequence shape, the 16 most recent kept) are the
 * context's only state: a call on another stream than their last user's first waits for that use
 * on the device (an event, no host wait); inside a capture nothing is waited for, so a replayed
 * graph must not run concurrently with calls of the same shape on other streams.
 * Calls on one context are serialised by its lock; contexts are independent.
 *
 * Every function returns 0 on success or a nonzero status and writes a NUL-terminated message into
 * err[0..errLen) (never aborts the process): 1 invalid argument, 2 no GPU / driver / NVRTC,
 * 3 CUDA or compile error, 4 other.
 *
 * The problem: `batch` sequences. cuSeqlens = NULL: each of `tokens` tokens, q/o [batch, tokens,
 * qHeads, headDim], k/v [batch, tokens, kvHeads, headDim]. cuSeqlens != NULL: a HOST array of
 * batch + 1 int32 offsets (0 first, strictly increasing; `tokens` ignored), q/o [total, qHeads,
 * headDim], k/v [total, kvHeads, headDim]. All contiguous, bf16 (dtype 0) or f16 (dtype 1),
 * headDim 64/128/256, qHeads a multiple of kvHeads (GQA). Sequence s of n_s tokens starting at t_s:
 *   LSE  float32 [qHeads, n_s] at t_s * qHeads floats (batch: [batch, qHeads, tokens]);
 *   mask CSR of queryTile x 64 tiles: rowOffsets int32[qHeads * ceil(n_s/queryTile) + 1] (offsets
 *        into the sequence's own keyBlocks, from 0), keyBlocks int32[qHeads * causalTiles(n_s)]
 *        (row r = head * queryBlocks + I, ascending key blocks); the sequences' arrays follow one
 *        another in order (sk_mask_size gives both totals).
 * queryTile: 64 or 128 (0 = 128). causal must be 1 (the kernels are causal). softmaxScale: 0 =
 * 1/sqrt(headDim), else positive and finite. window: 0 = none, else query i sees keys
 * [i - window + 1, i]. */
#ifndef SPARSE_SKELETON_H
#define SPARSE_SKELETON_H
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif

/* The version of this interface; sk_abi_version() returns the library's. Bindings compare them
 * and refuse a library built from another version. */
#define SK_ABI_VERSION 3
int sk_abi_version(void);

typedef struct sk_context sk_context;

/* Opens CUDA device `device` (any index the driver lists). *out = NULL on failure. */
int sk_context_create(int device, sk_context **out, char *err, int errLen);
/* Frees the context (order it after the work queued with it). 1 if ctx is not a live context. */
int sk_context_destroy(sk_context *ctx);
/* The context's device index, or -1 if ctx is not a live context. */
int sk_context_device(sk_context *ctx);
/* "NVIDIA H200 sm_90a, 132 SMs, driver 13.0, NVRTC 13.0" (on failure: the message). */
int sk_device_info(sk_context *ctx, char *out, int outLen);

/* Element counts of the mask arrays of a problem (all sequences). */
int sk_mask_size(int batch, int tokens, const int32_t *cuSeqlens, int qHeads, int kvHeads, int headDim, int dtype,
                 int queryTile, int64_t *rowOffsetsCount, int64_t *keyBlocksCount, char *err, int errLen);
/* Bytes of the workspace sk_attention_forward needs when lse = 0 (a scratch LSE). */
int sk_workspace_size(int batch, int tokens, const int32_t *cuSeqlens, int qHeads, int kvHeads, int headDim, int dtype,
                      int queryTile, int64_t *bytes, char *err, int errLen);

/* O = softmax(scale * QK^T, causal[, window][, block mask]) V per sequence. lse: float32 (layout
 * above) or 0, then `workspace` must hold sk_workspace_size bytes. rowOffsets = keyBlocks = 0:
 * dense; else a mask of the same problem and queryTile (from sk_estimate_mask or built by the
 * caller). A row that sees no key (sparse mask) gets O = 0 and LSE = -inf. */
int sk_attention_forward(sk_context *ctx, uint64_t q, uint64_t k, uint64_t v, uint64_t o, uint64_t lse,
                         int batch, int tokens, const int32_t *cuSeqlens, int qHeads, int kvHeads, int headDim, int dtype,
                         int causal, double softmaxScale, int window,
                         uint64_t rowOffsets, uint64_t keyBlocks, int queryTile,
                         uint64_t workspace, int64_t workspaceBytes,
                         uint64_t stream, char *err, int errLen);

/* Estimates each sequence's block mask from Q and K into the caller's rowOffsets / keyBlocks
 * (sizes: sk_mask_size). estimator: 0 skeleton, 1 MInference (vertical-slash; density targets
 * only). targetKind: 0 error bound (targetValue = epsilon in (0, 1)), 1 density (in (0, 1]),
 * 2 time budget in ms for estimation + attention (skeleton only; needs sk_calibrate_time_budget
 * for the shape on this context first). The skeleton estimator takes no window. */
int sk_estimate_mask(sk_context *ctx, uint64_t q, uint64_t k,
                     int batch, int tokens, const int32_t *cuSeqlens, int qHeads, int kvHeads, int headDim, int dtype,
                     int causal, double softmaxScale, int window,
                     int estimator, int targetKind, double targetValue, int queryTile,
                     uint64_t rowOffsets, uint64_t keyBlocks,
                     uint64_t stream, char *err, int errLen);

/* Measures what a time budget needs for one sequence shape [tokens, heads, headDim] on these
 * inputs: the skeleton estimator's time and the attention kernel's cost (fixed ms + ns per tile),
 * kept in the context for later sk_estimate_mask calls of that shape. SYNCHRONISES `stream`;
 * refused inside a CUDA-graph capture. Any output pointer may be NULL. */
int sk_calibrate_time_budget(sk_context *ctx, uint64_t q, uint64_t k, uint64_t v,
                             int tokens, int qHeads, int kvHeads, int headDim, int dtype, int queryTile, uint64_t stream,
                             double *estimationMs, double *fixedMs, double *perTileNs, char *err, int errLen);

#ifdef __cplusplus
}
#endif
#endif
