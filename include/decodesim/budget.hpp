// Latency budget (report section 6): what a chip can do per layer inside a TPOT SLA, used as
// an attention instance (KV it can read) or as an FFN instance (cards it takes).
#pragma once
#include "decodesim/hardware.hpp"
#include "decodesim/model.hpp"
#include "decodesim/network.hpp"

namespace decodesim {

struct AttentionBudget {
  double layer_budget_us = 0;
  double linear_bytes_per_layer = 0;   // projection weights read per layer
  double kv_bytes_in_budget = 0;       // per layer, after the weights
  double max_tokens = 0;               // context tokens a card can attend to per layer in budget
  double max_batch = 0;                // requests at the given context
  double kv_capacity_batch = 0;        // requests whose KV fits in memory after the weights
};
AttentionBudget attention_budget(const Hardware& hw, const Model& m, double context_tokens,
                                 const PipelineSla& sla);

struct FfnBudget {
  double layer_budget_us = 0;
  double batch_tokens = 0;             // tokens per micro-batch
  double weight_bytes_per_layer = 0;   // all experts of the largest FFN layer
  double flops_per_layer = 0;          // at batch_tokens
  // Whole cards, as doubles: an absurd SLA or chip asks for more than any integer type holds.
  double cards_for_bandwidth = 0;
  double cards_for_compute = 0;
  double cards_for_capacity = 0;
  double cards = 0;
};
// batch_tokens <= 0 takes the chip's B_MoE for the model.
FfnBudget ffn_budget(const Hardware& hw, const Model& m, double batch_tokens, const PipelineSla& sla);

}  // namespace decodesim
