#include "decodesim/cost.hpp"

#include <algorithm>
#include <limits>

namespace decodesim {

UnitCost unit_cost(const Hardware& hw, Dtype compute) {
  const double usd_per_s = hw.usd_per_hour / 3600.0;
  return {usd_per_s / hw.peak_flops_per_s(compute), usd_per_s / hw.mem_bytes_per_s};
}

TokenCost token_cost(const Census& c, const UnitCost& u) {
  TokenCost t;
  const double core_compute = c.attention_flops * u.usd_per_flop;
  const double core_memory = c.kv_bytes * u.usd_per_byte;
  t.attention_memory_bound = core_memory >= core_compute;
  // Projections and FFN are compute-bound at the large batches AFD gathers.
  t.attention_usd = std::max(core_compute, core_memory) + c.linear_flops * u.usd_per_flop;
  t.ffn_usd = c.ffn_flops * u.usd_per_flop;
  return t;
}

AfdRow best_afd(const Model& m, double context_tokens, const std::vector<const Hardware*>& chips) {
  AfdRow row;
  row.model = &m;
  row.context_tokens = context_tokens;
  const Census c = census(m, context_tokens);
  double best_attn = std::numeric_limits<double>::infinity();
  double best_ffn = best_attn, best_single = best_attn;
  for (const Hardware* hw : chips) {
    const TokenCost t = token_cost(c, unit_cost(*hw, m.quant.compute));
    if (t.attention_usd < best_attn) best_attn = t.attention_usd, row.attention_hw = hw;
    if (t.ffn_usd < best_ffn) best_ffn = t.ffn_usd, row.ffn_hw = hw;
    if (t.total_usd() < best_single) best_single = t.total_usd(), row.single_hw = hw;
  }
  row.afd_usd_per_mtok = per_million(best_attn + best_ffn);
  row.single_usd_per_mtok = per_million(best_single);
  return row;
}

}  // namespace decodesim
