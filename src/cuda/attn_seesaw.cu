// Absorbed-MLA BF16 decode on the two-warpgroup seesaw schedule (attention_mla_seesaw.cuh).
#include "attention_variants.cuh"

namespace decodesim::gpu::detail {

void register_attn_seesaw(std::vector<AttnVariant>& out) {
  out.push_back(seesaw_variant<SeesawCfg<false>>());
  out.push_back(seesaw_variant<SeesawCfg<true>>());
}

}  // namespace decodesim::gpu::detail
