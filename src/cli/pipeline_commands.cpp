// `decodesim simulate` and `decodesim plan`: served decoding as an event pipeline.
#include <chrono>
#include <memory>

#include <fmt/format.h>

#include "cli/commands.hpp"
#include "decodesim/errors.hpp"
#include "decodesim/loader.hpp"
#include "decodesim/pipeline.hpp"
#include "decodesim/search.hpp"

namespace decodesim::cli {

namespace {

Model one_model(const std::string& spec) {
  std::vector<Model> ms = load_models(spec);
  if (ms.size() != 1) throw InputError(fmt::format("--model: '{}': give one model", printable(spec)));
  return std::move(ms.front());
}

// The chips an option names, or --hardware's where it is not given, and the option to blame.
struct ChipOption {
  const std::string& specs;
  const char* option;
};
ChipOption chips_of(const PipelineOptions& o, const std::string& specs, const char* option) {
  return specs.empty() ? ChipOption{o.hardware, "--hardware"} : ChipOption{specs, option};
}

// Chips as pools; a chip named by a calibration file is timed by its fitted kernels.
std::vector<Pool> pools(CalibrationSet& calibrations, ChipOption chips, const Model& m) {
  std::vector<Pool> out;
  for (Hardware& h : load_hardware_list(chips.specs, chips.option)) {
    Pool p{h, nullptr};
    if (const Calibration* c = calibrations.for_chip(h.id)) p.timer = std::make_shared<CalibratedTimer>(h, m.quant, *c);
    out.push_back(std::move(p));
  }
  return out;
}

Pool one_pool(CalibrationSet& calibrations, ChipOption chips, const Model& m) {
  std::vector<Pool> ps = pools(calibrations, chips, m);
  if (ps.size() != 1) throw InputError(fmt::format("{}: '{}': give one chip", chips.option, printable(chips.specs)));
  return std::move(ps.front());
}

Fanout parse_fanout(const std::string& s) {
  if (s == "per-instance") return Fanout::per_instance;
  if (s == "report") return Fanout::report;
  throw InputError(fmt::format("--fanout: '{}': expected per-instance or report", printable(s)));
}

PipelineConfig base_config(const PipelineOptions& o) {
  PipelineConfig c;
  c.tpot_sla_ms = o.tpot_ms;
  c.nic_efficiency = o.nic_efficiency;
  c.fanout = parse_fanout(o.fanout);
  return c;
}

}  // namespace

int simulate_command(const PipelineOptions& o, Format f, const std::string& out_dir, std::ostream& out) {
  const Model m = one_model(o.model);
  const Deployment d = parse_deployment(o.deployment);
  const bool ep = d.kind == DeploymentKind::ep;
  if (ep && (!o.attention_hardware.empty() || !o.ffn_hardware.empty()) && o.attention_hardware != o.ffn_hardware)
    throw InputError("simulate: EP runs attention and FFN on the same GPUs; give --hardware");
  CalibrationSet calibrations(o.calibrations);
  const Pool attention = one_pool(calibrations, chips_of(o, o.attention_hardware, "--attention-hardware"), m);
  const Pool ffn = ep ? attention : one_pool(calibrations, chips_of(o, o.ffn_hardware, "--ffn-hardware"), m);
  calibrations.check_used();

  std::vector<PipelineResult> results;
  std::vector<std::string> notes;
  for (double context : parse_contexts(o.context)) {
    PipelineConfig c = base_config(o);
    c.deployment = d;
    c.micro_batches = o.micro_batches;
    c.context_tokens = context;
    if (o.batch > 0) {
      c.batch = o.batch;
      results.push_back(simulate(m, attention, ffn, c));
    } else if (auto plan = largest_batch(m, attention, ffn, c)) {
      notes.push_back(fmt::format("context {:.0f}: batch {:.0f} is the largest meeting the SLA and memory (limited by {}).",
                                  context, plan->result.config.batch, plan->limited_by));
      results.push_back(std::move(plan->result));
    } else {
      c.batch = double(d.attention_gpus()) * c.micro_batches;
      notes.push_back(fmt::format("context {:.0f}: not even one request per attention GPU per micro-batch meets the SLA and memory.", context));
      results.push_back(simulate(m, attention, ffn, c));
    }
  }
  Table summary = simulate_table(results);
  for (const std::string& n : notes) summary.notes.push_back(n);
  emit({summary, stage_table(results)}, f, out_dir, out);
  return 0;
}

int plan_command(const PipelineOptions& o, Format f, const std::string& out_dir, std::ostream& out) {
  const Model m = one_model(o.model);
  if (o.deployments != "afd" && o.deployments != "ep" && o.deployments != "all")
    throw InputError(fmt::format("--deployments: '{}': expected afd, ep or all", printable(o.deployments)));
  if (o.rank_by != "tgs" && o.rank_by != "usd")
    throw InputError(fmt::format("--rank-by: '{}': expected tgs or usd", printable(o.rank_by)));
  const RankBy rank = o.rank_by == "tgs" ? RankBy::tgs : RankBy::usd_per_mtok;
  CalibrationSet calibrations(o.calibrations);
  SearchSpace space;
  const bool afd = o.deployments != "ep", ep = o.deployments != "afd";
  std::vector<Pool> attention = pools(calibrations, chips_of(o, o.attention_hardware, "--attention-hardware"), m);
  std::vector<Pool> ffn = pools(calibrations, chips_of(o, o.ffn_hardware, "--ffn-hardware"), m);
  calibrations.check_used();
  if (ep) {
    // EP puts everything on one chip: every chip named for either part is a candidate.
    for (const std::vector<Pool>* list : {&attention, &ffn})
      for (const Pool& p : *list) {
        bool dup = false;
        for (const Pool& q : space.ep_chips) dup = dup || q.hw.id == p.hw.id;
        if (!dup) space.ep_chips.push_back(p);
      }
  }
  if (afd) space.attention_chips = std::move(attention), space.ffn_chips = std::move(ffn);

  const std::vector<double> contexts = parse_contexts(o.context);
  check_search_size(space, contexts.size());
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
    t.notes.push_back(fmt::format("Searched {} candidates with {} simulations in {:.0f} ms.", stats.candidates, stats.simulations, ms));
    tables.push_back(std::move(t));
  }
  emit(tables, f, out_dir, out);
  return 0;
}

}  // namespace decodesim::cli
