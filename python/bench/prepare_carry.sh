#!/usr/bin/env bash
# Prepares what python/bench/gpu_pytest.sh needs on the GPU machine, under .carry/python/ (ignored):
#   wheels/  the sparse-skeleton wheel (built here with SwiftPM)
#   extras/  gguf and accelerate (transformers needs both to load a GGUF) and psutil (accelerate's one
#            compiled dependency), downloaded with pip for CPython 3.12 manylinux x86-64 without their
#            dependencies (transformers brings numpy, pyyaml, tqdm, safetensors); gpu_pytest.sh installs
#            each only where it does not import
#   gguf/    data/models/SmolLM2-135M-Instruct.Q4_1.gguf cut into parts of ≤ 60 MiB, and its sha256
#   texts/   pride_and_prejudice.txt (the 8K perplexity window of bench/results/model-ppl-8k.md)
# Carry in two calls (64 MiB per call): first .carry/python/gguf/part-aa alone (command `true`), then
# .carry/python/gguf/part-ab, .carry/python/gguf/SHA256, .carry/python/wheels, .carry/python/extras and
# .carry/python/texts with `bash python/bench/gpu_pytest.sh` (a warm machine keeps part-aa between the calls).
set -euo pipefail
cd "$(dirname "$0")/../.."
out=.carry/python
rm -rf "$out" && mkdir -p "$out/wheels" "$out/extras" "$out/gguf" "$out/texts"
python3 -m pip wheel --no-deps ./python -w "$out/wheels"
for p in gguf accelerate psutil; do
  python3 -m pip download "$p" --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 -d "$out/extras"
done
model=data/models/SmolLM2-135M-Instruct.Q4_1.gguf
split -b 60M "$model" "$out/gguf/part-"
(cd "$(dirname "$model")" && sha256sum "$(basename "$model")") > "$out/gguf/SHA256"
cp data/texts/pride_and_prejudice.txt "$out/texts/"
du -ah "$out" | sort -k2
