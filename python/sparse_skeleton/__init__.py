"""SparseSkeleton's block-sparse attention for PyTorch (forward only, causal, bf16/f16, CUDA).

    import sparse_skeleton as sk
    o = sk.sparse_attention(q, k, v)                 # q [B, N, Hq, d], k/v [B, N, Hkv, d]; ε = 0.02
    o = sk.sparse_attention(q, k, v, density=0.3, softmax_scale=0.1)
    m = sk.estimate_mask(q, k, epsilon=0.05); o = sk.sparse_attention(q, k, v, mask=m)
    o = sk.sparse_attention_varlen(q, k, v, cu_seqlens=[0, 700, 4096], max_seqlen=3396)

Everything runs on torch.cuda.current_stream() of the inputs' device, nothing synchronises
(except a time budget's first call per shape), and the ops are torch.library custom ops, so
torch.compile and CUDA graphs take them. `sparse_skeleton.hf.register()` adds
attn_implementation="sparse_skeleton" to Hugging Face transformers. The ctypes layer
(`load`, `device_info`) imports without torch."""
from ._lib import LibraryNotFound, SparseSkeletonError, device_info, library_path, load
from ._version import ABI_VERSION, __version__

__all__ = ["ABI_VERSION", "__version__", "load", "library_path", "device_info", "SparseSkeletonError", "LibraryNotFound",
           "sparse_attention", "sparse_attention_varlen", "estimate_mask", "calibrate_time_budget", "Mask"]

try:
    import torch as _torch  # noqa: F401
except ImportError:  # the ctypes layer works without torch; the tensor API needs it
    _torch = None

if _torch is not None:
    from .api import calibrate_time_budget, estimate_mask, sparse_attention, sparse_attention_varlen
    from .mask import Mask
else:
    def _needs_torch(*args, **kwargs):
        raise ImportError("sparse_skeleton's tensor API needs PyTorch (pip install torch)")

    sparse_attention = sparse_attention_varlen = estimate_mask = calibrate_time_budget = _needs_torch
    Mask = None
