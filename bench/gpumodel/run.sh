#!/usr/bin/env bash
# The device half of `skeleton gpu-prefill` (SmolLM2-135M prefill on the GPU, dense vs the skeleton
# estimated on the GPU at ε = 0.05, 0.02 and budget density 0.3).
# Nothing is built on the device: the static binary is built here, gzipped and carried.
# The GGUF (98 MB) is over one call's 64 MiB carry, so it travels in two calls:
#   here:  swift build -c release --static-swift-stdlib --scratch-path .build-gpumodel --product skeleton
#          mkdir -p .carry/gpumodel-a .carry/gpumodel-b
#          split -b 62914560 -d data/models/SmolLM2-135M-Instruct.Q4_1.gguf /tmp/gm-part
#          mv /tmp/gm-part00 .carry/gpumodel-a/model.part00; mv /tmp/gm-part01 .carry/gpumodel-b/model.part01
#          gzip -c .build-gpumodel/release/skeleton > .carry/gpumodel-b/skeleton.gz
#          cp data/texts/pride_and_prejudice.txt .carry/gpumodel-b/pride.txt
#   call 1 (carry .carry/gpumodel-a):  mkdir -p /tmp/gm && cp .carry/gpumodel-a/model.part00 /tmp/gm/
#   call 2 (carry .carry/gpumodel-b, at once, while the machine is warm):  bash bench/gpumodel/run.sh [check]
#   (`check`: only the per-position dense checks)
# Logs go to $OUT/gpu-prefill.log.
set -u
OUT=${OUT:-/tmp/gpumodel-out}; mkdir -p "$OUT"
B=.carry/gpumodel-b; W=/tmp/gm; mkdir -p $W
{
echo "== $(date -u) $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader)"
cat $W/model.part00 $B/model.part01 > $W/model.gguf || { echo "part 1 missing (call 1 lost?)"; exit 3; }
sha=$(sha256sum $W/model.gguf | cut -d' ' -f1)
[ "$sha" = b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53 ] || { echo "model sha256 $sha differs"; exit 4; }
echo "model sha256 ok"
gzip -dc $B/skeleton.gz > $W/skeleton && chmod +x $W/skeleton
export SKELETON_CACHE=$W/cache
if [ -z "${SKELETON_CUBLAS:-}" ]; then
  SKELETON_CUBLAS=$(ls /opt/torch/.venv/lib/python3*/site-packages/nvidia/cu13/lib/libcublas.so.13 /usr/local/cuda/lib64/libcublas.so.1* 2>/dev/null | head -1)
  [ -n "$SKELETON_CUBLAS" ] && export SKELETON_CUBLAS
fi
echo "SKELETON_CUBLAS=${SKELETON_CUBLAS:-unset}"
M="--model $W/model.gguf --text $B/pride.txt"
run() { echo; echo "== ${K:+SK_FLASH_KERNEL=$K }gpu-prefill $*"; SK_FLASH_KERNEL=${K:-auto} timeout ${T:-150} $W/skeleton gpu-prefill $M "$@"; echo "rc=$?"; }
if [ "${1:-}" = check ]; then
# the dense check per position, default (wgmma) attention kernel vs the mma.sync one (K=mma), 256 / 512 / 1024
for n in 256 512 1024; do T=60 run --tokens $n --attention dense --check --repeats 1; K=mma T=60 run --tokens $n --attention dense --check --repeats 1; done
K=mma T=60 run --tokens 512 --attention skeleton --epsilon 0.05 --check --repeats 1
T=80 run --tokens 8192 --sweep --repeats 5 --per-layer
else
# checks: model kernels; dense vs the CPU model; each GPU-skeleton setting vs the CPU model fed the
# GPU's masks, and the GPU masks of every layer vs the CPU reference estimator on the same bf16 Q/K
# (N = 1024: at 512 the last position is the window's worst for bf16 — 4.05e-2 dense, on both
# attention kernels — and fails the last-logits bound; the whole window is 7.5e-3)
T=110 run --tokens 1024 --sweep --check --kernel-check --repeats 3
# TTFT, per-layer times and densities, perplexity over the window, estimator check on 4 layers
T=100 run --tokens 8192 --sweep --repeats 5 --ppl --per-layer --estimator-check 0,10,20,29
T=70 run --tokens 4096 --sweep --repeats 5 --ppl
fi
} 2>&1 | tee "$OUT/gpu-prefill.log"
