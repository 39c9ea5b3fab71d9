#!/usr/bin/env python3
"""Checks sparse_skeleton (the C ABI through ctypes) against PyTorch on random inputs:
dense attention vs scaled_dot_product_attention(is_causal=True, GQA); attention with the
skeleton mask vs a masked fp32 reference built from the downloaded CSR; a sliding window and a
non-default scale vs SDPA with the same mask and scale; argument errors; a
non-default stream; then times one call of each against SDPA at N = 32K (information only).
Run: SPARSE_SKELETON_LIB=.../libSparseSkeletonC.so PYTHONPATH=python python3 python/check_torch.py"""
import sys, time
import torch
import torch.nn.functional as F
import sparse_skeleton as sk

TOL = {torch.bfloat16: 1e-2, torch.float16: 5e-3}
failures = []


def rel(a, b):
    a, b = a.float(), b.float()
    return ((a - b).norm() / b.norm().clamp_min(1e-30)).item()


def sdpa(q, k, v, attn_mask=None, causal=True, fp32=False):
    """q: [N, Hq, d], k/v: [N, Hkv, d] -> [N, Hq, d] through SDPA on [1, H, N, d]."""
    t = lambda x: (x.float() if fp32 else x).transpose(0, 1).unsqueeze(0)
    qq, kk, vv = t(q), t(k), t(v)
    g = q.shape[1] // k.shape[1]
    try:
        o = F.scaled_dot_product_attention(qq, kk, vv, attn_mask=attn_mask, is_causal=causal and attn_mask is None, enable_gqa=True)
    except TypeError:  # torch < 2.5: no enable_gqa
        kk, vv = kk.repeat_interleave(g, dim=1), vv.repeat_interleave(g, dim=1)
        o = F.scaled_dot_product_attention(qq, kk, vv, attn_mask=attn_mask, is_causal=causal and attn_mask is None)
    return o.squeeze(0).transpose(0, 1)


def inputs(n, hq, hkv, d, dtype, seed=0, scale=1.2):
    g = torch.Generator(device="cuda").manual_seed(seed)
    mk = lambda h: (torch.randn(n, h, d, generator=g, device="cuda") * scale).to(dtype).contiguous()
    return mk(hq), mk(hkv), mk(hkv)


def report(name, err, tol):
    ok = err <= tol
    print(f"{'PASS' if ok else 'FAIL'}  {name}: rel err {err:.3e} (tol {tol:.0e})", flush=True)
    if not ok:
        failures.append(name)


def masked_reference(q, k, v, mask):
    """fp32 attention restricted to mask's tiles (and causal), from the downloaded CSR."""
    n = q.shape[0]
    blocks = mask.dense_block_mask()  # [H, QB, KB]
    tok = blocks.repeat_interleave(mask.query_tile, dim=1)[:, :n].repeat_interleave(64, dim=2)[:, :, :n]
    tok &= torch.ones(n, n, dtype=torch.bool, device="cuda").tril()
    return sdpa(q, k, v, attn_mask=tok.unsqueeze(0), causal=False, fp32=True)


def timed(fn, reps=5):
    s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    fn(); torch.cuda.synchronize()
    ts = []
    for _ in range(reps):
        s.record(); fn(); e.record(); e.synchronize()
        ts.append(s.elapsed_time(e))
    return sorted(ts)[len(ts) // 2]


def main():
    print("torch", torch.__version__, "|", torch.cuda.get_device_name(0))
    t0 = time.time()
    print("library:", sk.device_info(), f"(session {time.time() - t0:.2f} s)")

    # 1. dense vs SDPA (fp32 reference, and torch's own bf16 SDPA for scale)
    for (n, hq, hkv, d, dt) in [(4096, 8, 2, 128, torch.bfloat16), (4096, 8, 2, 128, torch.float16),
                                 (1000, 4, 4, 64, torch.bfloat16), (2050, 8, 1, 256, torch.bfloat16)]:
        q, k, v = inputs(n, hq, hkv, d, dt, seed=n + d)
        t0 = time.time()
        o = sk.attention(q, k, v)
        torch.cuda.synchronize()
        first = time.time() - t0
        ref = sdpa(q, k, v, fp32=True)
        name = f"dense N={n} heads={hq}/{hkv} d={d} {str(dt)[6:]}"
        print(f"      {name}: torch SDPA ({str(dt)[6:]}) vs fp32 {rel(sdpa(q, k, v), ref):.3e}; first call {first:.2f} s")
        report(name, rel(o, ref), TOL[dt])

    # 2. skeleton mask + masked attention vs the masked reference built from the CSR
    n, hq, hkv, d, dt = 4096, 8, 2, 128, torch.bfloat16
    q, k, v = inputs(n, hq, hkv, d, dt, seed=7)
    dense_ref = sdpa(q, k, v, fp32=True)
    for kw in [dict(epsilon=0.02), dict(epsilon=0.1), dict(density=0.3), dict(density=0.3, query_tile=64)]:
        t0 = time.time()
        m = sk.skeleton_mask(q, k, **kw)
        o = sk.attention(q, k, v, mask=m)
        torch.cuda.synchronize()
        first = time.time() - t0
        m.detach()
        ref = masked_reference(q, k, v, m)
        name = f"sparse N={n} {kw}"
        print(f"      {name}: density {m.density():.3f}, vs dense attention {rel(o, dense_ref):.3e}; first call {first:.2f} s")
        report(name, rel(o, ref), TOL[dt])
        # the CSR is causal, ascending, and every row keeps its diagonal tile
        ro, kb = m.row_offsets.long(), m.key_blocks.long()
        ok = bool((ro[1:] >= ro[:-1]).all())
        print(f"{'PASS' if ok else 'FAIL'}  {name}: CSR offsets monotone ({int(ro[-1])} tiles)")
        if not ok:
            failures.append(name + " CSR")

    # 2b. sliding window and a non-default scale vs SDPA with the same token mask and scale (fp32)
    for (n, hq, hkv, d, dt, window, scale) in [(4500, 8, 2, 128, torch.bfloat16, 512, None),
                                                (4500, 4, 4, 64, torch.float16, 1000, 0.2)]:
        qw, kw_, vw = inputs(n, hq, hkv, d, dt, seed=11 + n)
        o = sk.attention(qw, kw_, vw, window=window, softmax_scale=scale)
        i = torch.arange(n, device="cuda")
        tok = (i[None, :] <= i[:, None]) & (i[:, None] - i[None, :] < window)
        t = lambda x: x.float().transpose(0, 1).unsqueeze(0).repeat_interleave(hq // x.shape[1], dim=1)
        ref = F.scaled_dot_product_attention(t(qw), t(kw_), t(vw), attn_mask=tok, scale=scale).squeeze(0).transpose(0, 1)
        report(f"window {window} scale {scale} N={n} heads={hq}/{hkv} d={d} {str(dt)[6:]}", rel(o, ref), TOL[dt])

    # 3. a non-default stream gives the same result
    s = torch.cuda.Stream()
    with torch.cuda.stream(s):
        o2 = sk.attention(q, k, v)
    s.synchronize()
    report("dense on a side stream", rel(o2, dense_ref), TOL[dt])

    # 4. argument errors are Python exceptions, not crashes
    for what, fn in [("f32 input", lambda: sk.attention(q.float(), k.float(), v.float())),
                     ("non-contiguous", lambda: sk.attention(q.transpose(0, 1), k, v)),
                     ("heads not divisible", lambda: sk.attention(q[:, :3].contiguous(), k, v)),
                     ("bad epsilon", lambda: sk.skeleton_mask(q, k, epsilon=2.0)),
                     ("C-level bad dtype", lambda: sk._call("sk_attention_forward", q.data_ptr(), k.data_ptr(), v.data_ptr(), q.data_ptr(), 0,
                                                              n, hq, hkv, d, 7, 0, 0, 128, 0.0, 0, 0)),
                     ("bad window", lambda: sk.attention(q, k, v, window=0)),
                     ("bad softmax_scale", lambda: sk.attention(q, k, v, softmax_scale=float("nan"))),
                     ("C-level NaN scale", lambda: sk._call("sk_attention_forward", q.data_ptr(), k.data_ptr(), v.data_ptr(), q.data_ptr(), 0,
                                                              n, hq, hkv, d, 0, 0, 0, 128, float("nan"), 0, 0))]:
        try:
            fn(); print(f"FAIL  error check '{what}': no exception"); failures.append(what)
        except (TypeError, ValueError, sk.SparseSkeletonError) as e:
            print(f"PASS  error check '{what}': {type(e).__name__}: {str(e)[:110]}")

    # 5. timing at N = 32K (information): one call each, CUDA events, median of 5 after a warm-up
    n, hq, hkv, d, dt = 32768, 32, 8, 128, torch.bfloat16
    q, k, v = inputs(n, hq, hkv, d, dt, seed=3)
    flops = 4 * d * hq * n * (n + 1) / 2
    t_sdpa = timed(lambda: sdpa(q, k, v))
    t_dense = timed(lambda: sk.attention(q, k, v))
    t_est = timed(lambda: sk.skeleton_mask(q, k, epsilon=0.02))
    m = sk.skeleton_mask(q, k, epsilon=0.02).detach()
    t_sparse = timed(lambda: sk.attention(q, k, v, mask=m))
    t_both = timed(lambda: sk.attention(q, k, v, mask=sk.skeleton_mask(q, k, epsilon=0.02)))
    o_dense = sk.attention(q, k, v)
    err = rel(o_dense, sdpa(q, k, v))
    o_sparse = sk.attention(q, k, v, mask=m)
    dens = m.density()
    print(f"timing N={n} heads={hq}/{hkv} d={d} bf16 causal (median of 5, ms):")
    print(f"  torch SDPA (default backend)      {t_sdpa:8.3f}  ({flops / t_sdpa / 1e9:.0f} TFLOP/s)")
    print(f"  sk.attention dense                {t_dense:8.3f}  ({flops / t_dense / 1e9:.0f} TFLOP/s), rel diff vs SDPA {err:.2e}")
    print(f"  sk.skeleton_mask eps=0.02         {t_est:8.3f}  (density {dens:.3f})")
    print(f"  sk.attention with that mask       {t_sparse:8.3f}  (rel diff vs dense {rel(o_sparse, o_dense):.2e})")
    print(f"  mask + attention                  {t_both:8.3f}  ({t_sdpa / t_both:.2f}x SDPA)")
    report(f"dense N={n} vs torch SDPA bf16", err, TOL[dt])

    print("ALL PASS" if not failures else f"FAILED: {failures}")
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
