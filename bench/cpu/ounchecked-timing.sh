#!/usr/bin/env bash
# Hot paths of two release builds, back to back on one machine: `skeleton capture` at 4096 tokens
# and `skeleton mask-eval --estimator all` on a captured 8192-token window, alternating OLD and NEW
# ROUNDS times. Prints one line per run (wall and CPU seconds), then whether the two builds wrote
# the same capture files and printed the same mask-eval summary.
#   bash bench/cpu/ounchecked-timing.sh OLD_BIN NEW_BIN CAPTURE_8K_DIR SCRATCH [ROUNDS]
set -euo pipefail
OLD=$1 NEW=$2 DIR8K=$3 SCRATCH=$4 ROUNDS=${5:-2}
mkdir -p "$SCRATCH"
run() {  # label output-file command...
  local label=$1 out=$2; shift 2
  local t0 t1 u0 u1
  t0=$(date +%s.%N)
  /usr/bin/env time -f "%U %S" -o "$SCRATCH/cpu.txt" "$@" > "$out" 2>&1
  t1=$(date +%s.%N)
  read -r us ss < "$SCRATCH/cpu.txt"
  printf '%s wall %.1f cpu %.1f\n' "$label" "$(echo "$t1 - $t0" | bc)" "$(echo "$us + $ss" | bc)"
}
for r in $(seq 1 "$ROUNDS"); do
  for side in old new; do
    BIN=$OLD; [ "$side" = new ] && BIN=$NEW
    run "capture-4k $side" "$SCRATCH/capture-$side.log" "$BIN" capture --text pride_and_prejudice --tokens 4096 --layers 0,4,9,14,19,24,29 \
        --out "$SCRATCH/capture-$side" --quiet
    run "mask-eval-8k $side" "$SCRATCH/mask-eval-$side-$r.out" "$BIN" mask-eval --dir "$DIR8K" --estimator all --quiet
  done
done
for f in "$SCRATCH"/capture-old/*.npy; do
  cmp -s "$f" "$SCRATCH/capture-new/$(basename "$f")" || echo "capture differs: $(basename "$f")"
done
echo "capture files compared: $(ls "$SCRATCH"/capture-old/*.npy | wc -l)"
if diff -q "$SCRATCH/mask-eval-old-1.out" "$SCRATCH/mask-eval-new-1.out" > /dev/null; then echo "mask-eval output identical"; else echo "mask-eval output DIFFERS"; fi
