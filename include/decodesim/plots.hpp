// Figures as gnuplot data + script (+ PNG and SVG when gnuplot is installed).
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "decodesim/calibration.hpp"
#include "decodesim/process.hpp"
#include "decodesim/published.hpp"
#include "decodesim/report.hpp"
#include "decodesim/scenario.hpp"
#include "decodesim/traffic.hpp"
#include "decodesim/validation.hpp"
#include "decodesim/writers.hpp"

namespace decodesim {

struct PlotSet {
  std::vector<OutputFile> files;  // .dat and .gp, paths relative to the output folder
  std::vector<std::string> scripts;  // the .gp files to render, same relative paths
};

// Report Fig. 1 (activated params vs cost, Pareto frontier; the scenario's pareto_models), Fig. 2
// (cost per chip and AFD), Fig. 3 (KV size and cost vs context), Fig. 5 (attention compute vs
// memory, roofline slopes), for the scenario's models, chips and contexts.
PlotSet report_plots(const Scenario& s);

// The report's what-ifs (`what_if`): TGS gain from MTP at each acceptance and from low-bit KV, per
// model and chip (clustered bars at the study's first context), with the report's claims and
// whether they hold in the title.
PlotSet what_if_plots(const WhatIfStudy& w);

// Calibration: achieved FLOP/s against arithmetic intensity under the measured roofline, and
// predicted against measured time, one point per kernel measured.
PlotSet calibration_plots(const Calibration& c);

// Traffic over time (`traffic-timeseries`): running batch against its limit, step time
// against the TPOT SLA, and the queue.
PlotSet traffic_plots(const TrafficResult& r, double max_batch, double tpot_sla_ms);

// With prefill (P/D or colocated): `traffic-ttft-tpot`, TTFT (mean and worst of the first tokens
// in each interval) against its SLA (none where 0), and the decode step (mean, worst) against the TPOT SLA.
PlotSet ttft_tpot_plots(const TrafficResult& r, double tpot_sla_ms, double ttft_sla_ms = 0);

// The simulator against real served runs (`pipeline-validation`): simulated against measured decode
// step, with the 10% and 20% bands, one marker per model and schedule.
PlotSet validation_plots(const std::vector<ServedCheck>& checks);

// `validate`: every published figure's error (simulated / measured - 1), one marker per source,
// with the 10% and 20% bands.
PlotSet published_plots(const std::vector<FigureCheck>& checks);

// One gnuplot process for all figures and formats, started on construction so that its start-up
// (it loads some 80 libraries) overlaps computing and writing the results, given the scripts once
// they are written.
class PlotRenderer {
 public:
  PlotRenderer();  // starts gnuplot when it is on the PATH
  // Renders every script inside `dir` (once only); returns a note for the user (e.g. gnuplot
  // missing, or the scripts it failed on), empty when all went well.
  std::string render(const std::string& dir, const PlotSet& plots);

 private:
  std::optional<std::string> gnuplot_;
  std::unique_ptr<Child> child_;
};

// PlotRenderer().render(dir, plots).
std::string render_plots(const std::string& dir, const PlotSet& plots);

}  // namespace decodesim
