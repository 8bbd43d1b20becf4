// Figures as gnuplot data + script (+ PNG and SVG when gnuplot is installed).
#pragma once
#include <string>
#include <vector>

#include "decodesim/calibration.hpp"
#include "decodesim/hardware.hpp"
#include "decodesim/model.hpp"
#include "decodesim/traffic.hpp"
#include "decodesim/writers.hpp"

namespace decodesim {

struct PlotSet {
  std::vector<OutputFile> files;  // .dat and .gp, paths relative to the output folder
  std::vector<std::string> scripts;  // the .gp files to render, same relative paths
};

// Report Fig. 1 (activated params vs cost, Pareto frontier), Fig. 2 (cost per chip and AFD),
// Fig. 3 (KV size and cost vs context), Fig. 5 (attention compute vs memory, roofline slopes).
PlotSet report_plots(const std::vector<Model>& models, const std::vector<Hardware>& chips,
                     const std::vector<double>& contexts);

// Calibration: achieved FLOP/s against arithmetic intensity under the measured roofline, and
// predicted against measured time, one point per kernel measured.
PlotSet calibration_plots(const Calibration& c);

// Traffic over time (`traffic-timeseries`): running batch against its limit, step time
// against the TPOT SLA, and the queue.
PlotSet traffic_plots(const TrafficResult& r, double max_batch, double tpot_sla_ms);

// Runs gnuplot on each script inside `dir`; returns a note for the user (e.g. gnuplot missing).
std::string render_plots(const std::string& dir, const PlotSet& plots);

}  // namespace decodesim
