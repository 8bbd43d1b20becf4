// Ernie4_5_MoeConfig (ernie4_5_moe): GQA attention; MoE on layers from moe_layer_start_index to
// moe_layer_end_index (-1: the last) where (layer + 1) % moe_layer_interval == 0, with
// moe_num_shared_experts shared experts as wide as a routed one (one MLP of their summed
// width in the modelling code); the other layers dense.
#include "hf_config.hpp"

namespace decodesim::io::hf {

Layers read_ernie4_5_moe(Fields& c) {
  Layers l = layers_of(c, true);  // the class ties the embeddings unless told otherwise
  const int layers = layer_count(c);
  l.attention.assign(layers, gqa(c, "gqa", l.hidden_size, 0));
  const long first = c.nonneg_or("moe_layer_start_index", 1);
  const long end = c.integer_or("moe_layer_end_index", -1);
  const long last = end == -1 ? layers - 1 : end;
  const long every = c.or_default("moe_layer_interval", 1);
  const long width = c.required("moe_intermediate_size");
  const FfnSpec routed = moe(c, "moe", "moe_num_experts", "moe_k", width, c.nonneg_or("moe_num_shared_experts", 2), width);
  l.ffn = ffn_per_layer(c, layers, [&](int layer) { return (layer + 1) % every == 0 && layer >= first && layer <= last; },
                        routed, "intermediate_size");
  return l;
}

}  // namespace decodesim::io::hf
