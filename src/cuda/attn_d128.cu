// Attention variants for head dim 128 (GQA: Qwen3, 16 query heads per KV head; groups of 5 or 8 pad to 16 rows).
#include "attention_variants.cuh"

namespace decodesim::gpu::detail {

void register_attn_d128(std::vector<AttnVariant>& out) {
  //                                MT C  DQK  DV  TN S  FP8   SHARED QREG  MINB
  out.push_back(attn_variant<AttnCfg<1, 4, 128, 128, 64, 3, false, false, true, 2>>());
  out.push_back(attn_variant<AttnCfg<1, 4, 128, 128, 32, 6, false, false, true, 2>>());
  out.push_back(attn_variant<AttnCfg<1, 4, 128, 128, 64, 4, true, false, true, 2>>());
  out.push_back(attn_variant<AttnCfg<1, 4, 128, 128, 32, 8, true, false, true, 2>>());
}

}  // namespace decodesim::gpu::detail
