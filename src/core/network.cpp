#include "decodesim/network.hpp"

#include <algorithm>

namespace decodesim {

double model_sparsity(const Model& m) {
  // The sparsest MoE layer type sets the batch the FFN instances need.
  double s = 1.0;
  for (const FfnSpec& f : m.ffn_types) {
    if (f.kind != FfnKind::moe) continue;
    const double active = double(f.top_k) * f.expert_intermediate + double(f.shared_experts) * f.shared_intermediate;
    const double total = double(f.routed_experts) * f.expert_intermediate + double(f.shared_experts) * f.shared_intermediate;
    s = std::min(s, active / total);
  }
  return s;
}

SparsityRow sparsity_limits(const Hardware& hw, const Quantization& q, long hidden_size, int layers,
                            double sparsity, const PipelineSla& sla) {
  SparsityRow r;
  const double peak = hw.peak_flops_per_s(q.compute);
  // A weight byte serves 2*B/w FLOPs at batch B; compute-bound once that reaches peak/bandwidth.
  r.b_dense_tokens = peak * dtype_bytes(q.weights) / (2.0 * hw.mem_bytes_per_s);
  r.b_moe_tokens = r.b_dense_tokens / sparsity;
  const double bytes_per_token = (dtype_bytes(q.activations) + dtype_bytes(q.combine)) * double(hidden_size);
  r.comm_bytes_per_layer = bytes_per_token * r.b_moe_tokens;
  const double net = hw.net_bytes_per_s() * sla.instance_gpus * sla.nic_efficiency;
  r.comm_ms_all_layers = 1e3 * layers * r.comm_bytes_per_layer / net;
  // Communication for all layers fits the stage when S >= L * bytes_per_token * B_dense / (net * T_stage);
  // with 8-bit dispatch and 16-bit combine this is the report's H*peak*L/(net*bw*11.1 ms).
  r.min_sparsity = layers * bytes_per_token * r.b_dense_tokens / (net * sla.stage_ms() * 1e-3);
  r.sustains_model = sparsity >= r.min_sparsity;
  return r;
}

}  // namespace decodesim
