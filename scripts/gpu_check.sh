#!/usr/bin/env bash
# The one script for a GPU machine: build the whole project with CUDA, then run the steps asked for
# and print a summary last.
#
#   scripts/gpu_check.sh                       # results in $OUT, else bench/results/gpu-<date>/
#   STEPS=probe,tests,bench scripts/gpu_check.sh
#
# Steps (STEPS, comma-separated; default all but torch):
#   probe      each warpgroup-MMA layout alone against an exact product (decodesim_gpu_bench --only probe)
#   tests      the GPU-labelled tests (kernels against float64 references, paged == contiguous)
#   alltests   the whole test suite
#   calibrate  `decodesim calibrate` of this chip (CAL_SECONDS sweep limit, default 300; CAL_ONLY: its
#              --only families, e.g. prefill,mtp,fp4, then pool with `calibrate --refit OLD,NEW`)
#   bench      the kernel timing tool (BENCH_ONLY: its --only list; BENCH_FILTER: its --filter)
#   torch      PyTorch's kernels on the same shapes (bench/gpu/torch_reference.py)
# A GPU box without the Debian -dev packages: run scripts/gpu_deps.sh on a machine that has them
# and bring the resulting .gpu-deps/ folder along; it is used when present.
# Knobs: HW (hardware id; default from the GPU's name), JOBS, TOTAL_SECONDS (budget for the timed steps, 570),
# TEST_SECONDS (limit of the tests step, 300: a kernel that hangs stops there).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
OUT=${OUT:-$ROOT/bench/results/gpu-$(date +%Y%m%d-%H%M%S)}
JOBS=${JOBS:-$(nproc)}
CAL_SECONDS=${CAL_SECONDS:-300}
STEPS=${STEPS:-probe,tests,calibrate,bench}
TOTAL_SECONDS=${TOTAL_SECONDS:-570}
TEST_SECONDS=${TEST_SECONDS:-300}
mkdir -p "$OUT"
LOG=$OUT/run.log
T0=$(date +%s)
say() { echo "[gpu_check $(( $(date +%s) - T0 ))s] $*" | tee -a "$LOG"; }
has() { [[ ",$STEPS," == *",$1,"* ]]; }
left() { echo $(( TOTAL_SECONDS - ($(date +%s) - T0) )); }

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
say "build (CUDA on, $JOBS jobs) for $gpu as $HW; steps $STEPS"
if ! { cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release -DDECODESIM_CUDA=ON "${prefix[@]}" &&
       cmake --build build-gpu -j "$JOBS"; } >build-gpu.log 2>&1; then
  tail -40 build-gpu.log | tee -a "$LOG"; say "BUILD FAILED"; exit 1
fi
grep -E "warning" build-gpu.log | sort -u | head -20 >>"$LOG"

if has probe; then
  say "wgmma layout probe"
  timeout 60 build-gpu/decodesim_gpu_bench --only probe --csv /dev/null 2>&1 | grep -E "^probe|ERROR" | tee "$OUT/probe.log" | tee -a "$LOG"
fi

TESTS="not run"
if has tests || has alltests; then
  label=(-L gpu)
  has alltests && label=()
  say "tests ${label[*]}"
  (cd build-gpu && timeout "$TEST_SECONDS" ctest --output-on-failure -j 4 "${label[@]}") >"$OUT/tests.log" 2>&1
  TESTS=$(grep -E "tests passed|tests failed" "$OUT/tests.log" | tail -1)
  say "tests: $TESTS"
fi

CAL="not run"
if has calibrate && [[ "$TESTS" == *failed* && "$TESTS" != *"0 tests failed"* ]]; then
  CAL="skipped: the kernel tests failed"
elif has calibrate; then
  say "calibrate $HW (sweep limit ${CAL_SECONDS}s)"
  # The CSV and figures stay beside the build (decodesim calibrate --refit remakes them from $HW.json).
  timeout $((CAL_SECONDS + 120)) build-gpu/decodesim calibrate --hardware "$HW" --out "$OUT/$HW.json" --csv build-gpu/calibration \
    --max-seconds "$CAL_SECONDS" ${CAL_ONLY:+--only "$CAL_ONLY"} >>"$LOG" 2>&1
  CAL="rc $?"
  [ -d build-gpu/calibration ] && tar -czf "$OUT/calibration.tar.gz" -C build-gpu calibration
fi

BENCH="not run"
if has bench; then
  say "kernel timing tool ${BENCH_ONLY:-}"
  l=$(left)
  timeout $(( l > 30 ? l : 30 )) build-gpu/decodesim_gpu_bench ${BENCH_ONLY:+--only "$BENCH_ONLY"} ${BENCH_FILTER:+--filter "$BENCH_FILTER"} --csv "$OUT/gpu_bench.csv" >"$OUT/bench.log" 2>&1
  BENCH="rc $?"
fi

if has torch; then
  say "PyTorch reference kernels"
  l=$(left)
  timeout $(( l > 30 ? l : 30 )) python3 bench/gpu/torch_reference.py --csv "$OUT/torch_reference.csv" >"$OUT/torch.log" 2>&1
  tail -3 "$OUT/torch.log" >>"$LOG"
fi

echo
echo "================ gpu_check summary ($(( $(date +%s) - T0 )) s) ================"
cat "$OUT/device.txt"
[ -f "$OUT/probe.log" ] && cat "$OUT/probe.log"
echo "tests: $TESTS"
[ -f "$OUT/tests.log" ] && grep -E "FAILED|failed|REQUIRE|CHECK\(|with expansion|rel err" "$OUT/tests.log" | head -30
echo "calibrate: $CAL"
sed -n '/^Efficiency fits/,/^wrote/p' "$LOG"
echo "timing tool: $BENCH"
[ -f "$OUT/bench.log" ] && { grep -E "^ERROR" "$OUT/bench.log" | head -10; sed -n '/==== summary/,$p' "$OUT/bench.log"; }
[ -f "$OUT/torch.log" ] && grep -vE "^csv" "$OUT/torch.log"
echo "files: $OUT"
