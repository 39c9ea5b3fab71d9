"""The GPU matrix, parametrized like flash-attn's tests: dtype × MHA/GQA × head dim × window ×
lengths (incl. non-multiples of 64) × batch/varlen, dense and on estimated masks, against a
float64 reference and torch SDPA (our error ≤ 2 × SDPA's + a small floor); outputs poisoned with
NaN first. Skips without a GPU (reason printed)."""
import math

import pytest

torch = pytest.importorskip("torch", reason="no torch installed: GPU tests skipped")

import sparse_skeleton as sk
from sparse_skeleton import _ops
from references import float64_attention, sdpa_attention

DTYPES = [torch.bfloat16, torch.float16]
HEADS = [(4, 4), (6, 2)]  # MHA, GQA
DIMS = [64, 128, 256]
LENGTHS = [1, 63, 200, 1000]
FLOOR = {torch.bfloat16: 2e-3, torch.float16: 5e-4}


def make(shape, dtype, seed, device):
    g = torch.Generator(device=device).manual_seed(seed)
    return torch.randn(*shape, generator=g, device=device, dtype=torch.float32).to(dtype)


def inputs(layout, n, hq, hkv, d, dtype, device, seed=0):
    """(q, k, v, cu_seqlens or None, per-sequence slices)."""
    if layout == "batch":
        b = 2
        q, k, v = (make((b, n, h, d), dtype, seed + i, device) for i, h in enumerate((hq, hkv, hkv)))
        return q, k, v, None, [(q[s], k[s], v[s]) for s in range(b)]
    lengths = [n, max(1, n // 2 + 17), 3]
    cu = [0]
    for m in lengths:
        cu.append(cu[-1] + m)
    q, k, v = (make((cu[-1], h, d), dtype, seed + i, device) for i, h in enumerate((hq, hkv, hkv)))
    return q, k, v, cu, [(q[a:b], k[a:b], v[a:b]) for a, b in zip(cu, cu[1:])]


def per_sequence(o, cu, count):
    if cu is None:
        return [o[s] for s in range(count)]
    return [o[a:b] for a, b in zip(cu, cu[1:])]


def check_close(name, ours, ref64, base, dtype):
    err = (ours.double() - ref64).abs().max().item()
    base_err = (base.double() - ref64).abs().max().item()
    assert math.isfinite(err), f"{name}: non-finite output (NaN poison left?)"
    assert err <= 2 * base_err + FLOOR[dtype], f"{name}: max error {err:.3e} vs SDPA's {base_err:.3e}"


def poisoned(q, cu):
    o = torch.full_like(q, float("nan"))
    lse = torch.full_like(_ops._lse_empty(q, cu), float("nan"))
    return o, lse


def lse_of_sequence(lse, cu, s, hq):
    if cu is None:
        return lse[s]
    a, b = cu[s], cu[s + 1]
    return lse[hq * a:hq * b].view(hq, b - a)


@pytest.mark.parametrize("layout", ["batch", "varlen"])
@pytest.mark.parametrize("n", LENGTHS)
@pytest.mark.parametrize("window", [None, 300])
@pytest.mark.parametrize("d", DIMS)
@pytest.mark.parametrize("heads", HEADS, ids=["mha", "gqa"])
@pytest.mark.parametrize("dtype", DTYPES, ids=["bf16", "f16"])
def test_dense(gpu, dtype, heads, d, window, n, layout):
    hq, hkv = heads
    q, k, v, cu, seqs = inputs(layout, n, hq, hkv, d, dtype, gpu)
    scale = 0.5 / math.sqrt(d) if window else None
    c_scale, c_window = sk._checks.spec(True, scale, window)
    out = poisoned(q, cu)
    o, lse = _ops.attention_impl(q, k, v, None, None, cu, c_scale, c_window, 128, out=out)
    with torch.no_grad():
        o_api = (sk.sparse_attention(q, k, v, softmax_scale=scale, window=window, density=1.0) if cu is None else
                 sk.sparse_attention_varlen(q, k, v, cu, softmax_scale=scale, window=window, density=1.0))
    torch.testing.assert_close(o_api, o, rtol=0, atol=0)
    for s, (qs, ks, vs) in enumerate(seqs):
        ref, ref_lse = float64_attention(qs, ks, vs, scale, window)
        check_close(f"sequence {s}", per_sequence(o, cu, len(seqs))[s], ref, sdpa_attention(qs, ks, vs, scale, window), dtype)
        got_lse = lse_of_sequence(lse, cu, s, hq).double()
        assert (got_lse - ref_lse).abs().max().item() < 1e-2


@pytest.mark.parametrize("layout", ["batch", "varlen"])
@pytest.mark.parametrize("target", [("epsilon", 0.05), ("density", 0.3)], ids=["eps0.05", "density0.3"])
@pytest.mark.parametrize("n", [700, 2100])
@pytest.mark.parametrize("d", DIMS)
@pytest.mark.parametrize("heads", HEADS, ids=["mha", "gqa"])
@pytest.mark.parametrize("dtype", DTYPES, ids=["bf16", "f16"])
def test_estimated_mask(gpu, dtype, heads, d, n, target, layout):
    hq, hkv = heads
    q, k, v, cu, seqs = inputs(layout, n, hq, hkv, d, dtype, gpu, seed=7)
    with torch.no_grad():
        m = sk.estimate_mask(q, k, cu_seqlens=cu, **{target[0]: target[1]})
    assert m.lengths == tuple(qs.shape[0] for qs, _, _ in seqs) and m.q_heads == hq
    out = poisoned(q, cu)
    o, lse = _ops.attention_impl(q, k, v, m.row_offsets, m.key_blocks, cu, 0.0, 0, m.query_tile, out=out)
    tiles = m.dense_block_masks()
    for s, (qs, ks, vs) in enumerate(seqs):
        nq = qs.shape[0]
        qb = (nq + 127) // 128
        causal = torch.arange(qb, device=gpu)[:, None] * 2 + 1 >= torch.arange((nq + 63) // 64, device=gpu)[None, :]
        assert not (tiles[s] & ~causal[None]).any(), "a kept tile lies above the diagonal"
        assert tiles[s][:, torch.arange(qb), (torch.arange(qb) * 128 + 127).clamp(max=nq - 1) // 64].all(), "diagonal tile dropped"
        ref, ref_lse = float64_attention(qs, ks, vs, tile_mask=tiles[s])
        check_close(f"sequence {s}", per_sequence(o, cu, len(seqs))[s], ref, sdpa_attention(qs, ks, vs, tile_mask=tiles[s]), dtype)
        assert (lse_of_sequence(lse, cu, s, hq).double() - ref_lse).abs().max().item() < 1e-2
    if target[0] == "density":  # the budget, or the always-kept tiles when more: the sink and the 64-token local band (3 key tiles for a 128-row block)
        for n_, kept in zip(m.lengths, m.kept_tiles()):
            causal_tiles = sk.geometry.causal_tiles(n_, 128) * hq
            always = 4 * sk.geometry.query_blocks(n_, 128) * hq
            assert kept <= max(target[1] * causal_tiles, always) + 2 * hq, f"N={n_}: {kept} of {causal_tiles} tiles"
    with torch.no_grad():
        o_api = (sk.sparse_attention(q, k, v, mask=m) if cu is None else sk.sparse_attention_varlen(q, k, v, cu, mask=m))
    torch.testing.assert_close(o_api, o, rtol=0, atol=0)
