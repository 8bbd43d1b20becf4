// Capacity planning: which deployment (AFD xAyF or EP, chips, micro-batches) serves the most
// tokens per GPU, or the cheapest tokens, inside a TPOT SLA, each at its largest feasible batch.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "decodesim/pipeline.hpp"

namespace decodesim {

enum class RankBy { tgs, usd_per_mtok };

// The micro-batch counts `--micro-batches auto` and `plan` try for every deployment: one (inside
// a node there is no network to hide, and a second micro-batch reads every weight again) to four.
inline constexpr int kAutoMicroBatchesMin = 1, kAutoMicroBatchesMax = 4;
// The micro-batch counts to try for a configured count: that one, or 1..4 for auto (0).
struct MicroBatchRange {
  int lo, hi;
};
inline MicroBatchRange micro_batch_range(int micro_batches) {
  return micro_batches > 0 ? MicroBatchRange{micro_batches, micro_batches} : MicroBatchRange{kAutoMicroBatchesMin, kAutoMicroBatchesMax};
}

struct SearchSpace {
  std::vector<Pool> attention_chips;  // AFD attention candidates
  std::vector<Pool> ffn_chips;        // AFD FFN candidates
  std::vector<Pool> colocated_chips;  // EP and TP candidates (empty: neither)
  int max_attention_instances = 8, max_ffn_instances = 8;
  int max_ep_instances = 32;          // EP over up to this many nodes
  bool ep = true, tp = true;          // the colocated families searched
  // AFD: the attention and FFN TP of every candidate. EP: the attention TP degrees tried (each
  // dividing the GPUs and at most a node); empty: 1, 2, 4, ... up to a node.
  int afd_attention_tp = 1, afd_ffn_tp = 1;
  std::vector<int> ep_attention_tps;
  // Micro-batch counts tried for every deployment; the best of them is kept.
  int min_micro_batches = kAutoMicroBatchesMin, max_micro_batches = kAutoMicroBatchesMax;
  int gpus_per_instance = 8;          // GPUs of one node (NVLink); an AFD instance is one node
  // GPU budget: exactly `exact_gpus` (deployments that divide it, replicated to fill it) or at most
  // `max_gpus` per deployment; 0: none.
  int exact_gpus = 0, max_gpus = 0;
  // The deployments searched, before the budget and the micro-batch counts.
  std::vector<Deployment> colocated_deployments(const Model& m) const;
  std::vector<Deployment> afd_deployments() const;
  bool within_budget(const Deployment& d) const;
  int replicas(const Deployment& d) const { return exact_gpus > 0 ? exact_gpus / d.gpus() : 1; }
};

struct Plan {
  PipelineResult result;
  std::string limited_by;  // what stops one more request per GPU per micro-batch: "sla" or "memory"
  int replicas = 1;        // copies of the deployment a GPU budget holds
};

struct SearchStats {
  long candidates = 0;   // deployment x chips x micro-batches tried
  long simulations = 0;  // event simulations run
};

// Largest batch (a whole number of requests per attention GPU per micro-batch) whose simulated
// TPOT meets the SLA and whose memory fits, for c.deployment and c.micro_batches (c.batch is
// ignored). Empty when not even one request per GPU fits.
std::optional<Plan> largest_batch(const Model& m, const Pool& attention, const Pool& ffn, PipelineConfig c,
                                  SearchStats* stats = nullptr);

// Candidates one search of `space` tries for `m`: chip pairings x deployment shapes x micro-batch counts.
long search_candidates(const SearchSpace& space, const Model& m);
// Throws InputError when `searches` searches of `space` exceed limits::kMaxPlanCandidates in all.
void check_search_size(const SearchSpace& space, const Model& m, size_t searches);

// `--micro-batches auto`: of lo..hi micro-batches, the one serving c.batch fastest inside the SLA
// and memory (the fastest at all when none is inside).
PipelineResult simulate_best_micro_batches(const Model& m, const Pool& attention, const Pool& ffn, PipelineConfig c,
                                           int lo = kAutoMicroBatchesMin, int hi = kAutoMicroBatchesMax);
// Of lo..hi micro-batches, the largest feasible batch with the most tokens per GPU per second.
std::optional<Plan> largest_batch_best_micro_batches(const Model& m, const Pool& attention, const Pool& ffn, PipelineConfig c,
                                                     int lo = kAutoMicroBatchesMin, int hi = kAutoMicroBatchesMax,
                                                     SearchStats* stats = nullptr);

// Every feasible deployment at its largest batch, in its best micro-batch count, best first (ties:
// fewer GPUs first).
std::vector<Plan> search_deployments(const Model& m, const SearchSpace& space, const PipelineConfig& base, RankBy rank,
                                     SearchStats* stats = nullptr);

Table search_table(const std::vector<Plan>& plans, size_t top, RankBy rank);

}  // namespace decodesim
