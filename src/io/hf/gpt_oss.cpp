// GptOssConfig (gpt_oss): GQA attention, alternating sliding-window (sliding_window tokens) and
// full layers per layer_types (by default sliding first); every layer MoE, num_local_experts
// experts of intermediate_size, no shared expert. Biases and attention sinks are not counted.
#include "hf_config.hpp"

namespace decodesim::io::hf {

Layers read_gpt_oss(Fields& c) {
  Layers l = layers_of(c, false);
  const int layers = layer_count(c);
  const AttentionSpec full = gqa(c, "full", l.hidden_size, 64);
  AttentionSpec banded = full;
  banded.name = "sliding";
  const std::optional<long> window = c.nullable_or("sliding_window", 128);
  const std::vector<bool> sliding = sliding_layers(c, layers, [](int layer) { return (layer + 1) % 2 == 1; });
  for (int layer = 0; layer < layers; ++layer)
    l.attention.push_back(window && sliding[layer] ? with_window(banded, AttentionScope::sliding, *window) : full);
  l.ffn.assign(layers, moe(c, "moe", "num_local_experts", "num_experts_per_tok", c.required("intermediate_size")));
  return l;
}

}  // namespace decodesim::io::hf
