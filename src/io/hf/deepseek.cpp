// DeepSeek-V3 (DeepseekV3Config, model_type deepseek_v3) and Kimi-K2 (model_type kimi_k2, the
// same architecture and field names): MLA attention, the first first_k_dense_replace layers
// dense, then MoE every moe_layer_freq layers. The MTP layers (num_nextn_predict_layers) are not
// counted, as everywhere in decodesim.
#include "hf_config.hpp"

namespace decodesim::io::hf {

Layers read_deepseek(Fields& c) {
  Layers l = layers_of(c, false);
  const int layers = layer_count(c);
  AttentionSpec mla;
  mla.name = "mla";
  mla.kind = AttentionKind::mla;
  mla.q_heads = static_cast<int>(c.required("num_attention_heads"));
  mla.kv_heads = 1;
  mla.q_lora_rank = static_cast<int>(c.nonneg_or("q_lora_rank", 0));  // null: a full-rank query (DeepSeek-V2-Lite)
  mla.kv_lora_rank = static_cast<int>(c.required("kv_lora_rank"));
  mla.qk_nope_head_dim = static_cast<int>(c.required("qk_nope_head_dim"));
  mla.qk_rope_head_dim = static_cast<int>(c.required("qk_rope_head_dim"));
  mla.v_head_dim = static_cast<int>(c.required("v_head_dim"));
  l.attention.assign(layers, mla);

  // DeepseekV3Config's defaults: 3 dense layers first, then MoE on every layer, one shared expert
  // as wide as a routed one.
  const long first_dense = c.nonneg_or("first_k_dense_replace", 3);
  const long every = c.or_default("moe_layer_freq", 1);
  const long width = c.required("moe_intermediate_size");
  const FfnSpec routed = moe(c, "moe", "n_routed_experts", "num_experts_per_tok", width, c.nonneg_or("n_shared_experts", 1), width);
  l.ffn = ffn_per_layer(c, layers, [&](int layer) { return layer >= first_dense && layer % every == 0; }, routed,
                        "intermediate_size");
  return l;
}

}  // namespace decodesim::io::hf
