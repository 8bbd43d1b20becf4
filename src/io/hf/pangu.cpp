// Pangu Pro MoE (model_type PanguProMoE). transformers has no class for it; the model ships its
// own configuration_pangu_moe.py (PanguProMoEConfig), whose field names are read here. GQA
// attention with head_dim = hidden_size / num_attention_heads; every layer not in
// mlp_only_layers is MoE: num_experts experts of moe_intermediate_size, top
// num_experts_per_tok (the grouped routing picks one expert in each of 8 groups, which costs
// the same as plain top-8), and the shared experts as one MLP of
// shared_expert_intermediate_size.
#include "hf_config.hpp"

namespace decodesim::io::hf {

Layers read_pangu_pro_moe(Fields& c) {
  Layers l = layers_of(c, false);
  const int layers = layer_count(c);
  l.attention.assign(layers, gqa(c, "gqa", l.hidden_size, 0));
  const std::vector<int> mlp_only = c.layer_list("mlp_only_layers", layers);
  const FfnSpec routed = moe(c, "moe", "num_experts", "num_experts_per_tok", c.required("moe_intermediate_size"), 1,
                             c.required_count("shared_expert_intermediate_size"));
  l.ffn = ffn_per_layer(c, layers, [&](int layer) { return !listed(mlp_only, layer); }, routed, "intermediate_size");
  return l;
}

}  // namespace decodesim::io::hf
