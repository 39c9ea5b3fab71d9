#!/usr/bin/env bash
# The ONE device command for the GPU benchmarks (nothing is built there: the static `skeleton`
# binary is built here and carried in .carry/). Stages, each logged under $OUT:
#   doctor -> gpu-check (correctness of every kernel variant) -> gpu-bench (ours) ->
#   torch_sdpa.py (cuDNN + flash, same shapes) -> merge.py (one table, printed last).
# Knobs (environment): SK_CHECK=0 skips the check; SK_TOKENS / SK_DIMS main sweep (d = 128);
# SK_DIM_TOKENS / SK_OTHER_DIMS the d = 64 / 256 sweep; SK_LONG the long lengths (dense
# + low densities); SK_SECONDS time per configuration; SK_VARIANTS=1 times extra kernel layouts.
# Build + call (from the repo root, here):
#   swift build -c release --static-swift-stdlib --scratch-path .build-gpu --product skeleton
#   mkdir -p .carry && strip -o .carry/skeleton .build-gpu/release/skeleton   (or gzip it to .carry/skeleton.gz)
#   optional real Q/K: cp data/qk/pride_4096/layer{00,15}_{q,k,v}.npy .carry/qk/
#   run(command: "bash bench/gpu/run.sh", carry: [".carry"])
set -u
OUT=${OUT:-/tmp/skeleton-out}; mkdir -p "$OUT"
CARRY=${SK_CARRY:-.carry}
BIN=${SK_BIN:-$CARRY/skeleton}
# the binary may travel gzipped (the carry limit is 64 MiB); captured real Q/K may travel in $CARRY/qk
if [ -f $CARRY/skeleton.gz ]; then gzip -dc $CARRY/skeleton.gz > /tmp/skeleton && chmod +x /tmp/skeleton && BIN=/tmp/skeleton; fi
QKARGS=""; [ -d $CARRY/qk ] && QKARGS="--qk-dir $CARRY/qk --layers ${SK_QK_LAYERS:-0,15}"
export SKELETON_CACHE=${SKELETON_CACHE:-/tmp/skeleton-cache}
export PYTHONUNBUFFERED=1
TOKENS=${SK_TOKENS:-8K,32K,128K}
DIM_TOKENS=${SK_DIM_TOKENS:-32K,128K}
OTHER_DIMS=${SK_OTHER_DIMS:-64,256}
LONG=${SK_LONG:-}
SECONDS_PER=${SK_SECONDS:-1.0}
VARIANTS=${SK_VARIANTS:-1}
started=$(date +%s)
stamp() { echo "== $1 (t+$(( $(date +%s) - started ))s)"; }

{ stamp doctor; nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,memory.used,memory.total --format=csv; "$BIN" doctor --compile; } 2>&1 | tee "$OUT/doctor.txt"
if [ "${SK_CHECK:-1}" = 1 ]; then
  stamp gpu-check; "$BIN" gpu-check $QKARGS 2>&1 | tee "$OUT/check.txt"
fi
VFLAG=""; [ "$VARIANTS" = 1 ] && VFLAG="--variants"
{
  stamp "gpu-bench d=128"
  "$BIN" gpu-bench --tokens "$TOKENS" --head-dims 128 $VFLAG --seconds "$SECONDS_PER" --json "$OUT/ours.json"
  if [ -n "$OTHER_DIMS" ]; then
    stamp "gpu-bench d=$OTHER_DIMS"
    "$BIN" gpu-bench --tokens "$DIM_TOKENS" --head-dims "$OTHER_DIMS" --densities 0.2,0.05 --seconds "$SECONDS_PER" --json "$OUT/ours.json" --append
  fi
  if [ "${SK_BUDGET:-1}" = 1 ]; then
    stamp "time-budget mode"
    "$BIN" gpu-bench --tokens 32K,128K --head-dims 128 --budget-ms "${SK_BUDGET_MS:-20,10,8,5;300,100,50,30}" --calibrate-tokens 32K --seconds "$SECONDS_PER" --json "$OUT/ours.json" --append
  fi
} 2>&1 | tee "$OUT/bench.txt"
{
  stamp "torch sdpa d=128"
  python3 bench/gpu/torch_sdpa.py --tokens "$TOKENS" --head-dims 128 --seconds "$SECONDS_PER" --json "$OUT/torch.json"
  if [ -n "$OTHER_DIMS" ]; then
    stamp "torch sdpa d=$OTHER_DIMS"
    python3 bench/gpu/torch_sdpa.py --tokens "$DIM_TOKENS" --head-dims "$OTHER_DIMS" --seconds "$SECONDS_PER" --json "$OUT/torch.json" --append
  fi
} 2>&1 | tee "$OUT/torch.txt"
if [ -n "$LONG" ]; then
  { stamp "long: $LONG"
    "$BIN" gpu-bench --tokens "$LONG" --head-dims 128 --densities 0.1,0.05,0.02 --seconds 0 --json "$OUT/ours.json" --append
    python3 bench/gpu/torch_sdpa.py --tokens "$LONG" --head-dims 128 --seconds 0 --json "$OUT/torch.json" --append
  } 2>&1 | tee -a "$OUT/bench.txt"
fi
stamp merge
python3 bench/gpu/merge.py "$OUT/ours.json" "$OUT/torch.json" | tee "$OUT/table.md"
grep -E "gpu-check:|FAIL" "$OUT/check.txt" 2>/dev/null | tail -5
stamp done
