#!/usr/bin/env python3
"""Merges gpu-bench's and torch_sdpa.py's JSON records into one markdown table per head dim:
cuDNN, PyTorch flash, our dense (every kernel variant), our sparse per density, with
effective TFLOP/s (useful FLOPs / time), speed-up over cuDNN, and the sparse tile rate as a
fraction of our dense rate (the issue's >= 85% target)."""
import json, sys
from collections import defaultdict

recs = []
for p in sys.argv[1:]:
    try:
        recs += json.load(open(p))
    except Exception as e:
        print(f"(could not read {p}: {e})")

def fmt_n(n):
    return f"{n // (1024 * 1024)}M" if n % (1024 * 1024) == 0 else f"{n // 1024}K"

by = defaultdict(list)
budget = [r for r in recs if r["mode"] == "budget"]
budget_est = [r for r in recs if r["mode"] == "budget-estimated"]
estimates = [r for r in recs if r["mode"] == "estimate"]
for r in recs:
    if r["mode"] not in ("budget", "estimate", "budget-estimated"):
        by[(r["headDim"], r["tokens"])].append(r)

def table_head(title, header):
    """A markdown section title, then the table's header row and its |---| separator."""
    print(f"\n### {title}\n")
    print(header)
    print("|" + "---|" * (header.count("|") - 1))

for d in sorted({k[0] for k in by}):
    table_head(f"d = {d}", "| N | impl | variant | density | time ms | eff. TFLOP/s | vs cuDNN | tile rate vs our dense | peak GiB |")
    for n in sorted({k[1] for k in by if k[0] == d}):
        rows = by[(d, n)]
        cud = next((r for r in rows if r["impl"] == "cudnn"), None)
        ours_dense = next((r for r in rows if r["impl"] == "ours" and r["mode"] == "dense"), None)
        order = sorted(rows, key=lambda r: (r["impl"] != "cudnn", r["impl"] != "flash", r["mode"] != "dense", -r["density"]))
        for r in order:
            vs = f"{cud['msMedian'] / r['msMedian']:.2f}x" if cud else "-"
            rate = f"{r['tflops'] / ours_dense['tflops'] * 100:.0f}%" if (ours_dense and r["impl"] == "ours") else "-"
            print(f"| {fmt_n(n)} | {r['impl']} | {r['variant']} | {r['density']:.3f} | {r['msMedian']:.3f} | {r['tflops']:.1f} | {vs} | {rate} | {r['peakBytes'] / 2**30:.2f} |")

def note_ms(note, key):
    """The number after `key` in a record's note ("asked 20.00 ms, ..." → 20.0)."""
    return float(note.split(key + " ")[1].split(" ms")[0])

if budget:
    table_head("Time-budget mode (cost model calibrated at 32K; strided masks; estimation time not included)", "| N | d | asked ms | density chosen | predicted / achieved | achieved / asked |")
    for r in budget:
        asked, pred = note_ms(r["note"], "asked"), note_ms(r["note"], "predicted")
        print(f"| {fmt_n(r['tokens'])} | {r['headDim']} | {asked:.2f} | {r['density']:.4f} | {pred:.2f} / {r['msMedian']:.2f} | {r['msMedian'] / asked * 100:.0f}% |")

if budget_est:
    table_head("Time-budget mode with the GPU estimator (the budget covers estimation + attention; random Q/K)", "| N | d | asked ms | estimation ms | density chosen | predicted / achieved (estimation + attention) | achieved / asked |")
    for r in budget_est:
        asked, est, pred = (note_ms(r["note"], key) for key in ("asked", "estimation", "predicted"))
        print(f"| {fmt_n(r['tokens'])} | {r['headDim']} | {asked:.2f} | {est:.2f} | {r['density']:.4f} | {pred:.2f} / {r['msMedian']:.2f} | {r['msMedian'] / asked * 100:.0f}% |")

if estimates:
    table_head("GPU skeleton estimator end to end (generated structured Q/K, 32/8 heads; estimation + sparse attention vs cuDNN dense)", "| N | d | mask | density | estimate ms | sparse ms | estimate + sparse ms | cuDNN dense ms | estimate / cuDNN | end to end vs cuDNN | output rel. err vs dense |")
    for e in estimates:
        label = e["note"].split(" on generated")[0]
        att = next((r for r in recs if r["mode"] == "estimated" and r["note"] == e["note"] and r["tokens"] == e["tokens"]), None)
        cud = next((r for r in recs if r["impl"] == "cudnn" and r["tokens"] == e["tokens"] and r["headDim"] == e["headDim"]), None)
        err = e["note"].split("rel err vs dense ")[1] if "rel err vs dense " in e["note"] else "-"
        sp = att["msMedian"] if att else float("nan")
        tot = e["msMedian"] + sp
        c = cud["msMedian"] if cud else float("nan")
        print(f"| {fmt_n(e['tokens'])} | {e['headDim']} | {label} | {e['density']:.4f} | {e['msMedian']:.3f} | {sp:.3f} | {tot:.3f} | {c:.3f} | {e['msMedian'] / c * 100:.1f}% | {c / tot:.2f}x | {err} |")
