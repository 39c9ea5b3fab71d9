#!/usr/bin/env bash
# ONE device command: Nsight Compute on the hopper kernel's dense 32K launches (d 128, 32/8 heads), its bf16 and FP8
# builds as gpu-bench --fp8 times them — what binds each (tensor pipe, MUFU/XU, FMA, issue slots, stalls). Clocks left
# alone (--clock-control none). Needs the Firecracker runtime (ncu reads no counters under gVisor: it says so and
# this script stops). Prints the per-launch summary last; the raw pages stay in $OUT.
#   carry: .carry/skeleton.xz (the stripped release binary, xz)
set -u
OUT=${OUT:-/tmp/skeleton-out}; mkdir -p "$OUT"
. bench/gpu/device_lib.sh
unpack_skeleton ${SK_CARRY:-.carry}/skeleton.xz /tmp/sk
export SKELETON_CACHE=/tmp/skeleton-cache
NCU=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)
[ -n "$NCU" ] || { echo "no ncu on this machine"; exit 3; }
echo "ncu: $NCU ($($NCU --version | tail -1)); kernel $(uname -r)"
/tmp/sk gpu-bench --fp8 --tokens ${SK_TOKENS:-32K} --densities "" --seconds 0.001 > /dev/null 2>&1  # kernels compiled into the cache first
timeout ${SK_NCU_TIMEOUT:-240} $NCU --clock-control none -k regex:flash_fwd_hopper -c ${SK_LAUNCHES:-6} \
  --section SpeedOfLight --section ComputeWorkloadAnalysis --section WarpStateStats --section InstructionStats --section LaunchStats \
  --page raw --csv /tmp/sk gpu-bench --fp8 --tokens ${SK_TOKENS:-32K} --densities "" --seconds 0.001 > "$OUT/ncu-raw.csv" 2> "$OUT/ncu.err"
echo "ncu exit $?"; grep -E "==ERROR==|==WARNING==" "$OUT/ncu.err" "$OUT/ncu-raw.csv" | head -5
python3 - "$OUT/ncu-raw.csv" <<'PY'
import csv, sys
rows = [r for r in csv.reader(open(sys.argv[1])) if r]
start = next((i for i, r in enumerate(rows) if "Kernel Name" in r), None)
if start is None: print("no kernel rows in the ncu output"); sys.exit(0)
head, units, data = rows[start], rows[start + 1], rows[start + 2:]
want = ["gpu__time_duration.sum", "launch__shared_mem_per_block_dynamic", "launch__registers_per_thread",
        "sm__throughput.avg.pct_of_peak_sustained_elapsed", "sm__issue_active.avg.pct_of_peak_sustained_active",
        "sm__inst_executed.avg.per_cycle_active"]
want += sorted(c for c in head if c.startswith("sm__inst_executed_pipe_") and c.endswith("pct_of_peak_sustained_active"))
want += sorted(c for c in head if c.startswith("sm__pipe_") and "pct_of_peak_sustained_active" in c)
stall = sorted((c for c in head if c.startswith("smsp__average_warps_issue_stalled_") and c.endswith("_per_issue_active.ratio")))
for r in data:
    v = dict(zip(head, r))
    print(f"--- launch {v.get('ID', '?')}: {v.get('Kernel Name', '?')[:40]}  block {v.get('Block Size', '?')} grid {v.get('Grid Size', '?')}")
    for c in want:
        if c in v and v[c] not in ("", "n/a"):
            print(f"  {c} = {v[c]}")
    def num(x):
        try: return float(x.replace(",", ""))
        except ValueError: return 0.0
    top = sorted(((num(v.get(c, "")), c) for c in stall), reverse=True)[:6]
    for x, c in top:
        print(f"  stall {c[len('smsp__average_warps_issue_stalled_'):-len('_per_issue_active.ratio')]} = {x:.3f} per issue")
PY
