#!/usr/bin/env bash
# A/B timing of two builds of the kernel timing tool on the same GPU, alternately (A B A B ...), so
# that a kernel change is judged against its baseline on the same card in the same minutes.
#   scripts/ab_bench.sh OLD_TREE [decodesim_gpu_bench args...]     # e.g. --only attention --filter ctx=8192
# OLD_TREE: a source tree of the baseline (git archive COMMIT | tar x -C DIR). .gpu-deps/ is used when
# present. AB_ROUNDS (2): rounds; AB_B_BUILD: an existing CUDA build of this tree to use as B (else
# built into build-ab/). Results in $OUT (else ./ab-out): a<round>.csv, b<round>.csv and the table of
# each shape's best variant (scripts/ab_table.py).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OLD=$(cd "$1" && pwd); shift
OUT=${OUT:-$ROOT/ab-out}
mkdir -p "$OUT"
prefix=()
[ -d "$ROOT/.gpu-deps" ] && prefix=(-DCMAKE_PREFIX_PATH="$ROOT/.gpu-deps")
build() {  # source tree, build folder
  cmake -S "$1" -B "$2" -DCMAKE_BUILD_TYPE=Release -DDECODESIM_CUDA=ON "${prefix[@]}" >/dev/null &&
    cmake --build "$2" -j "$(( $(nproc) / 2 ))" --target decodesim_gpu_bench >/dev/null
}
B_BUILD=${AB_B_BUILD:-$ROOT/build-ab}
build "$OLD" "$OLD/build-ab" >"$OUT/build-a.log" 2>&1 & pa=$!
if [ -z "${AB_B_BUILD:-}" ]; then build "$ROOT" "$B_BUILD" >"$OUT/build-b.log" 2>&1 || { tail -20 "$OUT/build-b.log"; exit 1; }; fi
wait $pa || { tail -20 "$OUT/build-a.log"; exit 1; }
for r in $(seq 1 "${AB_ROUNDS:-2}"); do
  "$OLD/build-ab/decodesim_gpu_bench" "$@" --csv "$OUT/a$r.csv" >"$OUT/a$r.log" 2>&1
  "$B_BUILD/decodesim_gpu_bench" "$@" --csv "$OUT/b$r.csv" >"$OUT/b$r.log" 2>&1
done
python3 "$ROOT/scripts/ab_table.py" "$OUT"
