#!/usr/bin/env bash
# The profitability gate and the estimator matrix with the local band / tail calibration, on the GPU.
# Builds nothing. What it needs here (from the repo root):
#   swift build -c release --static-swift-stdlib --scratch-path .build-gpu --product skeleton
#   mkdir -p .carry/gate-a .carry/gate-b
#   xz -T2 -c .build-gpu/release/skeleton > .carry/skeleton.xz
#   split -b 62914560 -d data/models/SmolLM2-135M-Instruct.Q4_1.gguf /tmp/gate-part
#   mv /tmp/gate-part00 .carry/gate-a/model.part00; mv /tmp/gate-part01 .carry/gate-b/model.part01
#   cp data/texts/pride_and_prejudice.txt .carry/gate-b/pride.txt
# call 1 (carry [".carry/gate-a"]):                   mkdir -p /tmp/gate && cp .carry/gate-a/model.part00 /tmp/gate/
# call 2 (carry [".carry/skeleton.xz", ".carry/gate-b"], at once, while the machine is warm):  bash bench/gpu/gate.sh
# It prints: gpu-estimate (the whole default matrix: 12 cases × ε 0.05 / density 0.3, band off /
# 3 tiles, tail calibration on / off — every case must show 0 tiles differing), then gpu-prefill at
# 4K and 8K (dense, skeleton ε = 0.02 and the same under the gate), and a last table of
# sparse ÷ dense TTFT. Device time about 2–3 minutes. Logs in $OUT.
set -u
OUT=${OUT:-/tmp/gate-out}; mkdir -p "$OUT"
W=/tmp/gate; B=.carry/gate-b; mkdir -p $W
started=$(date +%s)
stamp() { echo "== $1 (t+$(( $(date +%s) - started ))s)"; }
. bench/gpu/device_lib.sh
unpack_skeleton .carry/skeleton.xz $W/skeleton
join_model $W/model.gguf b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53 $W/model.part00 $B/model.part01
export SKELETON_CACHE=$W/cache
use_cublas
echo "== $(date -u) $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader)"
{ stamp gpu-estimate; timeout 150 $W/skeleton gpu-estimate; echo "rc=$?"; } 2>&1 | tee "$OUT/estimate.txt"
for n in 4096 8192; do
  { stamp "gpu-prefill $n"
    timeout 120 $W/skeleton gpu-prefill --model $W/model.gguf --text $B/pride.txt --tokens $n --sweep --epsilons 0.02 --densities "" \
      --gate --repeats 5 --per-layer --quiet; echo "rc=$?"; } 2>&1 | tee "$OUT/prefill-$n.txt"
done
stamp table
echo
grep -E "^gpu-estimate: " "$OUT/estimate.txt"
echo "| N | dense TTFT ms | sparse TTFT ms | sparse ÷ dense time | gated TTFT ms | gated ÷ dense time (dense ÷ gated speed; ≥ 0.98 asked) | layers sparse under the gate |"
echo "|---|---|---|---|---|---|---|"
for n in 4096 8192; do
  f="$OUT/prefill-$n.txt"
  d=$(awk -F'|' '$2 ~ /^ dense $/ {print $4}' "$f" | tr -d ' ')
  s=$(awk -F'|' '$2 ~ /skeleton-gpu/ && $2 !~ /gate/ {print $4}' "$f" | tr -d ' ')
  g=$(awk -F'|' '$2 ~ /\+gate/ {print $4}' "$f" | tr -d ' ')
  l=$(grep -oE "sparse on [0-9]+/[0-9]+ layers" "$f" | head -1)
  awk -v n=$n -v d="$d" -v s="$s" -v g="$g" -v l="$l" 'BEGIN { printf "| %s | %s | %s | %.3f | %s | %.3f (%.3f) | %s |\n", n, d, s, (d>0?s/d:0), g, (d>0?g/d:0), (g>0?d/g:0), l }'
done
stamp done
