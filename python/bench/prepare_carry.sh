#!/usr/bin/env bash
# Prepares what python/bench/gpu_pytest.sh needs on the GPU machine, under .carry/python/ (ignored):
#   wheels/  the sparse-skeleton wheel (built here with SwiftPM) and the pure-Python gguf wheel
#            (downloaded with pip for Python 3.12, no dependencies: transformers brings numpy, pyyaml, tqdm)
#   gguf/    data/models/SmolLM2-135M-Instruct.Q4_1.gguf cut into parts of ≤ 60 MiB, and its sha256
#   texts/   pride_and_prejudice.txt (the 8K perplexity window of bench/results/model-ppl-8k.md)
# Carry in two calls (64 MiB per call): first .carry/python/gguf/part-aa alone (command `true`), then
# .carry/python/gguf/part-ab, .carry/python/gguf/SHA256, .carry/python/wheels and .carry/python/texts
# with `bash python/bench/gpu_pytest.sh` (a warm machine keeps part-aa between the calls).
set -euo pipefail
cd "$(dirname "$0")/../.."
out=.carry/python
rm -rf "$out" && mkdir -p "$out/wheels" "$out/gguf" "$out/texts"
python3 -m pip wheel --no-deps ./python -w "$out/wheels"
python3 -m pip download gguf --no-deps --only-binary=:all: --python-version 3.12 --platform manylinux2014_x86_64 -d "$out/wheels"
model=data/models/SmolLM2-135M-Instruct.Q4_1.gguf
split -b 60M "$model" "$out/gguf/part-"
(cd "$(dirname "$model")" && sha256sum "$(basename "$model")") > "$out/gguf/SHA256"
cp data/texts/pride_and_prejudice.txt "$out/texts/"
du -ah "$out" | sort -k2
