// LlamaConfig (llama), MixtralConfig (mixtral) and Llama4Config (llama4, read from its
// text_config, a Llama4TextConfig: model_type llama4_text).
#include "hf_config.hpp"

namespace decodesim::io::hf {

// Dense GQA; head_dim = hidden_size / num_attention_heads unless the config sets it.
Layers read_llama(Fields& c) {
  Layers l = layers_of(c, false);
  const int layers = layer_count(c);
  l.attention.assign(layers, gqa(c, "gqa", l.hidden_size, 0));
  l.ffn.assign(layers, dense("dense", c.required("intermediate_size")));
  return l;
}

// Every layer MoE: num_local_experts experts of intermediate_size, no shared expert; a
// sliding_window, when set, on every layer.
Layers read_mixtral(Fields& c) {
  Layers l = layers_of(c, false);
  const int layers = layer_count(c);
  const AttentionSpec a = gqa(c, "gqa", l.hidden_size, 0);
  const std::optional<long> window = c.nullable_or("sliding_window", std::nullopt);
  l.attention.assign(layers, window ? with_window(a, AttentionScope::sliding, *window) : a);
  l.ffn.assign(layers, moe(c, "moe", "num_local_experts", "num_experts_per_tok", c.required("intermediate_size")));
  return l;
}

// Llama4TextConfig. Attention: layer_types where given; else RoPE layers (no_rope_layers 1,
// by default all but every no_rope_layer_interval-th) use chunked attention of
// attention_chunk_size tokens and the NoPE layers attend to everything. Their KV stays BF16,
// the report's convention (paper-notes section 2), the chunked layers' FP8. FFN: MoE on
// moe_layers (default every interleave_moe_layer_step-th layer, the last of each step), with one
// shared expert as wide as a routed one; dense layers use intermediate_size_mlp.
Layers read_llama4_text(Fields& c) {
  Layers l = layers_of(c, false);
  const int layers = layer_count(c);
  const AttentionSpec a = gqa(c, "gqa", l.hidden_size, 128);
  const std::optional<long> chunk = c.nullable_or("attention_chunk_size", 8192);
  std::vector<std::string> types = c.strings_per_layer("layer_types", layers);
  if (types.empty()) {
    std::vector<long> rope = c.ints_per_layer("no_rope_layers", layers);
    const long interval = c.or_default("no_rope_layer_interval", 4);
    for (int layer = 0; layer < layers; ++layer) {
      const bool uses_rope = rope.empty() ? (layer + 1) % interval != 0 : rope[layer] != 0;
      types.push_back(uses_rope ? "chunked_attention" : "full_attention");
    }
  }
  AttentionSpec global = a;
  global.name = "global";
  global.cache_dtype = Dtype::bf16;
  for (int layer = 0; layer < layers; ++layer) {
    if (types[layer] == "chunked_attention") {
      AttentionSpec chunked = with_window(a, AttentionScope::chunked, chunk.value_or(0));
      chunked.name = "chunked";
      l.attention.push_back(chunk ? chunked : global);
    } else if (types[layer] == "full_attention") {
      l.attention.push_back(global);
    } else {
      c.fail(fmt::format("layer_types[{}]", layer),
             fmt::format("expected chunked_attention or full_attention, got \"{}\"", types[layer]));
    }
  }

  std::vector<int> moe_layers = c.layer_list("moe_layers", layers);
  if (!c.has("moe_layers")) {
    const long step = c.or_default("interleave_moe_layer_step", 1);
    for (long layer = step - 1; layer < layers; layer += step) moe_layers.push_back(static_cast<int>(layer));
  }
  const long width = c.required("intermediate_size");
  const FfnSpec routed = moe(c, "moe", "num_local_experts", "num_experts_per_tok", width, 1, width);
  l.ffn = ffn_per_layer(c, layers, [&](int layer) { return listed(moe_layers, layer); }, routed, "intermediate_size_mlp");
  return l;
}

}  // namespace decodesim::io::hf
