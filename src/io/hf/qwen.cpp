// Qwen2Config (qwen2), Qwen3Config (qwen3), Qwen2MoeConfig (qwen2_moe), Qwen3MoeConfig
// (qwen3_moe): GQA attention, optionally sliding on some layers; dense MLPs, or MoE where
// (layer + 1) % decoder_sparse_step == 0 and the layer is not in mlp_only_layers.
#include "hf_config.hpp"

namespace decodesim::io::hf {

namespace {

// The sliding window the attention uses: sliding_window, only with use_sliding_window.
std::optional<long> window_of(Fields& c) {
  if (!c.flag_or("use_sliding_window", false)) return std::nullopt;
  return c.nullable_or("sliding_window", 4096);
}

template <class Rule>
std::vector<AttentionSpec> attention_per_layer(Fields& c, const Layers& l, int layers, long head_dim_default, Rule sliding_rule) {
  const AttentionSpec full = gqa(c, "gqa", l.hidden_size, head_dim_default);
  AttentionSpec banded = full;
  banded.name = "sliding";
  const std::optional<long> window = window_of(c);
  const std::vector<bool> sliding = sliding_layers(c, layers, sliding_rule);
  std::vector<AttentionSpec> out;
  for (int layer = 0; layer < layers; ++layer)
    out.push_back(window && sliding[layer] ? with_window(banded, AttentionScope::sliding, *window) : full);
  return out;
}

// Qwen2/Qwen3: sliding from max_window_layers on (both classes' layer_types rule).
Layers read_dense_qwen(Fields& c, long head_dim_default) {
  Layers l = layers_of(c, false);
  const int layers = layer_count(c);
  const long first_window = c.nonneg_or("max_window_layers", 28);
  l.attention = attention_per_layer(c, l, layers, head_dim_default, [&](int layer) { return layer >= first_window; });
  l.ffn.assign(layers, dense("dense", c.required("intermediate_size")));
  return l;
}

template <class Rule>
Layers read_moe_qwen(Fields& c, Rule sliding_rule, long shared_width) {
  Layers l = layers_of(c, false);
  const int layers = layer_count(c);
  l.attention = attention_per_layer(c, l, layers, 0, sliding_rule);
  const long every = c.or_default("decoder_sparse_step", 1);
  const std::vector<int> mlp_only = c.layer_list("mlp_only_layers", layers);
  const FfnSpec routed = moe(c, "moe", "num_experts", "num_experts_per_tok", c.required("moe_intermediate_size"), 1, shared_width);
  auto is_moe = [&](int layer) { return !listed(mlp_only, layer) && (layer + 1) % every == 0; };
  l.ffn = ffn_per_layer(c, layers, is_moe, routed, "intermediate_size");
  return l;
}

}  // namespace

// Qwen2Attention: head_dim = hidden_size / num_attention_heads unless the config sets it.
Layers read_qwen2(Fields& c) { return read_dense_qwen(c, 0); }
// Qwen3Config's head_dim defaults to 128.
Layers read_qwen3(Fields& c) { return read_dense_qwen(c, 128); }

// Qwen2MoeConfig: one shared expert of shared_expert_intermediate_size; sliding on even layers
// below max_window_layers.
Layers read_qwen2_moe(Fields& c) {
  const long first_full = c.nonneg_or("max_window_layers", 28);
  const long shared = c.required_count("shared_expert_intermediate_size");
  return read_moe_qwen(c, [&](int layer) { return (layer + 1) % 2 == 1 && layer < first_full; }, shared);
}

// Qwen3MoeConfig: no shared expert; the window, when used, applies to every layer.
Layers read_qwen3_moe(Fields& c) {
  return read_moe_qwen(c, [](int) { return true; }, 0);
}

}  // namespace decodesim::io::hf
