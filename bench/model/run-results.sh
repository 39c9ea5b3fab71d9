#!/usr/bin/env bash
# The commands behind bench/results/model-*.md: dense perplexity at 1K/4K (vs the numpy reference),
# the 8K sweep dense vs skeleton (error bound and budget), and needle retrieval at 8K.
# Reports go to $OUTDIR (default /tmp/model-results); the committed files add notes around them.
# Needs: scripts/setup.sh (model + texts), a release build: swift build -c release --product skeleton
# Time on 2 idle cores: ~15 s (1K), ~40 s (4K), ~80-100 s per 8K prefill (sweep: 9, niah: 10 prefills).
set -euo pipefail
cd "$(dirname "$0")/../.."
B=${SKELETON:-.build/release/skeleton}
OUTDIR=${OUTDIR:-/tmp/model-results}
mkdir -p "$OUTDIR"
what=${1:-all}
if [[ $what == all || $what == dense ]]; then
  $B ppl --context 1024 --report "$OUTDIR/model-ppl-dense-1k.md"
  $B ppl --context 4096 --report "$OUTDIR/model-ppl-dense-4k.md"
fi
if [[ $what == all || $what == sweep ]]; then
  $B ppl --context 8192 --attention skeleton --sweep --per-layer --report "$OUTDIR/model-ppl-8k-sweep.md"
fi
if [[ $what == all || $what == niah ]]; then
  for eps in 0.02 0.05; do
    $B niah --tokens 8000 --depths 0,25,50,75,100 --attention skeleton --epsilon $eps --report "$OUTDIR/model-niah-8k-eps$eps.md"
  done
fi
