// A Model written back in the description schema (docs/schema.md), the inverse of load_model:
// what `decodesim import` writes for a Hugging Face config.
#include <algorithm>

#include <nlohmann/json.hpp>

#include "decodesim/hf_import.hpp"

namespace decodesim {

namespace {

using ojson = nlohmann::ordered_json;

ojson attention_json(const AttentionSpec& a) {
  ojson j;
  j["kind"] = attention_kind_name(a.kind);
  j["q_heads"] = a.q_heads;
  if (a.kind == AttentionKind::mla) {
    if (a.q_lora_rank > 0) j["q_lora_rank"] = a.q_lora_rank;
    j["kv_lora_rank"] = a.kv_lora_rank;
    j["qk_nope_head_dim"] = a.qk_nope_head_dim;
    j["qk_rope_head_dim"] = a.qk_rope_head_dim;
    j["v_head_dim"] = a.v_head_dim;
  } else {
    j["kv_heads"] = a.kv_heads;
    j["head_dim"] = a.head_dim;
    if (a.q_lora_rank > 0) j["q_lora_rank"] = a.q_lora_rank;
  }
  if (a.scope == AttentionScope::sliding) j["window"] = a.window_tokens;
  if (a.scope == AttentionScope::chunked) j["chunk"] = a.window_tokens;
  if (a.output_gate) j["output_gate"] = true;
  if (a.block_tokens > 0) j["block_tokens"] = a.block_tokens;
  if (a.cache_dtype) j[a.kind == AttentionKind::linear ? "state_dtype" : "kv_dtype"] = dtype_name(*a.cache_dtype);
  return j;
}

ojson ffn_json(const FfnSpec& f) {
  ojson j;
  if (f.kind == FfnKind::dense) {
    j["kind"] = "dense";
    j["intermediate"] = f.intermediate;
    return j;
  }
  j["kind"] = "moe";
  j["routed_experts"] = f.routed_experts;
  j["top_k"] = f.top_k;
  j["expert_intermediate"] = f.expert_intermediate;
  if (f.shared_experts > 0) j["shared_experts"] = f.shared_experts, j["shared_intermediate"] = f.shared_intermediate;
  return j;
}

// The layers as segments: one type, one repeating cycle (Llama-4's 3 chunked + 1 global), or
// runs of one type each (Step-3's 4 dense, 56 MoE, 1 dense).
template <class Spec>
ojson segments(const std::vector<int>& layers, const std::vector<Spec>& types) {
  const size_t n = layers.size();
  ojson out = ojson::array();
  for (size_t period = 2; period <= std::min<size_t>(16, n / 2); ++period) {
    bool repeats = true;
    for (size_t l = period; l < n && repeats; ++l) repeats = layers[l] == layers[l % period];
    if (!repeats || std::all_of(layers.begin(), layers.end(), [&](int t) { return t == layers[0]; })) continue;
    ojson cycle = ojson::array();
    for (size_t l = 0; l < period; ++l) cycle.push_back(types[layers[l]].name);
    out.push_back({{"cycle", cycle}, {"count", n}});
    return out;
  }
  for (size_t start = 0; start < n;) {
    size_t end = start;
    while (end < n && layers[end] == layers[start]) ++end;
    out.push_back({{"type", types[layers[start]].name}, {"count", end - start}});
    start = end;
  }
  return out;
}

}  // namespace

std::string model_description_json(const Model& m) {
  ojson j;
  j["id"] = m.id;
  j["name"] = m.name;
  j["source"] = m.source;
  j["hidden_size"] = m.hidden_size;
  j["vocab_size"] = m.vocab_size;
  j["tie_embeddings"] = m.tie_embeddings;
  j["attention_types"] = ojson::object();
  for (const AttentionSpec& a : m.attention_types) j["attention_types"][a.name] = attention_json(a);
  j["attention_layers"] = segments(m.layer_attention, m.attention_types);
  j["ffn_types"] = ojson::object();
  for (const FfnSpec& f : m.ffn_types) j["ffn_types"][f.name] = ffn_json(f);
  j["ffn_layers"] = segments(m.layer_ffn, m.ffn_types);
  const Quantization& q = m.quant;
  j["quantization"] = {{"weights", dtype_name(q.weights)},         {"kv", dtype_name(q.kv)},
                       {"state", dtype_name(q.state)},             {"activations", dtype_name(q.activations)},
                       {"combine", dtype_name(q.combine)},         {"compute", dtype_name(q.compute)}};
  if (m.published.total_params > 0 || m.published.activated_params > 0) {
    ojson p;
    if (m.published.total_params > 0) p["total_params"] = m.published.total_params;
    if (m.published.activated_params > 0) p["activated_params"] = m.published.activated_params;
    p["includes_embeddings"] = m.published.includes_embeddings;
    j["published"] = p;
  }
  return j.dump(2) + "\n";
}

}  // namespace decodesim
