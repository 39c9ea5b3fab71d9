#!/usr/bin/env bash
# Reproduces bench/results/model-*.md: dense perplexity at 1K/4K (vs the numpy reference), the 8K
# sweep dense vs skeleton (error bound and budget), and needle retrieval at 8K.
# Needs: scripts/setup.sh (model + texts), a release build: swift build -c release --product skeleton
# Time on a 2-core machine: ~1 min (1K/4K), ~20-30 min (8K sweep), ~20-30 min (niah 8K).
set -euo pipefail
cd "$(dirname "$0")/../.."
B=${SKELETON:-.build/release/skeleton}
what=${1:-all}
if [[ $what == all || $what == dense ]]; then
  $B ppl --context 1024 --report /tmp/model-ppl-dense-1k.md
  $B ppl --context 4096 --report /tmp/model-ppl-dense-4k.md
fi
if [[ $what == all || $what == sweep ]]; then
  $B ppl --context 8192 --attention skeleton --sweep --per-layer --report bench/results/model-ppl-8k-sweep-run.md
fi
if [[ $what == all || $what == niah ]]; then
  $B niah --tokens 8000 --depths 0,25,50,75,100 --attention skeleton --epsilon 0.05 --report bench/results/model-niah-8k-run.md
fi
