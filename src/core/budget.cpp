#include "decodesim/budget.hpp"

#include <algorithm>
#include <cmath>
#include <string_view>

#include "decodesim/census.hpp"

namespace decodesim {

namespace {
double stage_seconds(const PipelineSla& sla) { return sla.stage_ms() * 1e-3; }
double cards_for(double need, double per_card) { return std::max(1.0, std::ceil(need / per_card - 1e-9)); }

// Projection parameters one attention card holds, all layers: o_proj split over its server's
// cards, the other projections whole.
double card_projection_params(const Model& m, int o_proj_shards) {
  double params = 0;
  for (int l = 0; l < m.num_layers(); ++l)
    for (const Projection& p : attention_projections(m.attention(l), m.hidden_size))
      params += p.k * p.n / (std::string_view(p.name) == "o" ? o_proj_shards : 1);
  return params;
}
}  // namespace

AttentionBudget attention_budget(const Hardware& hw, const Model& m, double context_tokens, const PipelineSla& sla,
                                 const BudgetConvention& conv) {
  AttentionBudget b;
  const int L = m.num_layers();
  const double stage_s = stage_seconds(sla);
  b.layer_budget_us = 1e6 * stage_s / L;
  // Every card of a data-parallel attention instance reads its projection weights each step.
  const double linear_bytes = card_projection_params(m, conv.o_proj_shards) * dtype_bytes(m.quant.weights);
  b.linear_bytes_per_layer = linear_bytes / L;
  const double readable = std::max(0.0, hw.mem_bytes_per_s * stage_s - linear_bytes);
  b.kv_bytes_in_budget = readable / L;
  const Census c = census(m, context_tokens);
  b.max_batch = c.kv_bytes > 0 ? readable / c.kv_bytes : 0;
  b.max_tokens = b.max_batch * context_tokens;
  b.kv_capacity_batch =
      c.kv_resident_bytes > 0 ? std::max(0.0, hw.mem_capacity_bytes - linear_bytes) / c.kv_resident_bytes : 0;
  return b;
}

FfnBudget ffn_budget(const Hardware& hw, const Model& m, double batch_tokens, const PipelineSla& sla,
                     const BudgetConvention& conv) {
  FfnBudget b;
  const int L = m.num_layers();
  const double stage_s = stage_seconds(sla);
  const double layer_s = stage_s / L;
  b.layer_budget_us = 1e6 * layer_s;
  if (batch_tokens <= 0) {
    const SparsityRow s = sparsity_limits(hw, m.quant, m.hidden_size, L, model_sparsity(m), sla);
    batch_tokens = s.b_moe_tokens;
  }
  b.batch_tokens = batch_tokens;
  double total_weight_params = 0, max_layer_params = 0, max_layer_active = 0;
  for (int l = 0; l < L; ++l) {
    const LayerCensus lc = layer_census(m, l, 0);
    const double params = lc.ffn_total_params + lc.router_params;
    total_weight_params += params;
    if (params > max_layer_params) max_layer_params = params, max_layer_active = lc.ffn_activated_params;
  }
  const double wb = dtype_bytes(m.quant.weights);
  b.weight_bytes_per_layer = max_layer_params * wb;
  b.flops_per_layer = 2.0 * max_layer_active * batch_tokens;
  b.cards_for_bandwidth =
      cards_for(b.weight_bytes_per_layer, conv.ffn_weight_bandwidth_share * hw.mem_bytes_per_s * layer_s);
  b.cards_for_compute = cards_for(b.flops_per_layer, hw.peak_flops_per_s(m.quant.compute) * layer_s);
  b.cards_for_capacity = cards_for(total_weight_params * wb, hw.mem_capacity_bytes);
  const double cards = std::max({b.cards_for_bandwidth, b.cards_for_compute, b.cards_for_capacity});
  b.servers = cards_for(cards, conv.server_gpus);
  b.cards = b.servers * conv.server_gpus;
  return b;
}

}  // namespace decodesim
