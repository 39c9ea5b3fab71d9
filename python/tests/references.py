"""References for the GPU tests: float64 attention with causal / window / block-mask restrictions,
and the same restriction through torch SDPA in the inputs' precision (the baseline error)."""
import math

import torch
import torch.nn.functional as F


def allowed(n, window, device, tile_mask=None, query_tile=128):
    """[H or 1, n, n] bool: causal, within the window, inside a kept tile."""
    i = torch.arange(n, device=device)[:, None]
    j = torch.arange(n, device=device)[None, :]
    ok = j <= i
    if window:
        ok = ok & (j > i - window)
    ok = ok[None]
    if tile_mask is not None:  # [H, query_blocks, key_blocks] → token level
        t = tile_mask.repeat_interleave(query_tile, dim=1)[:, :n].repeat_interleave(64, dim=2)[:, :, :n]
        ok = ok & t
    return ok


def float64_attention(q, k, v, scale=None, window=None, tile_mask=None, query_tile=128):
    """One sequence: q [N, Hq, d], k/v [N, Hkv, d] → (o [N, Hq, d] float64, lse [Hq, N] float64)."""
    n, hq, d = q.shape
    g = hq // k.shape[1]
    scale = scale if scale is not None else 1 / math.sqrt(d)
    qq = q.double().transpose(0, 1)
    kk = k.double().transpose(0, 1).repeat_interleave(g, dim=0)
    vv = v.double().transpose(0, 1).repeat_interleave(g, dim=0)
    s = (qq @ kk.transpose(1, 2)) * scale
    ok = allowed(n, window, q.device, tile_mask, query_tile)
    s = s.masked_fill(~ok, float("-inf"))
    lse = torch.logsumexp(s, dim=-1)
    p = torch.exp(s - lse[..., None]).nan_to_num(0.0)
    return (p @ vv).transpose(0, 1), lse


def sdpa_attention(q, k, v, scale=None, window=None, tile_mask=None, query_tile=128):
    """The same in the inputs' precision through SDPA: the error a standard kernel makes."""
    n, hq, d = q.shape
    g = hq // k.shape[1]
    qq, kk, vv = (t.transpose(0, 1)[None] for t in (q, k, v))
    kk, vv = kk.repeat_interleave(g, dim=1), vv.repeat_interleave(g, dim=1)
    if window is None and tile_mask is None:
        o = F.scaled_dot_product_attention(qq, kk, vv, is_causal=True, scale=scale)
    else:
        o = F.scaled_dot_product_attention(qq, kk, vv, attn_mask=allowed(n, window, q.device, tile_mask, query_tile)[None],
                                           scale=scale)
    return o[0].transpose(0, 1)
