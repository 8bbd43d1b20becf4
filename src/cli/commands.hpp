#pragma once
#include <map>
#include <optional>
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

// Calibration files for a set of chips: a chip takes the file measured on it, else the first
// file carried to it (carry_calibration); a file that no chip took is an error.
class CalibrationSet {
 public:
  explicit CalibrationSet(const std::vector<std::string>& files);
  const Calibration* for_chip(const Hardware& chip);  // nullptr: no files
  void check_used() const;
  bool empty() const { return files_.empty(); }
  // "kernels measured on <device> (<chip>), carried to <chips> by datasheet ratios (...)"; empty when none used.
  std::string describe() const;
  // The calibrations carried to chips so far.
  std::vector<const Calibration*> carried() const;

 private:
  const Hardware& measured_chip(size_t file, const Hardware& target);
  std::vector<std::string> files_;
  std::vector<Calibration> calibrations_;
  std::vector<std::optional<Hardware>> measured_;
  std::vector<std::vector<std::string>> served_;  // per file, the chips that took it
  std::map<std::pair<size_t, std::string>, Calibration> carried_;  // (file, chip): stable addresses
};

// Chips at the rates their (carried) calibrations achieved; `note` gets the line that says so.
std::vector<Hardware> calibrated(std::vector<Hardware> chips, const std::vector<std::string>& calibration_files,
                                 std::string* note = nullptr);

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
  std::string only;        // sweep families (decode, fp4, mtp, prefill, gemm, moe, layer); empty: all
  bool list = false;       // print the sweep's shapes and stop (no GPU)
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
  std::string deployment = "2A2F";      // simulate: xAyF, EPn or TPn (with -ATPn, -FTPn)
  std::string deployments = "all";      // plan: afd, ep, tp or all (comma-separated)
  int gpus_per_instance = 8;            // GPUs of one node (NVLink domain); an AFD instance is one node
  int attention_tp = 0;                 // GPUs sharing a request's heads; 0: the deployment's own (1 unless TPn or -ATPn)
  int ffn_tp = 0;                       // GPUs sharing every expert; 0: the deployment's own (1 unless TPn or -FTPn)
  int gpus = 0;                         // plan: exactly this many GPUs (deployments replicated to fill them); 0: any
  int max_gpus = 0;                     // plan: at most this many GPUs per deployment; 0: any
  std::string context = "4096";
  std::string kv_dtype;                 // bf16, fp8 or fp4 for every softmax-attention layer; empty: the model's own
  int mtp = 0;                          // MTP draft tokens per step (K); 0: plain decoding
  std::string mtp_acceptance;           // one acceptance, or one per draft position, comma-separated; empty: the default
  double batch = 0;                     // simulate: 0 = the largest batch meeting the SLA and memory
  std::string micro_batches = "auto";   // simulate, traffic: N, or auto (the best of 1..4 for the deployment)
  std::string micro_batches_search;     // plan: "N" or "A..B"; empty: 1..4
  std::string trace_file;               // simulate: the timeline as Chrome trace JSON
  double tpot_ms = 50;
  double nic_efficiency = 1.0;
  std::string fanout = "deepep";        // or "per-instance" (ideal transport) or "report": one network crossing per token each way
  double expert_imbalance = 0;          // measured max/mean routed load per GPU; 0: modelled (collectives.hpp)
  long redundant_experts = 0;           // EPLB's extra expert slots
  std::string serving;                  // serving stack id or JSON path; empty: ServingStack's defaults
  std::vector<std::string> calibrations;
  std::string timing = "calibrated";    // or "roofline": every kernel at datasheet peaks
  std::string rank_by = "tgs";          // plan: tgs or usd
  int top = 10;                         // plan: rows printed
};

int simulate_command(const PipelineOptions& o, Format f, const std::string& out_dir, std::ostream& out);
int plan_command(const PipelineOptions& o, Format f, const std::string& out_dir, std::ostream& out);

// `layer` (src/cli/layer_command.cpp): one attention layer per GPU at a deployment shape.
struct LayerOptions {
  std::string model = "step3";
  std::string hardware = "h800";
  std::string context = "8192";
  double batch = 256;                   // requests over all the GPUs
  int gpus = 4;
  std::string attention_parallel = "dp";
  int attention_tp = 0;  // 0: as --attention-parallel says
  std::string kv_dtype;                 // bf16, fp8 or fp4; empty: the model's
  int mtp = 0;                          // MTP draft tokens: K+1 query tokens per request
  std::string timing = "calibrated";
  std::vector<std::string> calibrations;
};
int layer_command(const LayerOptions& o, Format f, const std::string& out_dir, std::ostream& out);

// `validate` (src/cli/validate_command.cpp): every published figure against the simulator; `published`
// empty: bench/published.json of the data folders.
int validate_command(const std::string& published, Format f, const std::string& out_dir, std::ostream& out);

}  // namespace decodesim::cli

// `traffic` and `plan --rate/--trace` (src/cli/traffic_command.cpp): request-level serving.
namespace CLI {
class App;
}
namespace decodesim::cli {

// DeepSeek's prefill profile (github.com/deepseek-ai/profile-data): 16K tokens per GPU per forward in two micro-batches.
inline constexpr double kDefaultPrefillBatchTokens = 16384;
inline constexpr int kDefaultPrefillMicroBatches = 2;

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
  // Prefill. P/D: a prefill tier of prefill_replicas replicas of prefill_deployment (on
  // prefill_hardware, default --hardware) feeding the decode tier over the NICs; colocated: chunks of
  // colocated_prefill_tokens prompt tokens per decode step. Neither: requests arrive prefilled.
  std::string prefill_deployment;
  std::string prefill_hardware;
  int prefill_replicas = 1;
  double prefill_batch_tokens = kDefaultPrefillBatchTokens;  // per data-parallel group and forward
  int prefill_micro_batches = kDefaultPrefillMicroBatches;
  double colocated_prefill_tokens = 0;
  double p99_ttft_s = 0;                // plan: > 0 plans a P/D pair
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

// `prefill` (src/cli/prefill_command.cpp): prompt processing on one deployment.
namespace decodesim::cli {

struct PrefillOptions {
  double input_tokens = 4096;  // prompt length
  double batch_tokens = 0;     // tokens per forward of one data-parallel attention group; 0: one whole prompt
};
int prefill_command(const PipelineOptions& o, const PrefillOptions& p, Format f, const std::string& out_dir, std::ostream& out);

}  // namespace decodesim::cli
