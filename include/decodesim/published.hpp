// Published figures decodesim is checked against (`decodesim validate`): each with its source and
// the configuration it was measured in (bench/published.json), and the simulator's answer beside it.
#pragma once
#include <string>
#include <vector>

#include "decodesim/table.hpp"

namespace decodesim {

enum class FigureKind { simulate, layer, deepep, prefill };

struct PublishedFigure {
  std::string figure, label, source;  // the table or run it comes from, the row, where it is published
  FigureKind kind = FigureKind::simulate;
  std::string metric;                 // tgs, tpot_ms, attention_layer_us, dispatch_us, combine_us or input_tokens_per_s_per_node
  double measured = 0;
  std::string model, hardware, deployment, kv_dtype;
  double context = 4096, batch = 0;   // simulate: batch 0 = the largest inside the SLA
  int micro_batches = 0, gpus = 0, attention_tp = 1, ep_gpus = 0;
  long redundant_experts = 0;
  double input_tokens = 0, batch_tokens = 0;  // prefill: prompt length, tokens per forward of one attention group
  double expert_imbalance = 0;                 // prefill: the busiest GPU's routed load over the mean as run (0: modelled)
};

struct FigureCheck {
  PublishedFigure figure;
  double simulated = 0;
  double error() const { return simulated / figure.measured - 1; }
};

// figure, case, metric, measured, simulated, error; notes: median and worst |error| per figure.
Table published_table(const std::vector<FigureCheck>& checks);

}  // namespace decodesim
