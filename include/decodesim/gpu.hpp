// The one interface between the CPU core and the optional CUDA measurement backend.
// Built without CUDA, available() says so and measure() throws; nothing else changes.
#pragma once
#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace decodesim::gpu {

struct DeviceInfo {
  std::string name;
  int sm_count = 0;
  int cc_major = 0, cc_minor = 0;
  double l2_bytes = 0;
  double mem_bytes = 0;
};

// False (with the reason) when built without CUDA or when no usable device is present.
bool available(std::string* why_not = nullptr);
DeviceInfo device_info();

enum class KvLayout { contiguous, paged };

// Decode attention for one layer of one design, shapes taken from the model file.
// design: "mfa", "gqa" or "mla". For mla: kv_heads = 1, qk_dim = kv_lora_rank + rope dim (576),
// v_dim = kv_lora_rank (512), the cache holding one latent row per token.
struct AttentionShape {
  std::string model;   // for labels
  std::string design;
  int q_heads = 0, kv_heads = 0, qk_dim = 0, v_dim = 0;
  int batch = 0;       // requests
  int context = 0;     // tokens per request
  // Bits per stored KV value: 16 (bf16), 8 (e4m3, per-tensor scales) or 4 (e2m1 with a scale per
  // channel of K and of V, computed in e4m3: "low-bit storage, high-bit compute").
  int kv_bits = 16;
  KvLayout layout = KvLayout::contiguous;
  // Query tokens per request, the last of its context, causal among themselves: 1 for plain decode,
  // 1 + the draft tokens to verify MTP drafts, the prompt (context) for prefill.
  int query_tokens = 1;
  // Variable length (query_tokens > 1: prompts or chunks of unequal length in one launch): request
  // b's own context, at most `context`; its query tokens are the last min(query_tokens,
  // context_lens[b]) of it (whole prompts: query_tokens = context). Empty: every request `context`.
  std::vector<int> context_lens = {};
};
// Request b's context and query tokens.
inline int request_context(const AttentionShape& s, int b) {
  return s.context_lens.empty() ? s.context : s.context_lens[static_cast<size_t>(b)];
}
inline int request_query_tokens(const AttentionShape& s, int b) { return std::min(s.query_tokens, request_context(s, b)); }

// out[m x n] = a[m x k] * w[k x n]; fp8 uses e4m3 operands with per-tensor scales.
struct GemmShape {
  std::string label;
  int m = 0, n = 0, k = 0;
  bool fp8 = false;
};

// One MoE FFN layer's routed experts at decode: `experts` groups, each a gated MLP
// (gate+up: hidden -> 2 x intermediate, down: intermediate -> hidden) over its routed tokens.
struct GroupedGemmShape {
  std::string label;
  int experts = 0, tokens_per_expert = 0, hidden = 0, intermediate = 0;
  bool fp8 = false;
  std::vector<int> tokens = {};  // per expert (uneven routing); empty: tokens_per_expert each
};

// Token counts of the first `local` of `experts` routed experts when each of `tokens` tokens picks
// `top_k` distinct experts at random (seeded): one GPU's routed launch of a served layer. With
// popularity_cv > 0 the experts are not equally popular: each gets a lognormal weight of that
// coefficient of variation (mean 1; real routing's long-run expert loads, RoutingShape) and a token
// picks its experts one after another in proportion to the weights of those left.
inline std::vector<int> routed_token_counts(int experts, int local, int tokens, int top_k, unsigned seed, double popularity_cv = 0) {
  std::mt19937 rng(seed);
  std::vector<int> counts(static_cast<size_t>(local), 0);
  const size_t E = static_cast<size_t>(experts);
  if (popularity_cv <= 0) {
    std::vector<int> order(E);
    for (int t = 0; t < tokens; ++t) {
      std::iota(order.begin(), order.end(), 0);
      for (int j = 0; j < top_k; ++j) {  // a partial Fisher-Yates shuffle: top_k distinct experts
        std::swap(order[static_cast<size_t>(j)], order[static_cast<size_t>(j) + rng() % (E - static_cast<size_t>(j))]);
        if (order[static_cast<size_t>(j)] < local) ++counts[static_cast<size_t>(order[static_cast<size_t>(j)])];
      }
    }
    return counts;
  }
  const double sigma2 = std::log(1.0 + popularity_cv * popularity_cv);
  std::lognormal_distribution<double> popularity(-sigma2 / 2, std::sqrt(sigma2));
  std::vector<double> w(E), left(E);
  for (double& x : w) x = popularity(rng);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  for (int t = 0; t < tokens; ++t) {
    left = w;
    double total = std::accumulate(left.begin(), left.end(), 0.0);
    for (int j = 0; j < top_k; ++j) {
      double x = u(rng) * total;
      size_t e = 0;
      while (e + 1 < E && (left[e] == 0 || x >= left[e])) x -= left[e], ++e;
      while (left[e] == 0) e = e == 0 ? E - 1 : e - 1;  // rounding past the end: the last one left
      total -= left[e];
      left[e] = 0;
      if (e < static_cast<size_t>(local)) ++counts[e];
    }
  }
  return counts;
}

// The calibration's dtype name of a cache of kv_bits: "bf16", "fp8" or "fp4".
inline const char* kv_dtype_name(int kv_bits) { return kv_bits == 4 ? "fp4" : kv_bits == 8 ? "fp8" : "bf16"; }

// Query tokens per request up to which attention counts as decode (MTP verification); above, prefill.
inline constexpr int kMaxDecodeQueryTokens = 16;

// A whole attention layer: projections (GEMMs at m = batch) + decode attention.
struct AttentionLayerShape {
  AttentionShape attention;
  std::vector<GemmShape> projections;
};

struct Measurement {
  std::string op_class;  // "copy", "gemm", "attention_mfa", "attention_gqa", "attention_mla", "moe_ffn", "attention_layer"
  std::string label;
  std::string dtype;     // "bf16" or "fp8" (attention: the cache's, kv_dtype_name)
  double m = 0, n = 0, k = 0;          // gemm shape; attention: batch, context, q_heads
  double flops = 0;      // counted useful FLOPs
  double bytes = 0;      // fewest bytes the op must move through device memory
  double time_us = 0;    // median of the timed repeats
  double rel_error = -1; // ||out - ref|| / ||ref|| against the CPU reference; -1 when unchecked
};

struct SweepPlan {
  std::vector<AttentionShape> attention;
  std::vector<GemmShape> gemms;
  std::vector<GroupedGemmShape> moe;
  std::vector<AttentionLayerShape> layers;
  int warmup = 5;
  int repeats = 30;
  bool check = true;     // compare against the CPU reference (one check per shape)
};

using Progress = std::function<void(const std::string&)>;

// Device copy bandwidth (bytes read + written per second) on buffers far larger than L2.
Measurement measure_copy();
// Large square GEMM rate (cuBLASLt), bf16 or fp8.
Measurement measure_peak_gemm(bool fp8);
// Runs every shape in the plan; progress gets one line per finished shape.
std::vector<Measurement> measure(const SweepPlan& plan, const Progress& progress);

// Test hook: the same logical KV cache run once contiguous and once paged (shuffled 64-token pages);
// returns the largest |difference| between the two outputs (0 when they agree bit for bit).
double paged_contiguous_max_diff(const AttentionShape& s);

}  // namespace decodesim::gpu
