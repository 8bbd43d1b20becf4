// MiniMax-M1 (model_type minimax_m1, the model's own configuration: attn_type_list, 0 for a
// lightning-attention layer and 1 for softmax attention) and transformers' MiniMaxConfig
// (minimax: layer_types linear_attention / full_attention, by default alternating from a
// full layer). Lightning layers: num_attention_heads heads of head_dim for Q, K and V, a
// per-head head_dim x head_dim state, an output gate and prompt blocks of block_size tokens
// (MiniMaxLightningAttention). Every
// layer's FFN is MoE: num_local_experts experts of intermediate_size.
#include "hf_config.hpp"

namespace decodesim::io::hf {

namespace {

// softmax[layer]: whether the layer uses softmax attention. The report keeps MiniMax-M1's
// official precisions: BF16 KV on the softmax layers, FP32 lightning state.
Layers read_hybrid(Fields& c, const std::vector<bool>& softmax, long shared_width) {
  Layers l = layers_of(c, false);
  const int layers = static_cast<int>(softmax.size());
  AttentionSpec full = gqa(c, "softmax", l.hidden_size, 0);
  AttentionSpec lightning = full;
  lightning.name = "lightning";
  lightning.kind = AttentionKind::linear;
  lightning.kv_heads = lightning.q_heads;
  lightning.output_gate = true;
  // the prompt kernel's block: block_size, 256 when absent (transformers' MiniMaxConfig default;
  // MiniMaxLightningAttention computes each block's pairs directly and earlier blocks through the state)
  lightning.block_tokens = static_cast<int>(c.nonneg_or("block_size", 256));
  for (int layer = 0; layer < layers; ++layer) l.attention.push_back(softmax[layer] ? full : lightning);
  l.ffn.assign(layers, moe(c, "moe", "num_local_experts", "num_experts_per_tok", c.required("intermediate_size"), 1, shared_width));
  l.quant.kv = Dtype::bf16;
  l.quant.state = Dtype::fp32;
  return l;
}

}  // namespace

Layers read_minimax_m1(Fields& c) {
  const int layers = layer_count(c);
  const std::vector<long> types = c.ints_per_layer("attn_type_list", layers);
  if (types.empty()) c.fail("attn_type_list", "missing required field (0: lightning, 1: softmax attention, per layer)");
  std::vector<bool> softmax;
  for (int layer = 0; layer < layers; ++layer) {
    if (types[layer] != 0 && types[layer] != 1)
      c.fail(fmt::format("attn_type_list[{}]", layer), fmt::format("expected 0 (lightning) or 1 (softmax), got {}", types[layer]));
    softmax.push_back(types[layer] == 1);
  }
  return read_hybrid(c, softmax, c.nonneg_or("shared_intermediate_size", 0));
}

Layers read_minimax(Fields& c) {
  const int layers = layer_count(c);
  std::vector<std::string> types = c.strings_per_layer("layer_types", layers);
  std::vector<bool> softmax;
  for (int layer = 0; layer < layers; ++layer) {
    const std::string t = types.empty() ? ((layer + 1) % 2 ? "full_attention" : "linear_attention") : types[layer];
    if (t != "full_attention" && t != "linear_attention")
      c.fail(fmt::format("layer_types[{}]", layer), fmt::format("expected full_attention or linear_attention, got \"{}\"", t));
    softmax.push_back(t == "full_attention");
  }
  return read_hybrid(c, softmax, 0);
}

}  // namespace decodesim::io::hf
