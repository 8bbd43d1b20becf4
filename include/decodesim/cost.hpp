// Roofline and theoretical cost model (report section 4.2): chips rented by the hour,
// running at peak for every second, so a FLOP and a byte each have a price.
#pragma once
#include <string>
#include <vector>

#include "decodesim/census.hpp"
#include "decodesim/hardware.hpp"

namespace decodesim {

struct UnitCost {
  double usd_per_flop = 0;
  double usd_per_byte = 0;
};
UnitCost unit_cost(const Hardware& hw, Dtype compute);

struct TokenCost {
  double attention_usd = 0;  // max(core FLOPs, KV bytes) + projections, per token
  double ffn_usd = 0;        // FFN FLOPs, per token
  bool attention_memory_bound = false;
  double total_usd() const { return attention_usd + ffn_usd; }
};
TokenCost token_cost(const Census& c, const UnitCost& u);
inline double per_million(double usd_per_token) { return usd_per_token * 1e6; }

struct AfdRow {
  const Model* model = nullptr;
  double context_tokens = 0;
  const Hardware* attention_hw = nullptr;
  const Hardware* ffn_hw = nullptr;
  double afd_usd_per_mtok = 0;
  const Hardware* single_hw = nullptr;
  double single_usd_per_mtok = 0;
};

// Cheapest chip for attention plus cheapest for FFN, against the cheapest single chip.
// Ties keep the first chip in the list.
AfdRow best_afd(const Model& m, double context_tokens, const std::vector<const Hardware*>& chips);

}  // namespace decodesim
