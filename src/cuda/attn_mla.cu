// Attention variants for absorbed MLA (DeepSeek-V3: one 576-wide latent per token; K = latent, V = its first 512 columns).
// 64 heads per block: the fp32 output of 128 heads x 512 columns alone (256 KB) exceeds a block's registers, so
// 128 heads run as two head blocks launched side by side (the second read of each tile is served by L2).
#include "attention_variants.cuh"

namespace decodesim::gpu::detail {

void register_attn_mla(std::vector<AttnVariant>& out) {
  //                                MT C  DQK  DV  TN S  FP8   SHARED QREG  MINB
  out.push_back(attn_variant<AttnCfg<4, 2, 576, 512, 32, 3, false, true, false, 1>>());
  out.push_back(attn_variant<AttnCfg<4, 2, 576, 512, 32, 2, false, true, false, 1>>());
  out.push_back(attn_variant<AttnCfg<4, 2, 576, 512, 32, 5, true, true, false, 1>>());
  out.push_back(attn_variant<AttnCfg<4, 2, 576, 512, 32, 3, true, true, false, 1>>());
}

}  // namespace decodesim::gpu::detail
