#!/usr/bin/env bash
# The README's main job, on a CPU-only machine:
#   1. fetch the real model and texts (scripts/setup.sh, idempotent),
#   2. build the release `skeleton`,
#   3. run SmolLM2-135M on 4096 tokens of Pride and Prejudice and capture real post-RoPE Q/K/V,
#   4. evaluate every mask estimator (skeleton, MInference, FlexPrefill, XAttention, oracle) on that real
#      attention and end with the summary: density needed for mean recall 0.90/0.95/0.99, output error,
#      worst-row recall, the skeleton against the oracle and each baseline, a verdict line, and the paths of
#      two pictures (the frontier, one typical head) under results/main/; the per-layer table of the
#      ε and density targets is in results/main/report.md (`--verbose` prints it).
# Options pass through to `mask-eval` (e.g. --estimator skeleton --epsilons 0.05, --verbose).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh --all
swift build -c release --product skeleton 2>&1 | tail -n 3
BIN="$(swift build -c release --show-bin-path)/skeleton"

"$BIN" doctor || true   # says plainly when there is no GPU; the CPU path below needs none

DATA="${SKELETON_DATA:-data}"
CAPTURE="$DATA/capture/pride_4096"
# --reuse: an existing folder is kept only when its manifest is complete (marker written last) and
# records this model, text, window and these layers; anything else is captured again, atomically.
"$BIN" capture --reuse --text pride_and_prejudice --tokens 4096 --layers ${SKELETON_LAYERS:-0,4,9,14,19,24,29} --out "$CAPTURE"
mkdir -p results/main
"$BIN" mask-eval --dir "$CAPTURE" --estimator all --plots results/main --report results/main/report.md "$@"
