"""FP8 vs 16-bit table from gpu-bench --fp8's JSON: per shape and mask, the same kernel's bf16 and FP8 builds
side by side (time, useful TFLOP/s, FP8 ÷ bf16 time), the quantisation time and FP8's output error against bf16."""
import json
import re
import sys

recs = json.load(open(sys.argv[1]))
recs = recs["records"] if isinstance(recs, dict) else recs
rows = {}
for r in recs:
    if not r["mode"].startswith("fp8-"):
        continue
    key = (r["tokens"], r["mode"], r["note"].split(";")[0])
    # one bf16 record per (shape, mask) and one per FP8 variant (e.g. its FMA-exponential share)
    fma = re.search(r"fma-exp (\d)/8", r["variant"])
    rows.setdefault(key, {})[("fp8", int(fma.group(1)) if fma else 0) if r["dtype"] == "e4m3" else "b16"] = r
print("| N | mask | density | FP8 fma-exp | bf16 ms | FP8 ms | bf16 TFLOP/s | FP8 TFLOP/s | FP8 ÷ bf16 time | quantise ms | FP8 vs bf16 rel err |")
print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for (n, mode, label), group in sorted(rows.items(), key=lambda kv: (kv[0][0], kv[0][1] != "fp8-dense", kv[0][1], kv[0][2])):
    a = group.get("b16")
    for share, b in sorted(((k[1], v) for k, v in group.items() if k != "b16"), key=lambda kv: kv[0]):
        if not a:
            continue
        q = re.search(r"quantise ([0-9.]+) ms", b["note"])
        e = re.search(r"rel err ([0-9.e+-]+)", b["note"])
        print(f"| {n // 1024}K | {label} | {b['density']:.3f} | {share}/8 | {a['msMedian']:.3f} | {b['msMedian']:.3f} | {a['tflops']:.0f} | {b['tflops']:.0f} | "
              f"{b['msMedian'] / a['msMedian']:.3f} | {q.group(1) if q else '-'} | {e.group(1) if e else '-'} |")
