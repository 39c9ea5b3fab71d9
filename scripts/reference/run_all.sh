#!/usr/bin/env bash
# Regenerate every output of the independent reference (see README.md here). ~10 min on 2 cores.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$REPO/scripts/reference"
python3 -m unittest discover -s . -p 'test_*.py'
python3 tokenizer_fixture.py
python3 reference_logits.py
for text in pride_and_prejudice:pride emma:emma; do
  for n in 4096 8192; do
    python3 dump_qk.py --text "${text%%:*}" --tokens "$n" --out "$REPO/data/qk/${text##*:}_$n"
  done
done
python3 perplexity.py --text pride_and_prejudice --contexts 1024,4096,8192 --out "$REPO/bench/results/reference-ppl.md"
python3 dump_qk.py --text persuasion --tokens 4096 --out "$REPO/data/qk/persuasion_4096"
