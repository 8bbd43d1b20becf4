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
// Every table analysis a scenario asks for, in the order it lists them (plots are separate).
std::vector<Table> scenario_tables(const Scenario& s);

// A plan's work, bounded before it starts: `searches` searches of the space per model, over
// models of `layers` layers in all, each candidate about three simulations of every pipeline
// task (4 steps x layers x micro-batches x 4 stages). InputError past limits::kMaxSimulatedTasks.
void check_search_work(const SearchSpace& space, double searches, long long layers);
}  // namespace decodesim
