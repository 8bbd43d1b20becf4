#!/usr/bin/env python3
"""Skewed against uniform routing in this run's MoE launches (same card, same minutes), and how the
shipped MoE fit (hardware/calibrated/h100.json), given each skewed launch's own FLOPs and bytes,
predicts them.

    python3 bench/results/h100-mtp-prefill-cal/skew.py
"""
import json
import os
import statistics

here = os.path.dirname(os.path.abspath(__file__))
run = [m for m in json.load(open(os.path.join(here, "h100-run.json")))["measurements"] if m["op_class"] == "moe_ffn"]
fits = {(f["op_class"], f["dtype"]): f for f in json.load(open(os.path.join(here, "..", "..", "..", "hardware", "calibrated", "h100.json")))["fits"]}
skewed = [m for m in run if "popularity CV" in m["label"]]
uniform = {(m["label"], m["dtype"]): m["time_us"] for m in run}


def predict(f, flops, bytes_):
    p = f["p"]
    return f["launch_us"] + ((bytes_ / f["bytes_per_s"]) ** p + (flops / f["flops_per_s"]) ** p) ** (1 / p) * 1e6


slower = [m["time_us"] / uniform[(m["label"].replace(" (popularity CV 0.6)", ""), m["dtype"])] - 1 for m in skewed
          if (m["label"].replace(" (popularity CV 0.6)", ""), m["dtype"]) in uniform]
errors = [predict(fits[("moe_ffn", m["dtype"])], m["flops"], m["bytes"]) / m["time_us"] - 1 for m in skewed]
print(f"skewed over uniform, {len(slower)} pairs: {min(slower):+.1%} to {max(slower):+.1%}")
print(f"shipped fit on {len(errors)} skewed launches: median |error| {statistics.median(abs(e) for e in errors):.1%}, "
      f"worst {min(errors, key=lambda e: -abs(e)):+.1%}")
