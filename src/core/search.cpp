#include "decodesim/search.hpp"

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <thread>
#include <cmath>
#include <map>

#include <fmt/format.h>

#include "decodesim/errors.hpp"
#include "decodesim/limits.hpp"

namespace decodesim {

namespace {

// The busiest resource's work per step: no schedule finishes a step faster, so a batch whose
// bound misses the SLA needs no simulation.
double busiest_ms(const Model& m, const LayerKinds& kinds, const Pool& a, const Pool& f, const PipelineConfig& c) {
  double attention = step_head_us(m, a, c), dispatch = 0, ffn = 0, combine = 0;
  for (const LayerKinds::Group& g : kinds.groups) {
    const StageTimes s = layer_stage_times(m, g.first_layer, a, f, c);
    const double count = g.layers;
    attention += count * s.attention_us, dispatch += count * s.dispatch_us;
    ffn += count * s.ffn_us, combine += count * s.combine_us;
  }
  const StageTimes draft = draft_pass_times(m, a, f, c);  // MTP: K passes per step
  const double K = c.mtp.draft_tokens;
  attention += K * draft.attention_us, dispatch += K * draft.dispatch_us, ffn += K * draft.ffn_us, combine += K * draft.combine_us;
  const double busiest = c.deployment.colocated() ? std::max(attention + ffn, dispatch + combine)
                                                                 : std::max({attention, dispatch, ffn, combine});
  return served_step_us(c.micro_batches * busiest, c.serving) * 1e-3;  // the stack's per-step time comes on top
}

// The bound per accepted token, which the SLA applies to (MTP: a step gains tokens_per_step).
double busiest_tpot_ms(const Model& m, const LayerKinds& kinds, const Pool& a, const Pool& f, const PipelineConfig& c) {
  return busiest_ms(m, kinds, a, f, c) / c.mtp.tokens_per_step();
}

}  // namespace

std::optional<Plan> largest_batch(const Model& m, const Pool& attention, const Pool& ffn, PipelineConfig c,
                                  SearchStats* stats) {
  const double per_k = double(c.deployment.attention_dp()) * c.micro_batches;  // requests per step of k
  auto with_k = [&](long k) {
    PipelineConfig x = c;
    x.batch = k * per_k;
    return x;
  };

  // Memory is linear in the batch: the weights, then one request's KV per request.
  const MemoryCheck one = memory_check(m, attention, ffn, with_k(1));
  if (!one.ffn_fits() || !one.attention_fits()) return std::nullopt;
  const double kv_per_k = one.attention_kv_bytes;
  const double free_bytes = one.attention_capacity_bytes - one.attention_weight_bytes;
  // A memory that would hold more requests than any SLA admits is searched up to the bound.
  const double k_fit = kv_per_k > 0 ? std::floor(free_bytes / kv_per_k * (1 + 1e-12)) : INFINITY;
  const long k_mem = static_cast<long>(std::min(k_fit, static_cast<double>(limits::kMaxRequestsPerGpu)));

  // The busiest-resource bound, monotone in k, narrows the range without simulating.
  const LayerKinds kinds = layer_kinds(m);
  auto bound_ok = [&](long k) { return busiest_tpot_ms(m, kinds, attention, ffn, with_k(k)) <= c.tpot_sla_ms; };
  if (!bound_ok(1)) return std::nullopt;
  long k_hi = k_mem;
  if (!bound_ok(k_hi)) {
    long lo = 1, hi = k_hi;  // bound_ok(lo), !bound_ok(hi)
    while (hi - lo > 1) {
      const long mid = lo + (hi - lo) / 2;
      (bound_ok(mid) ? lo : hi) = mid;
    }
    k_hi = lo;
  }

  std::map<long, PipelineResult> seen;
  auto run = [&](long k) -> const PipelineResult& {
    auto it = seen.find(k);
    if (it == seen.end()) {
      if (stats) ++stats->simulations;
      it = seen.emplace(k, simulate(m, attention, ffn, with_k(k))).first;
    }
    return it->second;
  };
  // The simulated TPOT sits close above the bound, so the answer is usually just below k_hi:
  // step down in growing strides, then bisect the last stride.
  long good = 0, bad = k_hi + 1;
  for (long stride = 1, k = k_hi; k >= 1; k = k_hi - stride, stride *= 2) {
    if (run(k).sla_met) {
      good = k;
      break;
    }
    bad = k;
  }
  if (good == 0) {
    if (bad > 1 && run(1).sla_met) good = 1;
    else return std::nullopt;
  }
  while (bad - good > 1) {
    const long mid = good + (bad - good) / 2;
    (run(mid).sla_met ? good : bad) = mid;
  }
  return Plan{run(good), good == k_mem ? "memory" : "sla"};
}

std::vector<Deployment> SearchSpace::colocated_deployments(const Model& m) const {
  std::vector<Deployment> out;
  if (colocated_chips.empty()) return out;
  auto colocated = [&](int gpus, int attention_tp, int ffn_tp) {
    Deployment d;
    d.kind = DeploymentKind::colocated;
    d.colocated_gpus = gpus, d.gpus_per_instance = gpus_per_instance;
    d.attention_tp = attention_tp, d.ffn_tp = ffn_tp;
    return d;
  };
  // TP over 1, 2, 4, ... GPUs of one node (across nodes a TP all-reduce would cross the NICs every layer).
  if (tp)
    for (int n = 1; n <= gpus_per_instance; n *= 2) out.push_back(colocated(n, n, n));
  // EP only where there are experts: for a dense model it is TP1 replicated.
  bool moe = false;
  for (const FfnSpec& f : m.ffn_types) moe = moe || f.kind == FfnKind::moe;
  if (ep && moe) {
    std::vector<int> sizes;
    for (int n = 2; n < gpus_per_instance; n *= 2) sizes.push_back(n);
    for (int i = 1; i <= max_ep_instances; ++i) sizes.push_back(i * gpus_per_instance);
    std::vector<int> tps = ep_attention_tps;
    if (tps.empty())
      for (int a = 1; a <= gpus_per_instance; a *= 2) tps.push_back(a);
    for (int n : sizes)
      for (int a : tps)
        if (a <= gpus_per_instance && n % a == 0 && a < n) out.push_back(colocated(n, a, 1));
  }
  return out;
}

std::vector<Deployment> SearchSpace::afd_deployments() const {
  std::vector<Deployment> out;
  if (attention_chips.empty() || ffn_chips.empty()) return out;
  for (int x = 1; x <= max_attention_instances; ++x)
    for (int y = 1; y <= max_ffn_instances; ++y) {
      Deployment d;
      d.attention_instances = x, d.ffn_instances = y, d.gpus_per_instance = gpus_per_instance;
      d.attention_tp = afd_attention_tp, d.ffn_tp = afd_ffn_tp;
      out.push_back(d);
    }
  return out;
}

bool SearchSpace::within_budget(const Deployment& d) const {
  if (exact_gpus > 0 && exact_gpus % d.gpus() != 0) return false;
  return max_gpus <= 0 || d.gpus() <= max_gpus;
}

long search_candidates(const SearchSpace& space, const Model& m) {
  long deployments = 0;
  for (const Deployment& d : space.afd_deployments()) deployments += space.within_budget(d) ? long(space.attention_chips.size() * space.ffn_chips.size()) : 0;
  for (const Deployment& d : space.colocated_deployments(m)) deployments += space.within_budget(d) ? long(space.colocated_chips.size()) : 0;
  return deployments * std::max(0, space.max_micro_batches - space.min_micro_batches + 1);
}

void check_search_size(const SearchSpace& space, const Model& m, size_t searches) {
  const double total = static_cast<double>(search_candidates(space, m)) * static_cast<double>(searches);
  if (total > static_cast<double>(limits::kMaxPlanCandidates))
    throw InputError(fmt::format("plan: {} search(es) of {} deployment candidates each is {:.0f}, more than the {} one plan may "
                                 "try: give fewer chips, contexts or models",
                                 searches, search_candidates(space, m), total, limits::kMaxPlanCandidates));
}

namespace {
// The larger throughput; ties to fewer micro-batches (fewer weight reads, less memory in flight).
bool more_tgs(const PipelineResult& a, const PipelineResult& b) {
  return a.tgs != b.tgs ? a.tgs > b.tgs : a.config.micro_batches < b.config.micro_batches;
}
}  // namespace

PipelineResult simulate_best_micro_batches(const Model& m, const Pool& attention, const Pool& ffn, PipelineConfig c, int lo, int hi) {
  std::optional<PipelineResult> best;
  for (int n = lo; n <= hi; ++n) {
    // A micro-batch holds at least one request of every data-parallel attention group.
    if (n > lo && c.batch < double(c.deployment.attention_dp()) * n) break;
    c.micro_batches = n;
    PipelineResult r = simulate(m, attention, ffn, c);
    const bool better = !best || (r.feasible() != best->feasible() ? r.feasible() : r.tpot_ms < best->tpot_ms);
    if (better) best = std::move(r);
  }
  return std::move(*best);
}

std::optional<Plan> largest_batch_best_micro_batches(const Model& m, const Pool& attention, const Pool& ffn, PipelineConfig c, int lo,
                                                     int hi, SearchStats* stats) {
  std::optional<Plan> best;
  for (int n = lo; n <= hi; ++n) {
    c.micro_batches = n;
    if (stats) ++stats->candidates;
    std::optional<Plan> p = largest_batch(m, attention, ffn, c, stats);
    if (p && (!best || more_tgs(p->result, best->result))) best = std::move(p);
  }
  return best;
}

std::vector<Plan> search_deployments(const Model& m, const SearchSpace& space, const PipelineConfig& base, RankBy rank,
                                     SearchStats* stats) {
  struct Candidate {
    const Pool* attention;
    const Pool* ffn;
    PipelineConfig config;
  };
  check_search_size(space, m, 1);
  std::vector<Candidate> candidates;
  auto consider = [&](const Pool& a, const Pool& f, const Deployment& d) {
    if (!space.within_budget(d)) return;
    PipelineConfig c = base;
    c.deployment = d;
    candidates.push_back({&a, &f, c});
  };
  for (const Deployment& d : space.afd_deployments())
    for (const Pool& a : space.attention_chips)
      for (const Pool& f : space.ffn_chips) consider(a, f, d);
  for (const Deployment& d : space.colocated_deployments(m))
    for (const Pool& e : space.colocated_chips) consider(e, e, d);

  // Candidates are independent; each thread fills its own slots so the result does not depend
  // on the interleaving.
  std::vector<std::optional<Plan>> found(candidates.size());
  std::vector<SearchStats> per_thread(std::clamp<unsigned>(std::thread::hardware_concurrency(), 1, 16));
  std::atomic<size_t> next{0};
  auto work = [&](SearchStats& st) {
    for (size_t i; (i = next++) < candidates.size();) {
      const Candidate& c = candidates[i];
      found[i] = largest_batch_best_micro_batches(m, *c.attention, *c.ffn, c.config, space.min_micro_batches,
                                                  space.max_micro_batches, &st);
      if (found[i]) found[i]->replicas = space.replicas(c.config.deployment);
    }
  };
  std::vector<std::thread> threads;
  std::exception_ptr failure;
  std::mutex failure_lock;
  for (SearchStats& st : per_thread)
    threads.emplace_back([&, ptr = &st] {
      try {
        work(*ptr);
      } catch (...) {
        std::lock_guard<std::mutex> lock(failure_lock);
        if (!failure) failure = std::current_exception();
        next = candidates.size();
      }
    });
  for (std::thread& t : threads) t.join();
  if (failure) std::rethrow_exception(failure);

  std::vector<Plan> plans;
  for (std::optional<Plan>& p : found)
    if (p) plans.push_back(std::move(*p));
  if (stats)
    for (const SearchStats& st : per_thread) stats->candidates += st.candidates, stats->simulations += st.simulations;

  auto key = [&](const Plan& p) { return rank == RankBy::tgs ? -p.result.tgs : p.result.usd_per_mtok; };
  std::stable_sort(plans.begin(), plans.end(), [&](const Plan& a, const Plan& b) {
    if (key(a) != key(b)) return key(a) < key(b);
    return a.result.config.deployment.gpus() < b.result.config.deployment.gpus();
  });
  return plans;
}

Table search_table(const std::vector<Plan>& plans, size_t top, RankBy rank) {
  const PipelineConfig* c = plans.empty() ? nullptr : &plans.front().result.config;
  Table t{"plan",
          c ? fmt::format("Deployments of {} at {:.0f} tokens of context, TPOT SLA {} ms, ranked by {} ({} timing)",
                          plans.front().result.model, c->context_tokens, c->tpot_sla_ms,
                          rank == RankBy::tgs ? "tokens per GPU per second" : "USD per 1M tokens", plans.front().result.timing)
            : std::string("No deployment meets the SLA and memory with one request per attention group per micro-batch"),
          {}, {}, {}};
  t.columns = {{"rank", ""},          {"deployment", ""},         {"attention_hardware", ""}, {"ffn_hardware", ""},
               {"gpus", ""},          {"gpus_per_instance", ""},  {"attention_tp", ""},       {"attention_dp", ""},
               {"ffn_tp", ""},        {"expert_parallel", ""},    {"replicas", ""},           {"total_gpus", ""},
               {"micro_batches", ""}, {"batch", "requests"},
               {"requests_per_gpu_mb", "requests"},               {"tpot_ms", "ms"},          {"tgs", "tok/GPU/s"},
               {"usd_per_mtok", "USD/1M tok"},                    {"bottleneck", ""},         {"bottleneck_util", ""},
               {"limited_by", ""},                                {"timing", ""},             {"tokens_per_step", "tok"}};
  for (size_t i = 0; i < plans.size() && i < top; ++i) {
    const PipelineResult& r = plans[i].result;
    const ResourceUse* busiest = &r.resources.front();
    for (const ResourceUse& u : r.resources)
      if (u.utilisation > busiest->utilisation) busiest = &u;
    const Deployment& d = r.config.deployment;
    t.add({double(i + 1), d.name(), r.attention_hw, r.ffn_hw, double(d.gpus()), double(d.gpus_per_instance), double(d.attention_tp),
           double(d.attention_dp()), double(d.ffn_tp), double(d.expert_parallel()), double(plans[i].replicas),
           double(plans[i].replicas * d.gpus()), double(r.config.micro_batches), r.config.batch, r.requests_per_gpu_micro_batch, r.tpot_ms, r.tgs, r.usd_per_mtok,
           busiest->name, busiest->utilisation, plans[i].limited_by, r.timing, r.tokens_per_step});
  }
  if (plans.size() > top) t.notes.push_back(fmt::format("{} of {} feasible deployments shown.", top, plans.size()));
  if (c && c->mtp.draft_tokens > 0)
    t.notes.push_back(fmt::format("MTP: {} draft token(s) per step, {:.4g} tokens gained per step; tpot_ms is per accepted token "
                                  "(step / tokens_per_step) and the SLA applies to it.",
                                  c->mtp.draft_tokens, c->mtp.tokens_per_step()));
  t.notes.push_back("Each deployment at its largest batch (whole requests per attention data-parallel group per micro-batch) "
                    "inside the SLA and memory, in the micro-batch count of most tokens per GPU per second.");
  return t;
}

}  // namespace decodesim
