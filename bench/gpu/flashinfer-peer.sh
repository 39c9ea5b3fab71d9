#!/usr/bin/env bash
# ONE device command: FlashInfer's block-sparse prefill (BlockSparseAttentionWrapper, fa3 and fa2 backends) on exactly
# the masks our kernel runs in the same call — gpu-bench --dump writes each timed mask (strided uniform / graded at
# SK_DENSITIES, and the GPU estimator's masks at ε SK_EPSILON and density budgets SK_BUDGETS, generated structured
# inputs) with its Q/K/V and our output on sampled rows; flashinfer_peer.py converts each to FlashInfer's BSR, times
# it with CUDA events and checks it against a float32 reference. FlashInfer's JIT build runs in the background
# during our benchmark (16 cores, sm_90a only); a backend whose build is not done by SK_JIT_WAIT seconds is dropped.
#   carry: .carry (skeleton.xz = the stripped release binary, xz; flashinfer/*.whl = scripts/setup.sh --flashinfer-wheels)
set -u
OUT=${OUT:-/tmp/skeleton-out}; mkdir -p "$OUT"
CARRY=${SK_CARRY:-.carry}
. bench/gpu/device_lib.sh
started=$(date +%s); stamp() { echo "== $1 (t+$(( $(date +%s) - started ))s)" | tee -a "$OUT/log.txt"; }
unpack_skeleton $CARRY/skeleton.xz /tmp/sk
export SKELETON_CACHE=/tmp/skeleton-cache PYTHONUNBUFFERED=1 PYTHONSAFEPATH=1
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader | tee -a "$OUT/log.txt"
stamp "install wheels"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site $CARRY/flashinfer/*.whl > "$OUT/pip.txt" 2>&1 \
  || { echo "wheel install failed:"; tail -5 "$OUT/pip.txt"; }
export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
export FLASHINFER_WORKSPACE_BASE=/tmp/fi-cache FLASHINFER_CUDA_ARCH_LIST=9.0a TORCH_CUDA_ARCH_LIST=9.0a MAX_JOBS=8
[ -z "${CUDA_HOME:-}" ] && [ -x /usr/local/cuda/bin/nvcc ] && export CUDA_HOME=/usr/local/cuda
command -v nvcc >/dev/null || { [ -n "${CUDA_HOME:-}" ] && export PATH=$CUDA_HOME/bin:$PATH; }
echo "nvcc: $(command -v nvcc) $(nvcc --version 2>/dev/null | tail -2 | head -1)" | tee -a "$OUT/log.txt"
BACKENDS=${SK_FI_BACKENDS:-fa3 fa2}
declare -A JIT
for B in $BACKENDS; do  # one build per backend, in parallel (each ninja gets MAX_JOBS)
  python3 bench/gpu/flashinfer_peer.py --build-only --backends $B > "$OUT/jit-$B.txt" 2>&1 &
  JIT[$B]=$!
done
D=/tmp/dump; rm -rf $D
stamp "ours: strided masks (dump)"
timeout 150 /tmp/sk gpu-bench --tokens "${SK_TOKENS:-32K,128K}" --head-dims 128 --densities "${SK_DENSITIES:-0.2,0.05}" --seconds "${SK_SECONDS:-0.3}" \
  --json "$OUT/bench.json" --dump $D > "$OUT/bench.txt" 2>&1 || echo "strided bench failed or timed out (bench.txt)"
stamp "ours: estimator's masks (dump)"
timeout 180 /tmp/sk gpu-bench --tokens "${SK_TOKENS:-32K,128K}" --head-dims 128 --densities "" --epsilon "${SK_EPSILON:-0.02}" \
  --estimate-budgets "${SK_BUDGETS:-0.2,0.1,0.05}" --seconds "${SK_SECONDS:-0.3}" --json "$OUT/bench.json" --append --dump $D >> "$OUT/bench.txt" 2>&1 \
  || echo "estimator bench failed or timed out (bench.txt)"
grep -E "dense N=|generated structured" "$OUT/bench.txt" | cut -c1-160
echo "dump: $(ls $D/*.json 2>/dev/null | wc -l) masks, $(du -sh $D 2>/dev/null | cut -f1)"
stamp "wait for FlashInfer's JIT"
OK=""
for B in $BACKENDS; do
  pid=${JIT[$B]}
  while kill -0 $pid 2>/dev/null && [ $(( $(date +%s) - started )) -lt ${SK_JIT_WAIT:-360} ]; do sleep 2; done
  if kill -0 $pid 2>/dev/null; then kill $pid; echo "backend $B: JIT build not done after ${SK_JIT_WAIT:-360} s, dropped"; fi
  wait $pid && OK="$OK,$B"
  grep -E "^backend|failed|Error|error:" "$OUT/jit-$B.txt" | head -8 | cut -c1-400
done
OK=${OK#,}
[ -z "$OK" ] && { echo "no FlashInfer backend built: see jit-*.txt"; tail -30 "$OUT"/jit-*.txt | cut -c1-400; stamp done; exit 3; }
stamp "FlashInfer on the dumped masks ($OK)"
LEFT=$(( ${SK_DEADLINE:-560} - ( $(date +%s) - started ) )); [ $LEFT -lt 30 ] && LEFT=30  # the call's 600 s, a margin for the table
timeout $LEFT python3 bench/gpu/flashinfer_peer.py $D --backends "$OK" --seconds "${SK_PEER_SECONDS:-0.2}" --json "$OUT/peer.json" > "$OUT/peer.txt" 2>&1 \
  || echo "peer run failed or stopped at the deadline after ${LEFT} s (peer.txt; the masks done are in peer.json)"
grep -E "FAILED|Traceback" "$OUT/peer.txt" | head -5 | cut -c1-300
grep -q "^| N | mask | density" "$OUT/peer.txt" || python3 bench/gpu/flashinfer_peer.py --table "$OUT/peer.json" >> "$OUT/peer.txt" 2>&1
sed -n '/^| N | mask | density/,$p' "$OUT/peer.txt" | tee "$OUT/table.md"
stamp done
