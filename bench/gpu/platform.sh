#!/usr/bin/env bash
# ONE device command that proves a refactor changed no result: the previous binary and the new
# one, in the same call on the same GPU, each running gpu-check, gpu-estimate and gpu-minference
# (pass counts; masks vs the CPU estimator), then gpu-bench dense + sparse and the estimator end
# to end, interleaved old/new/new/old so run-to-run noise and order effects show; platform_table.py prints one table (not platform.py: a script folder module named platform shadows the standard library for torch_sdpa.py).
# Build + call (from the repo root, here):
#   swift build -c release --static-swift-stdlib --scratch-path .build-gpu --product skeleton
#   mkdir -p .carry/qk && strip -o /tmp/sk .build-gpu/release/skeleton && xz -6 -c /tmp/sk > .carry/skeleton.xz
#   the previous binary, built and stripped the same way from the old commit: .carry/skeleton-old.xz
#   cp data/capture/pride_4096/layer{00,15}_{q,k,v}.npy .carry/qk/   (xz keeps the three under 64 MiB)
#   run(command: "bash bench/gpu/platform.sh", carry: [".carry"])   (SK_CHECK=0 / SK_BENCH=0 run one half, so
#   the two halves fit two calls; the table reads every log /tmp/platform-logs holds; SK_SECONDS=1 times
#   each configuration for a second)
set -u
OUT=${OUT:-/tmp/skeleton-out}; mkdir -p "$OUT"
LOG=/tmp/platform-logs; mkdir -p "$LOG"   # kept on the machine between the two calls
CARRY=${SK_CARRY:-.carry}
export PYTHONUNBUFFERED=1
started=$(date +%s)
stamp() { echo "== $1 (t+$(( $(date +%s) - started ))s)"; }
unxz_to() { if command -v xz >/dev/null; then xz -dc "$1" > "$2"; else python3 -c "import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], 'wb'))" "$1" "$2"; fi; }
for b in old new; do
  src=$CARRY/skeleton.xz; [ $b = old ] && src=$CARRY/skeleton-old.xz
  unxz_to "$src" /tmp/sk-$b && chmod +x /tmp/sk-$b || { echo "platform.sh: cannot unpack $src"; exit 1; }
done
QK=""; [ -d $CARRY/qk ] && QK="--qk-dir $CARRY/qk --layers 0,15"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,memory.total --format=csv | tee "$LOG/gpu.txt"
if [ "${SK_CHECK:-1}" = 1 ]; then
  for b in ${SK_CHECK_BINARIES:-old new}; do   # SK_CHECK_BINARIES=new re-checks a changed kernel only
    export SKELETON_CACHE=/tmp/skeleton-cache-$b
    { stamp "$b gpu-check"; /tmp/sk-$b gpu-check $QK; } > "$LOG/check-$b.txt" 2>&1
    { stamp "$b gpu-estimate"; /tmp/sk-$b gpu-estimate $QK; } > "$LOG/estimate-$b.txt" 2>&1
    { stamp "$b gpu-minference"; /tmp/sk-$b gpu-minference $QK; } > "$LOG/minference-$b.txt" 2>&1
    grep -hE "^gpu-(check|estimate|minference)[a-z ]*:|^gpu-check \(spec\)" "$LOG"/check-$b.txt "$LOG"/estimate-$b.txt "$LOG"/minference-$b.txt | sed "s/^/$b: /"
  done
fi
TOKENS=${SK_TOKENS:-8K,32K,128K}
SECS=${SK_SECONDS:-0.5}
# ABBA order (old, new, then new, old), so an order effect (e.g. a warmer GPU for the second binary) cancels
[ "${SK_BENCH:-1}" = 1 ] && for rep in 1 2; do
  order="old new"; [ $rep = 2 ] && order="new old"
  for b in $order; do
    export SKELETON_CACHE=/tmp/skeleton-cache-$b
    stamp "$b gpu-bench rep $rep"
    /tmp/sk-$b gpu-bench --tokens "$TOKENS" --head-dims 128 --densities 0.2,0.05 --seconds "$SECS" --json "$LOG/bench-$b-$rep.json" > "$LOG/bench-$b-$rep.txt" 2>&1 || echo "$b bench rep $rep failed (see bench-$b-$rep.txt)"
    /tmp/sk-$b gpu-bench --tokens 32K,128K --head-dims 128 --densities "" --epsilon 0.05 --estimate-budgets 0.05 --seconds "$SECS" \
      --json "$LOG/bench-$b-$rep.json" --append >> "$LOG/bench-$b-$rep.txt" 2>&1 || echo "$b estimator bench rep $rep failed"
  done
done
stamp "table"
python3 bench/gpu/platform_table.py "$LOG" | tee "$OUT/platform-table.md"
tar -czf "$OUT/platform-logs.tgz" -C "$LOG" .
stamp done
