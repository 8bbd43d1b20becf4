// Latency budget (report section 6): what a chip can do per layer inside a TPOT SLA, used as
// an attention instance (KV it can read) or as an FFN instance (cards it takes).
#pragma once
#include "decodesim/hardware.hpp"
#include "decodesim/model.hpp"
#include "decodesim/network.hpp"

namespace decodesim {

// How section 6 of the report sizes a chip for either role (paper-notes section 5).
struct BudgetConvention {
  // An attention card keeps 1/o_proj_shards of o_proj: the report shards it over the 8 cards
  // of the card's server and keeps the other projections whole on each card. 1: the stricter
  // view, every projection whole on every card.
  int o_proj_shards = 8;
  // Share of memory bandwidth an FFN card spends reading its weights: the FFN is compute-bound,
  // and the report sizes FFN cards as if the weights got only half of it.
  double ffn_weight_bandwidth_share = 0.5;
  // FFN instances are counted in whole servers of this many cards.
  int server_gpus = 8;

  static BudgetConvention report() { return {}; }
  static BudgetConvention whole_o_proj() {
    BudgetConvention c;
    c.o_proj_shards = 1;
    return c;
  }
  bool shards_o_proj() const { return o_proj_shards > 1; }
};

struct AttentionBudget {
  double layer_budget_us = 0;
  double linear_bytes_per_layer = 0;   // projection weights one card reads per layer
  double kv_bytes_in_budget = 0;       // per layer, after the weights
  double max_tokens = 0;               // context tokens a card can attend to per layer in budget
  double max_batch = 0;                // requests at the given context
  double kv_capacity_batch = 0;        // requests whose KV fits in memory after the weights
};
AttentionBudget attention_budget(const Hardware& hw, const Model& m, double context_tokens, const PipelineSla& sla,
                                 const BudgetConvention& conv = BudgetConvention::report());

struct FfnBudget {
  double layer_budget_us = 0;
  double batch_tokens = 0;             // tokens per micro-batch
  double weight_bytes_per_layer = 0;   // all experts of the largest FFN layer
  double flops_per_layer = 0;          // at batch_tokens
  // Whole cards, as doubles: an absurd SLA or chip asks for more than any integer type holds.
  double cards_for_bandwidth = 0;      // reading the layer's weights at the convention's bandwidth share
  double cards_for_compute = 0;
  double cards_for_capacity = 0;
  double servers = 0;                  // whole servers covering the largest of the three
  double cards = 0;                    // servers * server_gpus
};
// batch_tokens <= 0 takes the chip's B_MoE for the model.
FfnBudget ffn_budget(const Hardware& hw, const Model& m, double batch_tokens, const PipelineSla& sla,
                     const BudgetConvention& conv = BudgetConvention::report());

}  // namespace decodesim
