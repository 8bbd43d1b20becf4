// What simulate, plan and traffic build from the pipeline options, in one place: an option or
// default added for one of them applies to all.
#pragma once
#include <string>
#include <vector>

#include "cli/commands.hpp"
#include "decodesim/pipeline.hpp"
#include "decodesim/search.hpp"

namespace decodesim::cli {

Model one_model(const std::string& spec);

// The chips an option names, or --hardware's where it is not given, and the option to blame.
struct ChipOption {
  const std::string& specs;
  const char* option;
};
ChipOption chips_of(const PipelineOptions& o, const std::string& specs, const char* option);

// Chips as pools; a chip named by a calibration file is timed by its fitted kernels.
std::vector<Pool> pools(CalibrationSet& calibrations, ChipOption chips, const Model& m);
Pool one_pool(CalibrationSet& calibrations, ChipOption chips, const Model& m);

// SLA and network settings shared by every pipeline command (deployment, batch and context are the caller's).
PipelineConfig base_config(const PipelineOptions& o);

// The attention and FFN pools of one deployment (EP: one chip for both), calibrated as asked.
struct DeploymentPools {
  Pool attention, ffn;
};
DeploymentPools deployment_pools(const PipelineOptions& o, const Deployment& d, const Model& m);

// The deployments `plan` searches: AFD over the attention x FFN chips, EP over every chip named.
SearchSpace search_space(const PipelineOptions& o, const Model& m);

}  // namespace decodesim::cli
