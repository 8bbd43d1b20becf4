#!/usr/bin/env python3
"""The shipped calibration's measurements: every shape of h100-moe-3 (the one-token attention and the
layers as its kernels run them, GEMMs, MoE), plus the shapes only this run measured (several query
tokens, prefill prompts and chunks, GEMMs at 16384 rows, skewed routing). This run's one-token
attention is left out: its kernels carried the several-token code and ran 5-56% slower
(ab/table.txt); the one-token instances now built apart are the h100-moe-3 kernels.

    python3 bench/results/h100-mtp-prefill-cal/merge.py > /tmp/merged.json
    build/decodesim calibrate --refit /tmp/merged.json --out hardware/calibrated/h100.json --csv DIR
"""
import json
import os

here = os.path.dirname(os.path.abspath(__file__))
base = json.load(open(os.path.join(here, "..", "h100-moe-3", "calibrate", "h100.json")))
run = json.load(open(os.path.join(here, "h100-run.json")))


def only_here(m):
    return (" q=" in m["label"] or m["op_class"].startswith("prefill_attention") or "m=16384" in m["label"]
            or "popularity CV" in m["label"])


known = {m["label"] for m in base["measurements"]}
added = [m for m in run["measurements"] if only_here(m) and m["label"] not in known]
# This run named several-token decode samples attention_<design>; they are mtp_attention_<design>
# now (kernels of their own).
for m in added:
    if " q=" in m["label"] and m["op_class"].startswith("attention_"):
        m["op_class"] = "mtp_" + m["op_class"]
base["measurements"] += added
base["_note"] += ("; measurements: bench/results/h100-moe-3 and, for " + str(len(added)) +
                  " shapes only it has, bench/results/h100-mtp-prefill-cal (merge.py)")
print(json.dumps(base, indent=1))
