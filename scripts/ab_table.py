#!/usr/bin/env python3
"""Best variant per shape of two kernel-timing runs (decodesim_gpu_bench CSVs), A against B:
    python3 scripts/ab_table.py DIR        # reads DIR/a*.csv and DIR/b*.csv (one per round)"""
import csv
import glob
import re
import sys


def best(path):
    b = {}
    for r in csv.DictReader(open(path)):
        if not r["label"] or r["time_us"] in ("", "0"):
            continue
        key = re.sub(r" \[.*", "", r["label"])
        t = float(r["time_us"])
        if key not in b or t < b[key]:
            b[key] = t
    return b


d = sys.argv[1]
A = [best(f) for f in sorted(glob.glob(f"{d}/a*.csv"))]
B = [best(f) for f in sorted(glob.glob(f"{d}/b*.csv"))]
print(f"{'shape':80s} {'A us':>15s} {'B us':>15s}  B/A")
for k in A[0]:
    a = [x[k] for x in A if k in x]
    b = [x[k] for x in B if k in x]
    if a and b:
        print(f"{k[:80]:80s} {min(a):7.1f}-{max(a):7.1f} {min(b):7.1f}-{max(b):7.1f}  {min(b) / min(a):.3f}")
