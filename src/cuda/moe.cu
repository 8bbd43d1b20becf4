// MoE expert FFN: per-expert cuBLASLt GEMMs (gate+up, down) around a SiLU*up kernel, captured in a CUDA graph.
#include <algorithm>
#include <cmath>
#include <sstream>
#include <stdexcept>

#include "gemm_host.hpp"

namespace decodesim::gpu::detail {

namespace {

// act[r][i] = silu(h[r][i]) * h[r][I + i], as bf16 or e4m3 codes of act / act_scale
template <bool FP8>
__global__ void silu_mul_kernel(const __nv_bfloat16* __restrict__ h, void* __restrict__ act, long long rows, int I, float inv_scale) {
  const long long n = rows * (I / 2);
  for (long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x; idx < n; idx += (long long)gridDim.x * blockDim.x) {
    const long long r = idx / (I / 2);
    const int c = int(idx % (I / 2)) * 2;
    const float2 gt = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(h + r * 2 * I + c));
    const float2 up = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(h + r * 2 * I + I + c));
    const float a0 = gt.x / (1.f + __expf(-gt.x)) * up.x, a1 = gt.y / (1.f + __expf(-gt.y)) * up.y;
    if constexpr (FP8) {
      reinterpret_cast<__nv_fp8x2_storage_t*>(act)[(r * I + c) / 2] =
          __nv_cvt_float2_to_fp8x2(make_float2(a0 * inv_scale, a1 * inv_scale), __NV_SATFINITE, __NV_E4M3);
    } else {
      reinterpret_cast<__nv_bfloat162*>(act)[(r * I + c) / 2] = __floats2bfloat162_rn(a0, a1);
    }
  }
}

constexpr float kActScale = 1.f / 64.f;  // static per-tensor scale of the fp8 activations (|act| < 7 representable)

struct MoeSet {
  DeviceBuffer w1, w2, x, h1, act, y;
};

struct MoeData {
  int E, t, H, I;
  bool fp8;
  int sets;
  float w1_scale = 1, w2_scale = 1, x_scale = 1;
  using Set = MoeSet;
  std::vector<MoeSet> s;
  DeviceBuffer scales;  // w1, w2, x, act
  MoeData(const GroupedGemmShape& g) : E(g.experts), t(g.tokens_per_expert), H(g.hidden), I(g.intermediate), fp8(g.fp8) {
    if (E <= 0 || t <= 0 || H <= 0 || I <= 0 || I % 2) throw std::runtime_error("MoE shape: bad sizes");
    const double es = fp8 ? 1 : 2;
    const double set_bytes = double(E) * 3.0 * H * I * es + double(E) * t * H * (es + 2);
    size_t free_b = 0, total_b = 0;
    DS_CUDA(cudaMemGetInfo(&free_b, &total_b));
    sets = std::min(rotation_sets(set_bytes, 16), std::max(1, int(0.6 * free_b / set_bytes)));
    const float a1 = float(std::sqrt(3.0 / H)), a2 = float(std::sqrt(3.0 / I));
    if (fp8) {
      w1_scale = a1 / 16.f, w2_scale = a2 / 16.f, x_scale = 1.f / 16.f;
      scales.alloc(4 * kScaleStride * sizeof(float));
      std::vector<float> hs(4 * kScaleStride, 0.f);
      hs[0] = w1_scale, hs[kScaleStride] = w2_scale, hs[2 * kScaleStride] = x_scale, hs[3 * kScaleStride] = kActScale;
      DS_CUDA(cudaMemcpy(scales.get(), hs.data(), hs.size() * sizeof(float), cudaMemcpyHostToDevice));
    }
    s.resize(sets);
    for (Set& x : s) {
      const size_t n1 = size_t(E) * 2 * I * H, n2 = size_t(E) * H * I, nx = size_t(E) * t * H;
      x.w1.alloc(size_t(n1 * es));
      x.w2.alloc(size_t(n2 * es));
      x.x.alloc(size_t(nx * es));
      x.h1.alloc(size_t(E) * t * 2 * I * 2);
      x.act.alloc(size_t(size_t(E) * t * I * es));
      x.y.alloc(nx * 2);
      if (fp8) {
        fill_fp8(x.w1.get(), n1, next_seed(), 16.f, stream());
        fill_fp8(x.w2.get(), n2, next_seed(), 16.f, stream());
        fill_fp8(x.x.get(), nx, next_seed(), 16.f, stream());
      } else {
        fill_bf16(x.w1.get(), n1, next_seed(), -a1, a1, stream());
        fill_bf16(x.w2.get(), n2, next_seed(), -a2, a2, stream());
        fill_bf16(x.x.get(), nx, next_seed(), -1.f, 1.f, stream());
      }
    }
    DS_CUDA(cudaStreamSynchronize(stream()));
  }
  const float* sc(int i) const { return fp8 ? scales.get<float>() + i * kScaleStride : nullptr; }
};

void moe_forward(const MoeData& d, int set, const LtMatmul& up, const LtMatmul& down, cudaStream_t st) {
  const MoeData::Set& x = d.s[set];
  const double es = d.fp8 ? 1 : 2;
  for (int e = 0; e < d.E; ++e)
    up.run(x.w1.get<char>() + size_t(e * es * 2 * d.I * double(d.H)), x.x.get<char>() + size_t(e * es * d.t * double(d.H)),
           x.h1.get<char>() + size_t(e) * d.t * 2 * d.I * 2, st);
  const long long rows = (long long)d.E * d.t;
  const int grid = int(std::min<long long>((rows * d.I / 2 + 255) / 256, props().multiProcessorCount * 8LL));
  if (d.fp8) silu_mul_kernel<true><<<grid, 256, 0, st>>>(x.h1.get<__nv_bfloat16>(), x.act.get(), rows, d.I, 1.f / kActScale);
  else silu_mul_kernel<false><<<grid, 256, 0, st>>>(x.h1.get<__nv_bfloat16>(), x.act.get(), rows, d.I, 1.f);
  DS_LAUNCHED("silu_mul_kernel");
  for (int e = 0; e < d.E; ++e)
    down.run(x.w2.get<char>() + size_t(e * es * double(d.H) * d.I), x.act.get<char>() + size_t(e * es * d.t * double(d.I)),
             x.y.get<char>() + size_t(e) * d.t * d.H * 2, st);
}

double check_moe(const MoeData& d) {
  const MoeData::Set& x = d.s[0];
  const std::vector<uint16_t> Y = to_host<uint16_t>(x.y.get(), size_t(d.E) * d.t * d.H);
  for (uint16_t v : Y)
    if (!std::isfinite(bf16_to_float(v))) return INFINITY;
  std::vector<int> experts{0};
  if (d.E > 1) experts.push_back(d.E - 1);
  std::vector<int> toks{0};
  if (d.t > 1) toks.push_back(d.t - 1);
  const size_t es = d.fp8 ? 1 : 2;
  std::vector<double> ref, got;
  for (int e : experts) {
    const std::vector<float> W1 = host_values(x.w1.get<char>() + es * size_t(e) * 2 * d.I * d.H, size_t(2) * d.I * d.H, d.fp8, d.w1_scale);
    const std::vector<float> W2 = host_values(x.w2.get<char>() + es * size_t(e) * d.H * d.I, size_t(d.H) * d.I, d.fp8, d.w2_scale);
    for (int tk : toks) {
      const std::vector<float> X = host_values(x.x.get<char>() + es * (size_t(e) * d.t + tk) * d.H, size_t(d.H), d.fp8, d.x_scale);
      // h1 is stored as bf16 on the device; act as bf16 or e4m3 (static scale): mirror those roundings
      std::vector<double> h(2 * size_t(d.I));
      parallel_for(size_t(2) * d.I, [&](size_t j) {
        double a = 0;
        const float* wr = W1.data() + j * d.H;
        for (int i = 0; i < d.H; ++i) a += double(X[i]) * wr[i];
        h[j] = bf16_to_float(float_to_bf16(float(a)));
      });
      std::vector<double> act(d.I);
      for (int i = 0; i < d.I; ++i) {
        const float gt = float(h[i]), up = float(h[d.I + i]);
        const float a = gt / (1.f + std::exp(-gt)) * up;
        act[i] = d.fp8 ? fp8_to_float(float_to_fp8(a / kActScale)) * kActScale : bf16_to_float(float_to_bf16(a));
      }
      std::vector<double> yr(d.H);
      parallel_for(size_t(d.H), [&](size_t j) {
        double a = 0;
        const float* wr = W2.data() + j * d.I;
        for (int i = 0; i < d.I; ++i) a += act[i] * wr[i];
        yr[j] = a;
      });
      for (int j = 0; j < d.H; ++j) {
        ref.push_back(yr[j]);
        got.push_back(bf16_to_float(Y[(size_t(e) * d.t + tk) * d.H + j]));
      }
    }
  }
  return rel_error(got, ref);
}

}  // namespace

Measurement measure_moe(const GroupedGemmShape& g, const Options& o) {
  MoeData d(g);
  LtMatmul up(d.t, 2 * d.I, d.H, d.fp8, d.sc(0), d.sc(2));
  LtMatmul down(d.t, d.H, d.I, d.fp8, d.sc(1), d.sc(3));
  if (o.autotune) {
    const double es = d.fp8 ? 1 : 2;
    up.tune([&](int i) {
      const MoeData::Set& x = d.s[i % d.sets];
      const int e = i % d.E;
      up.run(x.w1.get<char>() + size_t(e * es * 2 * d.I * double(d.H)), x.x.get<char>() + size_t(e * es * d.t * double(d.H)),
             x.h1.get<char>() + size_t(e) * d.t * 2 * d.I * 2, stream());
    });
    down.tune([&](int i) {
      const MoeData::Set& x = d.s[i % d.sets];
      const int e = i % d.E;
      down.run(x.w2.get<char>() + size_t(e * es * double(d.H) * d.I), x.act.get<char>() + size_t(e * es * d.t * double(d.I)),
               x.y.get<char>() + size_t(e) * d.t * d.H * 2, stream());
    });
  }
  Measurement r;
  r.op_class = "moe_ffn";
  r.dtype = g.fp8 ? "fp8" : "bf16";
  r.m = g.tokens_per_expert, r.n = g.intermediate, r.k = g.hidden;
  const double es = g.fp8 ? 1 : 2;
  r.flops = 6.0 * g.experts * double(g.tokens_per_expert) * g.hidden * double(g.intermediate);
  r.bytes = double(g.experts) * 3.0 * g.hidden * double(g.intermediate) * es +
            double(g.experts) * g.tokens_per_expert * double(g.hidden) * (es + 2);
  std::ostringstream l;
  if (g.label.empty()) l << "moe " << g.experts << " experts x " << g.tokens_per_expert << " tokens " << g.hidden << "x" << g.intermediate;
  else l << g.label;
  l << " " << r.dtype << " (graph of " << 2 * g.experts << " cuBLASLt GEMMs)";
  r.label = l.str();
  if (o.check) {
    poison(d.s[0].y.get(), d.s[0].y.bytes(), stream());
    moe_forward(d, 0, up, down, stream());
    DS_CUDA(cudaStreamSynchronize(stream()));
    r.rel_error = check_moe(d);
  }
  // one graph per input set, replayed in turn
  GraphSet graphs;
  for (int s = 0; s < d.sets; ++s) capture(graphs, [&] { moe_forward(d, s, up, down, stream()); });
  r.time_us = median(time_runs(o.warmup, o.repeats, [&](int i) { DS_CUDA(cudaGraphLaunch(graphs.g[i % graphs.g.size()], stream())); }));
  return r;
}

}  // namespace decodesim::gpu::detail
