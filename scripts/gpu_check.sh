#!/usr/bin/env bash
# The one script for a GPU machine: build the whole project with CUDA, run every test (the GPU
# kernels' checks included), calibrate this chip with `decodesim calibrate`, time the kernels
# with decodesim_gpu_bench, and print a summary last.
#
#   scripts/gpu_check.sh            # results in $OUT, else bench/results/gpu-<date>/
#
# A GPU box without the Debian -dev packages: run scripts/gpu_deps.sh on a machine that has them
# and bring the resulting .gpu-deps/ folder along; it is used when present.
# Knobs: HW (hardware id; default from the GPU's name), CAL_SECONDS (sweep time limit, 300),
#        BENCH=0 (skip the timing tool), TOTAL_SECONDS (the timing tool gets what is left of it, 570), JOBS.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
OUT=${OUT:-$ROOT/bench/results/gpu-$(date +%Y%m%d-%H%M%S)}
JOBS=${JOBS:-$(nproc)}
CAL_SECONDS=${CAL_SECONDS:-300}
mkdir -p "$OUT"
LOG=$OUT/run.log
T0=$(date +%s)
say() { echo "[gpu_check $(( $(date +%s) - T0 ))s] $*" | tee -a "$LOG"; }

gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)
{
  echo "host: $(uname -m), $(nproc) cores"
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm,power.limit --format=csv 2>&1
  /usr/local/cuda/bin/nvcc --version | tail -1
} >"$OUT/device.txt"
if [ -z "${HW:-}" ]; then
  case "$gpu" in
    *H100*) HW=h100 ;; *H200*) HW=h200 ;; *H800*) HW=h800 ;; *H20*) HW=h20 ;; *B200*) HW=b200 ;; *L20*) HW=l20 ;; *L4*) HW=l4 ;;
    *) HW=h100; say "unknown GPU '$gpu': calibrating as h100 (set HW=...)" ;;
  esac
fi

prefix=()
[ -d "$ROOT/.gpu-deps" ] && prefix=(-DCMAKE_PREFIX_PATH="$ROOT/.gpu-deps")
say "build (CUDA on, $JOBS jobs) for $gpu as $HW"
if ! { cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release -DDECODESIM_CUDA=ON "${prefix[@]}" &&
       cmake --build build-gpu -j "$JOBS"; } >build-gpu.log 2>&1; then
  tail -40 build-gpu.log | tee -a "$LOG"; say "BUILD FAILED"; exit 1
fi

say "tests (all, GPU label included)"
(cd build-gpu && timeout 300 ctest --output-on-failure -j 4) >>"$LOG" 2>&1
TESTS=$(grep -E "tests passed|tests failed" "$LOG" | tail -1)
say "tests: $TESTS"

say "calibrate $HW (sweep limit ${CAL_SECONDS}s)"
# The CSV and figures stay beside the build (decodesim calibrate --refit remakes them from $HW.json).
timeout $((CAL_SECONDS + 120)) build-gpu/decodesim calibrate --hardware "$HW" --out "$OUT/$HW.json" --csv build-gpu/calibration \
  --max-seconds "$CAL_SECONDS" >>"$LOG" 2>&1
CAL=$?

BENCH_RC="skipped"
if [ "${BENCH:-1}" = 1 ]; then
  say "kernel timing tool"
  left=$(( ${TOTAL_SECONDS:-570} - ($(date +%s) - T0) ))
  timeout $(( left > 30 ? left : 30 )) build-gpu/decodesim_gpu_bench --csv "$OUT/gpu_bench.csv" >"$OUT/bench.log" 2>&1
  BENCH_RC=$?
fi

echo
echo "================ gpu_check summary ($(( $(date +%s) - T0 )) s) ================"
cat "$OUT/device.txt"
echo "tests: $TESTS"
echo "calibrate: rc $CAL"
sed -n '/^Efficiency fits/,/^wrote/p' "$LOG"
echo "timing tool: rc $BENCH_RC"
[ -f "$OUT/bench.log" ] && sed -n '/==== summary/,$p' "$OUT/bench.log"
echo "files: $OUT"
