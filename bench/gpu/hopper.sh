#!/usr/bin/env bash
# ONE device command for the warp-specialized TMA kernel (flash_attention_hopper.cu, kernel issue v5):
# gpu-check of the carried binary (its default kernel for 128-row tiles is the new one), then, side by
# side in the same run: the previous default (SK_FLASH_KERNEL=v4) and the new kernel (hopper) on dense
# causal attention at 8K/32K/128K (d 128; d 64 and 256 at 32K), uniform and graded strided masks, and the
# GPU estimator's own masks (ε and density targets), and cuDNN / PyTorch flash on the same shapes.
# SK_KERNELS picks the kernels (SK_FLASH_KERNEL values; KERNEL_ORDER also sets SK_WORK_ORDER, e.g. hopper_flat, and KERNEL_hN SK_SECTION_HEADS=N, e.g. hopper_h4), SK_VARIANTS_FOR=<kernel> adds gpu-bench --variants to that
# kernel's dense timing. hopper_table.py prints the table last. Every step has its own timeout (a hung kernel costs one step).
# SK_LONG=1 adds 1M tokens (dense, 5 %, 2 %) with the default kernel. SK_SMALLD_TOKENS / SK_SMALLD_DENSITIES: the d 64 / 256
# step's lengths and strided masks; SK_D64_KERNELS: kernels timed at d 64 only (their table rows: d 64).
#   carry: .carry (skeleton.xz = the stripped release binary, xz)
set -u
OUT=${OUT:-/tmp/skeleton-out}; mkdir -p "$OUT"
CARRY=${SK_CARRY:-.carry}
xz -dc $CARRY/skeleton.xz > /tmp/sk 2>/dev/null || python3 -c "import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], 'wb'))" $CARRY/skeleton.xz /tmp/sk
chmod +x /tmp/sk; export SKELETON_CACHE=/tmp/skeleton-cache PYTHONUNBUFFERED=1 PYTHONSAFEPATH=1
started=$(date +%s); stamp() { echo "== $1 (t+$(( $(date +%s) - started ))s)" | tee -a "$OUT/log.txt"; }
SEC=${SK_SECONDS:-0.3}; TOK=${SK_TOKENS:-8K,32K,128K}
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader | tee -a "$OUT/log.txt"
if [ "${SK_CHECK:-1}" = 1 ]; then
  stamp gpu-check
  timeout ${SK_CHECK_TIMEOUT:-300} /tmp/sk gpu-check ${SK_CHECK_FILTER:+--filter "$SK_CHECK_FILTER"} > "$OUT/check.txt" 2>&1; echo "gpu-check exit $?" >> "$OUT/check.txt"
  grep -E "^gpu-check|FAIL" "$OUT/check.txt" | head -12; tail -1 "$OUT/check.txt"
fi
for K in ${SK_KERNELS:-v4 hopper}; do
  stamp "bench $K"
  unset SK_WORK_ORDER SK_SECTION_HEADS
  case "$K" in  # KERNEL_ORDER sets SK_WORK_ORDER; KERNEL_hN forces N query heads per L2 section
    *_h[0-9]*) export SK_SECTION_HEADS=${K##*_h}; KERN=${K%%_*} ;;
    *_*) export SK_WORK_ORDER=${K#*_}; KERN=${K%%_*} ;;
    *) KERN=$K ;;
  esac
  J="$OUT/ours-$K.json"
  VAR=""; [ "$K" = "${SK_VARIANTS_FOR:-}" ] && VAR=--variants  # other dense layouts, timed once, with this kernel's run
  SK_FLASH_KERNEL=$KERN timeout 240 /tmp/sk gpu-bench --tokens "$TOK" --head-dims 128 --densities "${SK_DENSITIES:-0.2,0.05}" --seconds "$SEC" $VAR --json "$J" >> "$OUT/bench.txt" 2>&1 || echo "$K dense/strided bench failed or timed out"
  SK_FLASH_KERNEL=$KERN timeout 90 /tmp/sk gpu-bench --tokens ${SK_SMALLD_TOKENS:-32K} --head-dims 64,256 --densities "${SK_SMALLD_DENSITIES:-}" --seconds "$SEC" --json "$J" --append >> "$OUT/bench.txt" 2>&1 || echo "$K d64/d256 bench failed"
  for EPS in ${SK_EPSILONS:-0.02 0.1}; do
    SK_FLASH_KERNEL=$KERN timeout 150 /tmp/sk gpu-bench --tokens "${SK_EST_TOKENS:-32K,128K}" --head-dims 128 --densities "" --epsilon $EPS --estimate-budgets "${SK_BUDGETS:-0.2,0.1,0.05}" \
      --seconds "$SEC" --json "$J" --append >> "$OUT/bench.txt" 2>&1 || echo "$K estimated-mask bench (eps $EPS) failed"
  done
  grep -E " dense " "$OUT/bench.txt" | tail -5 | cut -c1-150
done
unset SK_WORK_ORDER SK_SECTION_HEADS
for K in ${SK_D64_KERNELS:-}; do  # d 64 only (dense and strided masks), e.g. the v4 kernel that "auto" keeps for d 64 masks
  stamp "bench $K d64"
  SK_FLASH_KERNEL=$K timeout 90 /tmp/sk gpu-bench --tokens ${SK_SMALLD_TOKENS:-32K} --head-dims 64 --densities "${SK_SMALLD_DENSITIES:-0.2,0.05}" --seconds "$SEC" \
    --json "$OUT/ours-$K.json" >> "$OUT/bench.txt" 2>&1 || echo "$K d64 bench failed"
done
if [ "${SK_LONG:-0}" = 1 ]; then  # 1M tokens: dense and the strided 5 % / 2 % masks, the default kernel, time and peak memory
  stamp "1M"
  timeout 200 /tmp/sk gpu-bench --tokens 1M --head-dims 128 --densities 0.05,0.02 --seconds 0.1 --json "$OUT/long.json" > /tmp/long.txt 2>&1 || echo "1M bench failed or timed out"
  cat /tmp/long.txt >> "$OUT/bench.txt"; grep -E "N=1048576" /tmp/long.txt | cut -c1-200 | tail -6
fi
stamp torch
timeout 200 python3 bench/gpu/torch_sdpa.py --tokens "$TOK" --head-dims 128 --seconds "$SEC" --json "$OUT/torch.json" > /tmp/torch.txt 2>&1
timeout 60 python3 bench/gpu/torch_sdpa.py --tokens 32K --head-dims 64,256 --seconds "$SEC" --json "$OUT/torch.json" --append >> /tmp/torch.txt 2>&1
cat /tmp/torch.txt >> "$OUT/bench.txt"; tail -2 /tmp/torch.txt
stamp table
python3 bench/gpu/hopper_table.py "$OUT" ${SK_D64_KERNELS:-} ${SK_KERNELS:-v4 hopper} | tee "$OUT/table.md"
stamp done
