// What simulate, plan and traffic (and, for timing and models, layer) build from the pipeline
// options, in one place: an option or default added for one of them applies to all.
#pragma once
#include <string>
#include <vector>

#include "cli/commands.hpp"
#include "decodesim/pipeline.hpp"
#include "decodesim/search.hpp"

namespace decodesim::cli {

Model one_model(const std::string& spec);
// The model with every softmax layer's KV in `kv_dtype` (--kv-dtype: bf16, fp8 or fp4; empty: as described).
Model with_kv_option(Model m, const std::string& kv_dtype);
// The model of --model, its KV precision replaced by --kv-dtype where given.
Model pipeline_model(const PipelineOptions& o);
// --deployment with --gpus-per-node, --attention-tp and --ffn-tp.
Deployment deployment(const PipelineOptions& o);
// --mtp and --mtp-acceptance, checked (default acceptance: kDefaultMtpAcceptance).
Mtp mtp_option(int draft_tokens, const std::string& acceptance);
// --micro-batches: the count, or 0 for auto.
int micro_batches_option(const PipelineOptions& o);

// The calibrations `--timing` asks for: none for roofline; for calibrated, the --calibration files
// or else the shipped H100 calibration. Roofline with --calibration files is an error.
CalibrationSet timing_calibrations(const std::string& timing, const std::vector<std::string>& files);
// The line that says which timing the pools got, for a table's notes.
std::string timing_note(const CalibrationSet& calibrations);

// The chips an option names, or --hardware's where it is not given, and the option to blame.
struct ChipOption {
  const std::string& specs;
  const char* option;
};
ChipOption chips_of(const PipelineOptions& o, const std::string& specs, const char* option);

// Chips as pools; with calibrations, a chip is timed by its (carried) fitted kernels.
std::vector<Pool> pools(CalibrationSet& calibrations, ChipOption chips, const Model& m);
Pool one_pool(CalibrationSet& calibrations, ChipOption chips, const Model& m);

// SLA and network settings shared by every pipeline command (deployment, batch and context are the caller's).
PipelineConfig base_config(const PipelineOptions& o);
// base_config for one deployment in --micro-batches (0: auto, see chosen_micro_batches).
PipelineConfig deployment_config(const PipelineOptions& o, const Deployment& d);

// The attention and FFN pools of one deployment (EP: one chip for both), calibrated as asked.
struct DeploymentPools {
  Pool attention, ffn;
  std::string timing_note;
};
DeploymentPools deployment_pools(const PipelineOptions& o, const Deployment& d, const Model& m);
// c.micro_batches, or for auto (0) the count of 1..4 whose largest feasible batch at c's context
// serves the most tokens per GPU per second (1 where none is feasible).
int chosen_micro_batches(const Model& m, const DeploymentPools& pools, PipelineConfig c);

// The deployments `plan` searches: AFD over the attention x FFN chips, EP over every chip named;
// `timing_note` gets the line that says how they are timed.
SearchSpace search_space(const PipelineOptions& o, const Model& m, std::string* timing_note = nullptr);

}  // namespace decodesim::cli
