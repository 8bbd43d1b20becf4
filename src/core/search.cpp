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
  const double busiest = c.deployment.kind == DeploymentKind::ep ? std::max(attention + ffn, dispatch + combine)
                                                                 : std::max({attention, dispatch, ffn, combine});
  return c.micro_batches * busiest * 1e-3;
}

}  // namespace

std::optional<Plan> largest_batch(const Model& m, const Pool& attention, const Pool& ffn, PipelineConfig c,
                                  SearchStats* stats) {
  const double per_k = double(c.deployment.attention_gpus()) * c.micro_batches;  // requests per step of k
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
  auto bound_ok = [&](long k) { return busiest_ms(m, kinds, attention, ffn, with_k(k)) <= c.tpot_sla_ms; };
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

long search_candidates(const SearchSpace& space) {
  const long afd = static_cast<long>(space.attention_chips.size() * space.ffn_chips.size()) * space.max_attention_instances *
                   space.max_ffn_instances;
  const long ep = static_cast<long>(space.ep_chips.size()) * space.max_ep_instances;
  const long per_deployment = space.min_micro_batches < 1 ? 1 : std::max(0, space.max_micro_batches - space.min_micro_batches + 1);
  return (afd + ep) * per_deployment;
}

void check_search_size(const SearchSpace& space, size_t searches) {
  const double total = static_cast<double>(search_candidates(space)) * static_cast<double>(searches);
  if (total > static_cast<double>(limits::kMaxPlanCandidates))
    throw InputError(fmt::format("plan: {} search(es) of {} deployment candidates each is {:.0f}, more than the {} one plan may "
                                 "try: give fewer chips, contexts or models",
                                 searches, search_candidates(space), total, limits::kMaxPlanCandidates));
}

std::vector<Plan> search_deployments(const Model& m, const SearchSpace& space, const PipelineConfig& base, RankBy rank,
                                     SearchStats* stats) {
  struct Candidate {
    const Pool* attention;
    const Pool* ffn;
    PipelineConfig config;
  };
  check_search_size(space, 1);
  std::vector<Candidate> candidates;
  auto consider = [&](const Pool& a, const Pool& f, const Deployment& d) {
    const bool schedule = space.min_micro_batches < 1;
    const int first = schedule ? default_micro_batches(d.kind) : space.min_micro_batches;
    const int last = schedule ? first : space.max_micro_batches;
    for (int n = first; n <= last; ++n) {
      PipelineConfig c = base;
      c.deployment = d;
      c.micro_batches = n;
      candidates.push_back({&a, &f, c});
    }
  };
  for (const Pool& a : space.attention_chips)
    for (const Pool& f : space.ffn_chips)
      for (int x = 1; x <= space.max_attention_instances; ++x)
        for (int y = 1; y <= space.max_ffn_instances; ++y)
          consider(a, f, Deployment{DeploymentKind::afd, x, y, space.gpus_per_instance});
  for (const Pool& e : space.ep_chips)
    for (int i = 1; i <= space.max_ep_instances; ++i) consider(e, e, Deployment{DeploymentKind::ep, i, i, space.gpus_per_instance});

  // Candidates are independent; each thread fills its own slots so the result does not depend
  // on the interleaving.
  std::vector<std::optional<Plan>> found(candidates.size());
  std::vector<SearchStats> per_thread(std::clamp<unsigned>(std::thread::hardware_concurrency(), 1, 16));
  std::atomic<size_t> next{0};
  auto work = [&](SearchStats& st) {
    for (size_t i; (i = next++) < candidates.size();) {
      ++st.candidates;
      const Candidate& c = candidates[i];
      found[i] = largest_batch(m, *c.attention, *c.ffn, c.config, &st);
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
            : std::string("No deployment meets the SLA with one request per GPU per micro-batch"),
          {}, {}, {}};
  t.columns = {{"rank", ""},          {"deployment", ""},         {"attention_hardware", ""}, {"ffn_hardware", ""},
               {"gpus", ""},          {"gpus_per_instance", ""},  {"micro_batches", ""},      {"batch", "requests"},
               {"requests_per_gpu_mb", "requests"},               {"tpot_ms", "ms"},          {"tgs", "tok/GPU/s"},
               {"usd_per_mtok", "USD/1M tok"},                    {"bottleneck", ""},         {"bottleneck_util", ""},
               {"limited_by", ""},                                {"timing", ""}};
  for (size_t i = 0; i < plans.size() && i < top; ++i) {
    const PipelineResult& r = plans[i].result;
    const ResourceUse* busiest = &r.resources.front();
    for (const ResourceUse& u : r.resources)
      if (u.utilisation > busiest->utilisation) busiest = &u;
    t.add({double(i + 1), r.config.deployment.name(), r.attention_hw, r.ffn_hw, double(r.config.deployment.gpus()),
           double(r.config.deployment.gpus_per_instance), double(r.config.micro_batches), r.config.batch, r.requests_per_gpu_micro_batch, r.tpot_ms, r.tgs, r.usd_per_mtok,
           busiest->name, busiest->utilisation, plans[i].limited_by, r.timing});
  }
  if (plans.size() > top) t.notes.push_back(fmt::format("{} of {} feasible deployments shown.", top, plans.size()));
  t.notes.push_back("Each deployment at its largest batch (whole requests per attention GPU per micro-batch) inside the SLA and memory.");
  return t;
}

}  // namespace decodesim
