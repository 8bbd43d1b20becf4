// Step-3 (model_type step3_vl; the language model is its text_config, a Step3TextConfig of
// model_type step3_text, from the model's own configuration_step3.py). MFA: num_attention_heads
// query heads of head_dim share num_attention_groups K and V heads; the query goes through a
// share_q_dim low-rank projection. MoE on the layers moe_layers_enum lists, each with one
// shared expert of share_expert_dim; the other layers dense.
#include "hf_config.hpp"

namespace decodesim::io::hf {

Layers read_step3_text(Fields& c) {
  // The checkpoint keeps a separate lm_head, and Step-3's modelling code never ties it.
  Layers l = layers_of(c, false);
  const int layers = layer_count(c);
  AttentionSpec mfa;
  mfa.name = "mfa";
  mfa.kind = AttentionKind::mfa;
  mfa.q_heads = static_cast<int>(c.required("num_attention_heads"));
  mfa.kv_heads = static_cast<int>(c.required("num_attention_groups"));
  if (mfa.q_heads % mfa.kv_heads != 0)
    c.fail("num_attention_groups", fmt::format("expected a divisor of num_attention_heads ({}), got {}", mfa.q_heads, mfa.kv_heads));
  mfa.head_dim = static_cast<int>(c.required("head_dim"));
  mfa.q_lora_rank = static_cast<int>(c.required("share_q_dim"));
  l.attention.assign(layers, mfa);

  const std::vector<int> moe_layers = c.layer_list("moe_layers_enum", layers);
  if (moe_layers.empty()) c.fail("moe_layers_enum", "missing required field (the MoE layers)");
  const FfnSpec routed = moe(c, "moe", "moe_num_experts", "moe_top_k", c.required("moe_intermediate_size"), 1,
                             c.required_count("share_expert_dim"));
  l.ffn = ffn_per_layer(c, layers, [&](int layer) { return listed(moe_layers, layer); }, routed, "intermediate_size");
  return l;
}

}  // namespace decodesim::io::hf
