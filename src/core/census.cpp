#include "decodesim/census.hpp"

#include <algorithm>
#include <stdexcept>

namespace decodesim {

namespace {

// Context a softmax layer attends to when decoding at context C.
double effective_context(const AttentionSpec& a, double context_tokens) {
  if (a.scope == AttentionScope::global) return context_tokens;
  // Chunked layers attend to a growing part of the current chunk; costed at the full chunk,
  // which is what a request must be able to hold (and the report's worst case).
  return std::min(context_tokens, static_cast<double>(a.window_tokens));
}

// Bytes of cache per context token per layer, in elements (times the KV dtype later).
double kv_elements_per_token(const AttentionSpec& a) {
  switch (a.kind) {
    case AttentionKind::gqa:
    case AttentionKind::mfa: return 2.0 * a.kv_heads * a.head_dim;
    case AttentionKind::mla: return static_cast<double>(a.kv_lora_rank + a.qk_rope_head_dim);
    case AttentionKind::linear: return 0;
  }
  return 0;
}

double ffn_activated(const FfnSpec& f, long h) {
  if (f.kind == FfnKind::dense) return 3.0 * h * f.intermediate;
  return 3.0 * h * (static_cast<double>(f.top_k) * f.expert_intermediate +
                    static_cast<double>(f.shared_experts) * f.shared_intermediate);
}

double ffn_total(const FfnSpec& f, long h) {
  if (f.kind == FfnKind::dense) return 3.0 * h * f.intermediate;
  return 3.0 * h * (static_cast<double>(f.routed_experts) * f.expert_intermediate +
                    static_cast<double>(f.shared_experts) * f.shared_intermediate);
}

// Cache traffic, cache held and core FLOPs of one layer of design `a` at context C.
struct CoreCost {
  double kv_bytes = 0, kv_resident_bytes = 0, flops = 0;
};
CoreCost attention_core(const AttentionSpec& a, const Quantization& q, double context_tokens) {
  const double bytes_per_element = dtype_bytes(cache_dtype(a, q));
  if (a.kind == AttentionKind::linear) {
    const double state_elems = double(a.q_heads) * a.head_dim * a.head_dim;
    const double state_bytes = state_elems * bytes_per_element;
    // Each step reads the state and writes the updated one back; the request holds one copy.
    // FLOPs: the state update (k^T v) and the read-out (q S).
    return {2.0 * state_bytes, state_bytes, 2.0 * 2.0 * state_elems};
  }
  const double ctx = effective_context(a, context_tokens);
  const double kv_bytes = kv_elements_per_token(a) * ctx * bytes_per_element;
  // One multiply-add (2 FLOPs) per element of the score product and of the value product.
  const double qk = a.kind == AttentionKind::mla ? a.kv_lora_rank + a.qk_rope_head_dim : a.head_dim;
  // The report counts the full 576-wide latent for the absorbed value product too.
  const double v = a.kind == AttentionKind::mla ? qk : a.head_dim;
  return {kv_bytes, kv_bytes, 2.0 * (qk + v) * a.q_heads * ctx};
}

}  // namespace

Projections attention_projections(const AttentionSpec& a, long h) {
  const double H = static_cast<double>(h);
  Projections p;
  auto query = [&](double width) {
    if (a.q_lora_rank > 0) p.add("q_a", H, a.q_lora_rank), p.add("q_b", a.q_lora_rank, width);
    else p.add("q", H, width);
  };
  if (a.kind == AttentionKind::mla) {
    query(double(a.q_heads) * (a.qk_nope_head_dim + a.qk_rope_head_dim));
    p.add("kv_a", H, a.kv_lora_rank + a.qk_rope_head_dim);
    p.add("kv_b", a.kv_lora_rank, double(a.q_heads) * (a.qk_nope_head_dim + a.v_head_dim));
    p.add("o", double(a.q_heads) * a.v_head_dim, H);
    return p;
  }
  const double q_width = double(a.q_heads) * a.head_dim;
  query(q_width);
  p.add("kv", H, 2.0 * a.kv_heads * a.head_dim);
  p.add("o", q_width, H);
  if (a.output_gate) p.add("gate", H, q_width);
  return p;
}

double attention_linear_params(const AttentionSpec& a, long h) {
  double params = 0;
  for (const Projection& p : attention_projections(a, h)) params += p.k * p.n;
  return params;
}

LayerCensus layer_census(const Model& m, int layer, double context_tokens) {
  const AttentionSpec& a = m.attention(layer);
  const FfnSpec& f = m.ffn(layer);
  LayerCensus lc;
  const CoreCost core = attention_core(a, m.quant, context_tokens);
  lc.kv_bytes = core.kv_bytes;
  lc.kv_resident_bytes = core.kv_resident_bytes;
  lc.attention_flops = core.flops;
  lc.linear_params = attention_linear_params(a, m.hidden_size);
  lc.ffn_activated_params = ffn_activated(f, m.hidden_size);
  lc.ffn_total_params = ffn_total(f, m.hidden_size);
  lc.router_params = f.kind == FfnKind::moe ? double(m.hidden_size) * f.routed_experts : 0.0;
  return lc;
}

Census census(const Model& m, double context_tokens) {
  // Per type, not per layer: a model has a few designs repeated over dozens of layers, and
  // sweeps evaluate this millions of times.
  constexpr int kMaxTypes = kMaxModelTypes;
  int attn_count[kMaxTypes] = {}, ffn_count[kMaxTypes] = {};
  if (m.attention_types.size() > kMaxTypes || m.ffn_types.size() > kMaxTypes)
    throw std::invalid_argument("census: more than 16 attention or FFN types in model " + m.id);
  Census c;
  c.context_tokens = context_tokens;
  for (int l = 0; l < m.num_layers(); ++l) ++attn_count[m.layer_attention[l]], ++ffn_count[m.layer_ffn[l]];
  for (size_t t = 0; t < m.attention_types.size(); ++t) {
    if (!attn_count[t]) continue;
    const AttentionSpec& a = m.attention_types[t];
    const CoreCost core = attention_core(a, m.quant, context_tokens);
    c.kv_bytes += attn_count[t] * core.kv_bytes;
    c.kv_resident_bytes += attn_count[t] * core.kv_resident_bytes;
    c.attention_flops += attn_count[t] * core.flops;
    c.linear_flops += attn_count[t] * 2.0 * attention_linear_params(a, m.hidden_size);
  }
  for (size_t t = 0; t < m.ffn_types.size(); ++t)
    if (ffn_count[t]) c.ffn_flops += ffn_count[t] * 2.0 * ffn_activated(m.ffn_types[t], m.hidden_size);
  return c;
}

double kv_bytes_per_token(const Model& m) {
  double bytes = 0;
  for (int l = 0; l < m.num_layers(); ++l) {
    const AttentionSpec& a = m.attention(l);
    if (a.scope == AttentionScope::global) bytes += kv_elements_per_token(a) * dtype_bytes(cache_dtype(a, m.quant));
  }
  return bytes;
}

ParamCount count_params(const Model& m) {
  ParamCount p;
  p.embedding = double(m.vocab_size) * m.hidden_size * (m.tie_embeddings ? 1 : 2);
  double routers = 0;
  for (int l = 0; l < m.num_layers(); ++l) {
    const LayerCensus lc = layer_census(m, l, 0);
    p.attention += lc.linear_params;
    p.ffn_total += lc.ffn_total_params;
    p.ffn_activated += lc.ffn_activated_params;
    routers += lc.router_params;
  }
  p.total = p.embedding + p.attention + p.ffn_total + routers;
  p.activated = p.embedding + p.attention + p.ffn_activated + routers;
  return p;
}

}  // namespace decodesim
