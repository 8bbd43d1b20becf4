// `decodesim prefill`: the forward passes over a prompt on one deployment (decodesim/prefill.hpp).
#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/pipeline_setup.hpp"
#include "decodesim/errors.hpp"
#include "decodesim/prefill.hpp"
#include "decodesim/search.hpp"

namespace decodesim::cli {

int prefill_command(const PipelineOptions& o, const PrefillOptions& p, Format f, const std::string& out_dir, std::ostream& out) {
  const Model m = pipeline_model(o);
  const Deployment d = deployment(o);
  const DeploymentPools pools = deployment_pools(o, d, m);
  PrefillConfig c = prefill_config(base_config(o));
  c.deployment = d;
  c.input_tokens = p.input_tokens;
  c.batch_tokens = p.batch_tokens;
  const int fixed = micro_batches_option(o);
  // auto: the count of 1..4 with the most input tokens per second.
  PrefillResult best;
  for (int mb = fixed ? fixed : kAutoMicroBatchesMin; mb <= (fixed ? fixed : kAutoMicroBatchesMax); ++mb) {
    c.micro_batches = mb;
    PrefillResult r = simulate_prefill(m, pools.attention, pools.ffn, c);
    if (best.model.empty() || r.input_tokens_per_s > best.input_tokens_per_s) best = std::move(r);
  }
  Table t = prefill_table({best});
  if (!fixed)
    t.notes.push_back(fmt::format("{} micro-batch(es), chosen of {}..{} (--micro-batches auto) for the most input tokens per second.",
                                  best.config.micro_batches, kAutoMicroBatchesMin, kAutoMicroBatchesMax));
  t.notes.push_back(fmt::format("{}: {}.", d.name(), d.parallelism()));
  if (!best.memory.fits())
    t.notes.push_back(fmt::format("Memory: {:.4g} GB of weights and {:.4g} GB of the forward's KV per attention GPU exceed its {:.4g} GB.",
                                  best.memory.attention_weight_bytes * 1e-9, best.memory.attention_kv_bytes * 1e-9,
                                  best.memory.attention_capacity_bytes * 1e-9));
  t.notes.push_back(pools.timing_note);
  emit({t}, f, out_dir, out);
  return 0;
}

}  // namespace decodesim::cli
