#include "decodesim/served_traffic.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <exception>
#include <limits>
#include <mutex>
#include <optional>
#include <thread>

#include <fmt/format.h>

#include "decodesim/errors.hpp"
#include "decodesim/limits.hpp"

namespace decodesim {

// ---- The pipeline as a step timer ------------------------------------------------------------

namespace {
// Up to here every integer is a grid line (small batches change the step most, relatively).
constexpr long kLinearLines = 32;
// Beyond, lines are 1/32 apart geometrically: the interpolation error this leaves is measured
// by max_cell_error() on every run and held under 2% against simulate() by the tests.
constexpr double kRatio = 1.0 + 1.0 / kLinearLines;

std::uint64_t cell_key(long i, long j) { return (std::uint64_t(i) << 32) | std::uint64_t(j); }
}  // namespace

PipelineStepTimer::PipelineStepTimer(const Model& m, const Pool& attention, const Pool& ffn, const PipelineConfig& c)
    : model_(m), attention_(attention), ffn_(ffn), config_(c) {}

double PipelineStepTimer::grid_line(long index) {
  if (index <= kLinearLines) return double(std::max(index, 1L));
  return double(kLinearLines) * std::pow(kRatio, double(index - kLinearLines));
}

long PipelineStepTimer::grid_index(double value) {
  value = std::max(value, 1.0);
  long i = value < kLinearLines ? static_cast<long>(value)
                                : kLinearLines + static_cast<long>(std::log(value / kLinearLines) / std::log(kRatio));
  // The logarithm may land one line off at a boundary.
  while (grid_line(i + 1) <= value) ++i;
  while (i > 1 && grid_line(i) > value) --i;
  return i;
}

double PipelineStepTimer::simulate_ms(double batch_requests, double mean_context_tokens) const {
  PipelineConfig x = config_;
  x.batch = batch_requests;
  x.context_tokens = mean_context_tokens;
  ++simulations_;
  return simulate(model_, attention_, ffn_, x).tpot_ms;
}

double PipelineStepTimer::node_ms(long i, long j) const {
  const auto [it, added] = nodes_.try_emplace(cell_key(i, j), 0.0);
  if (added) it->second = simulate_ms(grid_line(i), grid_line(j));
  return it->second;
}

double PipelineStepTimer::step_ms(double batch_requests, double mean_context_tokens) const {
  const double b = std::max(batch_requests, 1.0), ctx = std::max(mean_context_tokens, 1.0);
  const bool same_cell = last_i_ > 0 && b >= grid_line(last_i_) && b < grid_line(last_i_ + 1) &&
                         ctx >= grid_line(last_j_) && ctx < grid_line(last_j_ + 1);
  if (!same_cell) {
    const long i = grid_index(b), j = grid_index(ctx);
    last_[0] = node_ms(i, j), last_[1] = node_ms(i + 1, j);
    last_[2] = node_ms(i, j + 1), last_[3] = node_ms(i + 1, j + 1);
    last_i_ = i, last_j_ = j;
    cells_.insert(cell_key(i, j));
  }
  const double b0 = grid_line(last_i_), c0 = grid_line(last_j_);
  const double u = (b - b0) / (grid_line(last_i_ + 1) - b0), v = (ctx - c0) / (grid_line(last_j_ + 1) - c0);
  return (1 - v) * ((1 - u) * last_[0] + u * last_[1]) + v * ((1 - u) * last_[2] + u * last_[3]);
}

double PipelineStepTimer::max_cell_error() const {
  double worst = 0;
  for (std::uint64_t key : cells_) {
    const long i = static_cast<long>(key >> 32), j = static_cast<long>(key & 0xffffffffu);
    // Batches are whole requests, so below kLinearLines they sit on grid lines: only the context is interpolated.
    const double u = i < kLinearLines ? 0.0 : 0.5;
    const double b = grid_line(i) + u * (grid_line(i + 1) - grid_line(i)), ctx = (grid_line(j) + grid_line(j + 1)) / 2;
    const double interpolated =
        ((1 - u) * (node_ms(i, j) + node_ms(i, j + 1)) + u * (node_ms(i + 1, j) + node_ms(i + 1, j + 1))) / 2;
    const double direct = simulate_ms(b, ctx);
    worst = std::max(worst, std::abs(interpolated - direct) / direct);
  }
  return worst;
}

// ---- A deployment's offer to the engine -----------------------------------------------------

ServedTraffic served_traffic(const Model& m, const Pool& attention, const Pool& ffn, const PipelineConfig& c,
                             double batch_context, double max_batch, TrafficConfig run) {
  const Deployment& d = c.deployment;
  // KV grows linearly with the context once it passes every sliding window or chunk; below
  // that, windowed layers are counted at their full window (an upper bound).
  long window = 1;
  for (const AttentionSpec& a : m.attention_types)
    if (a.scope != AttentionScope::global) window = std::max(window, a.window_tokens);
  PipelineConfig one = c;
  one.batch = d.attention_gpus();  // one request per attention GPU: memory_check's KV is one request's
  auto memory_at = [&](double context) {
    one.context_tokens = context;
    return memory_check(m, attention, ffn, one);
  };
  const MemoryCheck near = memory_at(double(window)), far = memory_at(2.0 * double(window));
  run.kv_bytes_per_token = (far.attention_kv_bytes - near.attention_kv_bytes) / double(window);
  run.kv_fixed_bytes = std::max(0.0, near.attention_kv_bytes - run.kv_bytes_per_token * double(window));
  const double room = near.attention_capacity_bytes - near.attention_weight_bytes;
  if (!near.ffn_fits() || !(room > 0))
    throw InputError(fmt::format("{} on {}: the weights leave no memory for the KV cache", d.name(), attention.hw.id));
  run.kv_request_limit_bytes = room;
  run.kv_capacity_bytes = room * d.attention_gpus();
  run.gpus = d.gpus();

  ServedTraffic out;
  PipelineConfig at = c;
  at.context_tokens = batch_context;
  PipelineResult priced;
  if (max_batch > 0) {
    at.batch = max_batch;
    priced = simulate(m, attention, ffn, at);
    out.batch_limited_by = "given";
  } else if (std::optional<Plan> plan = largest_batch(m, attention, ffn, at)) {
    priced = std::move(plan->result);
    out.batch_limited_by = plan->limited_by;
  } else {
    throw InputError(fmt::format("{}: not even one request per attention GPU per micro-batch meets the {} ms SLA and memory at "
                                 "{:.0f} tokens of context; give --max-batch",
                                 d.name(), c.tpot_sla_ms, batch_context));
  }
  run.max_batch = priced.config.batch;
  run.usd_per_hour = priced.usd_per_mtok * priced.tokens_per_s * 1e-6 * 3600;
  out.config = run;
  return out;
}

namespace {
std::string yes_no(bool b) { return b ? "yes" : "no"; }
}  // namespace

Table traffic_table(const std::vector<TrafficRun>& runs) {
  Table t{"traffic", "Served traffic, continuous batching on the event pipeline (one replica; measured after the warm-up)", {}, {}, {}};
  t.columns = {{"model", ""},
               {"deployment", ""},
               {"attention_hardware", ""},
               {"ffn_hardware", ""},
               {"micro_batches", ""},
               {"replicas", ""},
               {"rate_per_s", "req/s"},
               {"admission", ""},
               {"max_batch", "requests"},
               {"requests", ""},
               {"completed", ""},
               {"tokens_per_s", "tok/s"},
               {"tgs", "tok/GPU/s"},
               {"usd_per_mtok", "USD/1M tok"},
               {"tpot_p50_ms", "ms"},
               {"tpot_p90_ms", "ms"},
               {"tpot_p99_ms", "ms"},
               {"queue_p50_s", "s"},
               {"queue_p99_s", "s"},
               {"batch_mean", "requests"},
               {"batch_max", "requests"},
               {"kv_peak_bytes", "B"},
               {"overloaded", ""},
               {"tpot_sla_ms", "ms"},
               {"sla_met", ""},
               {"step_p50_ms", "ms"},
               {"step_p99_ms", "ms"},
               {"queue_mean", "requests"},
               {"context_mean", "tokens"},
               {"kv_capacity_bytes", "B"},
               {"rejected", ""},
               {"preemptions", ""},
               {"steps", ""},
               {"gpus", ""},
               {"timing", ""},
               {"prefill", ""},
               {"prefill_hardware", ""},
               {"prefill_replicas", ""},
               {"ttft_p50_ms", "ms"},
               {"ttft_p90_ms", "ms"},
               {"ttft_p99_ms", "ms"},
               {"prefill_tokens_per_s", "tok/s"},
               {"kv_transfer_mean_ms", "ms"},
               {"prefill_overloaded", ""}};
  for (const TrafficRun& r : runs) {
    const TrafficSummary& s = r.summary;
    const TrafficConfig& c = r.config;
    t.add({r.model, r.deployment, r.attention_hw, r.ffn_hw, double(r.micro_batches), double(r.replicas),
           double(s.requests) / c.duration_s, c.admission == Admission::reserve ? "reserve" : "grow", c.max_batch,
           double(s.requests), double(s.completed), s.tokens_per_s, s.tgs, s.usd_per_mtok, s.tpot_p50_ms, s.tpot_p90_ms,
           s.tpot_p99_ms, s.queue_p50_s, s.queue_p99_s, s.batch_mean, s.batch_max, s.kv_peak_bytes, yes_no(s.overloaded),
           r.tpot_sla_ms, yes_no(TrafficSla{r.tpot_sla_ms, 0}.met_by(s)), s.step_p50_ms, s.step_p99_ms, s.queue_mean,
           s.context_mean, c.kv_capacity_bytes, double(s.rejected), double(s.preemptions), double(s.steps), double(c.gpus),
           r.timing, r.prefill.empty() ? "none" : r.prefill, r.prefill_hw.empty() ? "-" : r.prefill_hw, double(r.prefill_replicas),
           s.ttft_p50_ms, s.ttft_p90_ms, s.ttft_p99_ms, s.prefill_tokens_per_s, s.kv_transfer_mean_ms,
           r.prefill.empty() ? "-" : yes_no(s.prefill_overloaded)});
    t.notes.push_back(fmt::format("{} {}: measured over {:.4g} s after a {:.4g} s warm-up; batch limit {:.0f} ({}){}.", r.model,
                                  r.deployment, s.measured_s, c.warmup_s, c.max_batch,
                                  r.batch_limited_by == "given" ? "--max-batch" : "largest batch limited by " + r.batch_limited_by,
                                  r.replicas > 1 ? fmt::format("; one of {} replicas, each taking 1/{} of the traffic", r.replicas, r.replicas)
                                                 : ""));
    if (std::isnan(s.tpot_p50_ms))
      t.notes.push_back(fmt::format("{} {}: no request that arrived after the warm-up finished by the end, so TPOT is nan: give a "
                                    "longer --duration or a shorter --warmup-s.",
                                    r.model, r.deployment));
  }
  t.notes.push_back("TPOT per request: (last token - first decode step) / output tokens; step_*: per token, the step that made it. "
                    "Overloaded: the queue grew over the second half beyond 3 sqrt(N) + 0.5% of its N arrivals.");
  return t;
}

// ---- Capacity planning -----------------------------------------------------------------------

double traffic_steps_bound(const Model& m, const Pool& attention, const Pool& ffn, const PipelineConfig& c, double duration_s) {
  PipelineConfig fastest = c;
  fastest.batch = 1, fastest.micro_batches = 1, fastest.context_tokens = 1;  // one request: the fastest step
  const double ms = simulate(m, attention, ffn, fastest).tpot_ms;
  return ms > 0 ? duration_s / (ms * 1e-3) : std::numeric_limits<double>::infinity();
}

void check_traffic_steps(double steps_bound, double duration_s) {
  if (!(steps_bound <= limits::kMaxTrafficSteps))
    throw InputError(fmt::format("--duration: {} s may take up to {:.3g} decode steps at this deployment's fastest step, more than "
                                 "the {:.0e} one traffic run may take; shorten --duration",
                                 duration_s, steps_bound, limits::kMaxTrafficSteps));
}

std::vector<Request> TrafficDemand::replica_share(int replicas) const {
  if (rate_per_s > 0) return poisson_requests(rate_per_s / replicas, duration_s, input, output, seed);
  return round_robin_share(trace, replicas);
}

double TrafficDemand::offered_rate_per_s() const {
  if (rate_per_s > 0) return rate_per_s;
  long arrived = 0;
  for (const Request& r : trace) arrived += r.arrival_s <= duration_s;
  return double(arrived) / duration_s;
}

bool TrafficSla::met_by(const TrafficSummary& s) const {
  return s.tpot_p99_ms <= p99_tpot_ms && !s.overloaded && s.rejected == 0 && (p99_queue_s <= 0 || s.queue_p99_s <= p99_queue_s);
}

namespace {

const Pool& pool_named(const std::vector<Pool>& pools, const std::string& id) {
  for (const Pool& p : pools)
    if (p.hw.id == id) return p;
  throw std::logic_error("plan_traffic: no pool for chip " + id);
}

double usd_per_hour(const PipelineResult& r) { return r.usd_per_mtok * r.tokens_per_s * 1e-6 * 3600; }

}  // namespace

std::vector<TrafficPlan> plan_traffic(const Model& m, const SearchSpace& space, const PipelineConfig& base,
                                      const TrafficDemand& demand, const TrafficSla& sla, const TrafficConfig& run,
                                      size_t top, TrafficPlanStats* stats) {
  const std::vector<Request> all = demand.replica_share(1);
  if (all.empty()) throw InputError("plan: the traffic brings no requests within the duration");
  PipelineConfig at = base;
  at.context_tokens = batch_mean_context(all);
  TrafficPlanStats local;
  TrafficPlanStats& st = stats ? *stats : local;
  const std::vector<Plan> plans = search_deployments(m, space, at, RankBy::usd_per_mtok, &st.search);
  const double demand_tokens_per_s = demand.offered_rate_per_s() * mean_output_tokens(all);

  // A replica never serves more than its full batch at the SLA does in steady state; 5% slack
  // covers context spread and interpolation, so fewer replicas than this are overloaded.
  struct Candidate {
    size_t plan;
    int min_replicas;
    double bound_usd_per_hour;
  };
  std::vector<Candidate> candidates;
  double fewest_replicas = std::numeric_limits<double>::infinity();
  for (size_t i = 0; i < plans.size(); ++i) {
    const PipelineResult& r = plans[i].result;
    // As a double first: a demand far beyond a deployment asks for more replicas than an int holds.
    const double needed = std::max(1.0, std::ceil(0.95 * demand_tokens_per_s / r.tokens_per_s));
    fewest_replicas = std::min(fewest_replicas, needed);
    if (!(needed <= double(limits::kReplicas.hi))) continue;  // not a deployment for this demand
    const int min_replicas = static_cast<int>(needed);
    candidates.push_back({i, min_replicas, min_replicas * usd_per_hour(r)});
  }
  if (candidates.empty() && !plans.empty())
    throw InputError(fmt::format("--rate: the demand ({:.4g} tokens/s) needs at least {:.4g} replicas of every deployment searched, "
                                 "more than the {} a plan tries",
                                 demand_tokens_per_s, fewest_replicas, limits::kReplicas.hi));
  auto gpus_of = [&](size_t plan, int replicas) { return (long long)replicas * plans[plan].result.config.deployment.gpus(); };
  // Every traffic run's steps are bounded before it starts, and so is the plan's work in all.
  std::atomic<double> work_total{0};
  std::stable_sort(candidates.begin(), candidates.end(), [&](const Candidate& a, const Candidate& b) {
    if (a.bound_usd_per_hour != b.bound_usd_per_hour) return a.bound_usd_per_hour < b.bound_usd_per_hour;
    return gpus_of(a.plan, a.min_replicas) < gpus_of(b.plan, b.min_replicas);
  });

  auto evaluate = [&](const Candidate& cand, long& runs) -> std::optional<TrafficPlan> {
    const Plan& p = plans[cand.plan];
    const PipelineConfig& c = p.result.config;
    const bool colocated = c.deployment.colocated();
    const Pool& a = pool_named(colocated ? space.colocated_chips : space.attention_chips, p.result.attention_hw);
    const Pool& f = colocated ? a : pool_named(space.ffn_chips, p.result.ffn_hw);
    const ServedTraffic served = served_traffic(m, a, f, c, at.context_tokens, c.batch, run);
    const PipelineStepTimer timer(m, a, f, c);
    const double steps_per_run = traffic_steps_bound(m, a, f, c, run.duration_s);
    check_traffic_steps(steps_per_run, run.duration_s);
    auto serves = [&](int replicas) -> std::optional<TrafficPlan> {
      const double work = steps_per_run + double(all.size()) / replicas;
      double total = work_total.load();
      while (!work_total.compare_exchange_weak(total, total + work)) {
      }
      if (total + work > limits::kMaxPlanTrafficWork)
        throw InputError(fmt::format("--duration: the plan's traffic runs of {} s may take more than {:.0e} decode steps and "
                                     "requests in all (up to {:.3g} steps and {:.3g} requests a run on {}); shorten --duration or "
                                     "narrow the search",
                                     run.duration_s, limits::kMaxPlanTrafficWork, steps_per_run, double(all.size()) / replicas,
                                     c.deployment.name()));
      ++runs;
      const TrafficResult r = simulate_traffic(demand.replica_share(replicas), timer, served.config);
      if (!sla.met_by(r.summary)) return std::nullopt;
      return TrafficPlan{p, replicas, served.config, r.summary, replicas * usd_per_hour(p.result)};
    };
    // Each replica more takes load off the rest; past twice the bound the deployment is not the
    // answer. Counts go up from the bound by 1, 2, 4, ... and, once one meets the SLA, are halved
    // back to the fewest that does: the counts a one-by-one scan would try when the bound or the
    // next one serves (the usual case), a few dozen runs rather than hundreds when a demand needs
    // hundreds of replicas.
    const int most = std::min(2 * cand.min_replicas + 2, int(limits::kReplicas.hi));
    std::optional<TrafficPlan> met;
    int fails = cand.min_replicas - 1;  // the most replicas known (or, below the bound, taken) to fail
    for (int replicas = cand.min_replicas, step = 1; !met && fails < most; step *= 2) {
      met = serves(replicas);
      if (!met) fails = replicas, replicas = std::min(replicas + step, most);
    }
    while (met && met->replicas - fails > 1) {
      const int mid = fails + (met->replicas - fails) / 2;
      if (std::optional<TrafficPlan> fewer = serves(mid)) met = std::move(fewer);
      else fails = mid;
    }
    return met;
  };

  // Candidates go in waves of one per thread, cheapest bound first, until the next bound is
  // above the top-th cost found. Only candidates that cannot make the top are skipped, so the
  // answer does not depend on the number of threads.
  struct Found {
    TrafficPlan plan;
    size_t order;
  };
  std::vector<Found> found;
  auto better = [&](const Found& x, const Found& y) {
    if (x.plan.usd_per_hour != y.plan.usd_per_hour) return x.plan.usd_per_hour < y.plan.usd_per_hour;
    const long long gx = (long long)x.plan.replicas * x.plan.deployment.result.config.deployment.gpus();
    const long long gy = (long long)y.plan.replicas * y.plan.deployment.result.config.deployment.gpus();
    return gx != gy ? gx < gy : x.order < y.order;
  };
  auto kth_cost = [&] { return found.size() < top ? std::numeric_limits<double>::infinity() : found[top - 1].plan.usd_per_hour; };
  const size_t threads = std::clamp<size_t>(std::thread::hardware_concurrency(), 1, 16);
  size_t next = 0;
  while (next < candidates.size() && top > 0 && candidates[next].bound_usd_per_hour <= kth_cost()) {
    size_t wave_end = next;
    while (wave_end < candidates.size() && wave_end - next < threads && candidates[wave_end].bound_usd_per_hour <= kth_cost())
      ++wave_end;
    std::vector<std::optional<TrafficPlan>> results(wave_end - next);
    std::vector<long> runs(wave_end - next, 0);
    std::exception_ptr failure;
    std::mutex failure_lock;
    std::vector<std::thread> pool;
    for (size_t w = 0; w < results.size(); ++w)
      pool.emplace_back([&, w] {
        try {
          results[w] = evaluate(candidates[next + w], runs[w]);
        } catch (...) {
          std::lock_guard<std::mutex> lock(failure_lock);
          if (!failure) failure = std::current_exception();
        }
      });
    for (std::thread& th : pool) th.join();
    if (failure) std::rethrow_exception(failure);
    for (size_t w = 0; w < results.size(); ++w) {
      ++st.evaluated, st.traffic_runs += runs[w];
      if (results[w]) found.push_back({std::move(*results[w]), next + w});
    }
    std::sort(found.begin(), found.end(), better);
    if (found.size() > top) found.resize(top);
    next = wave_end;
  }
  std::vector<TrafficPlan> out;
  for (Found& f : found) out.push_back(std::move(f.plan));
  return out;
}

Table traffic_plan_table(const std::vector<TrafficPlan>& plans, const TrafficDemand& demand, const TrafficSla& sla) {
  const std::string traffic =
      demand.rate_per_s > 0 ? fmt::format("{} requests/s (Poisson; input {}, output {})", demand.rate_per_s, demand.input.text(),
                                          demand.output.text())
                            : fmt::format("a trace of {:.4g} requests/s", demand.offered_rate_per_s());
  Table t{"plan_traffic",
          plans.empty() ? fmt::format("No deployment serves {} within p99 TPOT {} ms", traffic, sla.p99_tpot_ms)
                        : fmt::format("Cheapest deployments of {} for {} within p99 TPOT {} ms, by USD per hour",
                                      plans.front().deployment.result.model, traffic, sla.p99_tpot_ms),
          {}, {}, {}};
  t.columns = {{"rank", ""},          {"deployment", ""},       {"attention_hardware", ""}, {"ffn_hardware", ""},
               {"micro_batches", ""}, {"max_batch", "requests"}, {"replicas", ""},          {"gpus", ""},
               {"usd_per_hour", "USD/h"}, {"usd_per_mtok", "USD/1M tok"}, {"tokens_per_s", "tok/s"}, {"tgs", "tok/GPU/s"},
               {"tpot_p99_ms", "ms"}, {"queue_p99_s", "s"},     {"batch_mean", "requests"}, {"limited_by", ""},
               {"timing", ""}};
  for (size_t i = 0; i < plans.size(); ++i) {
    const TrafficPlan& p = plans[i];
    const PipelineResult& r = p.deployment.result;
    const double tokens_per_s = p.replicas * p.summary.tokens_per_s;
    t.add({double(i + 1), r.config.deployment.name(), r.attention_hw, r.ffn_hw, double(r.config.micro_batches), r.config.batch,
           double(p.replicas), double(p.replicas * r.config.deployment.gpus()), p.usd_per_hour,
           p.usd_per_hour / 3600 / tokens_per_s * 1e6, tokens_per_s, p.summary.tgs, p.summary.tpot_p99_ms,
           p.summary.queue_p99_s, p.summary.batch_mean, p.deployment.limited_by, r.timing});
  }
  t.notes.push_back("Each replica: the deployment at its largest batch inside the step SLA and memory, serving 1/replicas of the "
                    "traffic; tpot, queue and batch are one replica's, measured after the warm-up.");
  if (sla.p99_queue_s > 0) t.notes.push_back(fmt::format("Also required: p99 queueing at most {} s.", sla.p99_queue_s));
  return t;
}

}  // namespace decodesim
