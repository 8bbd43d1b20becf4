// Traffic on a served deployment: the event pipeline as the traffic engine's step timer, its
// memory as the KV budget, and the cheapest deployment and replica count for a traffic and SLA.
// Uses only simulate(), memory_check(), largest_batch(), search_deployments() and their results.
#pragma once
#include <cstdint>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "decodesim/pipeline.hpp"
#include "decodesim/search.hpp"
#include "decodesim/traffic.hpp"

namespace decodesim {

// simulate()'s TPOT at (batch, mean context), cached on a grid and interpolated bilinearly.
// Grid lines on both axes: every integer up to 32, then geometric 1/32 (3.1%) apart. Nodes
// are simulated on first use; not thread-safe, so one timer per thread.
class PipelineStepTimer final : public StepTimer {
 public:
  // c.batch and c.context_tokens are set per node; the rest of c is kept.
  PipelineStepTimer(const Model& m, const Pool& attention, const Pool& ffn, const PipelineConfig& c);
  double step_ms(double batch_requests, double mean_context_tokens) const override;
  double simulate_ms(double batch_requests, double mean_context_tokens) const;  // simulate(), uncached
  long simulations() const { return simulations_; }
  long cells_used() const { return static_cast<long>(cells_.size()); }
  // The worst relative difference between step_ms and simulate_ms at the centre of each grid
  // cell used so far, where bilinear interpolation strays furthest (below 32 requests, at the
  // cell's whole batch, since batches are whole); one simulation per cell.
  double max_cell_error() const;
  static double grid_line(long index);
  static long grid_index(double value);  // the grid line at or below value (values below 1 count as 1)

 private:
  double node_ms(long i, long j) const;
  Model model_;
  Pool attention_, ffn_;
  PipelineConfig config_;
  mutable std::unordered_map<std::uint64_t, double> nodes_;
  mutable std::unordered_set<std::uint64_t> cells_;
  mutable long simulations_ = 0;
  mutable long last_i_ = -1, last_j_ = -1;
  mutable double last_[4] = {0, 0, 0, 0};  // the last cell's corners: (i,j) (i+1,j) (i,j+1) (i+1,j+1)
};

// What a deployment offers the engine: `run` (duration, warm-up, admission, sampling) with the
// KV model, KV capacity, GPUs and price filled in from memory_check() and simulate(), and the
// batch limit: max_batch when positive, else the largest batch meeting the SLA and memory at
// batch_context tokens (largest_batch()). Throws InputError when the weights do not fit or no
// batch meets the SLA.
struct ServedTraffic {
  TrafficConfig config;
  std::string batch_limited_by;  // "sla", "memory" or "given"
};
ServedTraffic served_traffic(const Model& m, const Pool& attention, const Pool& ffn, const PipelineConfig& c,
                             double batch_context, double max_batch, TrafficConfig run);

// The most decode steps a traffic run of `duration_s` can take on this deployment: the duration
// over its fastest step (batch 1, context 1; one simulation, not through a timer's grid).
double traffic_steps_bound(const Model& m, const Pool& attention, const Pool& ffn, const PipelineConfig& c, double duration_s);
// InputError naming --duration when that bound passes limits::kMaxTrafficSteps.
void check_traffic_steps(double steps_bound, double duration_s);

// One traffic run on one deployment, described for the summary table.
struct TrafficRun {
  std::string model, deployment, attention_hw, ffn_hw, batch_limited_by;
  std::string timing;  // timing_name() of the pools
  int micro_batches = 0, replicas = 1;
  double tpot_sla_ms = 0;
  TrafficConfig config;
  TrafficSummary summary;
  // Prefill: "" (requests arrive prefilled), "colocated" (chunks in the decode steps) or the P/D
  // prefill tier's deployment, its chip and replicas.
  std::string prefill = "", prefill_hw = "";
  int prefill_replicas = 0;
};
Table traffic_table(const std::vector<TrafficRun>& runs);

// ---- Capacity planning for a traffic --------------------------------------------------------

struct TrafficDemand {
  double rate_per_s = 0;       // Poisson arrivals; when 0, `trace` is served
  std::vector<Request> trace;  // split round-robin over the replicas
  LengthDist input, output;
  double duration_s = 600;
  std::uint64_t seed = 1;
  std::vector<Request> replica_share(int replicas) const;  // what one of `replicas` replicas receives
  double offered_rate_per_s() const;
};

struct TrafficSla {
  double p99_tpot_ms = 50;
  double p99_queue_s = 0;  // 0: no limit on queueing
  bool met_by(const TrafficSummary& s) const;  // and not overloaded, nothing rejected
};

struct TrafficPlan {
  Plan deployment;  // at its largest batch inside the step SLA, at the traffic's batch context
  int replicas = 0;
  TrafficConfig config;
  TrafficSummary summary;  // of one replica
  double usd_per_hour = 0;  // all replicas
};

struct TrafficPlanStats {
  SearchStats search;
  long evaluated = 0;     // deployments put under traffic
  long traffic_runs = 0;  // traffic simulations
};

// The cheapest deployments (USD per hour, all replicas) whose replicas each meet `sla` under
// their share of the demand, best first, at most `top`. Candidates come from
// search_deployments() at the demand's batch context; each needs at least
// ceil(0.95 * demand tokens/s / its steady-state tokens/s) replicas, a lower bound that orders
// them and stops the search once it exceeds the top-th cost found.
std::vector<TrafficPlan> plan_traffic(const Model& m, const SearchSpace& space, const PipelineConfig& base,
                                      const TrafficDemand& demand, const TrafficSla& sla, const TrafficConfig& run,
                                      size_t top, TrafficPlanStats* stats = nullptr);
Table traffic_plan_table(const std::vector<TrafficPlan>& plans, const TrafficDemand& demand, const TrafficSla& sla);

}  // namespace decodesim
