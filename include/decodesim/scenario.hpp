// An analysis to run: which models, chips and contexts, which analyses, where results go.
#pragma once
#include <string>
#include <vector>

#include "decodesim/budget.hpp"
#include "decodesim/deployment.hpp"
#include "decodesim/hardware.hpp"
#include "decodesim/model.hpp"
#include "decodesim/network.hpp"

namespace decodesim {

enum class Analysis { census, cost, afd, sparsity, budget, plan, plots, what_if };
const char* analysis_name(Analysis a);

enum class Format { table, csv, json };

struct Scenario {
  std::string name;
  std::string file;
  std::vector<Model> models;
  std::vector<Hardware> hardware;
  std::vector<double> contexts;
  std::vector<Analysis> analyses;
  PipelineSla network;          // sparsity analysis
  PipelineSla budget;           // latency-budget analysis
  double ffn_batch_tokens = 0;  // 0: each chip's B_MoE
  BudgetConvention budget_convention;  // the report's section-6 sizing unless whole_o_proj is asked for
  // plan: deployment search over the scenario's chips (for attention, FFN and EP alike)
  int plan_top = 10;
  bool plan_rank_by_usd = true;  // else by tokens per GPU per second
  std::vector<Model> pareto_models;  // plots: Fig. 1's models; empty: the scenario's
  // what_if: the report's what-ifs (MTP, 4-bit KV) per model and chip, each variant at the best of
  // these deployments' largest batches inside the SLA (network.tpot_ms, network.nic_efficiency).
  struct WhatIf {
    std::vector<Deployment> deployments;
    int mtp_draft_tokens = 1;
    std::vector<double> acceptances;  // one MTP variant per acceptance (every draft position)
    Dtype kv_dtype = Dtype::fp4;      // the low-bit KV variant
  } what_if;
  std::string out_dir;          // empty: print only
  Format format = Format::table;
};

}  // namespace decodesim
