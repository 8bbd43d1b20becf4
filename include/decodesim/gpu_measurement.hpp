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

// A whole layer's GEMMs as the layer measurement runs them. A projection whose output is
// [batch][q_heads*qk_dim] bf16 feeds the attention's q (q_src); the last projection, when its input
// is [batch][q_heads*v_dim], takes the attention output (o_dst). The other projections read the
// layer input; those with the same input shape run as one GEMM with their weights concatenated (as
// serving stacks fuse q_a and kv_a): same bytes but the input's, read once, and fewer, fuller launches.
struct LayerGemms {
  std::vector<GemmShape> gemms;
  int q_src = -1, o_dst = -1;  // indices into gemms; -1: none
};
inline LayerGemms layer_gemms(const AttentionLayerShape& l) {
  const AttentionShape& as = l.attention;
  std::vector<GemmShape> shapes;
  for (GemmShape g : l.projections) {
    if (g.m <= 0) g.m = as.batch;
    shapes.push_back(g);
  }
  int q_orig = -1, o_orig = -1;
  for (int i = 0; i < int(shapes.size()); ++i)
    if (shapes[i].m == as.batch && shapes[i].n == as.q_heads * as.qk_dim && q_orig < 0) q_orig = i;
  if (!shapes.empty() && shapes.back().m == as.batch && shapes.back().k == as.q_heads * as.v_dim && int(shapes.size()) - 1 != q_orig)
    o_orig = int(shapes.size()) - 1;
  LayerGemms out;
  for (int i = 0; i < int(shapes.size()); ++i) {
    if (i == q_orig) out.q_src = int(out.gemms.size());
    if (i == o_orig) out.o_dst = int(out.gemms.size());
    bool merged = false;
    if (i != q_orig && i != o_orig)
      for (int j = 0; j < int(out.gemms.size()); ++j) {
        GemmShape& f = out.gemms[j];
        if (j != out.q_src && j != out.o_dst && f.m == shapes[i].m && f.k == shapes[i].k && f.fp8 == shapes[i].fp8) {
          f.n += shapes[i].n;
          f.label += " + " + shapes[i].label;
          merged = true;
          break;
        }
      }
    if (!merged) out.gemms.push_back(shapes[i]);
  }
  return out;
}

// The layer's attention and its GEMMs (layer_gemms) as one graph: class, dtype (the projections'),
// shape, FLOPs and bytes, and the label's part the shape decides (the GPU side adds the variant).
inline Measurement attention_layer_measurement(const AttentionLayerShape& l) {
  const AttentionShape& as = l.attention;
  Measurement r = attention_measurement(as);
  r.op_class = "attention_layer";
  bool fp8_proj = false;
  for (const GemmShape& g : layer_gemms(l).gemms) {
    const Measurement gm = gemm_measurement(g);
    r.flops += gm.flops, r.bytes += gm.bytes;
    fp8_proj = fp8_proj || g.fp8;
  }
  r.dtype = fp8_proj ? "fp8" : "bf16";
  std::ostringstream lab;
  lab << (as.model.empty() ? as.design : as.model) << " attention layer " << as.design << " b=" << as.batch << " ctx=" << as.context
      << " kv=" << kv_dtype_name(as.kv_bits) << " proj=" << r.dtype;
  r.label = lab.str();
  return r;
}

}  // namespace decodesim::gpu
