#!/usr/bin/env bash
# ONE device command for the GPU skeleton estimator: its check against the CPU reference
# (gpu-estimate: generated, random and captured real Q/K, both threshold modes, poisoned
# workspaces), then the end-to-end timing at SK_TOKENS (estimation and sparse attention apart,
# generated structured Q/K, 32/8 heads, d = 128, bf16) with cuDNN / flash dense in the same call.
# Build + call (from the repo root, here):
#   swift build -c release --static-swift-stdlib --scratch-path .build-gpu --product skeleton
#   mkdir -p .carry/est/qk && strip -o .carry/est/skeleton .build-gpu/release/skeleton && gzip -f .carry/est/skeleton
#   cp data/qk/pride_4096/layer{00,15}_{q,k}.npy .carry/est/qk/
#   run(command: "bash bench/gpu/estimator.sh", carry: [".carry/est"])
set -u
OUT=${OUT:-/tmp/skeleton-out}; mkdir -p "$OUT"
gzip -dc .carry/est/skeleton.gz > /tmp/sk && chmod +x /tmp/sk
export SKELETON_CACHE=${SKELETON_CACHE:-/tmp/skeleton-cache}
export PYTHONUNBUFFERED=1
TOKENS=${SK_TOKENS:-32K,128K}
started=$(date +%s)
stamp() { echo "== $1 (t+$(( $(date +%s) - started ))s)"; }
if [ "${SK_CHECK:-1}" = 1 ]; then
  { stamp gpu-estimate; /tmp/sk gpu-estimate --qk-dir .carry/est/qk --layers 0,15; } 2>&1 | tee "$OUT/estimate-check.txt"
fi
{ stamp "estimator end to end: $TOKENS"
  /tmp/sk gpu-bench --tokens "$TOKENS" --head-dims 128 --densities "" --epsilon "${SK_EPSILON:-0.05}" \
    --estimate-budgets "${SK_BUDGETS:-0.05,0.02}" --estimate-fit-rows "${SK_FIT_ROWS:-1024,512}" --seconds "${SK_SECONDS:-0.5}" --json "$OUT/ours.json"
  stamp "torch sdpa: $TOKENS"
  python3 bench/gpu/torch_sdpa.py --tokens "$TOKENS" --head-dims 128 --seconds "${SK_SECONDS:-0.5}" --json "$OUT/torch.json"
} 2>&1 | tee "$OUT/estimate-bench.txt"
stamp merge
python3 bench/gpu/merge.py "$OUT/ours.json" "$OUT/torch.json" | tee "$OUT/estimate-table.md"
grep -E "gpu-estimate:|FAIL" "$OUT/estimate-check.txt" 2>/dev/null | tail -8
stamp done
