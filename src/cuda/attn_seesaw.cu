// Absorbed-MLA decode on the two-warpgroup seesaw schedule: BF16 KV (attention_mla_seesaw.cuh) and
// e4m3 KV with a producer warpgroup (attention_mla_e4m3.cuh).
#include "attention_variants.cuh"

namespace decodesim::gpu::detail {

void register_attn_seesaw(std::vector<AttnVariant>& out) {
  out.push_back(seesaw_variant<SeesawCfg<false>>());
  out.push_back(seesaw_variant<SeesawCfg<true>>());
  // FP8: three cache tiles and two V^T slots. Two tiles and three slots (more V^T ahead, fewer copies
  // in flight) measured 2-3% slower (bench/results/h100-seesaw-5 at commit dc5f103).
  out.push_back(seesaw_e4m3_variant<SeesawE4Cfg<3, 2>>());
  // Several query tokens per request (HeadBlock).
  out.push_back(seesaw_variant<SeesawCfg<true, true>>());
  out.push_back(seesaw_e4m3_variant<SeesawE4Cfg<3, 2, true>>());
}

}  // namespace decodesim::gpu::detail
