// `decodesim simulate` and `decodesim plan`: served decoding as an event pipeline.
#include <chrono>
#include <filesystem>
#include <memory>
#include <utility>

#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/pipeline_setup.hpp"
#include "decodesim/chrome_trace.hpp"
#include "decodesim/errors.hpp"
#include "decodesim/limits.hpp"
#include "decodesim/loader.hpp"
#include "decodesim/pipeline.hpp"
#include "decodesim/search.hpp"

namespace decodesim::cli {

int simulate_command(const PipelineOptions& o, Format f, const std::string& out_dir, std::ostream& out) {
  const Model m = pipeline_model(o);
  const Deployment d = deployment(o);
  const DeploymentPools pools = deployment_pools(o, d, m);
  const auto& [attention, ffn, timing] = pools;
  const std::vector<double> contexts = parse_contexts(o.context);
  if (!o.trace_file.empty() && contexts.size() != 1)
    throw InputError(fmt::format("--trace: '{}' holds one timeline; give one --context", printable(o.trace_file, 256)));
  {
    // A batch search per context, about 20 simulations of every task: refused before the first.
    const PipelineConfig c = deployment_config(o, d);
    const double tasks = 20.0 * double(contexts.size()) * 4.0 * c.steps * m.num_layers() * c.micro_batches;
    if (tasks > limits::kMaxSimulatedTasks)
      throw InputError(fmt::format("--context: {} contexts of {} layers in {} micro-batches is about {:.2g} simulated tasks, more "
                                   "than the {:.2g} one run may take; give fewer contexts or --micro-batches",
                                   contexts.size(), m.num_layers(), c.micro_batches, tasks, limits::kMaxSimulatedTasks));
  }
  if (!o.trace_file.empty()) {
    // One event per stage, layer, micro-batch and step: refused before anything is simulated.
    const PipelineConfig traced = deployment_config(o, d);
    const double events = 4.0 * traced.steps * m.num_layers() * traced.micro_batches;
    if (events > double(limits::kMaxTraceEvents))
      throw InputError(fmt::format("--trace: {} layers x {} micro-batches x {} steps x 4 stages is {:.0f} events, more than the {} "
                                   "one timeline may hold; give fewer --micro-batches",
                                   m.num_layers(), traced.micro_batches, traced.steps, events, limits::kMaxTraceEvents));
  }

  std::vector<PipelineResult> results;
  std::vector<std::string> notes;
  const bool auto_micro_batches = micro_batches_option(o) == 0;
  for (double context : contexts) {
    PipelineConfig c = deployment_config(o, d);
    c.context_tokens = context;
    const auto [lo, hi] = micro_batch_range(c.micro_batches);
    if (o.batch > 0) {
      c.batch = o.batch;
      results.push_back(simulate_best_micro_batches(m, attention, ffn, c, lo, hi));
    } else if (auto plan = largest_batch_best_micro_batches(m, attention, ffn, c, lo, hi)) {
      notes.push_back(fmt::format("context {:.0f}: batch {:.0f} is the largest meeting the SLA and memory (limited by {}).",
                                  context, plan->result.config.batch, plan->limited_by));
      results.push_back(std::move(plan->result));
    } else {
      c.micro_batches = lo;
      c.batch = double(d.attention_dp()) * c.micro_batches;
      notes.push_back(fmt::format("context {:.0f}: not even one request per attention group per micro-batch meets the SLA and memory.",
                                  context));
      results.push_back(simulate(m, attention, ffn, c));
    }
    if (auto_micro_batches)
      notes.push_back(fmt::format("context {:.0f}: {} micro-batch(es), chosen of {}..{} (--micro-batches auto) for the most tokens "
                                  "per second inside the SLA.",
                                  context, results.back().config.micro_batches, lo, hi));
  }
  notes.push_back(fmt::format("{}: {}.", d.name(), d.parallelism()));
  Table summary = simulate_table(results);
  for (const std::string& n : notes) summary.notes.push_back(n);
  if (!o.kv_dtype.empty()) summary.notes.push_back(fmt::format("KV cache in {} on every softmax-attention layer (--kv-dtype).", o.kv_dtype));
  summary.notes.push_back(timing);

  std::vector<OutputFile> extra;
  if (!o.trace_file.empty()) {
    Timeline timeline;
    simulate(m, attention, ffn, results.front().config, &timeline);
    extra.push_back({std::filesystem::absolute(o.trace_file), chrome_trace_json(timeline)});
    // Without --out nothing else is written: the trace goes first, so a failure prints nothing.
    if (out_dir.empty()) write_files({}, std::exchange(extra, {}));
  }
  emit({summary, stage_table(results)}, f, out_dir, out, std::move(extra));
  return 0;
}

int plan_command(const PipelineOptions& o, Format f, const std::string& out_dir, std::ostream& out) {
  const Model m = pipeline_model(o);
  if (o.rank_by != "tgs" && o.rank_by != "usd")
    throw InputError(fmt::format("--rank-by: '{}': expected tgs or usd", printable(o.rank_by)));
  const RankBy rank = o.rank_by == "tgs" ? RankBy::tgs : RankBy::usd_per_mtok;
  std::string timing;
  const SearchSpace space = search_space(o, m, &timing);

  const std::vector<double> contexts = parse_contexts(o.context);
  check_search_size(space, m, contexts.size());
  check_search_work(space, m, double(contexts.size()));
  std::vector<Table> tables;
  for (double context : contexts) {
    PipelineConfig base = base_config(o);
    base.context_tokens = context;
    SearchStats stats;
    const auto t0 = std::chrono::steady_clock::now();
    const std::vector<Plan> plans = search_deployments(m, space, base, rank, &stats);
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    Table t = search_table(plans, static_cast<size_t>(o.top), rank);
    if (contexts.size() > 1) t.name = fmt::format("plan_{:.0f}", context);
    if (!o.kv_dtype.empty()) t.notes.push_back(fmt::format("KV cache in {} on every softmax-attention layer (--kv-dtype).", o.kv_dtype));
    t.notes.push_back(fmt::format("Searched {} candidates with {} simulations in {:.0f} ms.", stats.candidates, stats.simulations, ms));
    if (space.exact_gpus > 0)
      t.notes.push_back(fmt::format("GPU budget: exactly {} (--gpus); a deployment of fewer GPUs is replicated to fill it.", space.exact_gpus));
    else if (space.max_gpus > 0)
      t.notes.push_back(fmt::format("GPU budget: at most {} per deployment (--max-gpus).", space.max_gpus));
    t.notes.push_back(timing);
    tables.push_back(std::move(t));
  }
  emit(tables, f, out_dir, out);
  return 0;
}

}  // namespace decodesim::cli
