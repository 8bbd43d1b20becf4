// Each analysis as a table over models x chips x contexts: what the CLI prints and writes.
#pragma once
#include <vector>

#include "decodesim/budget.hpp"
#include "decodesim/hardware.hpp"
#include "decodesim/model.hpp"
#include "decodesim/network.hpp"
#include "decodesim/table.hpp"

namespace decodesim {

Table census_table(const std::vector<Model>& models, const std::vector<double>& contexts);
Table cost_table(const std::vector<Model>& models, const std::vector<Hardware>& chips, const std::vector<double>& contexts);
Table unit_cost_table(const std::vector<Hardware>& chips, Dtype compute);
Table afd_table(const std::vector<Model>& models, const std::vector<Hardware>& chips, const std::vector<double>& contexts);

// H and L come from `models` (one row per model x chip) or, when `models` is empty, from
// hidden/layers with sparsity `sparsity`.
struct SparsityQuery {
  std::vector<Model> models;
  long hidden = 0;
  int layers = 0;
  double sparsity = 0;     // only used without models; 0: not compared
  Quantization quant;      // dispatch/combine/weight precisions when no model is given
  PipelineSla sla;
};
Table sparsity_table(const SparsityQuery& q, const std::vector<Hardware>& chips);

Table budget_table(const std::vector<Model>& models, const std::vector<Hardware>& chips,
                   const std::vector<double>& contexts, const PipelineSla& sla, double ffn_batch_tokens,
                   const BudgetConvention& conv = BudgetConvention::report());

}  // namespace decodesim

#include "decodesim/scenario.hpp"
#include "decodesim/search.hpp"

namespace decodesim {

// ---- The report's what-ifs: MTP and low-bit KV storage, measured ------------------------------

struct WhatIfRow {
  std::string model, hardware, variant;  // variant: "baseline", "mtp", "kv"
  double context_tokens = 0;
  int mtp_draft_tokens = 0;
  double acceptance = 0;       // mtp: of every draft position
  Dtype kv_dtype = Dtype::fp8;
  bool feasible = false;       // some deployment met the SLA and memory
  std::string deployment;
  int micro_batches = 0;
  double batch = 0, tokens_per_step = 1, tpot_ms = 0, tgs = 0;
  double tgs_gain = 0;         // tgs / the baseline's - 1 (0 where either is infeasible)
};
// One of the report's qualitative claims and what the mechanism gives.
struct WhatIfClaim {
  std::string claim;     // the report's, in words
  std::string measured;  // the numbers behind the verdict
  std::string holds;     // "yes", "no", or "n/a" (the scenario lacks a model or chip it names)
};
struct WhatIfStudy {
  std::vector<WhatIfRow> rows;  // per model, chip and context: baseline, each MTP acceptance, low-bit KV
  std::vector<WhatIfClaim> claims;
};
// Per model x chip x context: the best of s.what_if.deployments (roofline pools of the scenario's
// chips, micro-batches 1..4) at its largest batch inside the SLA, for the baseline, MTP at each
// acceptance and the low-bit KV; and the report's claims checked against them and the theoretical
// cost (census and cost at the first context).
WhatIfStudy what_if_study(const Scenario& s);
Table what_if_table(const WhatIfStudy& w);
Table what_if_claims_table(const WhatIfStudy& w);

// Every table analysis a scenario asks for, in the order it lists them (plots are separate). With
// `what_if`, the what-if study is kept there for its figure (computed once).
std::vector<Table> scenario_tables(const Scenario& s, WhatIfStudy* what_if = nullptr);

// A plan's work, bounded before it starts: `searches` searches of the space for `m`, each
// candidate about three simulations of every pipeline task (4 steps x layers x micro-batches x 4
// stages). InputError past limits::kMaxSimulatedTasks.
void check_search_work(const SearchSpace& space, const Model& m, double searches);
}  // namespace decodesim
