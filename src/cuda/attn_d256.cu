// Attention variants for head dim 256 (MFA, Step-3: 64 query heads share one K and one V head).
#include "attention_variants.cuh"

namespace decodesim::gpu::detail {

void register_attn_d256(std::vector<AttnVariant>& out) {
  //                                MT C  DQK  DV  TN S  FP8   SHARED QREG  MINB
  out.push_back(attn_variant<AttnCfg<4, 1, 256, 256, 32, 3, false, false, true, 2>>());
  out.push_back(attn_variant<AttnCfg<4, 2, 256, 256, 64, 2, false, false, true, 1>>());
  out.push_back(attn_variant<AttnCfg<4, 2, 256, 256, 32, 4, false, false, true, 1>>());
  out.push_back(attn_variant<AttnCfg<4, 2, 256, 256, 32, 2, false, false, false, 2>>());
  out.push_back(attn_variant<AttnCfg<1, 4, 256, 256, 32, 4, false, false, true, 1>>());
  out.push_back(attn_variant<AttnCfg<4, 1, 256, 256, 32, 4, true, false, true, 2>>());
  out.push_back(attn_variant<AttnCfg<4, 2, 256, 256, 64, 3, true, false, true, 1>>());
  out.push_back(attn_variant<AttnCfg<4, 2, 256, 256, 32, 6, true, false, true, 1>>());
  out.push_back(attn_variant<AttnCfg<4, 2, 256, 256, 32, 2, true, false, false, 2>>());
  out.push_back(attn_variant<AttnCfg<1, 4, 256, 256, 32, 6, true, false, true, 1>>());
}

}  // namespace decodesim::gpu::detail
