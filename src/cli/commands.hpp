#pragma once
#include <ostream>
#include <string>
#include <vector>

#include "decodesim/report.hpp"
#include "decodesim/scenario.hpp"
#include "decodesim/writers.hpp"

namespace decodesim::cli {

// Prints the tables in format f; with out_dir, also writes them (and extra_files) atomically.
void emit(const std::vector<Table>& tables, Format f, const std::string& out_dir, std::ostream& out,
          std::vector<OutputFile> extra_files = {});

int run_scenario_command(const std::string& scenario, const std::string& format_override,
                         const std::string& out_override, std::ostream& out, std::ostream& err);

struct CalibrateOptions {
  std::string hardware;
  std::string out_file;
  std::string models = "step3,qwen3-235b-a22b,deepseek-v3";
  std::string csv_dir;
  bool quick = false;
};
int calibrate_command(const CalibrateOptions& o, std::ostream& out, std::ostream& err);

}  // namespace decodesim::cli
