#!/usr/bin/env bash
# A/B timing of two builds of the kernel timing tool on the same GPU, alternately (A B A B), so that a
# kernel change is judged against its baseline on the same card in the same minutes.
#   scripts/ab_bench.sh OLD_TREE [decodesim_gpu_bench args...]     # e.g. --only attention --filter ctx=8192
# OLD_TREE: a source tree of the baseline (git archive COMMIT | tar x -C DIR). Both are built here;
# .gpu-deps/ is used when present. Results in $OUT (else ./ab-out): a.csv/b.csv per round and a
# table of each shape's best variant, A against B.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OLD=$(cd "$1" && pwd); shift
OUT=${OUT:-$ROOT/ab-out}
mkdir -p "$OUT"
prefix=()
[ -d "$ROOT/.gpu-deps" ] && prefix=(-DCMAKE_PREFIX_PATH="$ROOT/.gpu-deps")
build() {  # tree
  cmake -S "$1" -B "$1/build-ab" -DCMAKE_BUILD_TYPE=Release -DDECODESIM_CUDA=ON "${prefix[@]}" >/dev/null &&
    cmake --build "$1/build-ab" -j "$(( $(nproc) / 2 ))" --target decodesim_gpu_bench >/dev/null
}
build "$OLD" >"$OUT/build-a.log" 2>&1 & pa=$!
build "$ROOT" >"$OUT/build-b.log" 2>&1 || { tail -20 "$OUT/build-b.log"; exit 1; }
wait $pa || { tail -20 "$OUT/build-a.log"; exit 1; }
for r in 1 2; do
  "$OLD/build-ab/decodesim_gpu_bench" "$@" --csv "$OUT/a$r.csv" >"$OUT/a$r.log" 2>&1
  "$ROOT/build-ab/decodesim_gpu_bench" "$@" --csv "$OUT/b$r.csv" >"$OUT/b$r.log" 2>&1
done
python3 - "$OUT" <<'PY'
import csv, sys, re
out = sys.argv[1]
def best(f):
    b = {}
    for r in csv.DictReader(open(f)):
        if not r["label"] or r["time_us"] in ("", "0"): continue
        key = re.sub(r" \[.*", "", r["label"])
        t = float(r["time_us"])
        if key not in b or t < b[key][0]: b[key] = (t, r["label"][len(key):].strip())
    return b
A = [best(f"{out}/a{r}.csv") for r in (1, 2)]
B = [best(f"{out}/b{r}.csv") for r in (1, 2)]
print(f"{'shape':78s} {'A us':>16s} {'B us':>16s}  B/A")
for k in A[0]:
    if k not in B[0]: continue
    a = [x[k][0] for x in A if k in x]; b = [x[k][0] for x in B if k in x]
    print(f"{k[:78]:78s} {min(a):7.1f}-{max(a):7.1f} {min(b):7.1f}-{max(b):7.1f}  {min(b)/min(a):.3f}")
PY
