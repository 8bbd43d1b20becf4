// Prefill/decode disaggregation as a service: a prefill tier (deployment and replicas) feeding a
// decode tier, its P/D ratio, and the cheapest pair for a traffic under TTFT and TPOT SLAs
// (docs/prefill.md).
#pragma once
#include <string>
#include <vector>

#include "decodesim/prefill.hpp"
#include "decodesim/served_traffic.hpp"

namespace decodesim {

// One P/D service: both tiers, their GPUs, cost and loads.
struct PdRow {
  std::string model, prefill_deployment, prefill_hw, decode_deployment, decode_hw;
  int prefill_replicas = 0, decode_replicas = 0;
  int prefill_gpus = 0, decode_gpus = 0;  // all replicas
  double prefill_usd_per_hour = 0, decode_usd_per_hour = 0;
  double prefill_capacity_tokens_per_s = 0;  // input tokens/s of the tier, back to back at the mean prompt
  double offered_input_tokens_per_s = 0;
  TrafficSummary summary;  // one decode replica, with the tier's TTFT
};
// The row of a traffic run (one decode replica of `decode.replicas`), its prefill tier timed at the mean prompt.
PdRow pd_row(const TrafficRun& decode, const PrefillResult& prefill_at_mean, double offered_rate_per_s, double mean_input_tokens);
// P/D ratio table: GPUs of each tier, the ratio, each tier's load and the service's cost.
Table pd_ratio_table(const std::vector<PdRow>& rows);

// A prefill tier for a traffic: the fewest replicas of a deployment whose p99 TTFT meets the SLA.
struct PrefillTier {
  PrefillResult at_mean;  // simulate_prefill at the traffic's mean prompt
  int replicas = 0;
  TrafficSummary summary;  // TTFT figures of the tier alone
  double usd_per_hour = 0;
  int gpus() const { return replicas * at_mean.config.deployment.gpus(); }
};

// Prefill deployments searched: EP and TP on 1, 2, 4 GPUs and EP on whole nodes up to 32 (every
// expert once per replica or better), each on every prefill chip where its weights fit.
std::vector<Deployment> prefill_candidates(int gpus_per_node);

// The cheapest prefill tiers (each deployment at its fewest replicas meeting p99 TTFT, not
// overloaded), cheapest first.
std::vector<PrefillTier> plan_prefill(const Model& m, const std::vector<Pool>& chips, const PrefillConfig& base,
                                      const TrafficDemand& demand, double p99_ttft_s, double warmup_s, int gpus_per_node,
                                      long* simulations = nullptr);

struct PdPlan {
  PrefillTier prefill;
  TrafficPlan decode;
  double usd_per_hour = 0;
  int gpus = 0;
  TrafficSummary summary;  // one decode replica under P/D traffic (arrivals delayed by prefill and KV transfer)
};
// Whether a pair served together meets both SLAs, and neither tier's queue grows.
bool pd_sla_met(const TrafficSummary& s, const TrafficSla& sla, double p99_ttft_s);
// The cheapest pairs, at most `top`, with at most `max_gpus` GPUs in all (0: any). Pairs are served
// together (simulate_pd_traffic) cheapest first, and kept when they meet both SLAs that way; at most
// 4 x top + 4 are tried. `tried` gets how many. The KV moves at `prefill_base`'s NIC efficiency.
std::vector<PdPlan> plan_pd(const Model& m, const std::vector<PrefillTier>& prefill, const std::vector<TrafficPlan>& decode,
                            const SearchSpace& decode_space, const std::vector<Pool>& prefill_chips, const PrefillConfig& prefill_base,
                            const TrafficDemand& demand, const TrafficConfig& run, const TrafficSla& sla, double p99_ttft_s,
                            size_t top, int max_gpus, long* tried = nullptr);
Table pd_plan_table(const std::vector<PdPlan>& plans, const TrafficDemand& demand, const TrafficSla& sla, double p99_ttft_s);

// The colocated alternative: a decode deployment whose steps also carry prefill chunks.
struct ColocatedPlan {
  TrafficPlan decode;          // the deployment (at its decode batch limit) and, here, its replicas and summary
  double chunk_tokens = 0;     // prompt tokens per step, whole deployment
  double usd_per_hour = 0;
};
// For the first `deployments` distinct decode deployments of `decode` (cheapest first), the chunk
// (512 to 4096 tokens per data-parallel group) and the fewest replicas (from the decode plan's up to
// 3 x + 2) with which colocated prefill meets both SLAs, within `max_gpus` GPUs in all (0: any);
// cheapest first, at most `top`.
std::vector<ColocatedPlan> plan_colocated(const Model& m, const std::vector<TrafficPlan>& decode, const SearchSpace& space,
                                          const PrefillConfig& prefill_base, const TrafficDemand& demand, const TrafficConfig& run,
                                          const TrafficSla& sla, double p99_ttft_s, size_t deployments, size_t top, int max_gpus,
                                          long* traffic_runs = nullptr);
Table colocated_plan_table(const std::vector<ColocatedPlan>& plans, double p99_ttft_s, double p99_tpot_ms);

}  // namespace decodesim
