#!/usr/bin/env bash
# The device half of `skeleton gpu-prefill` (SmolLM2-135M prefill on the GPU, dense vs skeleton).
# Nothing is built on the device: the static binary is built here, gzipped and carried.
# The GGUF (98 MB) is over one call's 64 MiB carry, so it travels in two calls:
#   here:  swift build -c release --static-swift-stdlib --scratch-path .build-gpumodel --product skeleton
#          mkdir -p .carry/gpumodel-a .carry/gpumodel-b
#          split -b 62914560 -d data/models/SmolLM2-135M-Instruct.Q4_1.gguf /tmp/gm-part
#          mv /tmp/gm-part00 .carry/gpumodel-a/model.part00; mv /tmp/gm-part01 .carry/gpumodel-b/model.part01
#          gzip -c .build-gpumodel/release/skeleton > .carry/gpumodel-b/skeleton.gz
#          cp data/texts/pride_and_prejudice.txt .carry/gpumodel-b/pride.txt
#   call 1 (carry .carry/gpumodel-a):  mkdir -p /tmp/gm && cp .carry/gpumodel-a/model.part00 /tmp/gm/
#   call 2 (carry .carry/gpumodel-b, at once, while the machine is warm):  bash bench/gpumodel/run.sh
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
run() { echo; echo "== gpu-prefill $*"; timeout 150 $W/skeleton gpu-prefill $M "$@"; echo "rc=$?"; }
run --tokens 256 --attention dense --check --kernel-check
run --tokens 256 --attention skeleton --epsilon 0.05 --check
run --tokens 8192 --attention dense --repeats 3
run --tokens 8192 --attention skeleton --epsilon 0.05 --repeats 1
} 2>&1 | tee "$OUT/gpu-prefill.log"
