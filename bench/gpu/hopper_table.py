#!/usr/bin/env python3
"""Table of bench/gpu/hopper.sh: per shape and mask, each kernel's time and useful TFLOP/s, its rate (the
sparse TFLOP/s over the same kernel's dense TFLOP/s at that d and N), the new kernel's time over the old
one's on the same mask, and dense against cuDNN (PyTorch SDPA) in the same run.
usage: hopper_table.py OUTDIR kernel1 kernel2   (reads ours-<kernel>.json and torch.json)"""
import json, os, sys

out, kernels = sys.argv[1], sys.argv[2:]
recs = {k: json.load(open(os.path.join(out, f"ours-{k}.json"))) for k in kernels if os.path.exists(os.path.join(out, f"ours-{k}.json"))}
tp = os.path.join(out, "torch.json")
torch = json.load(open(tp)) if os.path.exists(tp) else []
cudnn = {(r["headDim"], r["tokens"]): r for r in torch if r["impl"] == "cudnn"}
flash = {(r["headDim"], r["tokens"]): r for r in torch if r["impl"] == "flash"}

def key(r):
    label = r.get("note", "") if r["mode"] != "dense" else ""
    return (r["headDim"], r["tokens"], r["mode"], label.split(";")[0])

rows, dense = {}, {}
for k, rs in recs.items():
    for r in rs:
        if r.get("impl") != "ours" or r["variant"].endswith("static order"):
            continue
        if r["mode"] == "dense":
            dense.setdefault((k, r["headDim"], r["tokens"]), r)  # the first dense record is the default kernel
            if r is not dense[(k, r["headDim"], r["tokens"])]:
                continue
        rows.setdefault(key(r), {}).setdefault(k, r)

def ntok(n): return f"{n // 1024}K" if n % 1024 == 0 else str(n)
cols = []
for k in kernels: cols += [f"{k} ms", f"{k} TFLOP/s", f"{k} rate"]
hdr = ["d", "N", "mask", "density"] + cols + [f"{kernels[-1]} ÷ {'/'.join(kernels[:-1])} time (first that ran)", "cuDNN TFLOP/s", f"{kernels[-1]} ÷ cuDNN"]
print("| " + " | ".join(hdr) + " |")
print("|" + "---|" * len(hdr))
order = {"dense": 0, "sparse": 1, "sparse-graded": 2, "estimated": 3}
for kk in sorted(rows, key=lambda x: (x[0], x[1], order.get(x[2], 9), x[3])):
    d, n, mode, label = kk
    per = rows[kk]
    any_r = next(iter(per.values()))
    line = [str(d), ntok(n), mode if mode == "dense" else f"{mode}: {label}", f"{any_r['density']:.3f}"]
    for k in kernels:
        r = per.get(k); dn = dense.get((k, d, n))
        if r is None:
            line += ["-", "-", "-"]; continue
        rate = f"{r['tflops'] / dn['tflops'] * 100:.0f}%" if dn and dn["tflops"] > 0 else "-"
        line += [f"{r['msMedian']:.3f}", f"{r['tflops']:.0f}", rate]
    # against the first kernel listed that ran this row (kernels timed at one head dim only leave the others' rows)
    a, b = next((per[k] for k in kernels[:-1] if k in per), None), per.get(kernels[-1])
    line.append(f"{b['msMedian'] / a['msMedian']:.3f}" if a and b and len(kernels) > 1 else "-")
    c = cudnn.get((d, n))
    line.append(f"{c['tflops']:.0f}" if c and mode == "dense" else "")
    line.append(f"{b['tflops'] / c['tflops']:.2f}×" if c and b and mode == "dense" else "")
    print("| " + " | ".join(line) + " |")
for (d, n), r in sorted(flash.items()):
    print(f"PyTorch flash d{d} {ntok(n)}: {r['tflops']:.0f} TFLOP/s")
for k in kernels:
    for (kn, d, n), r in sorted(dense.items()):
        if kn == k and d == 128:
            print(f"{k} dense d{d} {ntok(n)}: {r['variant']} ({r.get('note', '')})")
dv = {}
for k, rs in recs.items():
    for r in rs:
        if r.get("impl") == "ours" and r["mode"] == "dense":
            dv.setdefault((r["headDim"], r["tokens"]), {}).setdefault(r["variant"], r)
if any(len(v) > 1 for v in dv.values()):
    print()
    print("| d | N | dense kernel variant | ms | TFLOP/s | ÷ cuDNN |")
    print("|---|---|---|---|---|---|")
    for (d, n), vs in sorted(dv.items()):
        c = cudnn.get((d, n))
        for name, r in vs.items():
            print(f"| {d} | {ntok(n)} | {name} | {r['msMedian']:.3f} | {r['tflops']:.0f} | " + (f"{r['tflops'] / c['tflops']:.2f}×" if c else "") + " |")
