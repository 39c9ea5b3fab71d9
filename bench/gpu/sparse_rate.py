#!/usr/bin/env python3
"""Per-mask rate of the sparse kernel: its useful TFLOP/s (computed causal pairs) over our dense
kernel's at the same N, from gpu-bench JSON records; both orders of the persistent kernel side by side."""
import json, sys
from collections import defaultdict

recs = []
for path in sys.argv[1:]:
    recs += json.load(open(path))
dense = {}
for r in recs:
    if r["mode"] == "dense" and r["impl"] == "ours":
        dense.setdefault((r["headDim"], r["tokens"]), r)      # the first dense variant is the default
rows = defaultdict(dict)
for r in recs:
    if r["mode"] not in ("sparse", "sparse-graded", "estimated"):
        continue
    order = "static" if r["variant"].endswith("static order") else "queue"
    label = r["note"].split(";")[0].split(", static order")[0]
    rows[(r["headDim"], r["tokens"], r["mode"], label)][order] = r
print("| d | N | mask | density | queue ms | static ms | queue rate | static rate | queue ÷ static time |")
print("|---|---|---|---|---|---|---|---|---|")
for key in sorted(rows, key=lambda k: (k[0], k[1], k[2], k[3])):
    d, n, mode, label = key
    dn = dense.get((d, n))
    q, st = rows[key].get("queue"), rows[key].get("static")
    any_r = q or st
    rate = lambda r: f"{r['tflops'] / dn['tflops'] * 100:.0f}%" if r and dn and dn["tflops"] > 0 else "-"
    ms = lambda r: f"{r['msMedian']:.3f}" if r else "-"
    ratio = f"{q['msMedian'] / st['msMedian']:.3f}" if q and st else "-"
    print(f"| {d} | {n // 1024}K | {mode}: {label} | {any_r['density']:.3f} | {ms(q)} | {ms(st)} | {rate(q)} | {rate(st)} | {ratio} |")
for (d, n), r in sorted(dense.items()):
    print(f"dense d{d} {n // 1024}K: {r['msMedian']:.3f} ms, {r['tflops']:.0f} TFLOP/s ({r['variant']})")
