#!/usr/bin/env bash
# The README's main job, on a CPU-only machine:
#   1. fetch the real model and texts (scripts/setup.sh, idempotent),
#   2. build the release `skeleton`,
#   3. run SmolLM2-135M on 4096 tokens of Pride and Prejudice and capture real post-RoPE Q/K/V,
#   4. evaluate every mask estimator (skeleton, MInference, FlexPrefill, XAttention, oracle) on that real
#      attention: density, attention-mass recall and output error for ε and density targets.
# Options pass through to `mask-eval` (e.g. --estimator skeleton --epsilons 0.05).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh --all
swift build -c release --product skeleton 2>&1 | tail -n 3
BIN="$(swift build -c release --show-bin-path)/skeleton"

"$BIN" doctor || true   # says plainly when there is no GPU; the CPU path below needs none

CAPTURE=data/capture/pride_4096
if [ ! -f "$CAPTURE/meta.json" ]; then
  "$BIN" capture --text pride_and_prejudice --tokens 4096 --layers ${SKELETON_LAYERS:-0,4,9,14,19,24,29} --out "$CAPTURE"
fi
"$BIN" mask-eval --dir "$CAPTURE" --estimator all "$@"
