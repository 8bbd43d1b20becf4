#include <algorithm>
#include <sstream>

#include <fmt/format.h>

#include "cli/commands.hpp"
#include "decodesim/loader.hpp"
#include "decodesim/plots.hpp"

namespace decodesim::cli {

CalibrationSet::CalibrationSet(const std::vector<std::string>& files) : files_(files), used_(files.size(), false) {
  for (const std::string& f : files_) {
    calibrations_.push_back(load_calibration(f));
    for (size_t i = 0; i + 1 < calibrations_.size(); ++i)
      if (calibrations_[i].hardware_id == calibrations_.back().hardware_id)
        throw InputError(fmt::format("{}: $.hardware: a second calibration for '{}' (the first is {})", printable(f, 256),
                                     calibrations_.back().hardware_id, printable(files_[i], 256)));
  }
}

const Calibration* CalibrationSet::for_chip(const std::string& hardware_id) {
  for (size_t i = 0; i < calibrations_.size(); ++i)
    if (calibrations_[i].hardware_id == hardware_id) return used_[i] = true, &calibrations_[i];
  return nullptr;
}

void CalibrationSet::check_used() const {
  for (size_t i = 0; i < files_.size(); ++i)
    if (!used_[i])
      throw InputError(fmt::format("{}: $.hardware: calibration is for '{}', which is not among the chips given", printable(files_[i], 256),
                                   calibrations_[i].hardware_id));
}

std::vector<Hardware> calibrated(std::vector<Hardware> chips, const std::vector<std::string>& calibration_files) {
  CalibrationSet set(calibration_files);
  for (Hardware& h : chips)
    if (const Calibration* c = set.for_chip(h.id)) h = apply_calibration(h, *c);
  set.check_used();
  return chips;
}

int run_scenario_command(const std::string& scenario, const std::string& format_override,
                         const std::string& out_override, const std::vector<std::string>& calibration_files,
                         std::ostream& out, std::ostream& err) {
  Scenario s = load_scenario(scenario.empty() ? "report-comparison" : scenario);
  s.hardware = calibrated(std::move(s.hardware), calibration_files);
  if (!format_override.empty())
    s.format = format_named(format_override).value_or(Format::table);  // CLI11 admits only the three names
  if (!out_override.empty()) s.out_dir = out_override;

  const std::vector<Table> tables = scenario_tables(s);
  const bool plots = std::find(s.analyses.begin(), s.analyses.end(), Analysis::plots) != s.analyses.end();
  if (plots && s.out_dir.empty()) throw InputError(s.file + ": $.output.dir: plots need an output folder");

  std::vector<OutputFile> extra;
  PlotSet plot_set;
  if (plots) {
    plot_set = report_plots(s.models, s.hardware, s.contexts);
    for (const OutputFile& f : plot_set.files) extra.push_back({f.path, f.content});
  }
  // CSV files always accompany a written table, whatever the printed format.
  if (!s.out_dir.empty() && s.format != Format::csv)
    for (const Table& t : tables) extra.push_back({t.name + ".csv", render_csv(t)});

  // Printed once the files are written: a failure prints nothing.
  std::ostringstream text;
  emit(tables, s.format, s.out_dir, text, std::move(extra));
  if (s.format == Format::table) out << "== " << s.name << " ==\n\n";
  out << text.str();
  if (plots) {
    const std::string note = render_plots(s.out_dir, plot_set);
    if (!note.empty()) err << "decodesim: " << note << "\n";
  }
  if (!s.out_dir.empty() && s.format == Format::table) out << "\nwrote results to " << s.out_dir << "/\n";
  return 0;
}

}  // namespace decodesim::cli
