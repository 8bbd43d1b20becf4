#include "decodesim/pd_plan.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <stdexcept>

#include <fmt/format.h>

#include "decodesim/errors.hpp"

namespace decodesim {

namespace {

// A deployment's chips: one name, or attention/FFN where they differ.
std::string chips(const std::string& attention_hw, const std::string& ffn_hw) {
  return attention_hw == ffn_hw ? attention_hw : attention_hw + "/" + ffn_hw;
}

// The two tiers' columns both P/D tables start with, and their cells.
std::vector<Column> tier_columns() {
  return {{"prefill_deployment", ""}, {"prefill_hardware", ""}, {"prefill_replicas", ""}, {"prefill_gpus", ""},
          {"decode_deployment", ""},  {"decode_hardware", ""},  {"decode_replicas", ""},  {"decode_gpus", ""}};
}
std::vector<Cell> tier_cells(const std::string& prefill_deployment, const std::string& prefill_hw, int prefill_replicas, int prefill_gpus,
                             const std::string& decode_deployment, const std::string& decode_hw, int decode_replicas, int decode_gpus) {
  return {prefill_deployment, prefill_hw, double(prefill_replicas), double(prefill_gpus),
          decode_deployment,  decode_hw,  double(decode_replicas),  double(decode_gpus)};
}
// Columns and cells: `head`, then the tiers', then `tail`.
std::vector<Column> around_tiers(std::vector<Column> head, const std::vector<Column>& tail) {
  const std::vector<Column> tiers = tier_columns();
  head.insert(head.end(), tiers.begin(), tiers.end());
  head.insert(head.end(), tail.begin(), tail.end());
  return head;
}
std::vector<Cell> around_tiers(std::vector<Cell> head, const std::vector<Cell>& tiers, const std::vector<Cell>& tail) {
  head.insert(head.end(), tiers.begin(), tiers.end());
  head.insert(head.end(), tail.begin(), tail.end());
  return head;
}

}  // namespace

PdRow pd_row(const TrafficRun& decode, const PrefillResult& prefill, double offered_rate_per_s, double mean_input_tokens) {
  PdRow r;
  r.model = decode.model;
  r.prefill_deployment = prefill.config.deployment.name();
  r.prefill_hw = prefill.attention_hw;
  r.decode_deployment = decode.deployment;
  r.decode_hw = chips(decode.attention_hw, decode.ffn_hw);
  r.prefill_replicas = decode.prefill_replicas;
  r.decode_replicas = decode.replicas;
  r.prefill_gpus = r.prefill_replicas * prefill.config.deployment.gpus();
  r.decode_gpus = r.decode_replicas * decode.config.gpus;
  r.prefill_usd_per_hour = r.prefill_replicas * prefill.usd_per_mtok * prefill.input_tokens_per_s * 1e-6 * 3600;
  r.decode_usd_per_hour = r.decode_replicas * decode.config.usd_per_hour;
  r.prefill_capacity_tokens_per_s = r.prefill_replicas * prefill.input_tokens_per_s;
  r.offered_input_tokens_per_s = offered_rate_per_s * mean_input_tokens;
  r.summary = decode.summary;
  return r;
}

Table pd_ratio_table(const std::vector<PdRow>& rows) {
  Table t{"pd_ratio", "Prefill/decode disaggregation: the two tiers, their GPU ratio, loads and cost", {}, {}, {}};
  t.columns = around_tiers({{"model", ""}}, {{"pd_gpu_ratio", ""},
               {"prefill_load", ""},
               {"offered_input_tokens_per_s", "tok/s"},
               {"prefill_capacity_tokens_per_s", "tok/s"},
               {"ttft_p99_ms", "ms"},
               {"tpot_p99_ms", "ms"},
               {"usd_per_hour", "USD/h"}});
  for (const PdRow& r : rows)
    t.add(around_tiers({r.model},
                       tier_cells(r.prefill_deployment, r.prefill_hw, r.prefill_replicas, r.prefill_gpus, r.decode_deployment, r.decode_hw,
                                  r.decode_replicas, r.decode_gpus),
                       {double(r.prefill_gpus) / double(r.decode_gpus), r.offered_input_tokens_per_s / r.prefill_capacity_tokens_per_s,
                        r.offered_input_tokens_per_s, r.prefill_capacity_tokens_per_s, r.summary.ttft_p99_ms, r.summary.tpot_p99_ms,
                        r.prefill_usd_per_hour + r.decode_usd_per_hour}));
  t.notes.push_back("pd_gpu_ratio: prefill GPUs / decode GPUs; prefill_load: offered input tokens/s over the tier's capacity "
                    "(forwards back to back at the mean prompt); TTFT is the tier's, TPOT one decode replica's.");
  return t;
}

std::vector<Deployment> prefill_candidates(int gpus_per_node) {
  std::vector<Deployment> out;
  auto add = [&](const std::string& name) {
    try {
      out.push_back(parse_deployment(name, gpus_per_node));
    } catch (const InputError&) {  // a shape this node size does not allow
    }
  };
  for (int n = 1; n < gpus_per_node; n *= 2) add(fmt::format("TP{}", n)), add(fmt::format("EP{}", n));
  add(fmt::format("TP{}", gpus_per_node));
  for (int nodes = 1; nodes <= 32; nodes *= 2) add(fmt::format("EP{}", nodes * gpus_per_node));
  return out;
}

std::vector<PrefillTier> plan_prefill(const Model& m, const std::vector<Pool>& chips, const PrefillConfig& base,
                                      const TrafficDemand& demand, double p99_ttft_s, double warmup_s, int gpus_per_node,
                                      long* simulations) {
  const std::vector<Request> all = demand.replica_share(1);
  if (all.empty()) throw InputError("plan: the traffic brings no requests within the duration");
  double mean_input = 0;
  for (const Request& r : all) mean_input += double(r.input_tokens) / double(all.size());
  const double offered = demand.offered_rate_per_s() * mean_input;
  std::vector<PrefillTier> out;
  for (const Pool& chip : chips)
    for (const Deployment& d : prefill_candidates(gpus_per_node)) {
      PrefillConfig c = base;
      c.deployment = d;
      const PrefillPromptTimer timer(m, chip, chip, c, KvLink{1, 0});  // TTFT does not wait for the KV transfer
      PrefillTier tier;
      tier.at_mean = timer.at(std::max(1.0, std::round(mean_input)));
      if (!tier.at_mean.memory.fits()) continue;
      const int lo = std::max(1, static_cast<int>(std::ceil(offered / tier.at_mean.input_tokens_per_s)));
      const double usd_per_replica = tier.at_mean.usd_per_mtok * tier.at_mean.input_tokens_per_s * 1e-6 * 3600;
      for (int replicas = lo; replicas <= 2 * lo + 2; ++replicas) {
        const TrafficSummary s = prefill_summary(all, run_prefill_tier(all, timer, replicas, demand.duration_s), warmup_s, demand.duration_s);
        if (s.prefill_overloaded || !(s.ttft_p99_ms <= p99_ttft_s * 1e3)) continue;
        tier.replicas = replicas, tier.summary = s, tier.usd_per_hour = replicas * usd_per_replica;
        out.push_back(tier);
        break;
      }
      if (simulations) *simulations += timer.simulations();
    }
  std::stable_sort(out.begin(), out.end(), [](const PrefillTier& a, const PrefillTier& b) {
    return a.usd_per_hour != b.usd_per_hour ? a.usd_per_hour < b.usd_per_hour : a.gpus() < b.gpus();
  });
  return out;
}

namespace {
const Pool& pool_named(const std::vector<Pool>& pools, const std::string& id) {
  for (const Pool& p : pools)
    if (p.hw.id == id) return p;
  throw std::logic_error("plan_pd: no pool for chip " + id);
}
}  // namespace

bool pd_sla_met(const TrafficSummary& s, const TrafficSla& sla, double p99_ttft_s) {
  return sla.met_by(s) && s.ttft_p99_ms <= p99_ttft_s * 1e3 && !s.prefill_overloaded;
}

std::vector<PdPlan> plan_pd(const Model& m, const std::vector<PrefillTier>& prefill, const std::vector<TrafficPlan>& decode,
                            const SearchSpace& space, const std::vector<Pool>& prefill_chips, const PrefillConfig& prefill_base,
                            const TrafficDemand& demand, const TrafficConfig& run, const TrafficSla& sla, double p99_ttft_s,
                            size_t top, int max_gpus, long* tried) {
  std::vector<PdPlan> pairs;
  for (const PrefillTier& p : prefill)
    for (const TrafficPlan& d : decode) {
      const int gpus = p.gpus() + d.replicas * d.deployment.result.config.deployment.gpus();
      if (max_gpus > 0 && gpus > max_gpus) continue;
      pairs.push_back({p, d, p.usd_per_hour + d.usd_per_hour, gpus, {}});
    }
  std::stable_sort(pairs.begin(), pairs.end(), [](const PdPlan& a, const PdPlan& b) {
    return a.usd_per_hour != b.usd_per_hour ? a.usd_per_hour < b.usd_per_hour : a.gpus < b.gpus;
  });
  // Serve pairs together, cheapest first: the decode tier's arrivals now wait for prefill and the KV.
  const std::vector<Request> all = demand.replica_share(1);
  std::vector<PdPlan> kept;
  long served = 0;
  for (PdPlan& pair : pairs) {
    if (kept.size() >= top || served >= long(4 * top + 4)) break;
    ++served;
    const PipelineConfig& c = pair.decode.deployment.result.config;
    const bool colocated = c.deployment.colocated();
    const Pool& a = pool_named(colocated ? space.colocated_chips : space.attention_chips, pair.decode.deployment.result.attention_hw);
    const Pool& f = colocated ? a : pool_named(space.ffn_chips, pair.decode.deployment.result.ffn_hw);
    const Pool& pp = pool_named(prefill_chips, pair.prefill.at_mean.attention_hw);
    PrefillConfig pc = prefill_base;
    pc.deployment = pair.prefill.at_mean.config.deployment;
    const PrefillPromptTimer timer(m, pp, pp, pc, kv_link(pp, pc.deployment, a, c.deployment, pc.transport.nic_efficiency));
    const PipelineStepTimer step(m, a, f, c);
    TrafficConfig cfg = pair.decode.config;
    cfg.warmup_s = run.warmup_s;
    pair.summary = simulate_pd_traffic(all, timer, pair.prefill.replicas, pair.decode.replicas, step, cfg).summary;
    if (pd_sla_met(pair.summary, sla, p99_ttft_s)) kept.push_back(pair);
  }
  if (tried) *tried = served;
  return kept;
}

Table pd_plan_table(const std::vector<PdPlan>& plans, const TrafficDemand& demand, const TrafficSla& sla, double p99_ttft_s) {
  const std::string traffic =
      demand.rate_per_s > 0 ? fmt::format("{} requests/s (Poisson; input {}, output {})", demand.rate_per_s, demand.input.text(),
                                          demand.output.text())
                            : fmt::format("a trace of {:.4g} requests/s", demand.offered_rate_per_s());
  Table t{"plan_pd",
          plans.empty() ? fmt::format("No P/D pair serves {} within p99 TTFT {} s and p99 TPOT {} ms", traffic, p99_ttft_s, sla.p99_tpot_ms)
                        : fmt::format("Cheapest prefill + decode pairs of {} for {} within p99 TTFT {} s and p99 TPOT {} ms, by USD per hour",
                                      plans.front().decode.deployment.result.model, traffic, p99_ttft_s, sla.p99_tpot_ms),
          {}, {}, {}};
  t.columns = around_tiers({{"rank", ""}}, {{"gpus", ""},
               {"pd_gpu_ratio", ""},
               {"usd_per_hour", "USD/h"},
               {"prefill_usd_per_hour", "USD/h"},
               {"decode_usd_per_hour", "USD/h"},
               {"ttft_p50_ms", "ms"},
               {"ttft_p99_ms", "ms"},
               {"tpot_p99_ms", "ms"},
               {"queue_p99_s", "s"},
               {"kv_transfer_mean_ms", "ms"},
               {"sla_met", ""}});
  for (size_t i = 0; i < plans.size(); ++i) {
    const PdPlan& p = plans[i];
    const PipelineResult& d = p.decode.deployment.result;
    const int decode_gpus = p.decode.replicas * d.config.deployment.gpus();
    const bool met = pd_sla_met(p.summary, sla, p99_ttft_s);
    t.add(around_tiers({double(i + 1)},
                       tier_cells(p.prefill.at_mean.config.deployment.name(), p.prefill.at_mean.attention_hw, p.prefill.replicas,
                                  p.prefill.gpus(), d.config.deployment.name(), chips(d.attention_hw, d.ffn_hw), p.decode.replicas, decode_gpus),
                       {double(p.gpus), double(p.prefill.gpus()) / decode_gpus, p.usd_per_hour, p.prefill.usd_per_hour,
                        p.decode.usd_per_hour, p.summary.ttft_p50_ms, p.summary.ttft_p99_ms, p.summary.tpot_p99_ms,
                        p.summary.queue_p99_s, p.summary.kv_transfer_mean_ms, met ? "yes" : "no"}));
  }
  t.notes.push_back("Prefill tier: the fewest replicas of each prefill deployment whose p99 TTFT (arrival to first token) meets the "
                    "SLA; decode tier: plan --rate's cheapest replicas within p99 TPOT; then each pair served together "
                    "(arrivals at the decode tier delayed by prefill and the KV transfer) and kept if it still meets both; "
                    "figures of that run, one decode replica.");
  return t;
}

std::vector<ColocatedPlan> plan_colocated(const Model& m, const std::vector<TrafficPlan>& decode, const SearchSpace& space,
                                          const PrefillConfig& prefill_base, const TrafficDemand& demand, const TrafficConfig& run,
                                          const TrafficSla& sla, double p99_ttft_s, size_t deployments, size_t top, int max_gpus,
                                          long* traffic_runs) {
  const std::vector<Request> all = demand.replica_share(1);
  double mean_input = 0;
  for (const Request& r : all) mean_input += double(r.input_tokens) / double(all.size());
  std::vector<ColocatedPlan> out;
  std::vector<std::string> seen;
  for (const TrafficPlan& d : decode) {
    const PipelineResult& pr = d.deployment.result;
    const std::string key = pr.config.deployment.name() + "/" + pr.attention_hw + "/" + pr.ffn_hw;
    if (std::find(seen.begin(), seen.end(), key) != seen.end()) continue;
    if (seen.size() >= deployments) break;
    seen.push_back(key);
    const bool colocated = pr.config.deployment.colocated();
    const Pool& a = pool_named(colocated ? space.colocated_chips : space.attention_chips, pr.attention_hw);
    const Pool& f = colocated ? a : pool_named(space.ffn_chips, pr.ffn_hw);
    const PipelineStepTimer step(m, a, f, pr.config);
    PrefillConfig pc = prefill_base;
    pc.deployment = pr.config.deployment;
    std::optional<ColocatedPlan> best;
    for (double per_group : {512.0, 1024.0, 2048.0, 4096.0}) {
      const double chunk = per_group * pr.config.deployment.attention_dp();
      TrafficConfig cfg = d.config;
      cfg.warmup_s = run.warmup_s;
      cfg.prefill_chunk_tokens = chunk;
      cfg.prefill_chunk_ms = colocated_chunk_ms(m, a, f, pc, mean_input, chunk);
      for (int replicas = d.replicas; replicas <= 3 * d.replicas + 2; ++replicas) {
        const double usd = replicas * cfg.usd_per_hour;
        if (best && usd >= best->usd_per_hour) break;
        if (max_gpus > 0 && replicas * pr.config.deployment.gpus() > max_gpus) break;
        if (traffic_runs) ++*traffic_runs;
        const TrafficSummary s = simulate_traffic(demand.replica_share(replicas), step, cfg).summary;
        if (!pd_sla_met(s, sla, p99_ttft_s)) continue;
        TrafficPlan tp = d;
        tp.replicas = replicas, tp.summary = s, tp.usd_per_hour = usd, tp.config = cfg;
        best = ColocatedPlan{tp, chunk, usd};
        break;
      }
    }
    if (best) out.push_back(*best);
  }
  std::stable_sort(out.begin(), out.end(), [](const ColocatedPlan& x, const ColocatedPlan& y) { return x.usd_per_hour < y.usd_per_hour; });
  if (out.size() > top) out.resize(top);
  return out;
}

Table colocated_plan_table(const std::vector<ColocatedPlan>& plans, double p99_ttft_s, double p99_tpot_ms) {
  Table t{"plan_colocated",
          fmt::format("The colocated alternative: chunked prefill in the decode steps, within p99 TTFT {} s and p99 TPOT {} ms", p99_ttft_s,
                      p99_tpot_ms),
          {}, {}, {}};
  t.columns = {{"rank", ""},           {"deployment", ""},       {"hardware", ""},          {"replicas", ""},
               {"gpus", ""},           {"chunk_tokens", "tokens"}, {"usd_per_hour", "USD/h"}, {"ttft_p50_ms", "ms"},
               {"ttft_p99_ms", "ms"},  {"tpot_p99_ms", "ms"},    {"queue_p99_s", "s"}};
  for (size_t i = 0; i < plans.size(); ++i) {
    const ColocatedPlan& p = plans[i];
    const PipelineResult& r = p.decode.deployment.result;
    t.add({double(i + 1), r.config.deployment.name(), chips(r.attention_hw, r.ffn_hw),
           double(p.decode.replicas), double(p.decode.replicas * r.config.deployment.gpus()), p.chunk_tokens, p.usd_per_hour,
           p.decode.summary.ttft_p50_ms, p.decode.summary.ttft_p99_ms, p.decode.summary.tpot_p99_ms, p.decode.summary.queue_p99_s});
  }
  t.notes.push_back("Each of the cheapest decode deployments with every step also prefilling up to chunk_tokens prompt tokens "
                    "(512 to 4096 per data-parallel group tried), at the fewest replicas meeting both SLAs; the chunk's cost is "
                    "added to the step (an upper bound, docs/prefill.md).");
  return t;
}

}  // namespace decodesim
