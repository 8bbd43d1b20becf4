#!/usr/bin/env python3
"""Measures the per-step GPU work and launch costs a decode step has beyond its layers, on one GPU:

- sampling: logits [batch x vocab] in fp32 -> temperature, softmax, top-p/top-k filtering and one
  multinomial draw per request, as PyTorch's reference samplers do it (sort-based top-p), and the
  greedy path (argmax) alone;
- a CUDA graph of many small kernels replayed back to back (a decode step is a graph of a few hundred
  to a thousand nodes): the time per replay against the sum of its kernels run alone, i.e. the cost
  of the replay itself and of each node in it.

    python3 bench/gpu/serving_overheads.py [--csv FILE]
"""
import sys

import torch

from torch_reference import bench_main
from torch_reference import time_us as time_sets  # event-timed medians after warm-up


def time_us(fn, warmup=5, reps=30):
    return time_sets(lambda i: fn(), 1, warmup, reps)


def sampling(rows, batch, vocab):
    logits = torch.randn(batch, vocab, device="cuda", dtype=torch.float32) * 3

    def greedy():
        return torch.argmax(logits, dim=-1)

    def top_p():
        x = torch.softmax(logits / 0.7, dim=-1)
        p, idx = torch.sort(x, dim=-1, descending=True)
        cum = torch.cumsum(p, dim=-1)
        p = p.masked_fill(cum - p > 0.9, 0.0)
        pick = torch.multinomial(p, 1)
        return torch.gather(idx, 1, pick)

    def top_k():
        x = torch.softmax(logits / 0.7, dim=-1)
        p, idx = torch.topk(x, 50, dim=-1)
        return torch.gather(idx, 1, torch.multinomial(p, 1))

    for name, fn in (("greedy argmax", greedy), ("top-p 0.9 (sort)", top_p), ("top-k 50", top_k)):
        t = time_us(fn)
        bytes_ = batch * vocab * 4
        rows.append(dict(what=f"sampling {name}", batch=batch, vocab=vocab, nodes=0, time_us=t, per_node_us=0,
                         gb_s=bytes_ / t / 1e3))
        print(f"sampling {name:18s} batch {batch:4d} vocab {vocab:6d}: {t:8.1f} us ({bytes_ / t / 1e3:6.0f} GB/s of logits)")


def graph_replay(rows, nodes, width):
    """`nodes` element-wise kernels on `width` floats each, captured in one graph."""
    x = torch.randn(width, device="cuda")
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for _ in range(3):
            y = x
            for _ in range(nodes):
                y = y.mul_(1.0000001)
    torch.cuda.current_stream().wait_stream(s)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        y = x
        for _ in range(nodes):
            y = y.mul_(1.0000001)
    one = time_us(lambda: x.mul_(1.0000001), reps=200)  # one kernel launched alone (launch included)
    t = time_us(g.replay)
    t2 = time_us(lambda: (g.replay(), g.replay()))  # two back to back: the gap between steps
    rows.append(dict(what="graph replay", batch=0, vocab=0, nodes=nodes, time_us=t, per_node_us=t / nodes, gb_s=0))
    print(f"graph of {nodes:4d} tiny kernels: {t:8.1f} us per replay ({t / nodes:.2f} us per node), two replays {t2:8.1f} us "
          f"(second adds {t2 - t:.1f}); one kernel alone {one:.1f} us")


def collect(rows):
    # vocabularies: DeepSeek-V3 129280, Qwen3 151936 (config.json vocab_size)
    for vocab in (129280, 151936):
        for batch in (1, 16, 64, 128, 256):
            sampling(rows, batch, vocab)
    for nodes in (100, 400, 1000):
        graph_replay(rows, nodes, 4096)


if __name__ == "__main__":
    sys.exit(bench_main("serving_overheads.csv", ["what", "batch", "vocab", "nodes", "time_us", "per_node_us", "gb_s"], collect))
