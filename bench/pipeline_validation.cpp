// decodesim_pipeline_validation: the served-pipeline bench's measured runs against the simulator.
// Writes pipeline-validation.csv and its figure (pipeline-validation.{dat,gp,png,svg}).
//   build/decodesim_pipeline_validation [--runs CSV] [--hardware FILE] [--calibration FILE] [--out DIR]
// Defaults: the committed 4 x H100 run, its link profile and the calibration of the kernels that run
// used, measured alone, and the bench's serving stack (kServedRunsCsv, kServedRunsHardware,
// kServedRunsCalibration, kServedRunsServing).
#include <cstring>
#include <iostream>
#include <memory>

#include "decodesim/loader.hpp"
#include "decodesim/validation.hpp"
#include "decodesim/plots.hpp"
#include "decodesim/writers.hpp"

using namespace decodesim;

int main(int argc, char** argv) {
  const std::string src = DECODESIM_SOURCE_DIR;
  std::string runs = src + "/" + kServedRunsCsv, hw_file = src + "/" + kServedRunsHardware,
              cal_file = src + "/" + kServedRunsCalibration, out = src + "/bench/results";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--runs") runs = argv[i + 1];
    else if (a == "--hardware") hw_file = argv[i + 1];
    else if (a == "--calibration") cal_file = argv[i + 1];
    else if (a == "--out") out = argv[i + 1];
    else {
      std::cerr << "usage: decodesim_pipeline_validation [--runs CSV] [--hardware FILE] [--calibration FILE] [--out DIR]\n";
      return 2;
    }
  }
  try {
    const Hardware hw = load_hardware(hw_file);
    const Calibration cal = load_calibration(cal_file);
    const ServingStack stack = load_serving_stack(src + "/" + kServedRunsServing);
    std::vector<ServedCheck> checks;
    for (const ServedRun& r : load_served_runs(runs)) {
      const Model m = load_model(r.model);
      const Pool pool{hw, std::make_shared<CalibratedTimer>(hw, m.quant, cal)};
      checks.push_back(check_served_run(r, m, pool, stack));
    }
    const Table t = validation_table(checks);
    PlotSet plots = validation_plots(checks);
    std::vector<OutputFile> files{{"pipeline-validation.csv", render_csv(t)}};
    for (OutputFile& f : plots.files) files.push_back(std::move(f));
    write_files(out, files);
    std::cout << render_table(t);
    const std::string note = render_plots(out, plots);
    if (!note.empty()) std::cerr << note << "\n";
  } catch (const std::exception& e) {
    std::cerr << "decodesim_pipeline_validation: " << e.what() << "\n";
    return 2;
  }
  return 0;
}
