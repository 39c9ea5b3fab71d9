"""SparseSkeleton's GPU kernels on PyTorch tensors, through the C ABI (libSparseSkeletonC.so,
Sources/SparseSkeletonC/include/sparse_skeleton.h) with ctypes; no build step.

    import sparse_skeleton as sk
    mask = sk.skeleton_mask(q, k, epsilon=0.02)   # q: [N, Hq, d], k: [N, Hkv, d], bf16/f16, CUDA
    o = sk.attention(q, k, v, mask=mask)          # causal; mask=None is dense
    o = sk.attention(q, k, v, window=4096, softmax_scale=0.1)   # sliding window, own scale

Tensors must be contiguous, on CUDA device 0, in the layout [N, heads, d] (one sequence).
All work runs on torch.cuda.current_stream(); nothing is synchronised.
"""
import ctypes
import os

__all__ = ["load", "attention", "skeleton_mask", "SkeletonMask", "SparseSkeletonError", "device_info"]

_ERR_LEN = 4096
_ABI_VERSION = 2  # SK_ABI_VERSION of the sparse_skeleton.h these bindings follow
_lib = None


class SparseSkeletonError(RuntimeError):
    """A nonzero status from the C library (status 1 invalid argument, 2 no GPU/driver/NVRTC,
    3 CUDA or compile error, 4 other), with its message."""

    def __init__(self, function, status, message):
        super().__init__(f"{function} failed (status {status}): {message}")
        self.status = status


def _default_paths():
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(os.path.dirname(here))
    return [os.path.join(here, "libSparseSkeletonC.so"),
            os.path.join(root, ".carry-capi", "libSparseSkeletonC.so"),
            os.path.join(root, ".build-capi", "release", "libSparseSkeletonC.so"),
            os.path.join(root, ".build", "release", "libSparseSkeletonC.so")]


def load(path=None):
    """Loads the library once: `path`, else $SPARSE_SKELETON_LIB (an absolute path), else the package
    folder and the repository's build folders. Returns the ctypes handle."""
    global _lib
    if _lib is not None and path is None:
        return _lib
    env = os.environ.get("SPARSE_SKELETON_LIB")
    if path is None and env and not os.path.isabs(env):  # never a library found from the working directory
        raise OSError("SPARSE_SKELETON_LIB must be an absolute path, got %r" % env)
    candidates = [path] if path else ([env] if env else _default_paths())
    tried = []
    for p in candidates:
        if p and os.path.exists(p):
            lib = ctypes.CDLL(p)
            break
        tried.append(p)
    else:
        raise OSError("libSparseSkeletonC.so not found (tried: %s); build it with `swift build -c release "
                      "-Xswiftc -static-stdlib --product SparseSkeletonC` or set SPARSE_SKELETON_LIB" % ", ".join(map(str, tried)))
    u64, i32, f64, cp, vp = ctypes.c_uint64, ctypes.c_int, ctypes.c_double, ctypes.c_char_p, ctypes.c_void_p
    if not hasattr(lib, "sk_abi_version"):
        raise OSError(f"{p} predates sk_abi_version (ABI 1); these bindings need ABI {_ABI_VERSION}: rebuild the library")
    lib.sk_abi_version.argtypes = []
    lib.sk_abi_version.restype = i32
    found = lib.sk_abi_version()
    if found != _ABI_VERSION:
        raise OSError(f"{p} has ABI version {found}, these bindings need {_ABI_VERSION}: rebuild the library or update the package")
    lib.sk_attention_forward.argtypes = [u64] * 5 + [i32] * 5 + [u64, u64, i32, f64, i32, u64, cp, i32]
    lib.sk_skeleton_mask.argtypes = [u64, u64] + [i32] * 5 + [f64, f64, i32, u64, vp, vp, cp, i32]
    lib.sk_last_mask_capacity.argtypes = [vp, cp, i32]
    lib.sk_copy_device.argtypes = [u64, u64, u64, u64, cp, i32]
    lib.sk_device_info.argtypes = [cp, i32]
    for f in (lib.sk_attention_forward, lib.sk_skeleton_mask, lib.sk_last_mask_capacity, lib.sk_copy_device, lib.sk_device_info):
        f.restype = i32
    _lib = lib
    return lib


def _call(name, *args):
    err = ctypes.create_string_buffer(_ERR_LEN)
    status = getattr(load(), name)(*args, err, _ERR_LEN)
    if status != 0:
        raise SparseSkeletonError(name, status, err.value.decode("utf-8", "replace"))


def device_info():
    buf = ctypes.create_string_buffer(_ERR_LEN)
    status = load().sk_device_info(buf, _ERR_LEN)
    if status != 0:
        raise SparseSkeletonError("sk_device_info", status, buf.value.decode("utf-8", "replace"))
    return buf.value.decode()


def _dtype_code(t):
    import torch
    if t.dtype == torch.bfloat16:
        return 0
    if t.dtype == torch.float16:
        return 1
    raise TypeError(f"tensors must be torch.bfloat16 or torch.float16, got {t.dtype}")


def _check(names_tensors, kv_names=()):
    """Checks [N, heads, d] 16-bit contiguous CUDA (device 0) tensors of one dtype, N and d;
    returns (N, qHeads, kvHeads, d, dtype code)."""
    import torch
    first = None
    for name, t in names_tensors:
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
        if t.dim() != 3:
            raise ValueError(f"{name} must be [N, heads, d] (3 dimensions), got shape {tuple(t.shape)}")
        if not t.is_cuda or t.device.index not in (0, None):
            raise ValueError(f"{name} must be on CUDA device 0 (the library uses device 0), got {t.device}")
        if not t.is_contiguous():
            raise ValueError(f"{name} must be contiguous ([N, heads, d] row-major); call .contiguous()")
        _dtype_code(t)
        if first is None:
            first = (name, t)
        else:
            f = first[1]
            if t.dtype != f.dtype:
                raise TypeError(f"{name} is {t.dtype} but {first[0]} is {f.dtype}")
            if t.shape[0] != f.shape[0] or t.shape[2] != f.shape[2]:
                raise ValueError(f"{name} {tuple(t.shape)} and {first[0]} {tuple(f.shape)} differ in N or d")
    q = names_tensors[0][1]
    kv = [t for n, t in names_tensors[1:]]
    kvh = kv[0].shape[1]
    for n, t in names_tensors[1:]:
        if t.shape[1] != kvh:
            raise ValueError(f"k and v must have the same number of heads")
    n, hq, d = q.shape
    if hq % kvh != 0:
        raise ValueError(f"query heads ({hq}) must be a multiple of key/value heads ({kvh})")
    if d not in (64, 128, 256):
        raise ValueError(f"head dim {d} unsupported (64, 128 or 256)")
    return int(n), int(hq), int(kvh), int(d), _dtype_code(q)


def _stream():
    import torch
    return int(torch.cuda.current_stream().cuda_stream)


class SkeletonMask:
    """A block mask on the GPU in CSR form: row r = head · query_blocks + I holds ascending key-block
    indices (64-key tiles) in key_blocks[row_offsets[r]:row_offsets[r+1]], int32.

    Fresh from `skeleton_mask` it points into the library's buffers, valid until the next
    `skeleton_mask` call; `detach()` copies it into torch tensors it owns (then valid for as long
    as the object lives)."""

    def __init__(self, row_offsets_ptr, key_blocks_ptr, tokens, heads, query_tile, key_blocks_capacity):
        self.row_offsets_ptr = row_offsets_ptr
        self.key_blocks_ptr = key_blocks_ptr
        self.tokens, self.heads, self.query_tile, self.key_tile = tokens, heads, query_tile, 64
        self.query_blocks = (tokens + query_tile - 1) // query_tile
        self._capacity = key_blocks_capacity
        self.row_offsets = None  # torch tensors once detached
        self.key_blocks = None

    @property
    def rows(self):
        return self.heads * self.query_blocks

    def detach(self):
        """Copies the CSR into torch int32 tensors on the GPU (synchronises the current stream once)."""
        import torch
        if self.row_offsets is not None:
            return self
        ro = torch.empty(self.rows + 1, dtype=torch.int32, device="cuda")
        _call("sk_copy_device", ro.data_ptr(), self.row_offsets_ptr, ro.numel() * 4, _stream())
        count = int(ro[-1].item())
        if count * 4 > self._capacity:
            raise SparseSkeletonError("detach", 4, f"mask claims {count} key blocks, buffer holds {self._capacity // 4}")
        kb = torch.empty(max(count, 1), dtype=torch.int32, device="cuda")
        if count:
            _call("sk_copy_device", kb.data_ptr(), self.key_blocks_ptr, count * 4, _stream())
        self.row_offsets, self.key_blocks = ro, kb
        self.row_offsets_ptr, self.key_blocks_ptr = ro.data_ptr(), kb.data_ptr()
        return self

    def density(self):
        """Kept tiles / causal tiles over all heads."""
        self.detach()
        kept = int(self.row_offsets[-1].item())
        causal = 0
        for i in range(self.query_blocks):
            last_row = min((i + 1) * self.query_tile, self.tokens) - 1
            causal += last_row // 64 + 1
        return kept / (causal * self.heads)

    def dense_block_mask(self):
        """[heads, query_blocks, key_blocks] bool tensor on the GPU (for references and plots)."""
        import torch
        self.detach()
        kblocks = (self.tokens + 63) // 64
        ro = self.row_offsets.long()
        lengths = ro[1:] - ro[:-1]
        rows = torch.repeat_interleave(torch.arange(self.rows, device="cuda"), lengths)
        out = torch.zeros(self.rows, kblocks, dtype=torch.bool, device="cuda")
        count = int(ro[-1].item())
        if count:
            out[rows, self.key_blocks[:count].long()] = True
        return out.view(self.heads, self.query_blocks, kblocks)

    def __repr__(self):
        return f"SkeletonMask(N={self.tokens}, heads={self.heads}, tiles={self.query_tile}x64)"


def skeleton_mask(q, k, epsilon=0.02, density=None, query_tile=128):
    """Estimates a causal block mask from Q [N, Hq, d] and K [N, Hkv, d] on the GPU. `epsilon`
    (error bound: per query block, the estimated dropped attention mass ≤ ε), or `density` (the
    kept-tile budget, used when given). Returns a `SkeletonMask`."""
    n, hq, hkv, d, code = _check([("q", q), ("k", k)])
    if density is not None:
        if not 0 < density <= 1:
            raise ValueError(f"density must be in (0, 1], got {density}")
        eps, dens = 0.0, float(density)
    else:
        if not 0 < epsilon < 1:
            raise ValueError(f"epsilon must be in (0, 1), got {epsilon}")
        eps, dens = float(epsilon), 0.0
    if query_tile not in (64, 128):
        raise ValueError(f"query_tile must be 64 or 128, got {query_tile}")
    ro, kb = ctypes.c_uint64(0), ctypes.c_uint64(0)
    _call("sk_skeleton_mask", q.data_ptr(), k.data_ptr(), n, hq, hkv, d, code, eps, dens, query_tile, _stream(),
          ctypes.byref(ro), ctypes.byref(kb))
    cap = ctypes.c_uint64(0)
    _call("sk_last_mask_capacity", ctypes.byref(cap))
    return SkeletonMask(ro.value, kb.value, n, hq, query_tile, cap.value)


def attention(q, k, v, mask=None, return_lse=False, query_tile=128, softmax_scale=None, window=None):
    """Causal attention O = softmax(scale · QKᵀ) V on [N, heads, d] tensors (GQA when K/V have
    fewer heads), restricted to `mask`'s tiles when given. `softmax_scale`: None = 1/√d, else a
    positive finite number; `window`: None = no window, else query i sees keys i − window + 1 … i.
    Returns O (and the row log-sum-exp of the scaled logits, [Hq, N] float32, with return_lse)."""
    import math
    import torch
    n, hq, hkv, d, code = _check([("q", q), ("k", k), ("v", v)])
    if softmax_scale is None:
        scale = 0.0  # the C convention for 1/√d
    else:
        scale = float(softmax_scale)
        if not (math.isfinite(scale) and scale > 0):
            raise ValueError(f"softmax_scale must be positive and finite (or None for 1/sqrt(d)), got {softmax_scale}")
    if window is None:
        win = 0
    else:
        if isinstance(window, bool) or int(window) != window or window < 1:
            raise ValueError(f"window must be a positive number of tokens (or None), got {window}")
        win = min(int(window), 2**31 - 1)
    ro = kb = 0
    if mask is not None:
        if not isinstance(mask, SkeletonMask):
            raise TypeError("mask must be a SkeletonMask (from skeleton_mask) or None")
        if mask.tokens != n or mask.heads != hq:
            raise ValueError(f"{mask} does not fit q of shape {tuple(q.shape)}")
        ro, kb, query_tile = mask.row_offsets_ptr, mask.key_blocks_ptr, mask.query_tile
    o = torch.empty_like(q)
    lse = torch.empty(hq, n, dtype=torch.float32, device=q.device)
    _call("sk_attention_forward", q.data_ptr(), k.data_ptr(), v.data_ptr(), o.data_ptr(), lse.data_ptr(),
          n, hq, hkv, d, code, ro, kb, query_tile, scale, win, _stream())
    return (o, lse) if return_lse else o
