#!/usr/bin/env bash
# The mask-quality frontier on real SmolLM2 attention (issue 4): every layer and head of each
# captured text, all estimators, 64×64 tiles. Needs the captured layers under data/qk/<text>_<N>/
# (scripts/data, or `skeleton capture`) and a release build.
# Usage: bench/mask/frontier.sh [skeleton-binary] [out-dir]   (texts default: all under data/qk)
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${1:-.build/release/skeleton}
OUT=${2:-bench/results}
for dir in data/qk/*_*/; do
  name=$(basename "$dir")
  echo "== $name" >&2
  "$BIN" mask-eval --dir "$dir" --frontier --estimator all --tile 64 --report "$OUT/mask-frontier-$name.md"
done
