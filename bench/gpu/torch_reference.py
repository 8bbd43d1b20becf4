#!/usr/bin/env python3
"""Times the PyTorch kernels that exist for decodesim's decode shapes, on the same GPU, for the
kernel table beside decodesim_gpu_bench: scaled_dot_product_attention (FlashAttention-2, cuDNN and
memory-efficient backends) for MFA and GQA decode, and grouped GEMMs for the MoE expert FFN.

Decode attention with one query token per request and G query heads per KV head is run the way
serving stacks run it on these backends: the G heads of a KV head become G query rows of one
head, so each KV byte is read once. MLA (576/512) has no fused PyTorch kernel (head dims above
256); FlashMLA's published H800 figures are quoted in docs/gpu-notes.md instead.

    python3 bench/gpu/torch_reference.py [--csv FILE]
"""
import argparse
import csv
import statistics
import sys

import torch
import torch.nn.functional as F


def time_us(fn, sets, warmup=5, reps=30):
    for i in range(warmup):
        fn(i % sets)
    torch.cuda.synchronize()
    ts = []
    for i in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn(i % sets)
        b.record()
        b.synchronize()
        ts.append(a.elapsed_time(b) * 1e3)
    return statistics.median(ts)


def sets_for(bytes_per_set, l2=50e6, cap=8):
    return max(1, min(cap, int(3 * l2 / bytes_per_set) + 1))


def attention(rows, label, batch_kv, g, d, ctx, backends):
    """batch_kv independent KV heads (requests x KV heads), g query heads each, head dim d."""
    dt = torch.bfloat16
    kv_bytes = 2 * batch_kv * ctx * d * 2
    n = sets_for(kv_bytes)
    qs = [torch.randn(batch_kv, 1, g, d, device="cuda", dtype=dt) for _ in range(n)]
    ks = [torch.randn(batch_kv, 1, ctx, d, device="cuda", dtype=dt) for _ in range(n)]
    vs = [torch.randn(batch_kv, 1, ctx, d, device="cuda", dtype=dt) for _ in range(n)]
    flops = 2.0 * 2 * d * g * ctx * batch_kv
    bytes_ = kv_bytes + 2 * 2 * batch_kv * g * d
    with torch.nn.attention.sdpa_kernel(torch.nn.attention.SDPBackend.MATH):
        ref = F.scaled_dot_product_attention(qs[0].float(), ks[0].float(), vs[0].float())
    for name, be in backends:
        try:
            with torch.nn.attention.sdpa_kernel(be):
                out = F.scaled_dot_product_attention(qs[0], ks[0], vs[0])
                err = ((out.float() - ref).norm() / ref.norm()).item()
                t = time_us(lambda i: F.scaled_dot_product_attention(qs[i], ks[i], vs[i]), n)
        except Exception as e:  # backend does not support the shape
            print(f"{label:58s} {name:10s} unsupported: {str(e).splitlines()[0][:80]}")
            continue
        rows.append(dict(kernel=f"torch sdpa {name}", shape=label, time_us=t, gb_s=bytes_ / t / 1e3, tflop_s=flops / t / 1e6, rel_err=err))
        print(f"{label:58s} {name:10s} {t:9.1f} us {bytes_ / t / 1e3:7.0f} GB/s {flops / t / 1e6:7.1f} TF/s err {err:.2g}")


def prefill(rows, label, batch, hq, hkv, dqk, dv, tokens, backends):
    """Causal attention over whole prompts (no cached prefix): [batch, heads, tokens, dim], KV heads
    broadcast to their query heads by enable_gqa (no copy)."""
    dt = torch.bfloat16
    n = 2
    qs = [torch.randn(batch, hq, tokens, dqk, device="cuda", dtype=dt) for _ in range(n)]
    ks = [torch.randn(batch, hkv, tokens, dqk, device="cuda", dtype=dt) for _ in range(n)]
    vs = [torch.randn(batch, hkv, tokens, dv, device="cuda", dtype=dt) for _ in range(n)]
    seen = tokens * (tokens + 1) / 2  # causal: query i sees i + 1 keys
    flops = 2.0 * (dqk + dv) * hq * seen * batch
    gqa = hq != hkv

    def sdpa(i):
        return F.scaled_dot_product_attention(qs[i], ks[i], vs[i], is_causal=True, enable_gqa=gqa)

    with torch.nn.attention.sdpa_kernel(torch.nn.attention.SDPBackend.MATH):
        r = hq // hkv
        k0 = ks[0][:, :, :1024].float().repeat_interleave(r, 1)
        v0 = vs[0][:, :, :1024].float().repeat_interleave(r, 1)
        ref = F.scaled_dot_product_attention(qs[0][:, :, :1024].float(), k0, v0, is_causal=True)
    for name, be in backends:
        try:
            with torch.nn.attention.sdpa_kernel(be):
                out = sdpa(0)
                err = ((out[:, :, :1024].float() - ref).norm() / ref.norm()).item()
                t = time_us(sdpa, n, warmup=3, reps=15)
        except Exception as e:
            print(f"{label:58s} {name:10s} unsupported: {str(e).splitlines()[0][:80]}")
            continue
        rows.append(dict(kernel=f"torch sdpa {name}", shape=label, time_us=t, gb_s=0, tflop_s=flops / t / 1e6, rel_err=err))
        print(f"{label:58s} {name:10s} {t:9.1f} us {flops / t / 1e6:7.1f} TF/s err {err:.2g}")


def grouped_ffn(rows, label, experts, tokens, h, inter):
    """Routed experts as grouped GEMMs (bf16): gate+up, SiLU*up, down."""
    if not hasattr(torch, "_grouped_mm"):
        print(f"{label}: torch._grouped_mm not available")
        return
    dt = torch.bfloat16
    m = experts * tokens
    wbytes = experts * 3 * h * inter * 2
    n = sets_for(wbytes)
    xs = [torch.randn(m, h, device="cuda", dtype=dt) for _ in range(n)]
    w1 = [torch.randn(experts, h, 2 * inter, device="cuda", dtype=dt) / h**0.5 for _ in range(n)]
    w2 = [torch.randn(experts, inter, h, device="cuda", dtype=dt) / inter**0.5 for _ in range(n)]
    offs = torch.arange(1, experts + 1, device="cuda", dtype=torch.int32) * tokens

    def run(i):
        hh = torch._grouped_mm(xs[i], w1[i], offs=offs)
        a = F.silu(hh[:, :inter]) * hh[:, inter:]
        return torch._grouped_mm(a, w2[i], offs=offs)

    try:
        t = time_us(run, n)
    except Exception as e:
        print(f"{label}: grouped_mm failed: {str(e).splitlines()[0][:100]}")
        return
    flops = 6.0 * m * h * inter
    bytes_ = wbytes + m * h * 4
    rows.append(dict(kernel="torch _grouped_mm bf16 (3 kernels)", shape=label, time_us=t, gb_s=bytes_ / t / 1e3, tflop_s=flops / t / 1e6, rel_err=-1))
    print(f"{label:58s} {'grouped_mm':10s} {t:9.1f} us {bytes_ / t / 1e3:7.0f} GB/s {flops / t / 1e6:7.1f} TF/s")


def bench_main(default_csv, fieldnames, collect):
    """The GPU scripts' command line: --csv FILE; exit 77 without a GPU; collect(rows) appends the
    rows, which are written as CSV with these columns."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--csv", default=default_csv)
    a = ap.parse_args()
    if not torch.cuda.is_available():
        print("no GPU")
        return 77
    print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}, cuDNN {torch.backends.cudnn.version()}")
    rows = []
    collect(rows)
    with open(a.csv, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fieldnames)
        w.writeheader()
        w.writerows(rows)
    print(f"csv: {a.csv}")
    return 0


def collect(rows):
    B = torch.nn.attention.SDPBackend
    backends = [("flash", B.FLASH_ATTENTION), ("cudnn", B.CUDNN_ATTENTION), ("efficient", B.EFFICIENT_ATTENTION)]
    for ctx in (4096, 8192, 32768):
        attention(rows, f"step3 mfa b=64 ctx={ctx} h=64/1 d=256 kv=bf16", 64, 64, 256, ctx, backends)
    attention(rows, "step3 mfa b=128 ctx=4096 h=64/1 d=256 kv=bf16", 128, 64, 256, 4096, backends)
    for ctx in (4096, 8192, 32768):
        attention(rows, f"qwen3-235b gqa b=64 ctx={ctx} h=64/4 d=128 kv=bf16", 64 * 4, 16, 128, ctx, backends)
    attention(rows, "qwen3-235b-tp4 gqa b=256 ctx=8192 h=16/1 d=128 kv=bf16", 256, 16, 128, 8192, backends)
    # prefill: the shapes of decodesim_gpu_bench --only prefill
    for t in (2048, 8192):
        prefill(rows, f"qwen3-235b-a22b gqa prefill b=1 q={t} h=64/4 d=128/128", 1, 64, 4, 128, 128, t, backends)
    prefill(rows, "step3 mfa prefill b=1 q=4096 h=64/1 d=256/256", 1, 64, 1, 256, 256, 4096, backends)
    prefill(rows, "deepseek-v3 mla un-absorbed prefill b=1 q=4096 h=128/128 d=192/128", 1, 128, 128, 192, 128, 4096, backends)
    for t in (1, 64, 512):
        grouped_ffn(rows, f"step3 8 experts x {t} tokens 7168x5120 bf16", 8, t, 7168, 5120)
    grouped_ffn(rows, "deepseek-v3 2 experts x 128 tokens 7168x2048 bf16", 2, 128, 7168, 2048)


if __name__ == "__main__":
    sys.exit(bench_main("torch_reference.csv", ["kernel", "shape", "time_us", "gb_s", "tflop_s", "rel_err"], collect))
