#!/usr/bin/env bash
# The long lengths in one device call (512K and 1M tokens, 32/8 heads, d = 128, bf16): our dense
# and sparse kernels (strided masks at SK_DENSITIES) with peak memory, cuDNN / flash dense in the
# same call, one run each (a dense 1M layer takes ~20 s). Carry as for run.sh:
#   run(command: "SK_CARRY=.carry/final bash bench/gpu/long.sh", carry: [".carry/final"])
set -u
OUT=${OUT:-/tmp/skeleton-out}; mkdir -p "$OUT"
CARRY=${SK_CARRY:-.carry}
gzip -dc $CARRY/skeleton.gz > /tmp/skeleton && chmod +x /tmp/skeleton
export SKELETON_CACHE=${SKELETON_CACHE:-/tmp/skeleton-cache} PYTHONUNBUFFERED=1
LONG=${SK_LONG:-512K,1M}
started=$(date +%s)
stamp() { echo "== $1 (t+$(( $(date +%s) - started ))s)"; }
{ stamp "ours: $LONG"
  /tmp/skeleton gpu-bench --tokens "$LONG" --head-dims 128 --densities "${SK_DENSITIES:-0.1,0.05,0.02}" --seconds 0 --json "$OUT/long-ours.json"
  stamp "torch: $LONG"
  python3 bench/gpu/torch_sdpa.py --tokens "$LONG" --head-dims 128 --seconds 0 --json "$OUT/long-torch.json"
} 2>&1 | tee "$OUT/long.txt"
python3 bench/gpu/merge.py "$OUT/long-ours.json" "$OUT/long-torch.json" | tee "$OUT/long-table.md"
stamp done
