"""The flash-attn-style API on torch tensors: sparse_attention ([B, N, H, d]),
sparse_attention_varlen (packed [total, H, d]), estimate_mask, calibrate_time_budget."""
import torch

from . import _checks, _ops
from .geometry import sequence_lengths
from .mask import Mask

DEFAULT_EPSILON = 0.02  # the project's default sparse setting (MaskTarget.recommended)
_calibrated = set()


def _calibrate_once(q, k, v, cu, query_tile):
    """A time budget needs the estimator's and the kernel's cost at this shape: measured once per
    (device, shape) on the first sequence (synchronises; do it before a CUDA-graph capture)."""
    if cu is None:
        q1, k1, v1 = q[0], k[0], v[0]
    else:
        q1, k1, v1 = q[:cu[1]], k[:cu[1]], v[:cu[1]]
    key = (q.device, tuple(q1.shape), k1.shape[1], q.dtype, query_tile)
    if key not in _calibrated:
        _ops.calibrate_impl(q1, k1, v1, query_tile)
        _calibrated.add(key)
    # only the first sequence's shape is calibrated: others must match it
    lengths = sequence_lengths(q.shape[0], q.shape[1], None) if cu is None else sequence_lengths(cu_seqlens=cu)
    if len(set(lengths)) > 1:
        raise ValueError("a time budget needs sequences of one length (it is calibrated per shape); give epsilon or density")


def calibrate_time_budget(q, k, v, query_tile=128):
    """Measures the estimator and kernel cost for a time budget on one sequence q [N, Hq, d]
    (k, v [N, Hkv, d]); synchronises. Returns {'estimation_ms', 'fixed_ms', 'per_tile_ns'}."""
    q, k, v, _, _, _, _ = _checks.qkv(q, k, v, packed=True)
    r = _ops.calibrate_impl(q, k, v, _checks.query_tile(query_tile))
    _calibrated.add((q.device, tuple(q.shape), k.shape[1], q.dtype, query_tile))
    return r


def _estimate(q, k, v, cu, scale, win, target, estimator, query_tile):
    """(row_offsets, key_blocks) of the estimated masks."""
    kind, value = target
    if kind == 2:
        if v is None:
            raise ValueError("a time budget needs v too (the calibration times attention): use sparse_attention or calibrate_time_budget first")
        _calibrate_once(q, k, v, cu, query_tile)
    return _ops.estimate(q, k, cu, scale, win, estimator, kind, value, query_tile)


def _run(q, k, v, cu, causal, softmax_scale, window, epsilon, density, time_budget_ms, mask, return_lse, estimator, query_tile):
    scale, win = _checks.spec(causal, softmax_scale, window)
    target = _checks.target(epsilon, density, time_budget_ms)
    est = _checks.estimator(estimator)
    qt = _checks.query_tile(query_tile)
    ro = kb = None
    if mask is not None:
        if target is not None:
            raise ValueError("give either mask or a target (epsilon / density / time_budget_ms), not both")
        if not isinstance(mask, Mask):
            raise TypeError(f"mask must be a sparse_skeleton.Mask (from estimate_mask), got {type(mask).__name__}")
        hq = q.shape[-2]
        lengths = sequence_lengths(q.shape[0], q.shape[1], None) if cu is None else sequence_lengths(cu_seqlens=cu)
        mask.check_fits(hq, lengths, q.device)
        ro, kb, qt = mask.row_offsets, mask.key_blocks, mask.query_tile
    else:
        if target is None and win == 0:
            target = (0, DEFAULT_EPSILON)
        if target is not None and not (target[0] == 1 and target[1] == 1.0):  # density 1 keeps every tile: dense
            ro, kb = _estimate(q, k, v, cu, scale, win, target, est, qt)
    o, lse = _ops.attention(q, k, v, ro, kb, cu, scale, win, qt)
    if not return_lse:
        return o
    if cu is not None:  # per-sequence [Hq, n_s] blocks → [Hq, total]
        hq = q.shape[1]
        lse = torch.cat([lse[hq * a:hq * b].view(hq, b - a) for a, b in zip(cu, cu[1:])], dim=1)
    return o, lse


def sparse_attention(q, k, v, *, causal=True, softmax_scale=None, window=None, epsilon=None, density=None,
                     time_budget_ms=None, mask=None, return_lse=False, estimator="skeleton", query_tile=128):
    """Causal attention on q [B, N, Hq, d], k/v [B, N, Hkv, d] (GQA when Hkv < Hq), bf16/f16, CUDA,
    through the block-sparse kernel on an estimated mask.

    - mask: a `Mask` from `estimate_mask` for these shapes; else a target: `epsilon` (error bound:
      per query block, estimated dropped attention mass ≤ ε), `density` (kept-tile budget; 1.0 =
      dense, no estimation) or `time_budget_ms` (estimation + attention; the first call per shape
      calibrates and synchronises). None of them: ε = 0.02, the default sparse setting, or dense
      when a `window` is given (the skeleton estimator takes no window).
    - softmax_scale: None = 1/sqrt(d); window: keys i − window + 1 … i (or flash-attn's (left, 0)).
    - Non-contiguous inputs are copied once (.contiguous()); forward only (requires_grad raises).

    Returns o [B, N, Hq, d] (and lse float32 [B, Hq, N], natural log, with return_lse)."""
    if (mask is not None and causal is True and window is None and epsilon is None and density is None
            and time_budget_ms is None and estimator == "skeleton" and query_tile == 128 and type(mask) is Mask
            and not _ops._compiling()):
        # the fast path (eager, a given mask, defaults but the scale): the same checks as below in
        # fewer Python steps; whatever it does not take goes the general way, for its error
        g = _checks.batch_fast(q, k, v)
        if g is not None:
            b, n, hq, hkv, d, code, index = g
            ro = mask.row_offsets
            if mask.q_heads == hq and mask.lengths == (n,) * b and ro.get_device() == index and ro.is_cuda:
                o, lse = _ops.attention_batch(q, k, v, b, n, hq, hkv, d, code, index, ro.data_ptr(),
                                              mask.key_blocks.data_ptr(), _checks.scale(softmax_scale), 0, mask.query_tile)
                return (o, lse) if return_lse else o
    _checks.forward_only(q, k, v)
    q, k, v, _, _, _, _ = _checks.qkv(q, k, v, packed=False)
    return _run(q, k, v, None, causal, softmax_scale, window, epsilon, density, time_budget_ms, mask, return_lse,
                estimator, query_tile)


def sparse_attention_varlen(q, k, v, cu_seqlens, max_seqlen=None, *, causal=True, softmax_scale=None, window=None,
                            epsilon=None, density=None, time_budget_ms=None, mask=None, return_lse=False,
                            estimator="skeleton", query_tile=128):
    """`sparse_attention` on packed sequences: q [total, Hq, d], k/v [total, Hkv, d], sequence s at
    rows cu_seqlens[s] … cu_seqlens[s + 1] − 1. cu_seqlens: a list or an int tensor (a CUDA tensor
    is read back, one synchronising copy; pass a list or a CPU tensor in CUDA graphs).
    Returns o [total, Hq, d] (and lse float32 [Hq, total])."""
    _checks.forward_only(q, k, v)
    q, k, v, _, _, _, _ = _checks.qkv(q, k, v, packed=True)
    cu = _checks.cu_seqlens_list(cu_seqlens, q.shape[0], max_seqlen)
    return _run(q, k, v, cu, causal, softmax_scale, window, epsilon, density, time_budget_ms, mask, return_lse,
                estimator, query_tile)


def estimate_mask(q, k, *, cu_seqlens=None, causal=True, softmax_scale=None, window=None, epsilon=None, density=None,
                  time_budget_ms=None, v=None, estimator="skeleton", query_tile=128):
    """Estimates the block masks of q [B, N, Hq, d] / k [B, N, Hkv, d] (or packed [total, H, d]
    with cu_seqlens) and returns a `Mask` owning them. One target: epsilon (default 0.02), density
    or time_budget_ms (needs v). estimator: "skeleton" or "minference" (density targets only)."""
    _checks.forward_only(q, k)
    packed = cu_seqlens is not None
    q, k, v, hq, _, _, _ = _checks.qkv(q, k, v, packed=packed)
    cu = _checks.cu_seqlens_list(cu_seqlens, q.shape[0], None) if packed else None
    scale, win = _checks.spec(causal, softmax_scale, window)
    target = _checks.target(epsilon, density, time_budget_ms) or (0, DEFAULT_EPSILON)
    est, qt = _checks.estimator(estimator), _checks.query_tile(query_tile)
    ro, kb = _estimate(q, k, v, cu, scale, win, target, est, qt)
    lengths = sequence_lengths(q.shape[0], q.shape[1], None) if cu is None else sequence_lengths(cu_seqlens=cu)
    return Mask(ro, kb, lengths, hq, qt, estimator=estimator, target=target)
