"""The two GPU operations as functions on torch tensors, and their `torch.library.custom_op`
registrations (sparse_skeleton::attention, sparse_skeleton::estimate_mask) with fake
implementations, so torch.compile traces through them and CUDA graphs capture them: outputs come
from the torch caching allocator, every launch goes to the current stream, nothing synchronises.

Layout: batch q [B, N, Hq, d] (cu_seqlens None) or packed q [total, Hq, d] with host offsets
cu_seqlens (a list). attention returns (o like q, lse float32: [B, Hq, N] for a batch, flat
[Hq · total] for packed sequences — sequence s's [Hq, n_s] block at Hq · cu_seqlens[s])."""
import ctypes
from functools import lru_cache
from typing import List, Optional, Tuple

import torch

from . import _lib
from .geometry import mask_counts, sequence_lengths

_DTYPE_CODES = {torch.bfloat16: 0, torch.float16: 1}


def _problem(q, k, cu_seqlens):
    if cu_seqlens is None:
        b, n, hq, d = q.shape
        return b, n, None, hq, k.shape[-2], d
    return len(cu_seqlens) - 1, 0, _host_offsets(tuple(cu_seqlens)), q.shape[1], k.shape[1], q.shape[2]


@lru_cache(maxsize=256)
def _host_offsets(cu):
    return (ctypes.c_int32 * len(cu))(*cu)


@lru_cache(maxsize=256)
def _counts(lengths, q_heads, query_tile):
    return mask_counts(lengths, q_heads, query_tile)


def _lse_empty(q, cu_seqlens):
    if cu_seqlens is None:
        b, n, hq, _ = q.shape
        return torch.empty(b, hq, n, dtype=torch.float32, device=q.device)
    return torch.empty(q.shape[0] * q.shape[1], dtype=torch.float32, device=q.device)


def _current_stream(index):
    """The raw cudaStream_t of torch's current stream on device `index` (one C call; the public
    torch.cuda.current_stream builds a Stream object per call, a few µs)."""
    raw = getattr(torch._C, "_cuda_getCurrentRawStream", None)
    if raw is not None:
        return raw(index)
    return int(torch.cuda.current_stream(index).cuda_stream)


def _on_device(index, fn):
    """fn(library context, current stream) of CUDA device `index`, with torch's current device =
    `index` meanwhile: the library makes that device's primary context current on this thread, and
    torch must agree. (A CUDA tensor exists, so torch's CUDA state is initialised.)"""
    if index == torch._C._cuda_getDevice():
        return fn(_lib.context(index), _current_stream(index))
    with torch.cuda.device(index):
        return fn(_lib.context(index), _current_stream(index))


def _index(device):
    return device.index if device.index is not None else torch.cuda.current_device()


def attention_impl(q, k, v, row_offsets, key_blocks, cu_seqlens, softmax_scale, window, query_tile, out=None):
    """`out`: (o, lse) to write into (tests poison them first); else fresh tensors."""
    o, lse = out if out is not None else (torch.empty_like(q), _lse_empty(q, cu_seqlens))
    batch, tokens, cu, hq, hkv, d = _problem(q, k, cu_seqlens)
    ro = row_offsets.data_ptr() if row_offsets is not None else 0
    kb = key_blocks.data_ptr() if key_blocks is not None else 0

    _on_device(_index(q.device), lambda ctx, stream: _lib.call(
        "sk_attention_forward", ctx, q.data_ptr(), k.data_ptr(), v.data_ptr(), o.data_ptr(), lse.data_ptr(),
        batch, tokens, cu, hq, hkv, d, _DTYPE_CODES[q.dtype], 1, softmax_scale, window, ro, kb, query_tile, 0, 0, stream))
    return o, lse


def attention_batch(q, k, v, b, n, hq, hkv, d, dtype_code, index, ro, kb, softmax_scale, window, query_tile):
    """attention_impl for checked batch inputs [B, N, H, d] on CUDA device `index`, the shapes and
    the mask's data pointers (0 = dense) given: the fast path of sparse_attention(mask=)."""
    o = torch.empty_like(q)
    lse = q.new_empty((b, hq, n), dtype=torch.float32)
    args = (q.data_ptr(), k.data_ptr(), v.data_ptr(), o.data_ptr(), lse.data_ptr(), b, n, None, hq, hkv, d, dtype_code, 1,
            softmax_scale, window, ro, kb, query_tile, 0, 0)
    if index == torch._C._cuda_getDevice():
        _lib.call("sk_attention_forward", _lib.context(index), *args, _current_stream(index))
    else:
        with torch.cuda.device(index):
            _lib.call("sk_attention_forward", _lib.context(index), *args, _current_stream(index))
    return o, lse


def estimate_impl(q, k, cu_seqlens, softmax_scale, window, estimator, target_kind, target_value, query_tile):
    batch, tokens, cu, hq, hkv, d = _problem(q, k, cu_seqlens)
    lengths = tuple(sequence_lengths(batch, tokens, cu_seqlens))
    n_ro, n_kb = _counts(lengths, hq, query_tile)
    row_offsets = torch.empty(n_ro, dtype=torch.int32, device=q.device)
    key_blocks = torch.empty(n_kb, dtype=torch.int32, device=q.device)

    _on_device(_index(q.device), lambda ctx, stream: _lib.call(
        "sk_estimate_mask", ctx, q.data_ptr(), k.data_ptr(), batch, tokens, cu, hq, hkv, d, _DTYPE_CODES[q.dtype],
        1, softmax_scale, window, estimator, target_kind, target_value, query_tile,
        row_offsets.data_ptr(), key_blocks.data_ptr(), stream))
    return row_offsets, key_blocks


def calibrate_impl(q, k, v, query_tile):
    """sk_calibrate_time_budget on one sequence q [N, Hq, d] (synchronises the stream)."""
    n, hq, d = q.shape
    est, fixed, per_tile = ctypes.c_double(0), ctypes.c_double(0), ctypes.c_double(0)

    _on_device(_index(q.device), lambda ctx, stream: _lib.call(
        "sk_calibrate_time_budget", ctx, q.data_ptr(), k.data_ptr(), v.data_ptr(), n, hq, k.shape[1], d,
        _DTYPE_CODES[q.dtype], query_tile, stream, ctypes.byref(est), ctypes.byref(fixed), ctypes.byref(per_tile)))
    return {"estimation_ms": est.value, "fixed_ms": fixed.value, "per_tile_ns": per_tile.value}


@torch.library.custom_op("sparse_skeleton::attention", mutates_args=(), device_types="cuda")
def attention_op(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, row_offsets: Optional[torch.Tensor],
                 key_blocks: Optional[torch.Tensor], cu_seqlens: Optional[List[int]], softmax_scale: float, window: int,
                 query_tile: int) -> Tuple[torch.Tensor, torch.Tensor]:
    return attention_impl(q, k, v, row_offsets, key_blocks, cu_seqlens, softmax_scale, window, query_tile)


@attention_op.register_fake
def _attention_fake(q, k, v, row_offsets, key_blocks, cu_seqlens, softmax_scale, window, query_tile):
    return torch.empty_like(q), _lse_empty(q, cu_seqlens)


@torch.library.custom_op("sparse_skeleton::estimate_mask", mutates_args=(), device_types="cuda")
def estimate_op(q: torch.Tensor, k: torch.Tensor, cu_seqlens: Optional[List[int]], softmax_scale: float, window: int,
                estimator: int, target_kind: int, target_value: float, query_tile: int) -> Tuple[torch.Tensor, torch.Tensor]:
    return estimate_impl(q, k, cu_seqlens, softmax_scale, window, estimator, target_kind, target_value, query_tile)


@estimate_op.register_fake
def _estimate_fake(q, k, cu_seqlens, softmax_scale, window, estimator, target_kind, target_value, query_tile):
    if cu_seqlens is None:  # int(): a dynamic shape specialises here (the mask's size depends on every length)
        lengths = (int(q.shape[1]),) * int(q.shape[0])
        hq = q.shape[2]
    else:
        lengths = tuple(sequence_lengths(cu_seqlens=cu_seqlens))
        hq = q.shape[1]
    n_ro, n_kb = _counts(tuple(int(n) for n in lengths), int(hq), query_tile)
    return (torch.empty(n_ro, dtype=torch.int32, device=q.device), torch.empty(n_kb, dtype=torch.int32, device=q.device))


def _compiling():
    return torch.compiler.is_compiling()


def attention(q, k, v, row_offsets, key_blocks, cu_seqlens, softmax_scale, window, query_tile):
    """The op when torch.compile traces, the plain function in eager mode (the dispatcher's
    ~10 µs per call buys nothing there; both run the same code)."""
    if _compiling():
        return attention_op(q, k, v, row_offsets, key_blocks, cu_seqlens, softmax_scale, window, query_tile)
    return attention_impl(q, k, v, row_offsets, key_blocks, cu_seqlens, softmax_scale, window, query_tile)


def estimate(q, k, cu_seqlens, softmax_scale, window, estimator, target_kind, target_value, query_tile):
    if _compiling():
        return estimate_op(q, k, cu_seqlens, softmax_scale, window, estimator, target_kind, target_value, query_tile)
    return estimate_impl(q, k, cu_seqlens, softmax_scale, window, estimator, target_kind, target_value, query_tile)
