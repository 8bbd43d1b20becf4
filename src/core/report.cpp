#include "decodesim/report.hpp"

#include <algorithm>
#include <cmath>
#include <optional>

#include <fmt/format.h>

#include "decodesim/census.hpp"
#include "decodesim/cost.hpp"
#include "decodesim/errors.hpp"
#include "decodesim/limits.hpp"
#include "decodesim/search.hpp"

namespace decodesim {

namespace {

void check_rows(const char* table, size_t models, size_t chips, size_t contexts) {
  const double rows = double(models) * double(chips) * double(contexts);
  if (rows > double(limits::kMaxTableRows))
    throw InputError(fmt::format("{}: {} models x {} chips x {} contexts is {:.0f} rows, more than the {} one table may hold", table,
                                 models, chips, contexts, rows, limits::kMaxTableRows));
}

}  // namespace

Table census_table(const std::vector<Model>& models, const std::vector<double>& contexts) {
  Table t{"census", "Per decoded token, all layers, no embedding or LM head", {}, {}, {}};
  t.columns = {{"model", ""},          {"context", "tokens"},        {"kv_bytes", "B"},
               {"attention_flops", "FLOP"}, {"linear_flops", "FLOP"}, {"ffn_flops", "FLOP"},
               {"arithmetic_intensity", "FLOP/B"}, {"kv_bytes_per_token", "B", false}};
  for (const Model& m : models) {
    const double per_token = kv_bytes_per_token(m);
    for (double c : contexts) {
      const Census k = census(m, c);
      t.add({m.id, c, k.kv_bytes, k.attention_flops, k.linear_flops, k.ffn_flops, k.arithmetic_intensity(), per_token});
    }
  }
  return t;
}

Table cost_table(const std::vector<Model>& models, const std::vector<Hardware>& chips, const std::vector<double>& contexts) {
  check_rows("cost", models.size(), chips.size(), contexts.size());
  Table t{"cost", "Theoretical decoding cost, chips at peak for every rented second", {}, {}, {}};
  t.columns = {{"model", ""}, {"hardware", ""}, {"context", "tokens"}, {"attention_usd_per_mtok", "USD/1M tok"},
               {"ffn_usd_per_mtok", "USD/1M tok"}, {"total_usd_per_mtok", "USD/1M tok"}, {"attention_bound", "", false}};
  for (const Model& m : models)
    for (double c : contexts) {
      const Census k = census(m, c);
      for (const Hardware& h : chips) {
        const TokenCost tc = token_cost(k, unit_cost(h, m.quant.compute));
        t.add({m.id, h.id, c, per_million(tc.attention_usd), per_million(tc.ffn_usd), per_million(tc.total_usd()),
               std::string(tc.attention_memory_bound ? "memory" : "compute")});
      }
    }
  return t;
}

Table unit_cost_table(const std::vector<Hardware>& chips, Dtype compute) {
  Table t{"unit_cost", fmt::format("Unit costs at {} compute (BF16 peak where the chip has no FP8)", dtype_name(compute)), {}, {}, {}};
  t.columns = {{"hardware", ""},       {"usd_per_hour", "USD"},         {"peak_flops_per_s", "FLOP/s"},
               {"mem_bytes_per_s", "B/s"}, {"roofline", "FLOP/B"}, {"usd_per_flop", "USD"}, {"usd_per_byte", "USD"}};
  for (const Hardware& h : chips) {
    const UnitCost u = unit_cost(h, compute);
    t.add({h.id, h.usd_per_hour, h.peak_flops_per_s(compute), h.mem_bytes_per_s, h.roofline_flops_per_byte(compute),
           u.usd_per_flop, u.usd_per_byte});
  }
  return t;
}

Table afd_table(const std::vector<Model>& models, const std::vector<Hardware>& chips, const std::vector<double>& contexts) {
  Table t{"afd", "Best AFD pairing (cheapest attention chip + cheapest FFN chip) vs best single chip", {}, {}, {}};
  t.columns = {{"model", ""},         {"context", "tokens"}, {"attention_hardware", ""},
               {"ffn_hardware", ""},  {"afd_usd_per_mtok", "USD/1M tok"}, {"best_single_hardware", ""},
               {"single_usd_per_mtok", "USD/1M tok"}};
  std::vector<const Hardware*> ptrs;
  for (const Hardware& h : chips) ptrs.push_back(&h);
  for (const Model& m : models)
    for (double c : contexts) {
      const AfdRow r = best_afd(m, c, ptrs);
      t.add({m.id, c, r.attention_hw->id, r.ffn_hw->id, r.afd_usd_per_mtok, r.single_hw->id, r.single_usd_per_mtok});
    }
  return t;
}

Table sparsity_table(const SparsityQuery& q, const std::vector<Hardware>& chips) {
  Table t{"sparsity",
          fmt::format("MoE sparsity vs network: TPOT {} ms, {} stages, NIC efficiency {}", q.sla.tpot_ms, q.sla.stages,
                      q.sla.nic_efficiency),
          {}, {}, {}};
  t.columns = {{"model", ""},          {"hidden", ""},        {"layers", ""},          {"hardware", ""},
               {"b_dense", "tokens"},  {"b_moe", "tokens"},   {"model_sparsity", ""},  {"min_sparsity", ""},
               {"comm_ms", "ms"},      {"sustains", ""}};
  auto rows = [&](const std::string& label, long hidden, int layers, double s, const Quantization& quant) {
    for (const Hardware& h : chips) {
      const SparsityRow r = sparsity_limits(h, quant, hidden, layers, s > 0 ? s : 1.0, q.sla);
      t.add({label, double(hidden), double(layers), h.id, r.b_dense_tokens, r.b_moe_tokens, s, r.min_sparsity,
             r.comm_ms_all_layers, std::string(s > 0 ? (r.sustains_model ? "yes" : "no") : "-")});
    }
  };
  for (const Model& m : q.models) rows(m.id, m.hidden_size, m.num_layers(), model_sparsity(m), m.quant);
  if (q.models.empty()) rows("-", q.hidden, q.layers, q.sparsity, q.quant);
  t.notes.push_back("b_moe and comm_ms are at the row's sparsity (1 when none is given); S_min does not depend on it.");
  return t;
}

Table budget_table(const std::vector<Model>& models, const std::vector<Hardware>& chips,
                   const std::vector<double>& contexts, const PipelineSla& sla, double ffn_batch_tokens,
                   const BudgetConvention& conv) {
  check_rows("budget", models.size(), chips.size(), contexts.size());
  const std::string attention_rule =
      conv.shards_o_proj()
          ? fmt::format("each card holding o_proj sharded over its server's {} cards and the other projections whole "
                        "(report section 6)",
                        conv.o_proj_shards)
          : std::string("each card holding every projection whole (stricter than the report, which shards o_proj)");
  Table t{"budget",
          fmt::format("Latency budget per layer: TPOT {} ms over {} stages; attention DP, {}; FFN weights read "
                      "at {:g}% of bandwidth, FFN cards in whole {}-card servers",
                      sla.tpot_ms, sla.stages, attention_rule, 100 * conv.ffn_weight_bandwidth_share, conv.server_gpus),
          {}, {}, {}};
  t.columns = {{"model", ""},
               {"hardware", ""},
               {"context", "tokens"},
               {"layer_budget_us", "us"},
               {"linear_bytes_per_layer", "B"},
               {"kv_bytes_in_budget", "B/layer"},
               {"max_tokens", "tokens"},
               {"max_batch", "requests"},
               {"kv_capacity_batch", "requests"},
               {"ffn_batch_tokens", "tokens"},
               {"ffn_servers", "servers"},
               {"ffn_cards", "cards"},
               {"ffn_cards_bandwidth", "cards"},
               {"ffn_cards_compute", "cards"},
               {"ffn_cards_capacity", "cards"}};
  for (const Model& m : models)
    for (const Hardware& h : chips) {
      const FfnBudget f = ffn_budget(h, m, ffn_batch_tokens, sla, conv);
      for (double c : contexts) {
        const AttentionBudget a = attention_budget(h, m, c, sla, conv);
        t.add({m.id, h.id, c, a.layer_budget_us, a.linear_bytes_per_layer, a.kv_bytes_in_budget, a.max_tokens,
               a.max_batch, a.kv_capacity_batch, f.batch_tokens, f.servers, f.cards, f.cards_for_bandwidth,
               f.cards_for_compute, f.cards_for_capacity});
      }
    }
  return t;
}

// ---- What-ifs -------------------------------------------------------------------------------

namespace {

// The best of `deployments` for `m` on `pool` (attention, FFN and EP alike) at its largest batch.
std::optional<Plan> best_plan(const Model& m, const Pool& pool, const std::vector<Deployment>& deployments, const PipelineConfig& base) {
  std::optional<Plan> best;
  for (const Deployment& d : deployments) {
    PipelineConfig c = base;
    c.deployment = d;
    std::optional<Plan> p = largest_batch_best_micro_batches(m, pool, pool, c);
    if (p && (!best || p->result.tgs > best->result.tgs)) best = std::move(p);
  }
  return best;
}

const Model* model_named(const Scenario& s, const char* id) {
  for (const Model& m : s.models)
    if (m.id == id) return &m;
  return nullptr;
}

// The fall of the theoretical attention cost per token (report section 4.2) from the model's KV to `kv`.
double attention_cost_fall(const Model& m, Dtype kv, const Hardware& h, double context) {
  Model low = m;
  set_kv_dtype(low.attention_types, low.quant, kv);
  const UnitCost u = unit_cost(h, m.quant.compute);
  return 1.0 - token_cost(census(low, context), u).attention_usd / token_cost(census(m, context), u).attention_usd;
}

// The report's qualitative what-if claims (its discussion of MTP and low-bit KV storage, as the
// issue "The report's what-ifs, measured" lists them), checked as the mechanism gives them.
std::vector<WhatIfClaim> what_if_claims(const Scenario& s, const std::vector<WhatIfRow>& rows) {
  std::vector<WhatIfClaim> claims;
  const char* const ids[] = {"step3", "deepseek-v3", "qwen3-235b-a22b"};
  const Hardware* h800 = nullptr;
  for (const Hardware& h : s.hardware)
    if (h.id == "h800") h800 = &h;
  const double c = s.contexts.front();
  const std::string kv = dtype_name(s.what_if.kv_dtype);
  {
    WhatIfClaim w{fmt::format("{} KV: DeepSeek-V3's attention cost on H800 falls least of the three models", kv), "", "n/a"};
    if (h800 && model_named(s, ids[0]) && model_named(s, ids[1]) && model_named(s, ids[2])) {
      double fall[3];
      for (int i = 0; i < 3; ++i) {
        fall[i] = attention_cost_fall(*model_named(s, ids[i]), s.what_if.kv_dtype, *h800, c);
        w.measured += fmt::format("{}{} -{:.1f}%", i ? ", " : "", ids[i], 100 * fall[i]);
      }
      w.measured += fmt::format(" (theoretical, {:.0f} tokens)", c);
      w.holds = fall[1] < fall[0] && fall[1] < fall[2] ? "yes" : "no";
    }
    claims.push_back(std::move(w));
  }
  {
    WhatIfClaim w{fmt::format("{} KV: Qwen3-235B-A22B's attention cost falls on every chip", kv), "", "n/a"};
    if (const Model* q = model_named(s, ids[2])) {
      bool all = true;
      for (const Hardware& h : s.hardware) {
        const double fall = attention_cost_fall(*q, s.what_if.kv_dtype, h, c);
        all = all && fall > 0;
        w.measured += fmt::format("{}{} -{:.1f}%", w.measured.empty() ? "" : ", ", h.id, 100 * fall);
      }
      w.holds = all ? "yes" : "no";
    }
    claims.push_back(std::move(w));
  }
  {
    WhatIfClaim w{"MTP (acceptance 0.8): Step-3's TGS on H800 rises by more than DeepSeek-V3's", "", "n/a"};
    auto gain = [&](const char* id) -> std::optional<double> {
      for (const WhatIfRow& r : rows)
        if (r.model == id && r.hardware == "h800" && r.variant == "mtp" && std::abs(r.acceptance - 0.8) < 1e-9 &&
            r.context_tokens == c && r.feasible)
          return r.tgs_gain;
      return std::nullopt;
    };
    const std::optional<double> step3 = gain(ids[0]), dsv3 = gain(ids[1]);
    if (step3 && dsv3) {
      w.measured = fmt::format("step3 +{:.1f}%, deepseek-v3 +{:.1f}% (best of the scenario's deployments, {:.0f} tokens)",
                               100 * *step3, 100 * *dsv3, c);
      w.holds = *step3 > *dsv3 ? "yes" : "no";
    }
    claims.push_back(std::move(w));
  }
  return claims;
}

}  // namespace

WhatIfStudy what_if_study(const Scenario& s) {
  WhatIfStudy w;
  if (s.what_if.deployments.empty()) throw InputError(s.file + ": $.what_if.deployments: expected at least one deployment");
  for (const Model& m : s.models) {
    Model low = m;
    set_kv_dtype(low.attention_types, low.quant, s.what_if.kv_dtype);
    for (const Hardware& h : s.hardware) {
      const Pool pool{h, nullptr};
      for (double c : s.contexts) {
        PipelineConfig base;
        base.context_tokens = c;
        base.tpot_sla_ms = s.network.tpot_ms;
        base.transport.nic_efficiency = s.network.nic_efficiency;
        auto row = [&](const Model& model, const PipelineConfig& config, const char* variant) {
          WhatIfRow r;
          r.model = m.id, r.hardware = h.id, r.variant = variant, r.context_tokens = c;
          r.mtp_draft_tokens = config.mtp.draft_tokens;
          r.acceptance = config.mtp.acceptance.empty() ? 0 : config.mtp.acceptance.front();
          r.kv_dtype = model.quant.kv;
          r.tokens_per_step = config.mtp.tokens_per_step();
          if (const std::optional<Plan> p = best_plan(model, pool, s.what_if.deployments, config)) {
            r.feasible = true;
            r.deployment = p->result.config.deployment.name();
            r.micro_batches = p->result.config.micro_batches;
            r.batch = p->result.config.batch, r.tpot_ms = p->result.tpot_ms, r.tgs = p->result.tgs;
          }
          return r;
        };
        const WhatIfRow baseline = row(m, base, "baseline");
        w.rows.push_back(baseline);
        for (double a : s.what_if.acceptances) {
          PipelineConfig x = base;
          x.mtp = {s.what_if.mtp_draft_tokens, {a}};
          WhatIfRow r = row(m, x, "mtp");
          if (r.feasible && baseline.feasible) r.tgs_gain = r.tgs / baseline.tgs - 1;
          w.rows.push_back(std::move(r));
        }
        WhatIfRow r = row(low, base, "kv");
        if (r.feasible && baseline.feasible) r.tgs_gain = r.tgs / baseline.tgs - 1;
        w.rows.push_back(std::move(r));
      }
    }
  }
  w.claims = what_if_claims(s, w.rows);
  return w;
}

Table what_if_table(const WhatIfStudy& w) {
  Table t{"what_if", "The report's what-ifs, served: MTP and low-bit KV against the baseline, best deployment at its largest batch",
          {}, {}, {}};
  t.columns = {{"model", ""},          {"hardware", ""},         {"context", "tokens"},    {"variant", ""},
               {"mtp_draft_tokens", ""}, {"acceptance", ""},     {"kv_dtype", ""},         {"tokens_per_step", "tok"},
               {"deployment", ""},     {"micro_batches", ""},    {"batch", "requests"},    {"tpot_ms", "ms"},
               {"tgs", "tok/GPU/s"},   {"tgs_gain_pct", "%"}};
  for (const WhatIfRow& r : w.rows)
    t.add({r.model, r.hardware, r.context_tokens, r.variant, double(r.mtp_draft_tokens), r.acceptance, dtype_name(r.kv_dtype),
           r.tokens_per_step, r.feasible ? r.deployment : std::string("-"), double(r.micro_batches), r.batch, r.tpot_ms, r.tgs,
           100 * r.tgs_gain});
  t.notes.push_back("Roofline timing (chips at datasheet peaks; `run --calibration` carries measured rates). MTP: K+1 query tokens "
                    "per request and step, the draft module (one layer of the model's own MoE design and its LM head) run K "
                    "times; tpot_ms per accepted token. Low-bit KV: fp4 is NVFP4, 4.5 bits per value with its FP8 scales, "
                    "computed on at 8 bits (docs/pipeline.md, docs/schema.md).");
  return t;
}

Table what_if_claims_table(const WhatIfStudy& w) {
  Table t{"what_if_claims", "The report's what-if claims against what the mechanism gives", {}, {}, {}};
  t.columns = {{"claim", ""}, {"measured", ""}, {"holds", ""}};
  for (const WhatIfClaim& c : w.claims) t.add({c.claim, c.measured, c.holds});
  return t;
}

}  // namespace decodesim

namespace decodesim {

std::vector<Table> scenario_tables(const Scenario& s, WhatIfStudy* what_if) {
  std::vector<Table> out;
  for (Analysis a : s.analyses) {
    switch (a) {
      case Analysis::census: out.push_back(census_table(s.models, s.contexts)); break;
      case Analysis::cost:
        out.push_back(unit_cost_table(s.hardware, s.models.front().quant.compute));  // as `cost --units`
        out.push_back(cost_table(s.models, s.hardware, s.contexts));
        break;
      case Analysis::afd: out.push_back(afd_table(s.models, s.hardware, s.contexts)); break;
      case Analysis::sparsity: {
        SparsityQuery q;
        q.models = s.models;
        q.sla = s.network;
        out.push_back(sparsity_table(q, s.hardware));
        break;
      }
      case Analysis::budget:
        out.push_back(budget_table(s.models, s.hardware, s.contexts, s.budget, s.ffn_batch_tokens, s.budget_convention));
        break;
      case Analysis::plan: {
        SearchSpace space;
        for (const Hardware& h : s.hardware) space.attention_chips.push_back({h, nullptr});
        space.ffn_chips = space.colocated_chips = space.attention_chips;
        for (const Model& m : s.models) check_search_size(space, m, s.contexts.size());
        for (const Model& m : s.models) check_search_work(space, m, double(s.contexts.size()));
        const RankBy rank = s.plan_rank_by_usd ? RankBy::usd_per_mtok : RankBy::tgs;
        for (const Model& m : s.models)
          for (double c : s.contexts) {
            PipelineConfig base;
            base.context_tokens = c;
            base.tpot_sla_ms = s.network.tpot_ms;
            base.transport.nic_efficiency = s.network.nic_efficiency;
            Table t = search_table(search_deployments(m, space, base, rank), static_cast<size_t>(s.plan_top), rank);
            t.name = fmt::format("plan-{}-{:.0f}", m.id, c);
            out.push_back(std::move(t));
          }
        break;
      }
      case Analysis::what_if: {
        WhatIfStudy w = what_if_study(s);
        out.push_back(what_if_table(w));
        out.push_back(what_if_claims_table(w));
        if (what_if) *what_if = std::move(w);
        break;
      }
      case Analysis::plots: break;
    }
  }
  return out;
}

void check_search_work(const SearchSpace& space, const Model& m, double searches) {
  const int micro_batches = std::max(space.max_micro_batches, 1);  // the largest count a candidate runs
  const double candidates = double(search_candidates(space, m));   // deployments x micro-batch counts
  const double tasks = 3.0 * candidates * searches * 16.0 * double(m.num_layers()) * micro_batches;
  if (tasks > limits::kMaxSimulatedTasks)
    throw InputError(fmt::format("plan: {:.0f} search(es) of {:.0f} candidates over {} layers in up to {} micro-batches is about {:.2g} "
                                 "simulated tasks, more than the {:.2g} one plan may take: give fewer chips, contexts, models or "
                                 "micro-batches",
                                 searches, candidates, m.num_layers(), micro_batches, tasks, limits::kMaxSimulatedTasks));
}

}  // namespace decodesim
