#!/usr/bin/env bash
# ONE device command: gpu-check of the carried binary, then the sparse kernel's per-mask rate — uniform
# strided masks, graded masks (head densities that differ), the GPU estimator's own masks (ε and density
# targets) — in the work-queue and the static order, beside our dense kernel; sparse_rate.py prints the table.
#   carry: .carry (skeleton.xz = the stripped release binary, xz; qk/ = captured real Q/K/V, optional)
set -u
OUT=${OUT:-/tmp/skeleton-out}; mkdir -p "$OUT"
CARRY=${SK_CARRY:-.carry}
if command -v xz >/dev/null; then xz -dc $CARRY/skeleton.xz > /tmp/sk; else python3 -c "import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], 'wb'))" $CARRY/skeleton.xz /tmp/sk; fi
chmod +x /tmp/sk; export SKELETON_CACHE=/tmp/skeleton-cache
QK=""; [ -d $CARRY/qk ] && QK="--qk-dir $CARRY/qk --layers 0,15"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"
[ "${SK_CHECK:-1}" = 1 ] && { /tmp/sk gpu-check $QK > "$OUT/check.txt" 2>&1; grep -E "^gpu-check" "$OUT/check.txt"; grep -E "FAIL" "$OUT/check.txt" | head -5; }
SECS=${SK_SECONDS:-0.5}
/tmp/sk gpu-bench --tokens "${SK_TOKENS:-8K,32K,128K}" --head-dims 128 --densities "${SK_DENSITIES:-0.2,0.05}" --seconds "$SECS" --json "$OUT/bench.json" > "$OUT/bench.txt" 2>&1 || echo "bench failed (bench.txt)"
/tmp/sk gpu-bench --tokens "${SK_EST_TOKENS:-32K,128K}" --head-dims 128 --densities "" --epsilon "${SK_EPSILON:-0.05}" --estimate-budgets "${SK_BUDGETS:-0.2,0.05}" --seconds "$SECS" \
  --json "$OUT/bench.json" --append >> "$OUT/bench.txt" 2>&1 || echo "estimator bench failed (bench.txt)"
python3 bench/gpu/sparse_rate.py "$OUT/bench.json" | tee "$OUT/rate-table.md"
