#pragma once
#include <ostream>
#include <string>
#include <vector>

#include "decodesim/calibration.hpp"
#include "decodesim/report.hpp"
#include "decodesim/scenario.hpp"
#include "decodesim/writers.hpp"

namespace decodesim::cli {

// Prints the tables in format f; with out_dir, also writes them (and extra_files) atomically.
void emit(const std::vector<Table>& tables, Format f, const std::string& out_dir, std::ostream& out,
          std::vector<OutputFile> extra_files = {});

// Calibration files matched to chips by id; a file that no chip asked for is an error.
class CalibrationSet {
 public:
  explicit CalibrationSet(const std::vector<std::string>& files);
  const Calibration* for_chip(const std::string& hardware_id);  // nullptr: none for this chip
  void check_used() const;

 private:
  std::vector<std::string> files_;
  std::vector<Calibration> calibrations_;
  std::vector<bool> used_;
};

// Chips named in a calibration file run at their measured rates; a file naming none of them is an error.
std::vector<Hardware> calibrated(std::vector<Hardware> chips, const std::vector<std::string>& calibration_files);

int run_scenario_command(const std::string& scenario, const std::string& format_override,
                         const std::string& out_override, const std::vector<std::string>& calibration_files,
                         std::ostream& out, std::ostream& err);

struct CalibrateOptions {
  std::string hardware;
  std::string out_file;
  std::string models = "step3,qwen3-235b-a22b,deepseek-v3";
  std::string csv_dir;
  std::string refit;  // a calibrated file: refit its measurements on the CPU, no GPU needed
  bool quick = false;
  double max_seconds = 0;  // sweep time limit; 0: none
};
int calibrate_command(const CalibrateOptions& o, std::ostream& out, std::ostream& err);

// `import`: a Hugging Face config as a description in our schema (src/cli/import.cpp).
struct ImportOptions {
  std::string config;  // config.json or its folder
  std::string out_file;
  std::string id;      // empty: the --out file's name
  std::string weights, kv, state;  // precision names; empty: the report's convention
};
int import_command(const ImportOptions& o, std::ostream& out);

}  // namespace decodesim::cli

// `simulate` and `plan` (src/cli/pipeline_commands.cpp): served decoding as an event pipeline.
namespace decodesim::cli {

struct PipelineOptions {
  std::string model = "step3";
  std::string hardware = "h800";        // both pools (and EP) unless the two below are given
  std::string attention_hardware;       // AFD attention chip(s)
  std::string ffn_hardware;             // AFD FFN chip(s)
  std::string deployment = "2A2F";      // simulate: xAyF or EPn
  std::string deployments = "all";      // plan: afd, ep or all
  std::string context = "4096";
  double batch = 0;                     // simulate: 0 = the largest batch meeting the SLA and memory
  int micro_batches = 3;                // simulate
  double tpot_ms = 50;
  double nic_efficiency = 1.0;
  std::string fanout = "per-instance";  // or "report": one network crossing per token each way
  std::vector<std::string> calibrations;
  std::string rank_by = "tgs";          // plan: tgs or usd
  int top = 10;                         // plan: rows printed
};

int simulate_command(const PipelineOptions& o, Format f, const std::string& out_dir, std::ostream& out);
int plan_command(const PipelineOptions& o, Format f, const std::string& out_dir, std::ostream& out);

}  // namespace decodesim::cli

// `traffic` and `plan --rate/--trace` (src/cli/traffic_command.cpp): request-level serving.
namespace CLI {
class App;
}
namespace decodesim::cli {

struct TrafficOptions {
  double rate_per_s = 0;           // requests per second, Poisson arrivals
  std::string trace;               // or a CSV trace
  std::string input_tokens;        // distribution; empty: kDefaultInputTokens (not with --trace)
  std::string output_tokens;       // distribution; empty: kDefaultOutputTokens (not with --trace)
  double duration_s = 0;           // 0: 600 s with --rate, the trace's last arrival with --trace
  double warmup_s = -1;            // < 0: default_warmup_s()
  unsigned long long seed = 1;
  double max_batch = 0;            // traffic: 0 = the largest batch meeting the SLA at the traffic's batch context
  std::string admission = "reserve";
  int replicas = 1;                // traffic
  double sample_s = 0;             // traffic: time-series interval; 0 = duration / 1000
  double p99_tpot_ms = 0;          // plan: 0 = --tpot-ms
  double p99_queue_s = 0;          // plan: 0 = no limit
  bool requested() const { return rate_per_s > 0 || !trace.empty(); }
};

// The traffic options on `traffic` (plan = false) or on `plan` (plan = true).
void add_traffic_options(CLI::App* cmd, TrafficOptions& t, bool plan);
// Without --rate or --trace, `plan` searches at one context: its traffic options would go unused.
void check_plan_traffic_options(const CLI::App* plan, const TrafficOptions& t);
int traffic_command(const PipelineOptions& o, const TrafficOptions& t, Format f, const std::string& out_dir, std::ostream& out,
                    std::ostream& err);
int plan_traffic_command(const PipelineOptions& o, const TrafficOptions& t, Format f, const std::string& out_dir,
                         std::ostream& out);

}  // namespace decodesim::cli
