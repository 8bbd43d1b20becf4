#!/usr/bin/env python3
"""4-bit KV attention measured on an H100: the shipped calibration's measurements plus a timing
tool run's 4-bit shapes (the fastest variant of each: the CSV of `decodesim_gpu_bench --only fp4`),
for a refit with the fp4 classes; and, first, how the shipped FP8 fits predict the 4-bit kernels
from their FLOPs and bytes (what the core does for a 4-bit cache when a calibration has no fp4 fit).

    python3 scripts/fp4_merge.py RUN/gpu_bench.csv > /tmp/h100-fp4.json      # table on stderr
    build/decodesim calibrate --refit /tmp/h100-fp4.json --out RUN/h100.json --csv RUN/calibration
"""
import csv
import json
import math
import os
import statistics
import sys

if len(sys.argv) != 2:
    sys.exit("usage: fp4_merge.py GPU_BENCH_CSV")
root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
base = json.load(open(os.path.join(root, "hardware", "calibrated", "h100.json")))
rows = [r for r in csv.DictReader(open(sys.argv[1]))
        if r["dtype"] == "fp4" and r["note"] == "best" and r["op_class"].startswith("attention_")]
# A shape whose check failed (a non-finite or large error against the reference) is no measurement
# of a working kernel: `decodesim calibrate` refuses one above the same bound, and a non-finite
# error would not even be JSON.
MAX_REL_ERROR = 0.1
def check_failed(r):
    e = float(r["rel_error"])
    return not math.isfinite(e) or e > MAX_REL_ERROR


def predict_us(fit, flops, bytes_):
    tb, tf = bytes_ / fit["bytes_per_s"], flops / fit["flops_per_s"]
    hi = max(tb, tf)
    if hi <= 0:
        return fit["launch_us"]
    p = fit["p"]
    return fit["launch_us"] + hi * ((tb / hi) ** p + (tf / hi) ** p) ** (1 / p) * 1e6


fits = {(f["op_class"], f["dtype"]): f for f in base["fits"]}
errs = {}
print(f"{'shape':70s} {'us':>8s} {'fp8 fit':>8s} {'err':>7s}", file=sys.stderr)
for r in rows:
    f = fits[(r["op_class"], "fp8")]
    pred = predict_us(f, float(r["flops"]), float(r["bytes"]))
    t = float(r["time_us"])
    errs.setdefault(r["op_class"], []).append(pred / t - 1)
    print(f"{r['label'][:70]:70s} {t:8.1f} {pred:8.1f} {100 * (pred / t - 1):+6.1f}%"
          + (f"  (check failed: rel error {r['rel_error']})" if check_failed(r) else ""), file=sys.stderr)
for c, e in sorted(errs.items()):
    print(f"{c} fp4 on the fp8 fit: median |error| {100 * statistics.median(abs(x) for x in e):.1f}%, "
          f"range {100 * min(e):+.1f}% .. {100 * max(e):+.1f}% over {len(e)} shapes", file=sys.stderr)

# Times stand as times in the table above; only shapes whose check passed become measurements.
known = {m["label"] for m in base["measurements"]}
for r in rows:
    if r["label"] in known:
        continue
    if check_failed(r):
        print(f"not merged (check failed): {r['label']}", file=sys.stderr)
        continue
    base["measurements"].append({k: (r[k] if k in ("op_class", "dtype", "label") else float(r[k]))
                                 for k in ("op_class", "dtype", "label", "m", "n", "k", "flops", "bytes", "time_us", "rel_error")})
base["_note"] += "; plus the 4-bit KV attention shapes of " + sys.argv[1] + " (scripts/fp4_merge.py)"
print(json.dumps(base, indent=1))
