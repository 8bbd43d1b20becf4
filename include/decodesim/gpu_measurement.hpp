// What one kernel of the calibration sweep measures, known before it runs: its op class, dtype and
// shape, the FLOPs and bytes its rates are counted over, and its label. One home for the GPU side,
// which then adds the time and the error against the reference, and for the CPU side, which lists
// a sweep without a GPU (`decodesim calibrate --list`). Plain C++17: the CUDA sources include it.
#pragma once
#include <algorithm>
#include <cmath>
#include <numeric>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "decodesim/gpu.hpp"

namespace decodesim::gpu {

// The cache as a label says it: dtype and layout.
inline std::string kv_description(const AttentionShape& s) {
  return std::string(kv_dtype_name(s.kv_bits)) + (s.layout == KvLayout::paged ? " paged" : " contiguous");
}

// MLA's decode kernels read one latent row per token, which K and V share.
inline bool is_mla(const AttentionShape& s) { return s.design == "mla"; }

inline Measurement attention_measurement(const AttentionShape& s) {
  Measurement m;
  // A prompt or chunk is a regime of its own (compute-bound, causal), and a few query tokens (MTP
  // verification) run kernels of their own: each its own fit.
  m.op_class = (s.query_tokens > kMaxDecodeQueryTokens ? "prefill_attention_" : s.query_tokens > 1 ? "mtp_attention_" : "attention_") +
               s.design;
  m.dtype = kv_dtype_name(s.kv_bits);
  m.m = s.batch, m.n = s.context, m.k = s.q_heads;
  const double es = s.kv_bits / 8.0;  // 4 bits: the channel scales are per layer, not per token
  // Per request (a batch of one length or of several): query token i of nq sees T - (nq - 1 - i)
  // positions (causal).
  double seen = 0, kv_rows = 0, q_rows = 0, pages = 0;
  for (int b = 0; b < s.batch; ++b) {
    const double T = request_context(s, b), nq = request_query_tokens(s, b);
    seen += nq * T - nq * (nq - 1) / 2, kv_rows += T, q_rows += nq, pages += std::ceil(T / 64.0);
  }
  m.flops = 2.0 * (s.qk_dim + s.v_dim) * double(s.q_heads) * seen;
  const double kv = is_mla(s) ? kv_rows * s.qk_dim * es : kv_rows * s.kv_heads * double(s.qk_dim + s.v_dim) * es;
  m.bytes = kv + q_rows * s.q_heads * (s.qk_dim + s.v_dim) * 2.0;
  if (s.layout == KvLayout::paged) m.bytes += pages * 4.0;
  std::ostringstream l;
  l << (s.model.empty() ? s.design : s.model) << " " << s.design << " b=" << s.batch << " ctx=" << s.context;
  if (s.query_tokens > 1) l << " q=" << s.query_tokens;
  if (!s.context_lens.empty()) {
    l << " lens=";
    for (size_t i = 0; i < s.context_lens.size(); ++i) l << (i ? "," : "") << s.context_lens[i];
  }
  l << " h=" << s.q_heads << "/" << s.kv_heads << " d=" << s.qk_dim << "/" << s.v_dim << " kv=" << kv_description(s);
  m.label = l.str();
  return m;
}

inline Measurement gemm_measurement(const GemmShape& g) {
  Measurement r;
  r.op_class = "gemm";
  r.dtype = g.fp8 ? "fp8" : "bf16";
  r.m = g.m, r.n = g.n, r.k = g.k;
  r.flops = 2.0 * g.m * double(g.n) * g.k;
  const double es = g.fp8 ? 1 : 2;
  r.bytes = double(g.n) * g.k * es + double(g.m) * g.k * es + double(g.m) * g.n * 2;
  std::ostringstream l;
  if (g.label.empty()) l << "gemm m=" << g.m << " " << g.k << "x" << g.n;
  else l << g.label;
  l << " " << r.dtype;
  r.label = l.str();
  return r;
}

// Each expert's tokens: the shape's own counts, else tokens_per_expert each.
inline std::vector<int> moe_token_counts(const GroupedGemmShape& g) {
  std::vector<int> c = g.tokens.empty() ? std::vector<int>(size_t(std::max(g.experts, 0)), g.tokens_per_expert) : g.tokens;
  if (int(c.size()) != g.experts)
    throw std::runtime_error("MoE shape: " + std::to_string(c.size()) + " token counts for " + std::to_string(g.experts) + " experts");
  for (int x : c)
    if (x < 0) throw std::runtime_error("MoE shape: negative token count");
  return c;
}

// The label is the shape's; the GPU side adds the implementation that ran it.
inline Measurement moe_measurement(const GroupedGemmShape& g) {
  Measurement r;
  r.op_class = "moe_ffn";
  r.dtype = g.fp8 ? "fp8" : "bf16";
  const double es = g.fp8 ? 1 : 2;
  const std::vector<int> counts = moe_token_counts(g);
  const double rows = std::accumulate(counts.begin(), counts.end(), 0.0);
  const double active = double(std::count_if(counts.begin(), counts.end(), [](int c) { return c > 0; }));
  r.m = rows / g.experts, r.n = g.intermediate, r.k = g.hidden;
  r.flops = 6.0 * rows * g.hidden * double(g.intermediate);
  // an expert without tokens has no weights read
  r.bytes = active * 3.0 * g.hidden * double(g.intermediate) * es + rows * g.hidden * (es + 2);
  std::ostringstream l;
  if (g.label.empty()) l << "moe " << g.experts << " experts x " << g.tokens_per_expert << " tokens " << g.hidden << "x" << g.intermediate;
  else l << g.label;
  l << " " << r.dtype;
  r.label = l.str();
  return r;
}

}  // namespace decodesim::gpu
