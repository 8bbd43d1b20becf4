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

// Chips as pools; a chip named by a calibration file is timed by its fitted kernels.
std::vector<Pool> pools(CalibrationSet& calibrations, const std::string& specs, const Model& m);
Pool one_pool(CalibrationSet& calibrations, const std::string& spec, const Model& m, const char* option);

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
