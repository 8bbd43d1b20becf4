// Routed-expert FFN of one MoE layer at decode: the grouped warpgroup kernels (one launch for
// gate+up with SiLU*up, one for down, all local experts, any routing) and, for comparison, the
// earlier per-expert cuBLASLt loop; each checked against a float64 reference.
#include <algorithm>
#include <cmath>
#include <functional>
#include <memory>
#include <numeric>
#include <sstream>
#include <stdexcept>

#include "gemm_host.hpp"
#include "moe_host.hpp"

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

// Tokens per expert: the listed routing, or the same count for every expert.

struct MoeSet {
  DeviceBuffer w1, w2, x, h1, act, y;
};

struct MoeData {
  int E, H, I;
  bool fp8;
  std::vector<int> counts, offsets;
  int rows = 0;  // tokens over all experts
  int sets = 1;
  float w1_scale = 1, w2_scale = 1, x_scale = 1;
  std::vector<MoeSet> s;
  DeviceBuffer scales;               // cuBLASLt: w1, w2, x, act
  DeviceBuffer d_counts, d_offsets;  // grouped kernels
  MoeData(const GroupedGemmShape& g) : E(g.experts), H(g.hidden), I(g.intermediate), fp8(g.fp8) {
    if (E <= 0 || H <= 0 || I <= 0) throw std::runtime_error("MoE shape: bad sizes");
    if (H % 128 || I % 128)
      throw std::runtime_error("MoE shape: hidden and intermediate must be multiples of 128 (H=" + std::to_string(H) + ", I=" + std::to_string(I) + ")");
    counts = moe_token_counts(g);
    offsets.resize(E);
    std::exclusive_scan(counts.begin(), counts.end(), offsets.begin(), 0);
    rows = std::accumulate(counts.begin(), counts.end(), 0);
    const double es = fp8 ? 1 : 2;
    const double set_bytes = double(E) * 3.0 * H * I * es + double(std::max(rows, 1)) * H * (es + 2);
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
    d_counts.alloc(size_t(E) * sizeof(int));
    d_offsets.alloc(size_t(E) * sizeof(int));
    DS_CUDA(cudaMemcpy(d_counts.get(), counts.data(), size_t(E) * sizeof(int), cudaMemcpyHostToDevice));
    DS_CUDA(cudaMemcpy(d_offsets.get(), offsets.data(), size_t(E) * sizeof(int), cudaMemcpyHostToDevice));
    s.resize(sets);
    const size_t r = size_t(std::max(rows, 1));
    for (MoeSet& x : s) {
      const size_t n1 = size_t(E) * 2 * I * H, n2 = size_t(E) * H * I, nx = r * H;
      x.w1.alloc(size_t(n1 * es));
      x.w2.alloc(size_t(n2 * es));
      x.x.alloc(size_t(nx * es));
      x.act.alloc(size_t(r * I * es));
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
  bool uniform() const { return std::adjacent_find(counts.begin(), counts.end(), std::not_equal_to<>()) == counts.end(); }
  const float* sc(int i) const { return fp8 ? scales.get<float>() + i * kScaleStride : nullptr; }
};

// ---- grouped warpgroup kernels -----------------------------------------------------------

// Few tokens: the kernel streams weights, so deep pipelines (6 stages, one block per SM), or 5 stages
// and two blocks per SM where the gate+up tiles number less than two per SM: then every tile streams
// at once instead of some SMs taking two in turn (Qwen3-235B, 8 experts x 1 token: 73.9 -> 65.3 us,
// `bench/results/h100-moe-1/` at commit dc5f103). More tokens: the products dominate, so shallower
// stages leave room for two blocks (warpgroups) per SM.
template <bool FP8, int NT, int SMALL_STAGES>
struct Grouped {
  using Cfg = MoeCfg<FP8, NT, NT <= 32 ? SMALL_STAGES : NT == 64 ? 4 : 3>;
  static bool prepare() {
    return per_device<bool>([] {
      if (Cfg::SMEM > int(props().sharedMemPerBlockOptin)) return false;
      DS_CUDA(cudaFuncSetAttribute(moe_grouped_kernel<Cfg, false>, cudaFuncAttributeMaxDynamicSharedMemorySize, Cfg::SMEM));
      DS_CUDA(cudaFuncSetAttribute(moe_grouped_kernel<Cfg, true>, cudaFuncAttributeMaxDynamicSharedMemorySize, Cfg::SMEM));
      return true;
    });
  }
  static void run(const MoeParams& p, int tiles_up, int tiles_down, cudaStream_t st) {
    if (!prepare()) throw std::runtime_error("grouped MoE kernel needs more shared memory than this device has");
    const int per_sm = per_device<int>([] {
      int n = 0;
      DS_CUDA(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&n, moe_grouped_kernel<Cfg, false>, Cfg::THREADS, Cfg::SMEM));
      return std::max(n, 1);
    });
    const int slots = props().multiProcessorCount * per_sm;  // a persistent grid
    if (tiles_up > 0) moe_grouped_kernel<Cfg, false><<<std::min(tiles_up, slots), Cfg::THREADS, Cfg::SMEM, st>>>(p);
    DS_LAUNCHED("moe_grouped_kernel (gate+up)");
    // A programmatic dependent launch: the down kernel's blocks start as gate+up's finish and wait
    // for its output in the kernel, which saves about 1 us per call.
    if (tiles_down > 0) launch_dependent(moe_grouped_kernel<Cfg, true>, std::min(tiles_down, slots), Cfg::THREADS, Cfg::SMEM, st, p);
    DS_LAUNCHED("moe_grouped_kernel (down)");
  }
};

// The rows of a launch's token blocks. Each block of an expert reads the expert's weights once and
// computes all its rows, padding included, so larger blocks read weights fewer times and compute
// more. A block is costed at 1 + 0.3 nt / 295 weight reads: 295 FLOP per weight byte is Hopper's
// dense tensor rate over its HBM bandwidth (BF16 and e4m3 weights alike), and 0.3 the share of that
// compute not hidden under the weight reads, measured on routed launches with a shared expert as one
// more expert (bench/results/h100-moe-3/). With even routing the cheapest size is the smallest
// that holds an expert's tokens; one expert with many tokens no longer sets every expert's.
int token_block(const std::vector<int>& counts) {
  int best = 16;
  double best_cost = -1;
  for (int nt : {16, 32, 64, 128}) {
    long long blocks = 0;
    for (int c : counts) blocks += (c + nt - 1) / nt;
    const double cost = double(blocks) * (1.0 + 0.3 * nt / 295.0);
    if (best_cost < 0 || cost < best_cost) best_cost = cost, best = nt;
  }
  return best;
}

}  // namespace

float moe_act_scale() { return kActScale; }

void grouped_moe_forward(const MoeParams& p, const std::vector<int>& counts, bool fp8, cudaStream_t st) {
  if (p.experts > MoeCfg<true, 16, 6>::MAX_EXPERTS) throw std::runtime_error("grouped MoE: too many experts");
  const int nt = token_block(counts);
  int tb = 0;
  for (int c : counts) tb += (c + nt - 1) / nt;
  const int up = tb * (p.inter / 64), down = tb * (p.hidden / 64);
  const bool two_per_sm = up < 2 * props().multiProcessorCount;
  auto go = [&](auto fp8_tag) {
    constexpr bool F = decltype(fp8_tag)::value;
    switch (nt) {
      case 16: two_per_sm ? Grouped<F, 16, 5>::run(p, up, down, st) : Grouped<F, 16, 6>::run(p, up, down, st); break;
      case 32: two_per_sm ? Grouped<F, 32, 5>::run(p, up, down, st) : Grouped<F, 32, 6>::run(p, up, down, st); break;
      case 64: Grouped<F, 64, 6>::run(p, up, down, st); break;
      default: Grouped<F, 128, 6>::run(p, up, down, st); break;
    }
  };
  if (fp8) go(std::true_type{});
  else go(std::false_type{});
}

namespace {

void forward_grouped(const MoeData& d, int set, cudaStream_t st) {
  const MoeSet& x = d.s[set];
  MoeParams p{};
  p.counts = d.d_counts.get<int>(), p.offsets = d.d_offsets.get<int>();
  p.experts = d.E, p.hidden = d.H, p.inter = d.I;
  p.x = x.x.get(), p.w1 = x.w1.get(), p.w2 = x.w2.get(), p.act = x.act.get(), p.y = x.y.get<__nv_bfloat16>();
  p.gate_up_scale = d.w1_scale * d.x_scale;
  p.down_scale = d.fp8 ? d.w2_scale * kActScale : 1.f;
  p.act_inv_scale = 1.f / kActScale;
  grouped_moe_forward(p, d.counts, d.fp8, st);
}

// ---- per-expert cuBLASLt loop (uniform routing) -------------------------------------------

struct LtLoop {
  LtMatmul up, down;
  LtLoop(const MoeData& d, int t) : up(t, 2 * d.I, d.H, d.fp8, d.sc(0), d.sc(2)), down(t, d.H, d.I, d.fp8, d.sc(1), d.sc(3)) {}
};

void forward_lt(const MoeData& d, int set, const LtLoop& lt, cudaStream_t st) {
  const MoeSet& x = d.s[set];
  const double es = d.fp8 ? 1 : 2;
  const int t = d.counts[0];
  for (int e = 0; e < d.E; ++e)
    lt.up.run(x.w1.get<char>() + size_t(e * es * 2 * d.I * double(d.H)), x.x.get<char>() + size_t(e * es * t * double(d.H)),
              x.h1.get<char>() + size_t(e) * t * 2 * d.I * 2, st);
  const long long rows = (long long)d.E * t;
  const int grid = int(std::min<long long>((rows * d.I / 2 + 255) / 256, props().multiProcessorCount * 8LL));
  if (d.fp8) silu_mul_kernel<true><<<grid, 256, 0, st>>>(x.h1.get<__nv_bfloat16>(), x.act.get(), rows, d.I, 1.f / kActScale);
  else silu_mul_kernel<false><<<grid, 256, 0, st>>>(x.h1.get<__nv_bfloat16>(), x.act.get(), rows, d.I, 1.f);
  DS_LAUNCHED("silu_mul_kernel");
  for (int e = 0; e < d.E; ++e)
    lt.down.run(x.w2.get<char>() + size_t(e * es * double(d.H) * d.I), x.act.get<char>() + size_t(e * es * t * double(d.I)),
                x.y.get<char>() + size_t(e) * t * d.H * 2, st);
}

// float64 reference for sampled (expert, token) pairs. `h_bf16`: the gate/up outputs are rounded to
// bf16 before SiLU (the cuBLASLt loop stores them); the grouped kernel keeps them in fp32.
double check_moe(const MoeData& d, bool h_bf16) {
  const MoeSet& x = d.s[0];
  const std::vector<uint16_t> Y = to_host<uint16_t>(x.y.get(), size_t(std::max(d.rows, 1)) * d.H);
  for (int r = 0; r < d.rows; ++r)
    for (int j = 0; j < d.H; ++j)
      if (!std::isfinite(bf16_to_float(Y[size_t(r) * d.H + j]))) return INFINITY;
  std::vector<int> experts;
  for (int e : {0, d.E / 2, d.E - 1})
    if (d.counts[e] > 0 && (experts.empty() || experts.back() != e)) experts.push_back(e);
  const size_t es = d.fp8 ? 1 : 2;
  std::vector<double> ref, got;
  for (int e : experts) {
    const std::vector<float> W1 = host_values(x.w1.get<char>() + es * size_t(e) * 2 * d.I * d.H, size_t(2) * d.I * d.H, d.fp8, d.w1_scale);
    const std::vector<float> W2 = host_values(x.w2.get<char>() + es * size_t(e) * d.H * d.I, size_t(d.H) * d.I, d.fp8, d.w2_scale);
    std::vector<int> toks{0};
    if (d.counts[e] > 1) toks.push_back(d.counts[e] - 1);
    for (int tk : toks) {
      const size_t row = size_t(d.offsets[e]) + tk;
      const std::vector<float> X = host_values(x.x.get<char>() + es * row * d.H, size_t(d.H), d.fp8, d.x_scale);
      std::vector<double> h(2 * size_t(d.I));
      parallel_for(size_t(2) * d.I, [&](size_t j) {
        double a = 0;
        const float* wr = W1.data() + j * d.H;
        for (int i = 0; i < d.H; ++i) a += double(X[i]) * wr[i];
        h[j] = h_bf16 ? bf16_to_float(float_to_bf16(float(a))) : a;
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
        got.push_back(bf16_to_float(Y[row * d.H + j]));
      }
    }
  }
  return ref.empty() ? 0.0 : rel_error(got, ref);
}

}  // namespace

Measurement measure_moe(const GroupedGemmShape& g, const Options& o, std::vector<Measurement>* all) {
  MoeData d(g);
  Measurement r = moe_measurement(g);
  const std::string shape_label = r.label;
  const double es = g.fp8 ? 1 : 2;

  struct Impl {
    std::string name;
    std::function<void(int, cudaStream_t)> run;
    bool h_bf16;
  };
  std::vector<Impl> impls;
  impls.push_back({"grouped wgmma, 2 launches", [&](int s, cudaStream_t st) { forward_grouped(d, s, st); }, false});
  std::unique_ptr<LtLoop> lt;
  if (o.autotune && d.uniform() && d.counts[0] > 0) {
    for (MoeSet& x : d.s) x.h1.alloc(size_t(d.rows) * 2 * d.I * 2);
    lt = std::make_unique<LtLoop>(d, d.counts[0]);
    for (LtMatmul* mm : {&lt->up, &lt->down}) {
      const bool is_up = mm == &lt->up;
      mm->tune([&, is_up](int i) {
        const MoeSet& x = d.s[i % d.sets];
        const int e = i % d.E, t = d.counts[0];
        if (is_up)
          lt->up.run(x.w1.get<char>() + size_t(e * es * 2 * d.I * double(d.H)), x.x.get<char>() + size_t(e * es * t * double(d.H)),
                     x.h1.get<char>() + size_t(e) * t * 2 * d.I * 2, stream());
        else
          lt->down.run(x.w2.get<char>() + size_t(e * es * double(d.H) * d.I), x.act.get<char>() + size_t(e * es * t * double(d.I)),
                       x.y.get<char>() + size_t(e) * t * d.H * 2, stream());
      });
    }
    impls.push_back({"cuBLASLt per-expert loop, " + std::to_string(2 * d.E) + " GEMMs", [&](int s, cudaStream_t st) { forward_lt(d, s, *lt, st); }, true});
  }

  bool have = false, best_ok = false;
  double worst = -1;
  for (const Impl& im : impls) {
    double err = -1;
    if (o.check) {
      poison(d.s[0].y.get(), d.s[0].y.bytes(), stream());
      im.run(0, stream());
      DS_CUDA(cudaStreamSynchronize(stream()));
      err = check_moe(d, im.h_bf16);
      worst = (std::isfinite(worst) && std::isfinite(err)) ? std::max(worst, err) : INFINITY;
    }
    GraphSet graphs;  // one graph per input set, replayed in turn
    for (int s = 0; s < d.sets; ++s) capture(graphs, [&] { im.run(s, stream()); });
    const double t =
        median(time_runs(o.warmup, o.repeats, [&](int i) { DS_CUDA(cudaGraphLaunch(graphs.g[i % graphs.g.size()], stream())); }));
    const bool ok = !o.check || err <= (g.fp8 ? 5e-2 : 1e-2);
    if (all) {
      Measurement m = r;
      m.time_us = t, m.rel_error = err, m.label = shape_label + " (" + im.name + ")";
      all->push_back(m);
    }
    if (!have || (ok && !best_ok) || (ok == best_ok && t < r.time_us)) {
      r.time_us = t, best_ok = ok, have = true;
      r.label = shape_label + " (" + im.name + ")";
    }
  }
  r.rel_error = o.check ? worst : -1;
  return r;
}

}  // namespace decodesim::gpu::detail
