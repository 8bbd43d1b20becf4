// Capacity planning: which deployment (AFD xAyF or EP, chips, micro-batches) serves the most
// tokens per GPU, or the cheapest tokens, inside a TPOT SLA, each at its largest feasible batch.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "decodesim/pipeline.hpp"

namespace decodesim {

enum class RankBy { tgs, usd_per_mtok };

struct SearchSpace {
  std::vector<Pool> attention_chips;  // AFD attention candidates
  std::vector<Pool> ffn_chips;        // AFD FFN candidates
  std::vector<Pool> ep_chips;         // EP candidates (empty: no EP)
  int max_attention_instances = 8, max_ffn_instances = 8;
  int max_ep_instances = 32;
  // Micro-batch counts tried for every deployment; 0: each kind's serving schedule only
  // (default_micro_batches: AFD 3, EP 2).
  int min_micro_batches = 0, max_micro_batches = 0;
  int gpus_per_instance = 8;
};

struct Plan {
  PipelineResult result;
  std::string limited_by;  // what stops one more request per GPU per micro-batch: "sla" or "memory"
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

// Candidates one search of `space` tries: chip pairings x deployment shapes x micro-batch counts.
long search_candidates(const SearchSpace& space);
// Throws InputError when `searches` searches of `space` exceed limits::kMaxPlanCandidates in all.
void check_search_size(const SearchSpace& space, size_t searches);

// Every feasible candidate at its largest batch, best first (ties: fewer GPUs first).
std::vector<Plan> search_deployments(const Model& m, const SearchSpace& space, const PipelineConfig& base, RankBy rank,
                                     SearchStats* stats = nullptr);

Table search_table(const std::vector<Plan>& plans, size_t top, RankBy rank);

}  // namespace decodesim
