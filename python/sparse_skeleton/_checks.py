"""Argument checks of the torch API: one clear exception per problem, before any GPU work."""
import math

import torch

_DTYPE_CODES = {torch.bfloat16: 0, torch.float16: 1}
HEAD_DIMS = (64, 128, 256)
ESTIMATORS = {"skeleton": 0, "minference": 1}


def dtype_code(t):
    code = _DTYPE_CODES.get(t.dtype)
    if code is None:
        raise TypeError(f"tensors must be torch.bfloat16 or torch.float16, got {t.dtype}")
    return code


def forward_only(*tensors):
    if torch.is_grad_enabled() and any(t.requires_grad for t in tensors):
        raise RuntimeError("sparse_skeleton attention is forward only (no backward): call it under torch.no_grad() / "
                           "torch.inference_mode(), or pass tensors that do not require grad")


def batch_fast(q, k, v):
    """The common case of forward_only + qkv (batch layout) in one pass: (b, n, hq, hkv, d, dtype
    code, device index) when q, k, v are CUDA tensors of one device and dtype, [B, N, H, d],
    contiguous, grad-free, of a supported geometry — exactly when those two would pass and copy
    nothing; else None, and the caller runs them for their errors (or the copies)."""
    T = torch.Tensor
    if not (isinstance(q, T) and isinstance(k, T) and isinstance(v, T)):
        return None
    qs, ks = q.shape, k.shape
    if len(qs) != 4 or len(ks) != 4 or v.shape != ks:
        return None
    b, n, hq, d = qs
    hkv = ks[2]
    code = _DTYPE_CODES.get(q.dtype)
    if (code is None or k.dtype != q.dtype or v.dtype != q.dtype or ks[0] != b or ks[1] != n or ks[3] != d
            or hkv < 1 or hq % hkv or d not in HEAD_DIMS or b * n * hq == 0):
        return None
    if not (q.is_cuda and k.is_cuda and v.is_cuda):
        return None
    index = q.get_device()
    if k.get_device() != index or v.get_device() != index:
        return None
    if not (q.is_contiguous() and k.is_contiguous() and v.is_contiguous()):
        return None
    if (q.requires_grad or k.requires_grad or v.requires_grad) and torch.is_grad_enabled():
        return None
    return b, n, hq, hkv, d, code, index


def scale(softmax_scale):
    """The scale for the C call (0 = 1/sqrt(d))."""
    if softmax_scale is None:
        return 0.0
    s = float(softmax_scale)
    if not (math.isfinite(s) and s > 0):
        raise ValueError(f"softmax_scale must be positive and finite (or None for 1/sqrt(d)), got {softmax_scale}")
    return s


def qkv(q, k, v, packed):
    """Checks q/k/v ([B, N, H, d], or [total, H, d] when packed) and returns
    (q, k, v made contiguous, q heads, kv heads, d, dtype code). A non-contiguous input is copied
    (one .contiguous() per tensor: the kernels read dense [tokens, heads, d] rows)."""
    want = 3 if packed else 4
    layout = "[total, heads, d]" if packed else "[B, N, heads, d]"
    tensors = [("q", q), ("k", k)] + ([("v", v)] if v is not None else [])
    for name, t in tensors:
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
        if t.dim() != want:
            raise ValueError(f"{name} must be {layout} ({want} dimensions), got shape {tuple(t.shape)}")
    if not q.is_cuda:
        raise ValueError(f"q must be a CUDA tensor, got device {q.device}")
    code = dtype_code(q)
    for name, t in tensors[1:]:
        if t.device != q.device:
            raise ValueError(f"{name} is on {t.device} but q is on {q.device}")
        if t.dtype != q.dtype:
            raise TypeError(f"{name} is {t.dtype} but q is {q.dtype}")
        if t.shape[:-2] != q.shape[:-2] or t.shape[-1] != q.shape[-1]:
            raise ValueError(f"{name} {tuple(t.shape)} and q {tuple(q.shape)} differ in batch, tokens or head dim")
    hq, d = q.shape[-2], q.shape[-1]
    hkv = k.shape[-2]
    if v is not None and v.shape[-2] != hkv:
        raise ValueError(f"k and v must have the same number of heads ({hkv} vs {v.shape[-2]})")
    if hq % hkv != 0:
        raise ValueError(f"query heads ({hq}) must be a multiple of key/value heads ({hkv})")
    if d not in HEAD_DIMS:
        raise ValueError(f"head dim {d} unsupported (supported: 64, 128, 256)")
    if q.numel() == 0:
        raise ValueError(f"q is empty (shape {tuple(q.shape)})")
    c = lambda t: t if t is None or t.is_contiguous() else t.contiguous()
    return c(q), c(k), c(v), int(hq), int(hkv), int(d), code


def spec(causal, softmax_scale, window):
    """(scale for the C call, 0 = 1/sqrt(d); window, 0 = none)."""
    if causal is not True:
        raise ValueError("causal=False is not supported: the kernels compute causal attention only")
    s = scale(softmax_scale)
    if window is None:
        win = 0
    else:
        if isinstance(window, tuple):  # flash-attn's (left, right): right must be 0 (causal)
            if len(window) != 2 or window[1] not in (0, -1):
                raise ValueError(f"window as a tuple must be (left, 0), got {window}")
            window = window[0]
            if window < 0:
                return s, 0
            window = window + 1  # flash-attn's left excludes the query itself
        if isinstance(window, bool) or int(window) != window or window < 1:
            raise ValueError(f"window must be a positive number of tokens (or None), got {window}")
        win = min(int(window), 2**31 - 1)
    return s, win


def target(epsilon, density, time_budget_ms):
    """(kind, value) of the mask target: exactly one of ε, density, time budget; None when none is given."""
    given = [(n, v) for n, v in (("epsilon", epsilon), ("density", density), ("time_budget_ms", time_budget_ms)) if v is not None]
    if len(given) > 1:
        raise ValueError(f"give at most one of epsilon, density, time_budget_ms (got {', '.join(n for n, _ in given)})")
    if not given:
        return None
    name, value = given[0]
    value = float(value)
    if name == "epsilon":
        if not 0 < value < 1:
            raise ValueError(f"epsilon must be in (0, 1), got {epsilon}")
        return 0, value
    if name == "density":
        if not 0 < value <= 1:
            raise ValueError(f"density must be in (0, 1], got {density}")
        return 1, value
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"time_budget_ms must be positive and finite, got {time_budget_ms}")
    return 2, value


def estimator(name):
    code = ESTIMATORS.get(name)
    if code is None:
        raise ValueError(f"estimator must be one of {sorted(ESTIMATORS)}, got {name!r}")
    return code


def query_tile(t):
    if t not in (64, 128):
        raise ValueError(f"query_tile must be 64 or 128, got {t}")
    return t


def cu_seqlens_list(cu_seqlens, total, max_seqlen):
    """Host offsets from a list or a 1-D int tensor (a CUDA tensor costs one device→host copy,
    which synchronises: pass a CPU tensor or a list to avoid it)."""
    if isinstance(cu_seqlens, torch.Tensor):
        if cu_seqlens.dim() != 1 or cu_seqlens.dtype not in (torch.int32, torch.int64):
            raise ValueError(f"cu_seqlens must be a 1-D int32/int64 tensor, got {cu_seqlens.dtype} {tuple(cu_seqlens.shape)}")
        cu = [int(x) for x in cu_seqlens.tolist()]
    else:
        cu = [int(x) for x in cu_seqlens]
    if len(cu) < 2 or cu[0] != 0:
        raise ValueError(f"cu_seqlens must start at 0 and hold B + 1 ≥ 2 offsets, got {cu[:4]}{'…' if len(cu) > 4 else ''}")
    if any(b <= a for a, b in zip(cu, cu[1:])):
        raise ValueError("cu_seqlens must increase strictly (no empty sequences)")
    if cu[-1] != total:
        raise ValueError(f"cu_seqlens ends at {cu[-1]} but q holds {total} tokens")
    longest = max(b - a for a, b in zip(cu, cu[1:]))
    if max_seqlen is not None and longest > max_seqlen:
        raise ValueError(f"a sequence has {longest} tokens, more than max_seqlen = {max_seqlen}")
    return cu
