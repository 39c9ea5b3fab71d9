#!/usr/bin/env bash
# Gemma-3 270M's prefill on the GPU: the model kernels' self-check, GPU vs CPU logits and perplexity
# at 1K (and against Hugging Face's 22.5378), then TTFT at 8K / 16K / 32K, dense vs the GPU skeleton
# at its default (ε = 0.02) and the same under the profitability gate, with the attention share and
# the perplexity change. Builds nothing. The model (241 MiB) travels in 60 MiB parts over
# back-to-back calls into /tmp/gemma. What it needs here (from the repo root):
#   swift build -c release --static-swift-stdlib --scratch-path .build-gpu --product skeleton
#   mkdir -p .carry/gemma-1 .carry/gemma-2 .carry/gemma-3 .carry/gemma-4 .carry/gemma-5
#   strip -o /tmp/skeleton-stripped .build-gpu/release/skeleton && xz -T2 -c /tmp/skeleton-stripped > .carry/skeleton.xz
#   split -b 62914560 -d -a 2 data/models/gemma-3-270m-q4_k_m.gguf /tmp/gemma-part     (part00..03 60 MiB, part04 1.4 MiB)
#   for i in 1 2 3 4 5; do mv /tmp/gemma-part0$((i-1)) .carry/gemma-$i/model.part0$((i-1)); done
#   cp data/texts/pride_and_prejudice.txt .carry/gemma-5/pride.txt
# calls 1-4 (carry [".carry/gemma-N"], N = 1..4, back to back while the machine is warm):
#   mkdir -p /tmp/gemma && cp .carry/gemma-N/model.part0$((N-1)) /tmp/gemma/
# call 5 (carry [".carry/skeleton.xz", ".carry/gemma-5"]):  bash bench/gpu/gemma.sh
# A lost part (the machine went cold) is named, with the call to repeat. SK_LENGTHS overrides the
# TTFT lengths (default "8192 16384 32768"); a 32K step may take 450 s (SK_LONG_TIMEOUT; the 2026-12-02 run's 150 s cut it),
# so run SK_LENGTHS=32768 alone where the call's 600 s would not hold all three. Device time about 5 minutes. Logs in $OUT.
set -u
OUT=${OUT:-/tmp/gemma-out}; mkdir -p "$OUT"
W=/tmp/gemma; C=.carry/gemma-5; mkdir -p $W
LENGTHS=${SK_LENGTHS:-8192 16384 32768}
REFERENCE_PPL=22.5378   # Hugging Face transformers on this GGUF, 1K window (bench/results/gemma3-cpu-2026-12-02.md)
started=$(date +%s)
stamp() { echo "== $1 (t+$(( $(date +%s) - started ))s)"; }
for i in 0 1 2 3; do
  [ -f $W/model.part0$i ] || { echo "model part 0$i missing from $W: repeat call $((i + 1)) (the machine went cold?)"; exit 3; }
done
[ -f $C/model.part04 ] || { echo "model part 04 missing from $C (carry .carry/gemma-5)"; exit 3; }
. bench/gpu/device_lib.sh
unpack_skeleton .carry/skeleton.xz $W/skeleton
join_gemma $W $C/model.part04
export SKELETON_CACHE=$W/cache
use_cublas
echo "== $(date -u) $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader)"
{ stamp "kernel check + GPU vs CPU at 1K"
  timeout 240 $W/skeleton gpu-prefill --model $W/model.gguf --text $C/pride.txt --tokens 1024 --sweep --epsilons 0.02 --densities "" \
    --kernel-check --check --reference-ppl $REFERENCE_PPL --repeats 3 --per-layer --quiet; echo "rc=$?"; } 2>&1 | tee "$OUT/check-1024.txt"
for n in $LENGTHS; do
  { stamp "gpu-prefill $n"
    timeout $(( n >= 32768 ? ${SK_LONG_TIMEOUT:-450} : 150 )) $W/skeleton gpu-prefill --model $W/model.gguf --text $C/pride.txt --tokens $n --sweep --epsilons 0.02 --densities "" \
      --gate --ppl --repeats 5 --per-layer --quiet; echo "rc=$?"; } 2>&1 | tee "$OUT/prefill-$n.txt"
done
stamp table
echo
f="$OUT/check-1024.txt"
grep -E "^kernel-check .*FAIL" "$f"; echo "kernel-check: $(grep -c '^kernel-check .* ok$' "$f") ok, $(grep -c '^kernel-check .*FAIL' "$f") failed"
grep -E "^check .* (max abs logit error|all [0-9]+ positions|vs CPU model|perplexity vs the reference|PASS|FAIL)" "$f"
grep -E "^estimator-check " "$f"
echo
echo "| N | dense TTFT ms | attn share dense | sparse TTFT ms | attn share sparse | global-layer density | dense ÷ sparse (speed-up) | gated TTFT ms | dense ÷ gated | layers sparse under the gate | ppl dense | ppl change sparse | ppl change gated |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
for n in $LENGTHS; do
  f="$OUT/prefill-$n.txt"
  row() { awk -F'|' -v pat="$1" -v col="$2" '$2 ~ pat && $3 ~ /^ *[0-9]+ *$/ {gsub(/ /, "", $col); print $col; exit}' "$f"; }
  d=$(row '^ dense $' 4); ds=$(row '^ dense $' 11); pd=$(row '^ dense $' 12)
  s=$(row 'skeleton-gpu [^+]*$' 4); ss=$(row 'skeleton-gpu [^+]*$' 11); sd=$(row 'skeleton-gpu [^+]*$' 10); pc=$(row 'skeleton-gpu [^+]*$' 13)
  g=$(row '[+]gate' 4); gc=$(row '[+]gate' 13)
  l=$(grep -oE "sparse on [0-9]+/[0-9]+ layers" "$f" | head -1)
  awk -v n=$n -v d="$d" -v ds="$ds" -v s="$s" -v ss="$ss" -v sd="$sd" -v g="$g" -v l="$l" -v pd="$pd" -v pc="$pc" -v gc="$gc" \
    'BEGIN { printf "| %s | %s | %s | %s | %s | %s | %.3f | %s | %.3f | %s | %s | %s | %s |\n", n, d, ds, s, ss, sd, (s>0?d/s:0), g, (g>0?d/g:0), l, pd, pc, gc }'
done
stamp done
