#!/usr/bin/env bash
# Gemma-3 270M's long-context tasks on the GPU, dense vs the GPU skeleton (ε 0.02 = the default, ε 0.05,
# density 0.1): needle, multi-key needle (4 needles) and ∞Bench-style key-value retrieval at 8K / 16K / 32K
# × depths 10 / 50 / 90 (seeded prompts, greedy answers by re-prefill, scored exactly), and perplexity of
# pride_and_prejudice, emma and persuasion at 8K / 16K / 32K (window from character 5000). Model kernels
# (with the new fp64 target log-prob) checked first, and the reserved-workspace reuse checked. Builds nothing.
# The model (241 MiB) travels in 60 MiB parts over back-to-back calls into /tmp/gemma, as for gemma.sh:
#   swift build -c release --static-swift-stdlib --scratch-path .build-gpu --product skeleton
#   strip -o /tmp/skeleton-stripped .build-gpu/release/skeleton && xz -T2 -c /tmp/skeleton-stripped > .carry/skeleton.xz
#   split -b 62914560 -d -a 2 data/models/gemma-3-270m-q4_k_m.gguf /tmp/gemma-part     (part00..03 60 MiB, part04 1.4 MiB)
#   for i in 1 2 3 4; do mkdir -p .carry/gemma-$i; mv /tmp/gemma-part0$((i-1)) .carry/gemma-$i/model.part0$((i-1)); done
#   mkdir -p .carry/gemma-tasks && mv /tmp/gemma-part04 .carry/gemma-tasks/model.part04
#   cp data/texts/{paul_graham_essays,pride_and_prejudice,emma,persuasion}.txt .carry/gemma-tasks/
# calls 1-4 (carry [".carry/gemma-N"], N = 1..4, back to back while the machine is warm; skip those whose
# part is still in /tmp/gemma from an earlier gemma.sh call on the same warm machine):
#   mkdir -p /tmp/gemma && cp .carry/gemma-N/model.part0$((N-1)) /tmp/gemma/
# call 5 (carry [".carry/skeleton.xz", ".carry/gemma-tasks"]):  bash bench/gpu/gemma-tasks.sh
# SK_TASK_LENGTHS / SK_PPL_LENGTHS override the lengths; SK_EPSILONS / SK_DENSITIES the skeleton's targets; SK_BASELINES
# (e.g. minference,flexprefill,xattention) adds those estimators at the densities; SK_TAG suffixes the log names. Device time about 3 minutes (limit 540 s). Logs in $OUT.
set -u
OUT=${OUT:-/tmp/gemma-tasks-out}; mkdir -p "$OUT"
W=/tmp/gemma; C=.carry/gemma-tasks; mkdir -p $W
started=$(date +%s)
stamp() { echo "== $1 (t+$(( $(date +%s) - started ))s)"; }
for i in 0 1 2 3; do
  [ -f $W/model.part0$i ] || { echo "model part 0$i missing from $W: repeat call $((i + 1)) (the machine went cold?)"; exit 3; }
done
for f in model.part04 paul_graham_essays.txt pride_and_prejudice.txt emma.txt persuasion.txt; do
  [ -f $C/$f ] || { echo "$C/$f missing (carry .carry/gemma-tasks)"; exit 3; }
done
. bench/gpu/device_lib.sh
unpack_skeleton .carry/skeleton.xz $W/skeleton
join_gemma $W $C/model.part04
export SKELETON_CACHE=$W/cache
use_cublas
echo "== $(date -u) $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader)"
stamp "gpu-tasks"
timeout ${SK_TASKS_TIMEOUT:-540} stdbuf -oL $W/skeleton gpu-tasks --model $W/model.gguf --kernel-check \
  --lengths "${SK_TASK_LENGTHS:-32K,16K,8K}" --tasks needle,multikey,kv --depths 10,50,90 --needles 4 --seed 1 \
  --haystack $C/paul_graham_essays.txt --epsilons "${SK_EPSILONS:-0.02,0.05}" --densities "${SK_DENSITIES:-0.1}" ${SK_BASELINES:+--baselines "$SK_BASELINES"} \
  --ppl-texts $C/pride_and_prejudice.txt,$C/emma.txt,$C/persuasion.txt --ppl-lengths "${SK_PPL_LENGTHS:-32K,16K,8K}" \
  --report "$OUT/gemma-tasks${SK_TAG:-}.md" > "$OUT/gemma-tasks${SK_TAG:-}.txt" 2> "$OUT/gemma-tasks${SK_TAG:-}.err"
rc=$?
stamp "done, rc=$rc"
grep -E "^kernel-check .*FAIL" "$OUT/gemma-tasks${SK_TAG:-}.txt"
echo "kernel-check: $(grep -c '^kernel-check .* ok$' "$OUT/gemma-tasks${SK_TAG:-}.txt") ok, $(grep -c '^kernel-check .*FAIL' "$OUT/gemma-tasks${SK_TAG:-}.txt") failed"
grep -E "^(reuse-check|device:|model:)" "$OUT/gemma-tasks${SK_TAG:-}.txt"
if [ $rc -ne 0 ]; then
  echo "gpu-tasks failed (rc=$rc; 124 = the 540 s limit); what it had done:"
  grep -E "^ppl " "$OUT/gemma-tasks${SK_TAG:-}.txt"
  echo "prompts decoded: $(grep -cE '→ (retrieved|MISSED)' "$OUT/gemma-tasks${SK_TAG:-}.txt"), retrieved $(grep -c '→ retrieved' "$OUT/gemma-tasks${SK_TAG:-}.txt")"
  grep -E '→ (retrieved|MISSED)' "$OUT/gemma-tasks${SK_TAG:-}.txt" | tail -8
  tail -5 "$OUT/gemma-tasks${SK_TAG:-}.err"
fi
tail -3 "$OUT/gemma-tasks${SK_TAG:-}.err"
echo
# the short tables last: counts per task × length × mode, densities, perplexity
sed -n '/^### Retrieved/,$p' "$OUT/gemma-tasks${SK_TAG:-}.txt"
exit $rc
