#include <algorithm>
#include <optional>
#include <sstream>

#include <fmt/format.h>

#include "cli/commands.hpp"
#include "decodesim/errors.hpp"
#include "decodesim/loader.hpp"
#include "decodesim/plots.hpp"

namespace decodesim::cli {

CalibrationSet::CalibrationSet(const std::vector<std::string>& files)
    : files_(files), measured_(files.size()), served_(files.size()) {
  for (const std::string& f : files_) {
    calibrations_.push_back(load_calibration(f));
    for (size_t i = 0; i + 1 < calibrations_.size(); ++i)
      if (calibrations_[i].hardware_id == calibrations_.back().hardware_id)
        throw InputError(fmt::format("{}: $.hardware: a second calibration for '{}' (the first is {})", printable(f, 256),
                                     calibrations_.back().hardware_id, printable(files_[i], 256)));
  }
}

const Hardware& CalibrationSet::measured_chip(size_t file, const Hardware& target) {
  if (!measured_[file]) {
    try {
      measured_[file] = load_hardware(calibrations_[file].hardware_id);
    } catch (const InputError& e) {
      throw InputError(fmt::format("{}: $.hardware: carrying its fits to {} needs the measured chip's datasheet: {}", files_[file],
                                   target.id, e.what()));
    }
  }
  return *measured_[file];
}

const Calibration* CalibrationSet::for_chip(const Hardware& chip) {
  if (calibrations_.empty()) return nullptr;
  size_t file = 0;
  for (size_t i = 0; i < calibrations_.size(); ++i)
    if (calibrations_[i].hardware_id == chip.id) {
      file = i;
      break;
    }
  std::vector<std::string>& served = served_[file];
  if (std::find(served.begin(), served.end(), chip.id) == served.end()) served.push_back(chip.id);
  if (calibrations_[file].hardware_id == chip.id) return &calibrations_[file];
  auto it = carried_.find({file, chip.id});
  if (it == carried_.end())
    it = carried_.emplace(std::pair{file, chip.id}, carry_calibration(calibrations_[file], measured_chip(file, chip), chip)).first;
  return &it->second;
}

void CalibrationSet::check_used() const {
  for (size_t i = 0; i < files_.size(); ++i)
    if (served_[i].empty())
      throw InputError(fmt::format("{}: $.hardware: calibration is for '{}', which is not among the chips given (only the first "
                                   "file is carried to other chips)",
                                   printable(files_[i], 256), calibrations_[i].hardware_id));
}

std::string CalibrationSet::describe() const {
  std::string text;
  for (size_t i = 0; i < files_.size(); ++i) {
    if (served_[i].empty()) continue;
    const Calibration& c = calibrations_[i];
    std::string carried_to;
    bool own = false;
    for (const std::string& chip : served_[i]) {
      if (chip == c.hardware_id) own = true;
      else carried_to += (carried_to.empty() ? "" : ", ") + chip;
    }
    text += fmt::format("{}kernels measured on {} ({}){}{}", text.empty() ? "" : "; ", c.device, c.hardware_id,
                        own ? fmt::format(", used on {} as measured", c.hardware_id) : "",
                        carried_to.empty() ? "" : fmt::format("{} carried to {} by datasheet ratios (docs/calibration.md)",
                                                              own ? " and" : ",", carried_to));
  }
  return text;
}

std::vector<const Calibration*> CalibrationSet::carried() const {
  std::vector<const Calibration*> out;
  for (const auto& [key, c] : carried_) out.push_back(&c);
  return out;
}

std::vector<Hardware> calibrated(std::vector<Hardware> chips, const std::vector<std::string>& calibration_files,
                                 std::string* note) {
  CalibrationSet set(calibration_files);
  for (Hardware& h : chips)
    if (const Calibration* c = set.for_chip(h)) h = apply_calibration(h, *c);
  set.check_used();
  if (note && !set.empty()) *note = "Achieved rates instead of datasheet peaks: " + set.describe() + ".";
  return chips;
}

int run_scenario_command(const std::string& scenario, const std::string& format_override,
                         const std::string& out_override, const std::vector<std::string>& calibration_files,
                         std::ostream& out, std::ostream& err) {
  Scenario s = load_scenario(scenario.empty() ? "report-comparison" : scenario);
  std::string note;
  s.hardware = calibrated(std::move(s.hardware), calibration_files, &note);
  if (!format_override.empty())
    s.format = format_named(format_override).value_or(Format::table);  // CLI11 admits only the three names
  if (!out_override.empty()) s.out_dir = out_override;

  const bool report_figures = std::find(s.analyses.begin(), s.analyses.end(), Analysis::plots) != s.analyses.end();
  if (report_figures && s.out_dir.empty()) throw InputError(s.file + ": $.output.dir: plots need an output folder");
  // The what-if study draws its figure wherever its results are written.
  const bool what_if = std::find(s.analyses.begin(), s.analyses.end(), Analysis::what_if) != s.analyses.end();
  const bool plots = report_figures || (what_if && !s.out_dir.empty());
  std::optional<PlotRenderer> renderer;
  if (plots) renderer.emplace();  // gnuplot starts up while the results are computed and written
  WhatIfStudy study;
  std::vector<Table> tables = scenario_tables(s, &study);
  if (!note.empty())
    for (Table& t : tables) t.notes.push_back(note);

  std::vector<OutputFile> extra;
  PlotSet plot_set;
  if (report_figures) plot_set = report_plots(s);
  if (what_if && plots) {
    PlotSet w = what_if_plots(study);
    plot_set.files.insert(plot_set.files.end(), w.files.begin(), w.files.end());
    plot_set.scripts.insert(plot_set.scripts.end(), w.scripts.begin(), w.scripts.end());
  }
  for (const OutputFile& f : plot_set.files) extra.push_back({f.path, f.content});
  // CSV files always accompany a written table, whatever the printed format.
  if (!s.out_dir.empty() && s.format != Format::csv)
    for (const Table& t : tables) extra.push_back({t.name + ".csv", render_csv(t)});

  // Printed once the files are written: a failure prints nothing.
  std::ostringstream text;
  emit(tables, s.format, s.out_dir, text, std::move(extra));
  if (s.format == Format::table) out << "== " << s.name << " ==\n\n";
  out << text.str();
  if (plots) {
    const std::string note = renderer->render(s.out_dir, plot_set);
    if (!note.empty()) err << "decodesim: " << note << "\n";
  }
  if (!s.out_dir.empty() && s.format == Format::table) out << "\nwrote results to " << s.out_dir << "/\n";
  return 0;
}

}  // namespace decodesim::cli
