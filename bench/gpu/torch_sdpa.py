#!/usr/bin/env python3
"""Times PyTorch SDPA (cuDNN backend, and the FlashAttention-2 'flash' backend) on the same shapes
as `skeleton gpu-bench`: batch 1, causal, [1, heads, N, d], random normal bf16/fp16 inputs.
CUDA events, one warm-up, median of repeated runs within a time budget; peak memory from
torch.cuda.max_memory_allocated. Writes JSON records in gpu-bench's format (impl = backend)."""
import argparse, json, sys, time
import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel


def parse_tokens(s):
    out = []
    for p in s.split(","):
        p = p.strip().upper()
        m = 1024 if p.endswith("K") else (1024 * 1024 if p.endswith("M") else 1)
        out.append(int(p[:-1] if m > 1 else p) * m)
    return out


def time_ms(fn, seconds):
    start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    def once():
        start.record(); fn(); stop.record(); stop.synchronize()
        return start.elapsed_time(stop)
    first = once()  # warm-up
    if first / 1000 > seconds:
        return first, first, 1
    reps = max(3, min(50, int(seconds * 1000 / max(first, 1e-3))))
    t = sorted(once() for _ in range(reps))
    return t[len(t) // 2], t[0], reps


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", default="8K,32K")
    ap.add_argument("--heads", type=int, default=32)
    ap.add_argument("--kv-heads", type=int, default=8)
    ap.add_argument("--head-dims", default="128")
    ap.add_argument("--dtype", default="bf16")
    ap.add_argument("--backends", default="cudnn,flash")
    ap.add_argument("--seconds", type=float, default=1.0)
    ap.add_argument("--json", default=None)
    ap.add_argument("--append", action="store_true")
    a = ap.parse_args()
    dtype = torch.bfloat16 if a.dtype == "bf16" else torch.float16
    backends = {"cudnn": SDPBackend.CUDNN_ATTENTION, "flash": SDPBackend.FLASH_ATTENTION}
    records = []
    if a.append and a.json:
        try:
            records = json.load(open(a.json))
        except Exception:
            records = []
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name(0)}, cuDNN {torch.backends.cudnn.version()}", flush=True)
    for n in parse_tokens(a.tokens):
        for d in [int(x) for x in a.head_dims.split(",")]:
            g = torch.Generator(device="cuda").manual_seed(n + d)
            q = torch.randn(1, a.heads, n, d, device="cuda", dtype=dtype, generator=g)
            k = torch.randn(1, a.kv_heads, n, d, device="cuda", dtype=dtype, generator=g)
            v = torch.randn(1, a.kv_heads, n, d, device="cuda", dtype=dtype, generator=g)
            flops = 4.0 * d * n * (n + 1) / 2 * a.heads
            for name in a.backends.split(","):
                note = "enable_gqa"
                try:
                    torch.cuda.synchronize(); torch.cuda.reset_peak_memory_stats()
                    base = torch.cuda.memory_allocated()
                    with sdpa_kernel(backends[name]):
                        try:
                            fn = lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
                            fn()
                        except RuntimeError:
                            # backend without native GQA: give it K/V expanded per query head (not timed)
                            rep = a.heads // a.kv_heads
                            ke, ve = k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1)
                            fn = lambda: F.scaled_dot_product_attention(q, ke, ve, is_causal=True)
                            fn(); note = "K/V expanded per head (no native GQA)"
                        med, mn, reps = time_ms(fn, a.seconds)
                    peak = torch.cuda.max_memory_allocated() - base + 0
                    r = dict(impl=name, variant=name, mode="dense", tokens=n, heads=a.heads, kvHeads=a.kv_heads, headDim=d,
                             dtype=a.dtype, density=1.0, usefulFlops=flops, msMedian=med, msMin=mn, reps=reps,
                             tflops=flops / (med * 1e9), peakBytes=int(peak), note=note)
                    records.append(r)
                    print(f"{name} N={n} d={d}: {med:.3f} ms (min {mn:.3f}, {reps} reps) {r['tflops']:.1f} TFLOP/s, peak +{peak/2**30:.2f} GiB [{note}]", flush=True)
                except Exception as e:
                    print(f"{name} N={n} d={d}: failed: {type(e).__name__}: {str(e)[:200]}", flush=True)
                if a.json:
                    json.dump(records, open(a.json, "w"), indent=1)
            del q, k, v
            torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
