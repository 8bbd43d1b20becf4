// The grouped routed-expert FFN for callers with their own buffers (the served-pipeline bench).
#pragma once
#include <vector>

#include "moe_grouped.cuh"

namespace decodesim::gpu::detail {

// act = silu(x W_gate^T) * (x W_up^T), y = act W2^T for every local expert, two launches on `st`;
// p.counts/p.offsets are in device memory, `counts` (the same, on the host) picks the token block.
void grouped_moe_forward(const MoeParams& p, const std::vector<int>& counts, bool fp8, cudaStream_t st);
// Per-tensor scale of the e4m3 activations between the two launches.
float moe_act_scale();

}  // namespace decodesim::gpu::detail
