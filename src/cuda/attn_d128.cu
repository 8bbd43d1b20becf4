// Attention variants for head dim 128 (GQA: Qwen3, 16 query heads per KV head; groups of 5 or 8 pad to 16 rows):
// mma.sync (attention.cuh) and, for FP8 and 4-bit KV, e4m3 tensor cores in warp-split streams (attention_e4m3.cuh).
#include "attention_variants.cuh"

namespace decodesim::gpu::detail {

void register_attn_d128(std::vector<AttnVariant>& out) {
  //                                MT C  DQK  DV  TN S  FP8   SHARED QREG  MINB
  out.push_back(attn_variant<AttnCfg<1, 4, 128, 128, 64, 3, false, false, true, 2>>());
  out.push_back(attn_variant<AttnCfg<1, 4, 128, 128, 32, 6, false, false, true, 2>>());
  //                                  DQK  DV   W  TPW S  MINB
  out.push_back(e4m3_variant<E4m3Cfg<128, 128, 4, 32, 3, 2>>());
  out.push_back(e4m3_variant<E4m3Cfg<128, 128, 8, 32, 3, 1>>());
  out.push_back(e4m3_variant<E4m3Cfg<128, 128, 4, 64, 3, 1>>());
  // Several query tokens per request (HeadBlock).
  out.push_back(e4m3_variant<E4m3Cfg<128, 128, 4, 32, 3, 2, true>>());
  out.push_back(e4m3_variant<E4m3Cfg<128, 128, 8, 32, 3, 1, true>>());
  // 4-bit e2m1 caches, computed at e4m3: K expanded in registers, V into a chunk of the warp's own.
  out.push_back(e4m3_variant<E4m3Cfg<128, 128, 4, 32, 3, 2, false, true>>());
  out.push_back(e4m3_variant<E4m3Cfg<128, 128, 4, 32, 4, 2, false, true>>());
}

}  // namespace decodesim::gpu::detail
