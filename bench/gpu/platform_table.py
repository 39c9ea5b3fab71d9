#!/usr/bin/env python3
"""Old vs new binary, same GPU run: check pass counts, then every timed configuration of
gpu-bench side by side (median ms of each repetition, new ÷ old, and old's own rep-to-rep spread
as the noise yardstick)."""
import json, os, re, sys

out = sys.argv[1]

def lines(name):
    p = os.path.join(out, name)
    return open(p, errors="replace").read().splitlines() if os.path.exists(p) else []

print("### Checks\n")
print("| check | old | new |")
print("|---|---|---|")
for kind, pattern in [("check", r"^gpu-check: (\d+)/(\d+)"), ("estimate", r"^gpu-estimate: (\d+)/(\d+)"),
                      ("minference", r"^gpu-minference checks: (\d+)/(\d+)")]:
    cells = []
    for b in ("old", "new"):
        found = [re.match(pattern, l) for l in lines(f"{kind}-{b}.txt")]
        found = [m for m in found if m]
        cells.append(f"{found[-1].group(1)}/{found[-1].group(2)}" if found else "missing")
    print(f"| gpu-{kind} | {cells[0]} | {cells[1]} |")
extra = [l for l in lines("check-new.txt") if l.startswith("gpu-check (spec)")]
for l in extra:
    print(f"| {l.split(':')[0]} | - | {l.split(':', 1)[1].strip()} |")

def records(b, rep):
    p = os.path.join(out, f"bench-{b}-{rep}.json")
    try:
        return json.load(open(p))
    except Exception:
        return []

def key(r):
    return (r["headDim"], r["tokens"], r["mode"], r["variant"], round(r["density"], 4) if r["mode"] != "estimate" else 0, r.get("note", "")[:0])

table = {}
for b in ("old", "new"):
    for rep in (1, 2):
        for r in records(b, rep):
            table.setdefault(key(r), {}).setdefault(b, []).append(r["msMedian"])

def n(t):
    return f"{t // 1024}K"

print("\n### Timings (median ms per repetition; same tensors, same call)\n")
print("| d | N | mode | variant | density | old reps | new reps | new ÷ old | old rep spread |")
print("|---|---|---|---|---|---|---|---|---|")
for k in sorted(table, key=lambda k: (k[0], k[1], k[2], k[3], -k[4])):
    v = table[k]
    o, w = v.get("old", []), v.get("new", [])
    ratio = f"{(sum(w) / len(w)) / (sum(o) / len(o)):.3f}" if o and w else "-"
    spread = f"{(max(o) - min(o)) / min(o) * 100:.1f}%" if len(o) > 1 else "-"
    print(f"| {k[0]} | {n(k[1])} | {k[2]} | {k[3]} | {k[4]} | {', '.join(f'{x:.3f}' for x in o)} | {', '.join(f'{x:.3f}' for x in w)} | {ratio} | {spread} |")
