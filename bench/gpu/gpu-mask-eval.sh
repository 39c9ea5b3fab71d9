#!/usr/bin/env bash
# Mask quality on Gemma-3 270M's real attention on the GPU (skeleton gpu-mask-eval): the exact
# tile-mass kernel's check (gpu-check --filter tile-mass), one bad-input line, then 16K and 32K on
# pride_and_prejudice, emma, persuasion (global layers 5, 11, 17; skeleton default + strides
# 32/64/128, GPU MInference, oracle), then PI ×4 at 128K and 64K on pride_and_prejudice (the
# default stride only) while the time allows. A short table last. Builds nothing. Logs in $OUT.
# What it needs here (from the repo root):
#   swift build -c release --static-swift-stdlib --scratch-path .build-gpu --product skeleton
#   mkdir -p .carry/gme && strip -o /tmp/gme-skeleton .build-gpu/release/skeleton && xz -T2 -c /tmp/gme-skeleton > .carry/gme/skeleton.xz
#   cp data/texts/{pride_and_prejudice,emma,persuasion}.txt .carry/gme/
# The model travels in parts as bench/gpu/gemma.sh says: calls 1-4 put model.part00..03 into
# /tmp/gemma (carry .carry/gemma-N); this is call 5, carry [".carry/gme", ".carry/gemma-5"]:
#   bash bench/gpu/gpu-mask-eval.sh
# SK_BUDGET_S (default 330): PI runs start only while the script has run less than this.
set -u
OUT=${OUT:-/tmp/gme-out}; mkdir -p "$OUT"
W=/tmp/gemma; C=.carry/gme; P=.carry/gemma-5; mkdir -p $W
BUDGET=${SK_BUDGET_S:-330}
started=$(date +%s)
el() { echo $(( $(date +%s) - started )); }
stamp() { echo "== $1 (t+$(el)s)"; }
for i in 0 1 2 3; do
  [ -f $W/model.part0$i ] || [ -f $W/model.gguf ] || { echo "model part 0$i missing from $W: repeat call $((i + 1)) (the machine went cold?)"; exit 3; }
done
. bench/gpu/device_lib.sh
unpack_skeleton $C/skeleton.xz $W/gme-skeleton
if [ -f $W/model.part00 ]; then
  [ -f $P/model.part04 ] || { echo "model part 04 missing from $P (carry .carry/gemma-5)"; exit 3; }
  join_model $W/model.gguf a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818 \
    $W/model.part00 $W/model.part01 $W/model.part02 $W/model.part03 $P/model.part04
fi
export SKELETON_CACHE=$W/cache
use_cublas
S=$W/gme-skeleton; M=$W/model.gguf
echo "== $(date -u) $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader)"
{ stamp "tile-mass kernel check"; timeout 120 $S gpu-check --filter tile-mass; echo "rc=$?"; } 2>&1 | tee "$OUT/check.txt"
grep -q "gpu-check (tile masses): [1-9][0-9]*/[1-9][0-9]* cases passed" "$OUT/check.txt" && ! grep -q "FAIL" "$OUT/check.txt" \
  || { echo "tile-mass check failed: no mask evaluation"; exit 5; }
{ stamp "bad input: 40000 tokens without --pi"; $S gpu-mask-eval --model $M --text $C/pride_and_prejudice.txt --tokens 40000; echo "rc=$?"; } 2>&1 | tee "$OUT/bad-input.txt"
run() {  # text tokens pi strides timeout
  local f="$OUT/eval-$1-$2-pi$3.txt"
  { stamp "gpu-mask-eval $1 N=$2 PI x$3"
    timeout $5 $S gpu-mask-eval --model $M --text $C/$1.txt --tokens $2 --pi $3 --strides "$4" --report "$OUT/eval-$1-$2-pi$3.md"
    echo "rc=$?"; } 2>&1 | tee "$f"
}
for n in 16384 32768; do
  for t in pride_and_prejudice emma persuasion; do run $t $n 1 "32,64,128" 150; done
done
[ $(el) -lt $BUDGET ] && run pride_and_prejudice 131072 4 "" 240
[ $(el) -lt $BUDGET ] && run pride_and_prejudice 65536 4 "" 120
stamp table
echo
grep -E "^tile-mass .*\| (ok|FAIL)$" "$OUT/check.txt"
grep -E "^(Error|rc=)" "$OUT/bad-input.txt"
echo
echo "| N | text | skeleton d@0.90 / 0.95 / 0.99 | s32 / s64 / s128 d@0.95 | minference d@0.95 | oracle d@0.95 | skel ÷ oracle | skel ÷ minf | skel out.err@0.95 | skel worst / p5 row@0.95 | promise ε=0.05 (default) | time |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
for f in "$OUT"/eval-*.txt; do
  awk -v file="$(basename "$f" .txt)" '
    /^Summary:/ { for (i = 1; i <= NF; i++) if ($i ~ /^N=/) { n = substr($i, 3); gsub(/,/, "", n) } pi = ($0 ~ /PI ×/) ? " PI×4" : ""; t = $NF == "s" ? $(NF-1) : ""; sub(/,$/, "", t) }
    $1 == "skeleton" && $2 ~ /^[0-9]+$/ { d90 = $3; d95 = $4; d99 = $5; err = $6; worst = $7; p5 = $8 }
    $1 == "skeleton-s32" { s32 = $4 } $1 == "skeleton-s64" { s64 = $4 } $1 == "skeleton-s128" { s128 = $4 }
    $1 == "minference" && $2 ~ /^[0-9]+$/ { mi = $4 } $1 == "oracle" && $2 ~ /^[0-9]+$/ { or = $4 }
    /^skeleton \(stride/ { match($0, /on [0-9]+ \/ [0-9]+ heads/); pr = substr($0, RSTART + 3, RLENGTH - 9) }
    END { split(file, a, "-"); if (d95 == "") { printf "| %s | %s | no result (see %s.txt) |\n", a[3] pi, a[2], file; exit }
          printf "| %s%s | %s | %s / %s / %s | %s / %s / %s | %s | %s | %.2f | %.2f | %s | %s / %s | %s | %s s |\n",
            n, pi, a[2], d90, d95, d99, (s32 == "" ? "-" : s32), (s64 == "" ? "-" : s64), (s128 == "" ? "-" : s128), mi, or,
            (or > 0 ? d95 / or : 0), (mi > 0 ? d95 / mi : 0), err, worst, p5, pr, t }' "$f"
done
stamp done
