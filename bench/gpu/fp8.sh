#!/usr/bin/env bash
# ONE device command for the hopper kernel's FP8 build (kernel v5.6): gpu-check's FP8 cases (quantiser byte for byte,
# kernel vs the float64 reference on the dequantised inputs), then gpu-bench --fp8 — FP8 beside the same kernel's bf16
# build on the same inputs and masks (dense; strided masks; the GPU estimator's masks at ε and density budgets on
# generated structured Q/K, widened to 128-key tiles) at SK_TOKENS; fp8_table.py prints the table last.
#   carry: .carry (skeleton.xz = the stripped release binary, xz)
set -u
OUT=${OUT:-/tmp/skeleton-out}; mkdir -p "$OUT"
CARRY=${SK_CARRY:-.carry}
xz -dc $CARRY/skeleton.xz > /tmp/sk 2>/dev/null || python3 -c "import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], 'wb'))" $CARRY/skeleton.xz /tmp/sk
chmod +x /tmp/sk; export SKELETON_CACHE=/tmp/skeleton-cache PYTHONUNBUFFERED=1 PYTHONSAFEPATH=1
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee "$OUT/fp8-gpu.txt"
if [ "${SK_CHECK:-1}" = 1 ]; then
  timeout 200 /tmp/sk gpu-check --filter fp8 > "$OUT/fp8-check.txt" 2>&1; echo "gpu-check exit $?" >> "$OUT/fp8-check.txt"
  grep -E "FP8 check|FAIL" "$OUT/fp8-check.txt" | head -8
fi
timeout ${SK_BENCH_TIMEOUT:-420} /tmp/sk gpu-bench --fp8 --tokens "${SK_TOKENS:-8K,32K,128K}" --densities "${SK_DENSITIES:-0.2,0.05}" \
  --epsilon "${SK_EPSILON:-0.02}" --estimate-budgets "${SK_BUDGETS:-0.1,0.05}" --seconds "${SK_SECONDS:-0.3}" --json "$OUT/fp8.json" > "$OUT/fp8-bench.txt" 2>&1 \
  || echo "fp8 bench failed or timed out (fp8-bench.txt)"
python3 bench/gpu/fp8_table.py "$OUT/fp8.json" | tee "$OUT/fp8-table.md"
