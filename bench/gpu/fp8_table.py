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
    rows.setdefault(key, {})["fp8" if r["dtype"] == "e4m3" else "b16"] = r
print("| N | mask | density | bf16 ms | FP8 ms | bf16 TFLOP/s | FP8 TFLOP/s | FP8 ÷ bf16 time | quantise ms | FP8 vs bf16 rel err |")
print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for (n, mode, label), pair in sorted(rows.items(), key=lambda kv: (kv[0][0], kv[0][1] != "fp8-dense", kv[0][1], kv[0][2])):
    a, b = pair.get("b16"), pair.get("fp8")
    if not a or not b:
        continue
    q = re.search(r"quantise ([0-9.]+) ms", b["note"])
    e = re.search(r"rel err ([0-9.e+-]+)", b["note"])
    print(f"| {n // 1024}K | {label} | {b['density']:.3f} | {a['msMedian']:.3f} | {b['msMedian']:.3f} | {a['tflops']:.0f} | {b['tflops']:.0f} | "
          f"{b['msMedian'] / a['msMedian']:.3f} | {q.group(1) if q else '-'} | {e.group(1) if e else '-'} |")
