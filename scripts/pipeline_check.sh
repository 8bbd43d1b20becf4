#!/usr/bin/env bash
# The served-pipeline check for a machine of several GPUs: builds the pipeline bench, measures the
# GPU-to-GPU link (the machine's hardware profile) and runs every configuration that fits the GPUs.
#   scripts/pipeline_check.sh            # results in $OUT, else bench/results/pipeline-<date>/
# Knobs: LAYERS (8), STEPS (6), CONFIGS (comma-separated names; default all), TRACE (NAME:FILE), JOBS.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
OUT=${OUT:-$ROOT/bench/results/pipeline-$(date +%Y%m%d-%H%M%S)}
JOBS=${JOBS:-$(nproc)}
mkdir -p "$OUT"
export NCCL_NVLS_ENABLE=0  # never NVLink multicast (shared machines)
{
  echo "host: $(uname -m), $(nproc) cores"
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1
  nvidia-smi topo -m 2>&1
} >"$OUT/device.txt"
prefix=()
[ -d "$ROOT/.gpu-deps" ] && prefix=(-DCMAKE_PREFIX_PATH="$ROOT/.gpu-deps")
if ! { cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release -DDECODESIM_CUDA=ON -DBUILD_TESTING=OFF "${prefix[@]}" &&
       cmake --build build-gpu -j "$JOBS" --target decodesim_pipeline_bench; } >"$OUT/build.log" 2>&1; then
  tail -30 "$OUT/build.log"; echo "BUILD FAILED"; exit 1
fi
args=(--layers "${LAYERS:-8}" --steps "${STEPS:-6}" --csv "$OUT/pipeline_bench.csv" --link-profile "$OUT/h100-nvlink.json")
[ -n "${CONFIGS:-}" ] && args+=(--configs "$CONFIGS")
[ -n "${TRACE:-}" ] && args+=(--trace "${TRACE%%:*}:$OUT/${TRACE#*:}")
timeout "${BENCH_SECONDS:-480}" build-gpu/decodesim_pipeline_bench "${args[@]}" 2>&1 | tee "$OUT/pipeline_bench.log"
echo "files: $OUT"
