/* sparse_skeleton.h — C ABI of SparseSkeleton's GPU path (libSparseSkeletonC.so).
 *
 * Tensors are caller-owned device pointers in the CUDA primary context of device 0 (the context
 * PyTorch uses), contiguous [N, heads, d], bf16 (dtype 0) or f16 (dtype 1). `stream` is a CUstream /
 * cudaStream_t as an integer (0 = legacy default stream); all work is queued on it, nothing is
 * synchronised (except sk_copy_device, below). Every function returns 0 on success or a nonzero status and writes a
 * NUL-terminated message into err[0..errLen) (never aborts the process):
 *   1 invalid argument, 2 no GPU / driver / NVRTC, 3 CUDA or compile error, 4 other.
 * Calls are serialised by one process-wide lock; the session (device, compiler, kernels) is
 * created by the first call. */
#ifndef SPARSE_SKELETON_H
#define SPARSE_SKELETON_H
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif

/* The version of this interface; sk_abi_version() returns the library's. Bindings compare them
 * and refuse a library built from another version (signatures differ). */
#define SK_ABI_VERSION 2
int sk_abi_version(void);

/* O = softmax(scale * QK^T, causal[, window][, block mask]) V; lse: [qHeads, N] float32
 * (log-sum-exp of the scaled logits) or 0 (a scratch buffer is then used). rowOffsets = 0: dense
 * causal. Otherwise a CSR block mask of queryTile x 64 tiles: rowOffsets int32[qHeads *
 * ceil(N/queryTile) + 1], keyBlocks int32 (row r = head * queryBlocks + I). queryTile: 64 or 128
 * (0 = 128). softmaxScale: 0 = 1/sqrt(headDim), else positive and finite (negative, NaN or
 * infinite: status 1). window: 0 = none, else query i sees keys j in [i - window + 1, i]
 * (negative: status 1). A row that sees no key (sparse mask) gets O = 0 and LSE = -inf. */
int sk_attention_forward(uint64_t q, uint64_t k, uint64_t v, uint64_t o, uint64_t lse,
                         int n, int qHeads, int kvHeads, int headDim, int dtype,
                         uint64_t rowOffsets, uint64_t keyBlocks, int queryTile,
                         double softmaxScale, int window,
                         uint64_t stream, char *err, int errLen);

/* The skeleton estimator on the GPU: writes the device CSR pointers of a queryTile x 64 block mask
 * (layout as above). epsilon > 0: error-bound mode; else density in (0, 1] is the budget.
 * The pointers stay valid until the next sk_skeleton_mask call (any shape); copy them
 * (sk_copy_device) to keep a mask longer. */
int sk_skeleton_mask(uint64_t q, uint64_t k, int n, int qHeads, int kvHeads, int headDim, int dtype,
                     double epsilon, double density, int queryTile, uint64_t stream,
                     uint64_t *rowOffsetsOut, uint64_t *keyBlocksOut, char *err, int errLen);

/* Byte capacity of the last mask's keyBlocks buffer (0 if none). */
int sk_last_mask_capacity(uint64_t *keyBlocksBytes, char *err, int errLen);

/* Synchronous device-to-device copy of `bytes` bytes: waits for the work queued on `stream`, then
 * copies and returns when the copy is done (the one call here that synchronises). */
int sk_copy_device(uint64_t dst, uint64_t src, uint64_t bytes, uint64_t stream, char *err, int errLen);

/* The device's name and architecture (creates the session): "NVIDIA H100 ... sm_90a". */
int sk_device_info(char *out, int outLen);

#ifdef __cplusplus
}
#endif
#endif
