#!/usr/bin/env bash
# Mask quality on Gemma-3 270M's real attention on the GPU (skeleton gpu-mask-eval), global layers
# 5, 11, 17 (4 query heads each), 64×64 tiles: (1) gpu-check's exact tile-mass cases and the
# gpu-mask-eval vs mask-eval agreement on a generated layer; (2) the same agreement on a real 2K
# capture (skeleton capture, CPU model) figure by figure; (3) one bad-input line; (4) 32K and 16K on
# pride_and_prejudice, emma, persuasion (skeleton default + probe strides 32/64/128, GPU MInference,
# oracle); (5) PI ×4 at 128K on emma, layer 17, default stride, if the time left allows. Each step
# after (3) starts only when the time left holds it (predicted from the last run). A short table
# last. Builds nothing. Logs in $OUT. What it needs here (from the repo root):
#   swift build -c release --static-swift-stdlib --scratch-path .build-gpu --product skeleton
#   mkdir -p .carry/gme && strip -o /tmp/gme-skeleton .build-gpu/release/skeleton && xz -T2 -c /tmp/gme-skeleton > .carry/gme/skeleton.xz
#   cp data/texts/{pride_and_prejudice,emma,persuasion}.txt .carry/gme/
# The model travels in parts as bench/gpu/gemma.sh says (calls 1-4 put model.part00..03 into
# /tmp/gemma; part04 in .carry/gemma-5). This call: carry [".carry/gme", ".carry/gemma-5"]:
#   bash bench/gpu/mask-eval.sh
# SK_BUDGET_S (default 225): no step starts that would end past this many seconds. SK_CPU_ESTIMATORS (e.g.
# flexprefill,xattention): also scored, on the Q/K copied back to the host.
set -u
OUT=${OUT:-/tmp/gme-out}; mkdir -p "$OUT"
W=/tmp/gemma; C=.carry/gme; P=.carry/gemma-5; mkdir -p $W
BUDGET=${SK_BUDGET_S:-225}
CPU_EST=${SK_CPU_ESTIMATORS:-}  # e.g. flexprefill,xattention: scored on the Q/K copied back to the host
started=$(date +%s)
el() { echo $(( $(date +%s) - started )); }
stamp() { echo "== $1 (t+$(el)s)"; }
for i in 0 1 2 3; do
  [ -f $W/model.part0$i ] || [ -f $W/model.gguf ] || { echo "model part 0$i missing from $W: repeat call $((i + 1)) (the machine went cold?)"; exit 3; }
done
. bench/gpu/device_lib.sh
unpack_skeleton $C/skeleton.xz $W/gme-skeleton
if [ ! -f $W/model.gguf ]; then
  [ -f $P/model.part04 ] || { echo "model part 04 missing from $P (carry .carry/gemma-5)"; exit 3; }
  join_gemma $W $P/model.part04
fi
export SKELETON_CACHE=$W/cache
use_cublas
S=$W/gme-skeleton; M=$W/model.gguf
echo "== $(date -u) $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader)"
{ stamp "gpu-check: exact tile masses"; timeout 60 $S gpu-check --filter tile-mass; echo "rc=$?"
  stamp "gpu-check: gpu-mask-eval vs mask-eval, generated layer"; timeout 60 $S gpu-check --filter "mask-eval agreement"; echo "rc=$?"; } 2>&1 | tee "$OUT/check.txt"
grep -q "gpu-check (tile masses): 4/4 cases passed" "$OUT/check.txt" || { echo "tile-mass check failed: no mask evaluation"; exit 5; }
{ stamp "capture 2K (CPU model), layers 5,11,17"
  timeout 60 $S capture --model $M --text $C/pride_and_prejudice.txt --tokens 2048 --layers 5,11,17 --out $W/cap2048 --quiet; echo "rc=$?"
  stamp "gpu-mask-eval --dir (2K capture) --compare-cpu"
  timeout 60 $S gpu-mask-eval --dir $W/cap2048 --compare-cpu; echo "rc=$?"; } 2>&1 | tee "$OUT/agree-2048.txt"
{ stamp "bad input: 40000 tokens without --pi"; $S gpu-mask-eval --model $M --text $C/pride_and_prejudice.txt --tokens 40000; echo "rc=$?"; } 2>&1 | tee "$OUT/bad-input.txt"
last=0
run() {  # text tokens pi strides layers seconds-if-unmeasured ratio-to-the-first-32K-run (num/den)
  local f="$OUT/eval-$1-$2-pi$3.txt" need=$6 left=$(( BUDGET - $(el) ))
  [ $last -gt 0 ] && need=$(( last * ${7%/*} / ${7#*/} ))
  if [ $need -gt $left ]; then echo "== skipped $1 N=$2 PI x$3: predicted ${need}s, ${left}s left" | tee "$f"; return; fi
  local t0=$(date +%s)
  { stamp "gpu-mask-eval $1 N=$2 PI x$3 layers $5"
    timeout $left $S gpu-mask-eval --model $M --text $C/$1.txt --tokens $2 --pi $3 --strides "$4" --layers $5 --cpu-estimators "$CPU_EST" --report "$OUT/eval-$1-$2-pi$3.md"
    echo "rc=$?"; } 2>&1 | tee "$f"
  [ $last -eq 0 ] && last=$(( $(date +%s) - t0 ))
}
# host scoring grows as N²/64 per head; 128K: 16× the rows × tiles, 1 layer of 3, 3 mask sets of 7
run pride_and_prejudice 32768 1 "32,64,128" 5,11,17 40 1/1
for t in pride_and_prejudice emma persuasion; do run $t 16384 1 "32,64,128" 5,11,17 15 2/5; done
for t in emma persuasion; do run $t 32768 1 "32,64,128" 5,11,17 40 1/1; done
run emma 131072 4 "" 17 90 16/7
stamp table
echo
grep -E "^tile-mass .*\| (ok|FAIL)$|cases passed|^agreement:" "$OUT/check.txt"
grep -E "^agreement:|^compare-cpu:|FAIL$|^rc=" "$OUT/agree-2048.txt" | tr '\n' ' '; echo
grep -E "^error|^rc=" "$OUT/bad-input.txt" | tr '\n' ' '; echo
echo
echo "| N | text | layers | skeleton d@0.90 / 0.95 / 0.99 | s32 / s64 / s128 d@0.95 | minference d@0.95 | flexprefill / xattention d@0.95 | oracle d@0.95 | skel ÷ oracle | skel ÷ minf | out.err@0.95 skel / minf / oracle | skel worst / p5 row@0.95 | promise ε=0.05 | s |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
for f in "$OUT"/eval-*.txt; do
  awk -v file="$(basename "$f" .txt)" '
    /^== skipped/ { skipped = $0 }
    /^Summary:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^N=/) { n = substr($i, 3); gsub(/,/, "", n) } if ($i == "layers") ly = $(i + 1) }
                  gsub(/,$/, "", ly); pi = ($0 ~ /PI ×/) ? " PI×4" : ""; t = $(NF - 1) }
    $1 == "skeleton" && $2 ~ /^[0-9]+$/ { d90 = $3; d95 = $4; d99 = $5; err = $6; worst = $7; p5 = $8 }
    $2 ~ /^[0-9]+$/ && $1 == "skeleton-s32" { s32 = $4 } $2 ~ /^[0-9]+$/ && $1 == "skeleton-s64" { s64 = $4 } $2 ~ /^[0-9]+$/ && $1 == "skeleton-s128" { s128 = $4 }
    $1 == "minference" && $2 ~ /^[0-9]+$/ { mi = $4; mierr = $6 } $1 == "flexprefill" && $2 ~ /^[0-9]+$/ { fx = $4 } $1 == "xattention" && $2 ~ /^[0-9]+$/ { xa = $4 } $1 == "oracle" && $2 ~ /^[0-9]+$/ { or = $4; orerr = $6 }
    /^skeleton \(stride/ { match($0, /on [0-9]+ \/ [0-9]+ heads/); pr = substr($0, RSTART + 3, RLENGTH - 9) }
    END { split(file, a, "-"); if (d95 == "") { printf "| %s | %s | | %s |\n", a[3], a[2], (skipped != "" ? skipped : "no result, see " file ".txt"); exit }
          printf "| %s%s | %s | %s | %s / %s / %s | %s / %s / %s | %s | %s / %s | %s | %.2f | %.2f | %s / %s / %s | %s / %s | %s | %s |\n",
            n, pi, a[2], ly, d90, d95, d99, (s32 == "" ? "-" : s32), (s64 == "" ? "-" : s64), (s128 == "" ? "-" : s128), mi, (fx == "" ? "-" : fx), (xa == "" ? "-" : xa), or,
            (or > 0 ? d95 / or : 0), (mi > 0 ? d95 / mi : 0), err, mierr, orerr, worst, p5, pr, t }' "$f"
done
stamp done
