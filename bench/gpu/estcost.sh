#!/usr/bin/env bash
# ONE device command for the cost of the GPU skeleton estimator (issue 11's targets):
#   1. gpu-estimate: the GPU estimator against the CPU one (generated, random and captured real
#      SmolLM2 Q/K, both threshold modes, poisoned workspaces) — must stay 0 tiles differing;
#   2. the stage profile and the end-to-end estimate time on generated structured Q/K at
#      8K with SmolLM2's shape (9 / 3 heads, d 64) and at 32K, 128K (32 / 8 heads, d 128), bf16,
#      with cuDNN SDPA (torch) on the same shapes in the same call;
#   3. a short table last: stage ms, estimate ms, cuDNN ms, target, verdict.
# Build + call (from the repo root, here):
#   swift build -c release --static-swift-stdlib --scratch-path .build-gpu --product skeleton
#   mkdir -p .carry/estcost/qk && strip -o .carry/estcost/skeleton .build-gpu/release/skeleton && xz -f -T2 .carry/estcost/skeleton
#   cp data/estcost_pride_4096/layer{00,15}_{q,k}.npy .carry/estcost/qk/
#   run(command: "bash bench/gpu/estcost.sh", carry: [".carry/estcost"])
# Knobs: SK_CHECK=0 skips step 1; SK_FIT_ROWS (default "1024,256": strided fit rows per head, which sets the
# probe stride: 1024 = stride 32 up to 32K, 256 = stride 32 at 8K, 128 at 32K, 256 at 128K) lists probe budgets.
set -u
OUT=${OUT:-/tmp/skeleton-out}; mkdir -p "$OUT"
if command -v xz >/dev/null; then xz -dc .carry/estcost/skeleton.xz > /tmp/sk
else python3 -c "import lzma,sys; sys.stdout.buffer.write(lzma.open('.carry/estcost/skeleton.xz').read())" > /tmp/sk; fi
chmod +x /tmp/sk
export SKELETON_CACHE=${SKELETON_CACHE:-/tmp/skeleton-cache}
export PYTHONUNBUFFERED=1
export PYTHONSAFEPATH=1  # bench/gpu/platform.py would shadow the stdlib module when torch imports it
SECONDS_PER=${SK_SECONDS:-0.5}
FIT_ROWS=${SK_FIT_ROWS:-1024,256}
started=$(date +%s)
stamp() { echo "== $1 (t+$(( $(date +%s) - started ))s)"; }
if [ "${SK_CHECK:-1}" = 1 ]; then
  { stamp gpu-estimate; /tmp/sk gpu-estimate --qk-dir .carry/estcost/qk --layers 0,15; } 2>&1 | tee "$OUT/estimate-check.txt"
fi
{ stamp "estimator at 8K, SmolLM2 shape 9/3 d64"
  /tmp/sk gpu-bench --tokens 8K --heads 9 --kv-heads 3 --head-dims 64 --densities "" --epsilon 0.02 \
    --estimate-budgets 0.3 --estimate-fit-rows "$FIT_ROWS" --seconds "$SECONDS_PER" --json "$OUT/ours.json"
  stamp "estimator at 32K, 128K, 32/8 d128"
  /tmp/sk gpu-bench --tokens 32K,128K --heads 32 --kv-heads 8 --head-dims 128 --densities "" --epsilon 0.02 \
    --estimate-budgets 0.1 --estimate-fit-rows "$FIT_ROWS" --seconds "$SECONDS_PER" --json "$OUT/ours.json" --append
  stamp "torch sdpa (cuDNN) on the same shapes"
  python3 bench/gpu/torch_sdpa.py --tokens 8K --heads 9 --kv-heads 3 --head-dims 64 --backends cudnn --seconds "$SECONDS_PER" --json "$OUT/torch.json"
  python3 bench/gpu/torch_sdpa.py --tokens 32K,128K --heads 32 --kv-heads 8 --head-dims 128 --backends cudnn --seconds "$SECONDS_PER" --json "$OUT/torch.json" --append
} 2>&1 | tee "$OUT/estcost-bench.txt"
stamp table
python3 - "$OUT/estcost-bench.txt" "$OUT/ours.json" "$OUT/torch.json" "$FIT_ROWS" <<'EOF' | tee "$OUT/estcost-table.md"
import json, re, sys
log, ours, torch = sys.argv[1:4]
targets = {(8192, 64): 0.15, (32768, 128): 0.8, (131072, 128): 3.0}
fits = [int(x) for x in sys.argv[4].split(",")]
first_fit = fits[0]
groups = [("pass 1", "probes pass 1"), ("pass 2", "probes pass 2"), ("IPF", "IPF"), ("tiles", "tile masses"),
          ("sort", "sort rows"), ("calib", "calibration"), ("CSR", "mask (CSR)")]
stages = {}
for line in open(log, errors="replace"):
    m = re.match(r"skeleton eps=[0-9.]+(?: fit rows (\d+))? N=(\d+) stages: (.*)", line.strip())
    if not m: continue
    fit = int(m.group(1)) if m.group(1) else first_fit
    n = int(m.group(2)); row = {}
    for part in m.group(3).split(", "):
        mm = re.match(r"(.*) ([0-9.]+) ms$", part)
        if not mm: continue
        name, ms = mm.group(1), float(mm.group(2))
        for short, key in groups:
            if key in name: row[short] = row.get(short, 0.0) + ms; break
    stages.setdefault((n, fit), row)
def load(p):
    try: return json.load(open(p))
    except Exception: return []
est = {}
for r in load(ours):
    note = r.get("note", "")
    m = re.match(r"skeleton eps=[0-9.]+(?: fit rows (\d+))? on", note)
    if r.get("mode") == "estimate" and m:
        fit = int(m.group(1)) if m.group(1) else first_fit
        est.setdefault((r["tokens"], r["headDim"], fit), (r["msMedian"], re.search(r"probe stride (\d+)", note).group(1)))
dense = {(r["tokens"], r["headDim"]): r["msMedian"] for r in load(torch) if r.get("impl") == "cudnn"}
print("| N | heads d | fit rows (stride) | " + " | ".join(g for g, _ in groups) + " | estimate ms | cuDNN ms | est/cuDNN | target ms | verdict |")
print("|---" * (len(groups) + 8) + "|")
for (n, d), target in sorted(targets.items()):
    for fit in fits:
        row = stages.get((n, fit), {})
        e, stride = est.get((n, d, fit), (None, "?")); c = dense.get((n, d))
        cells = [f"{row[g]:.3f}" if g in row else "-" for g, _ in groups]
        verdict = "-" if e is None else ("met" if e <= target else f"{e / target:.1f}x over")
        print(f"| {n // 1024}K | {'9/3 d64' if d == 64 else '32/8 d128'} | {fit} ({stride}) | " + " | ".join(cells)
              + f" | {f'{e:.3f}' if e is not None else '-'} | {f'{c:.3f}' if c is not None else '-'} | "
              + (f"{e / c:.3f}" if e and c else "-") + f" | {target} | {verdict} |")
EOF
grep -E "gpu-estimate:|FAIL" "$OUT/estimate-check.txt" 2>/dev/null | tail -8
stamp done
