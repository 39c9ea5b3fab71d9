#!/usr/bin/env python3
"""Side-by-side table of bench/kernel/run.sh's output: per (d, N, density) the TFLOP/s of each
kernel (ours-<kernel>.json) and of cuDNN / PyTorch flash (torch.json); for sparse rows also the
tile rate = sparse effective TFLOP/s / the same kernel's dense TFLOP/s at that N and d.
usage: table.py OUTDIR kernel1 kernel2 ..."""
import json, os, sys

out, kernels = sys.argv[1], sys.argv[2:]
recs = {}
for kname in kernels:
    p = os.path.join(out, f"ours-{kname}.json")
    if os.path.exists(p):
        recs[kname] = json.load(open(p))
torch = json.load(open(os.path.join(out, "torch.json"))) if os.path.exists(os.path.join(out, "torch.json")) else []

def key(r):
    return (r["headDim"], r["tokens"], r["mode"], round(r["density"], 3) if r["mode"] == "sparse" else 1.0)

rows = {}
for kname, rs in recs.items():
    for r in rs:
        if r["mode"] not in ("dense", "sparse"):
            continue
        rows.setdefault(key(r), {})[kname] = r
dense = {(k[0], k[1], kn): r["tflops"] for k, v in rows.items() if k[2] == "dense" for kn, r in v.items()}
tor = {(r["headDim"], r["tokens"], r["impl"]): r["tflops"] for r in torch}

hdr = "| d | N | mode | density | " + " | ".join(f"{k} ms | {k} TFLOP/s | {k} tile rate" for k in kernels) + " | cuDNN TFLOP/s | flash TFLOP/s |"
print(hdr)
print("|" + "---|" * (hdr.count("|") - 1))
for k in sorted(rows, key=lambda k: (k[0], k[1], k[2], -k[3])):
    d, n, mode, dens = k
    cells = []
    for kn in kernels:
        r = rows[k].get(kn)
        if r is None:
            cells += ["", "", ""]; continue
        rate = "" if mode == "dense" else f"{100 * r['tflops'] / dense.get((d, n, kn), float('nan')):.0f}%"
        cells += [f"{r['msMedian']:.3f}", f"{r['tflops']:.1f}", rate]
    c = tor.get((d, n, "cudnn"), "") if mode == "dense" else ""
    f = tor.get((d, n, "flash"), "") if mode == "dense" else ""
    c = f"{c:.1f}" if c != "" else ""; f = f"{f:.1f}" if f != "" else ""
    print(f"| {d} | {n // 1024}K | {mode} | {dens:.3f} | " + " | ".join(cells) + f" | {c} | {f} |")
names = {kn: next((r["variant"] for r in rs if r["mode"] == "dense" and r["headDim"] == 128), "") for kn, rs in recs.items()}
print()
for kn, v in names.items():
    print(f"- {kn}: {v}")
