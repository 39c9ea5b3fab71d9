#!/usr/bin/env python3
"""SmolLM2-135M from the project's GGUF through transformers (gguf_file=): perplexity over 8K tokens
and prefill time with attn_implementation "sdpa" vs "sparse_skeleton", torch.compile explain
counts, one CUDA-graph capture and replay, and the Python overhead over the raw C ABI at 8K.
Prints one `RESULT key value` line per measurement (gpu_pytest.sh tabulates them).

    python hf_smollm2.py --gguf /path/SmolLM2-135M-Instruct.Q4_1.gguf --text pride_and_prejudice.txt
    python hf_smollm2.py --overhead-only   # the host overhead step alone"""
import argparse
import ctypes
import faulthandler
import math
import os
import sys
import time

import torch

import sparse_skeleton as sk
import sparse_skeleton.hf as skhf
from sparse_skeleton import _lib, _ops


_t0 = time.time()


def result(key, value):
    print(f"RESULT {key} {value}", flush=True)


def step(what):
    """Progress on stderr, so that a stall shows where it happened (with the stack dumps below)."""
    print(f"[hf t+{time.time() - _t0:6.1f}s] {what}", file=sys.stderr, flush=True)


def load(gguf):
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer
    folder, name = os.path.dirname(os.path.abspath(gguf)), os.path.basename(gguf)
    t0 = time.time()
    tok = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    major, minor = (int(x) for x in transformers.__version__.split(".")[:2])
    dtype = {"dtype" if (major, minor) >= (4, 56) else "torch_dtype": torch.bfloat16}
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, attn_implementation="sparse_skeleton", **dtype).cuda().eval()
    result("gguf_load_s", f"{time.time() - t0:.1f} (transformers {transformers.__version__}, dequantised by gguf to bf16)")
    return tok, model


use = skhf.use


def tokens(tok, path, n, start_char=5000):
    """BOS, then the text from `start_char` (the window of bench/results/model-ppl-8k.md)."""
    text = open(path, encoding="utf-8").read()[start_char:start_char + 12 * n]  # ample for n tokens
    ids = tok(text, add_special_tokens=False)["input_ids"][: n - 1]
    bos = tok.bos_token_id if tok.bos_token_id is not None else 0
    assert len(ids) == n - 1, f"text too short for {n} tokens"
    return torch.tensor([[bos] + ids], device="cuda")


def perplexity(model, ids):
    with torch.no_grad():
        logits = model(ids).logits[0, :-1].float()
    nll = torch.nn.functional.cross_entropy(logits, ids[0, 1:])
    return math.exp(nll.item())


def prefill_ms(model, ids, reps=5):
    with torch.no_grad():
        model.model(ids)
        torch.cuda.synchronize()
        times = []
        for _ in range(reps):
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record()
            model.model(ids)
            b.record()
            b.synchronize()
            times.append(a.elapsed_time(b))
    return sorted(times)[reps // 2]


def compile_counts(model, ids):
    import torch._dynamo
    torch._dynamo.reset()
    with torch.no_grad():
        e = torch._dynamo.explain(model.model)(ids)
    reasons = sorted({str(b.reason)[:80] for b in e.break_reasons})
    return e.graph_count, e.graph_break_count, e.op_count, reasons


def cuda_graph_check(n=8192, hq=9, hkv=3, d=64):
    q, k, v = (torch.randn(1, n, h, d, device="cuda", dtype=torch.bfloat16) for h in (hq, hkv, hkv))
    with torch.no_grad():
        s = torch.cuda.Stream()
        s.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(s):
            sk.sparse_attention(q, k, v)
        torch.cuda.current_stream().wait_stream(s)
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g):
            out = sk.sparse_attention(q, k, v)
        fresh = [torch.randn_like(t) for t in (q, k, v)]
        for t, f in zip((q, k, v), fresh):
            t.copy_(f)
        g.replay()
        torch.cuda.synchronize()
        eager = sk.sparse_attention(*fresh)
    return torch.equal(out, eager)


def overhead_us(n=8192, hq=9, hkv=3, d=64, calls=300):
    """Host time per call of sparse_attention(mask=m) and of the raw sk_attention_forward it makes
    (same pointers, same mask, ctypes from Python), GPU work queued but not waited for."""
    q, k, v = (torch.randn(1, n, h, d, device="cuda", dtype=torch.bfloat16) for h in (hq, hkv, hkv))
    with torch.no_grad():
        m = sk.estimate_mask(q, k)
        o, lse = torch.empty_like(q), torch.empty(1, hq, n, device="cuda")
        ctx, stream = _lib.context(0), int(torch.cuda.current_stream().cuda_stream)
        f = _lib.load().sk_attention_forward
        err = ctypes.create_string_buffer(1024)
        args = (ctx, q.data_ptr(), k.data_ptr(), v.data_ptr(), o.data_ptr(), lse.data_ptr(), 1, n, None, hq, hkv, d, 0, 1, 0.0, 0,
                m.row_offsets.data_ptr(), m.key_blocks.data_ptr(), 128, 0, 0, stream, err, 1024)

        def raw():
            assert f(*args) == 0

        def api():
            sk.sparse_attention(q, k, v, mask=m)

        out = {}
        for name, fn in (("raw", raw), ("api", api), ("raw2", raw), ("api2", api)):
            for _ in range(20):
                fn()
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            for _ in range(calls):
                fn()
            out[name] = (time.perf_counter() - t0) / calls * 1e6
            torch.cuda.synchronize()
    return min(out["raw"], out["raw2"]), min(out["api"], out["api2"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gguf")
    ap.add_argument("--text")
    ap.add_argument("--overhead-only", action="store_true", help="only the host overhead per call (needs no model)")
    ap.add_argument("--tokens", type=int, default=8192)
    ap.add_argument("--long", type=int, default=32768, help="prefill timing at this length with linear RoPE scaling (0: skip)")
    a = ap.parse_args()
    if a.overhead_only:
        for _ in range(3):  # three measurements: the spread shows the host's noise
            raw, api = overhead_us()
            result("host_us_per_call_8k", f"raw C ABI {raw:.1f}, sparse_attention(mask=) {api:.1f}, overhead {api - raw:.1f}")
        return
    if not (a.gguf and a.text):
        ap.error("--gguf and --text are needed (or --overhead-only)")
    # a stall prints every thread's Python stack to stderr each 60 s
    faulthandler.dump_traceback_later(60, repeat=True, file=sys.stderr)
    skhf.register()
    step("loading the GGUF")
    tok, model = load(a.gguf)
    ids = tokens(tok, a.text, a.tokens)
    result("tokens", ids.shape[1])
    use(model, "sdpa")
    step("perplexity, sdpa")
    ppl_sdpa = perplexity(model, ids)
    result("ppl_sdpa", f"{ppl_sdpa:.4f}")
    step("prefill time, sdpa")
    ms_sdpa = prefill_ms(model, ids)
    use(model, "sparse_skeleton")
    skhf.reset_counts()
    step("perplexity, sparse_skeleton (default)")
    ppl_sparse = perplexity(model, ids)
    routed = dict(skhf.counts)
    result("ppl_sparse_eps0.02", f"{ppl_sparse:.4f} ({(ppl_sparse / ppl_sdpa - 1) * 100:+.2f} %) layers sparse/fallback {routed['sparse']}/{routed['fallback']}")
    step("prefill time, sparse_skeleton")
    ms_sparse = prefill_ms(model, ids)
    with skhf.settings(epsilon=0.05):
        step("perplexity and prefill, epsilon 0.05")
        ppl_005 = perplexity(model, ids)
        result("ppl_sparse_eps0.05", f"{ppl_005:.4f} ({(ppl_005 / ppl_sdpa - 1) * 100:+.2f} %)")
        ms_005 = prefill_ms(model, ids)
    result("prefill_ms_8k", f"sdpa {ms_sdpa:.2f}, sparse eps0.02 {ms_sparse:.2f} ({ms_sdpa / ms_sparse:.2f}x), eps0.05 {ms_005:.2f} ({ms_sdpa / ms_005:.2f}x)")
    if a.long:
        factor = a.long / model.config.max_position_embeddings
        if isinstance(getattr(model.config, "rope_parameters", None), dict):  # transformers ≥ 5
            model.config.rope_parameters = {**model.config.rope_parameters, "rope_type": "linear", "factor": factor}
        else:
            model.config.rope_scaling = {"rope_type": "linear", "factor": factor}
        model.config.max_position_embeddings = a.long
        step(f"prefill at {a.long} tokens, linear RoPE scaling")
        try:
            from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding
            model.model.rotary_emb = LlamaRotaryEmbedding(config=model.config, device="cuda")
            long_ids = torch.randint(0, model.config.vocab_size, (1, a.long), device="cuda")
            use(model, "sdpa")
            ls = prefill_ms(model, long_ids, reps=3)
            use(model, "sparse_skeleton")
            lo = prefill_ms(model, long_ids, reps=3)
            result(f"prefill_ms_{a.long // 1024}k_rope_linear", f"sdpa {ls:.2f}, sparse eps0.02 {lo:.2f} ({ls / lo:.2f}x) (random tokens)")
        except Exception as e:  # noqa: BLE001
            result(f"prefill_ms_{a.long // 1024}k_rope_linear", f"not run: {type(e).__name__}: {e}")
    use(model, "sparse_skeleton")
    step("torch._dynamo.explain")
    graphs, breaks, ops, reasons = compile_counts(model, ids[:, :4096])
    result("compile_explain", f"graphs {graphs}, graph breaks {breaks}, ops {ops}{', reasons: ' + '; '.join(reasons) if reasons else ''}")
    step("CUDA graph capture and replay")
    result("cuda_graph_replay_equals_eager", cuda_graph_check())
    step("host overhead per call")
    raw, api = overhead_us()
    result("host_us_per_call_8k", f"raw C ABI {raw:.1f}, sparse_attention(mask=) {api:.1f}, overhead {api - raw:.1f}")
    faulthandler.cancel_dump_traceback_later()
    step("done")


if __name__ == "__main__":
    main()
