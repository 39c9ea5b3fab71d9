#!/usr/bin/env bash
# Device command for the attention-kernel work (helper `kernel`, v4): builds nothing. Runs gpu-check
# (every kernel variant, wgmma included), then times the kernels side by side in ONE run:
# dense 8K/32K/128K and strided sparse masks 0.2/0.1/0.05/0.02 at each N, d = 128 bf16 32/8 heads,
# for each kernel in SK_KERNELS (SK_FLASH_KERNEL values: mma = the v3 default, wgmma = not persistent,
# wgmma-s2 = persistent with 2 K/V stages, auto = the default),
# plus d = 64 / 256 at 32K, plus cuDNN and PyTorch flash (torch_sdpa.py) on the same shapes.
# Under $OUT (at most 8 files come back): check.txt, bench.txt (all other logs), ours-<kernel>.json,
# torch.json, table.md; the side-by-side table (bench/kernel/table.py) is printed last.
# Call (from the repo root, here):
#   swift build -c release --static-swift-stdlib --scratch-path .build-kernel --product skeleton
#   mkdir -p .carry-kernel && strip -o .carry-kernel/skeleton .build-kernel/release/skeleton && gzip -f .carry-kernel/skeleton
#   run(command: "bash bench/kernel/run.sh", carry: [".carry-kernel"], timeout_s: 300)
set -u
OUT=${OUT:-/tmp/kernel-out}; mkdir -p "$OUT"
gzip -dc .carry-kernel/skeleton.gz > /tmp/sk && chmod +x /tmp/sk
BIN=/tmp/sk
export SKELETON_CACHE=/tmp/skeleton-cache PYTHONUNBUFFERED=1
KERNELS=${SK_KERNELS:-mma wgmma wgmma-s2 auto}
TOKENS=${SK_TOKENS:-8K,32K,128K}
SEC=${SK_SECONDS:-0.5}
started=$(date +%s)
stamp() { echo "== $1 (t+$(( $(date +%s) - started ))s)"; }
{ stamp start; nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,memory.used,memory.total --format=csv; } 2>&1 | tee -a "$OUT/bench.txt"
if [ "${SK_CHECK:-1}" = 1 ]; then
  stamp gpu-check
  "$BIN" gpu-check ${SK_CHECK_FILTER:+--filter "$SK_CHECK_FILTER"} > "$OUT/check.txt" 2>&1; echo "gpu-check exit $?" >> "$OUT/check.txt"
  grep -E "FAIL|error" "$OUT/check.txt" | head -20; tail -2 "$OUT/check.txt"
fi
for K in $KERNELS; do
  stamp "gpu-bench $K"
  SK_FLASH_KERNEL=$K "$BIN" gpu-bench --tokens "$TOKENS" --head-dims 128 --densities 0.2,0.1,0.05,0.02 --seconds "$SEC" \
      --json "$OUT/ours-$K.json" > /tmp/bench-$K.txt 2>&1
  SK_FLASH_KERNEL=$K "$BIN" gpu-bench --tokens 32K --head-dims 64,256 --densities 0.05 --seconds "$SEC" \
      --json "$OUT/ours-$K.json" --append >> /tmp/bench-$K.txt 2>&1
  { echo "## $K"; cat /tmp/bench-$K.txt; } >> "$OUT/bench.txt"
  grep -E "dense|skipped|rror" /tmp/bench-$K.txt | cut -c1-160
done
stamp torch
python3 bench/gpu/torch_sdpa.py --tokens "$TOKENS" --head-dims 128 --seconds "$SEC" --json "$OUT/torch.json" > /tmp/torch.txt 2>&1
python3 bench/gpu/torch_sdpa.py --tokens 32K --head-dims 64,256 --seconds "$SEC" --json "$OUT/torch.json" --append >> /tmp/torch.txt 2>&1
cat /tmp/torch.txt >> "$OUT/bench.txt"; tail -3 /tmp/torch.txt
stamp table
python3 bench/kernel/table.py "$OUT" $KERNELS | tee "$OUT/table.md"
stamp done
