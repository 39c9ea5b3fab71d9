#!/usr/bin/env bash
# The one GPU run of the Python package (builds nothing; needs no Swift). Carried (see prepare_carry.sh):
# .carry/python/{wheels,extras,gguf,texts}. It installs the wheels with --no-deps, runs the pytest suite
# (counts printed), the SmolLM2 check through transformers from the project's GGUF (perplexity over
# 8K tokens sdpa vs sparse, prefill time at 8K and 32K with linear RoPE scaling, torch.compile
# explain counts, one CUDA-graph capture/replay, Python-call overhead vs the raw C ABI) and prints a
# short table last.
set -uo pipefail
cd "$(dirname "$0")/../.."
c=.carry/python
log=${OUT:-$(mktemp -d)}; mkdir -p "$log"; work=$(mktemp -d)  # logs come back under $OUT
py=${PYTHON:-python3}
echo "== $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | head -1); $($py --version)"
$py -m pip install --no-deps --force-reinstall -q $c/wheels/*.whl 2>&1 | tail -2
for m in gguf accelerate psutil; do  # carried extras, only where missing
  $py -c "import $m" 2>/dev/null || $py -m pip install --no-deps -q $c/extras/$m-*.whl 2>&1 | tail -2
done
$py -c "import torch, transformers, sparse_skeleton as sk; print('torch', torch.__version__, 'transformers', transformers.__version__, 'sparse_skeleton', sk.__version__, sk.library_path()); print(sk.device_info(0))"

# the model: parts → one file, checked (or SK_GGUF: a model file another script of the same lease assembled)
if [ -n "${SK_GGUF:-}" ]; then
  gguf_dir=$(dirname "$SK_GGUF"); name=$(basename "$SK_GGUF")
  echo "gguf: $SK_GGUF, sha256 $(sha256sum "$SK_GGUF" | cut -c1-16)…"
else
  gguf_dir=$(mktemp -d)
  name=$(awk '{print $2}' $c/gguf/SHA256)
  cat $c/gguf/part-* > "$gguf_dir/$name"
  (cd "$gguf_dir" && sha256sum -c --quiet "$OLDPWD/$c/gguf/SHA256") && echo "gguf: $name ok" || echo "gguf: $name CORRUPT (carry both parts)"
fi
text=${SK_TEXT:-$PWD/$c/texts/pride_and_prejudice.txt}

# the suite, from outside the checkout so that the installed wheel is what it imports
start=$(date +%s); pytest_line="not run (SK_PYTEST=0)"
[ "${SK_PYTEST:-1}" = 1 ] && (cd "$work" && timeout "${SK_PYTEST_TIMEOUT:-300}" $py -m pytest "$OLDPWD/python/tests" -q -rs -p no:cacheprovider 2>&1 | tee "$log/pytest.txt" | tail -25)
[ "${SK_PYTEST:-1}" = 1 ] && pytest_line=$(grep -E "[0-9]+ (passed|failed)" "$log/pytest.txt" | tail -1)
echo "pytest: $pytest_line ($(( $(date +%s) - start )) s)"

start=$(date +%s)
[ "${SK_HF:-1}" = 1 ] && {
# progress and RESULT lines print as they come; a stall dumps the Python stacks every 60 s (in hf.txt)
(cd "$work" && timeout "${SK_HF_TIMEOUT:-360}" $py "$OLDPWD/python/bench/hf_smollm2.py" --gguf "$gguf_dir/$name" --text "$text" ${SK_HF_ARGS:-} 2>&1 \
   | tee "$log/hf.txt" | grep -v -E '^(  File|Thread|Current thread|Timeout)' | tail -40)
echo "hf: $(( $(date +%s) - start )) s"; }
touch "$log/hf.txt"

echo
echo "| check | result |"
echo "|---|---|"
echo "| pytest suite | $pytest_line |"
grep "^RESULT" "$log/hf.txt" | while read -r _ key value; do echo "| $key | $value |"; done
echo "| reference (Swift model, CPU, bench/results/model-ppl-8k.md) | dense 23.9195; ε = 0.02 +0.22 % / +0.45 % (two estimator versions), tiles 64×64 |"
