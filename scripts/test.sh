#!/usr/bin/env bash
# The README's test command (CI runs exactly this through .ci/run).
# 1. test dependencies: the GGUF model (tokenizer/model tests), OpenBLAS (optional: Gemm falls back
#    to Swift), and NVRTC from PyPI so every CUDA kernel is compiled for sm_90a without a GPU;
# 2. swift test, all targets;
# 3. a bounded fuzz run of the .npy, safetensors and GGUF readers and the tokenizer (30 s each; a
#    crash, a case over 5 s or memory over 2 × the input + 64 MB fails it). The long run is a benchmark
#    (bench/results/fuzz-cpu-2026-12-02.md).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh --all

NVRTC_LIB=$(ls -d data/nvrtc/nvidia/cu*/lib 2>/dev/null | head -n1 || true)
if [ -n "$NVRTC_LIB" ]; then
  export LD_LIBRARY_PATH="$PWD/$NVRTC_LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  echo "test.sh: NVRTC from $NVRTC_LIB"
fi
swift build --build-tests 2>&1
swift test --skip-build 2>&1
swift build --product skeleton-fuzz 2>&1 | tail -n 1
FUZZ_REPRO=$(mktemp -d)
"$(swift build --show-bin-path)/skeleton-fuzz" all --seconds "${SKELETON_FUZZ_SECONDS:-30}" --repro "$FUZZ_REPRO"

# 3. the Python package's CPU part (python/tests: packaging, the ctypes layer against the debug
#    library just built, and — where torch is installed — argument checks and the fake ops);
#    its GPU tests skip with the reason, and without torch its torch tests say so.
if python3 -c "import pytest" 2>/dev/null; then
  SPARSE_SKELETON_LIB="$PWD/.build/debug/libSparseSkeletonC.so" python3 -m pytest python/tests -q -rs -p no:cacheprovider 2>&1
else
  echo "test.sh: python3 has no pytest: skipped the Python package's tests (python/tests)"
fi
