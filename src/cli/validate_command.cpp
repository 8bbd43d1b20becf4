// `decodesim validate`: every published figure the project holds (bench/published.json and the
// served runs of bench/results/pipeline-h100x4/) against the simulator, in its stated configuration.
#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/pipeline_setup.hpp"
#include "decodesim/collectives.hpp"
#include "decodesim/errors.hpp"
#include "decodesim/layer.hpp"
#include "decodesim/loader.hpp"
#include "decodesim/plots.hpp"
#include "decodesim/prefill.hpp"
#include "decodesim/published.hpp"
#include "decodesim/search.hpp"
#include "decodesim/validation.hpp"

namespace decodesim::cli {

namespace {

double simulated(const PublishedFigure& f, CalibrationSet& calibrations) {
  switch (f.kind) {
    case FigureKind::simulate: {
      const Model m = with_kv_option(load_model(f.model), f.kv_dtype);
      const Pool pool = one_pool(calibrations, {f.hardware, "hardware"}, m);
      PipelineConfig c;
      c.deployment = parse_deployment(f.deployment);
      c.context_tokens = f.context;
      c.transport.routing.redundant_experts = f.redundant_experts;
      const auto [lo, hi] = micro_batch_range(f.micro_batches);
      PipelineResult r;
      if (f.batch > 0) {
        c.batch = f.batch;
        r = simulate_best_micro_batches(m, pool, pool, c, lo, hi);
      } else {
        std::optional<Plan> p = largest_batch_best_micro_batches(m, pool, pool, c, lo, hi);
        if (!p) throw InputError(fmt::format("validate: {}: no batch meets the SLA", f.label));
        r = std::move(p->result);
      }
      return f.metric == "tgs" ? r.tgs : r.tpot_ms;
    }
    case FigureKind::layer: {
      const Model m = with_kv_option(load_model(f.model), f.kv_dtype);
      LayerShape shape;
      shape.batch = f.batch, shape.gpus = f.gpus, shape.attention_tp = f.attention_tp, shape.context_tokens = f.context;
      return layer_times(m, one_pool(calibrations, {f.hardware, "hardware"}, m), shape).front().time.layer_us();
    }
    case FigureKind::prefill: {
      const Model m = load_model(f.model);
      const Pool pool = one_pool(calibrations, {f.hardware, "hardware"}, m);
      PrefillConfig c;
      c.deployment = parse_deployment(f.deployment);
      c.input_tokens = f.input_tokens, c.batch_tokens = f.batch_tokens, c.micro_batches = f.micro_batches;
      c.transport.fanout = Fanout::library;  // dispatch and combine through DeepEP's normal kernels, as these systems run them
      c.transport.routing.redundant_experts = f.redundant_experts;
      if (f.expert_imbalance > 0) c.transport.routing.imbalance = f.expert_imbalance;
      return simulate_prefill(m, pool, pool, c).input_tokens_per_s_per_gpu * pool.hw.network.gpus_per_node;
    }
    case FigureKind::deepep: {
      AllToAllShape s;  // DeepEP's benchmark shape: 128 tokens, hidden 7168, top-8 of 256, FP8 out, BF16 back
      s.ep_gpus = f.ep_gpus;
      const AllToAllTime t = ep_all_to_all_us(link_profile(load_hardware(f.hardware)), s);
      return f.metric == "dispatch_us" ? t.dispatch_us : t.combine_us;
    }
  }
  return 0;
}

}  // namespace

int validate_command(const std::string& published, Format fmt_, const std::string& out_dir, std::ostream& out) {
  CalibrationSet calibrations = timing_calibrations("calibrated", {});
  std::vector<FigureCheck> checks;
  for (const PublishedFigure& f : load_published_figures(published.empty() ? data_file("bench/published.json") : published))
    checks.push_back({f, simulated(f, calibrations)});
  // Our own served runs, with the link profile and calibration of their machine and kernels.
  const Hardware hw = load_hardware(data_file(kServedRunsHardware));
  const Calibration cal = load_calibration(data_file(kServedRunsCalibration));
  const ServingStack bench_stack = load_serving_stack(data_file(kServedRunsServing));
  for (const ServedRun& run : load_served_runs(data_file(kServedRunsCsv))) {
    const Model m = load_model(run.model);
    const ServedCheck c = check_served_run(run, m, {hw, std::make_shared<CalibratedTimer>(hw, m.quant, cal)}, bench_stack);
    PublishedFigure f;
    f.figure = "served runs, 2-4 H100 (NVLink)";
    f.label = fmt::format("{} {} {} GPUs, {:.0f} ctx, batch {:.0f} in {}", run.model, run.deployment, run.gpus, run.context,
                          run.batch, run.micro_batches);
    f.source = kServedRunsCsv, f.metric = "tpot_ms", f.measured = run.measured_tpot_ms;
    checks.push_back({f, c.simulated_tpot_ms});
  }
  Table t = published_table(checks);
  t.notes.push_back(timing_note(calibrations));
  std::vector<OutputFile> extra;
  const PlotSet plots = published_plots(checks);
  if (!out_dir.empty())
    for (const OutputFile& f : plots.files) extra.push_back(f);
  emit({t}, fmt_, out_dir, out, std::move(extra));
  if (!out_dir.empty()) {
    const std::string note = render_plots(out_dir, plots);
    if (!note.empty()) out << note << "\n";
  }
  return 0;
}

}  // namespace decodesim::cli
