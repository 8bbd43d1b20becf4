#include "cli/pipeline_setup.hpp"

#include <memory>

#include <fmt/format.h>

#include "decodesim/errors.hpp"
#include "decodesim/loader.hpp"

namespace decodesim::cli {

Model one_model(const std::string& spec) {
  std::vector<Model> ms = load_models(spec);
  if (ms.size() != 1) throw InputError(fmt::format("--model: '{}': give one model", printable(spec)));
  return std::move(ms.front());
}

ChipOption chips_of(const PipelineOptions& o, const std::string& specs, const char* option) {
  return specs.empty() ? ChipOption{o.hardware, "--hardware"} : ChipOption{specs, option};
}

std::vector<Pool> pools(CalibrationSet& calibrations, ChipOption chips, const Model& m) {
  std::vector<Pool> out;
  for (Hardware& h : load_hardware_list(chips.specs, chips.option)) {
    Pool p{h, nullptr};
    if (const Calibration* c = calibrations.for_chip(h.id)) p.timer = std::make_shared<CalibratedTimer>(h, m.quant, *c);
    out.push_back(std::move(p));
  }
  return out;
}

Pool one_pool(CalibrationSet& calibrations, ChipOption chips, const Model& m) {
  std::vector<Pool> ps = pools(calibrations, chips, m);
  if (ps.size() != 1) throw InputError(fmt::format("{}: '{}': give one chip", chips.option, printable(chips.specs)));
  return std::move(ps.front());
}

namespace {

Fanout parse_fanout(const std::string& s) {
  if (s == "per-instance") return Fanout::per_instance;
  if (s == "report") return Fanout::report;
  throw InputError(fmt::format("--fanout: '{}': expected per-instance or report", printable(s)));
}

}  // namespace

PipelineConfig base_config(const PipelineOptions& o) {
  PipelineConfig c;
  c.tpot_sla_ms = o.tpot_ms;
  c.nic_efficiency = o.nic_efficiency;
  c.fanout = parse_fanout(o.fanout);
  return c;
}

DeploymentPools deployment_pools(const PipelineOptions& o, const Deployment& d, const Model& m) {
  const bool ep = d.kind == DeploymentKind::ep;
  if (ep && (!o.attention_hardware.empty() || !o.ffn_hardware.empty()) && o.attention_hardware != o.ffn_hardware)
    throw InputError(fmt::format("--deployment {}: EP runs attention and FFN on the same GPUs; give --hardware", d.name()));
  CalibrationSet calibrations(o.calibrations);
  Pool attention = one_pool(calibrations, chips_of(o, o.attention_hardware, "--attention-hardware"), m);
  Pool ffn = ep ? attention : one_pool(calibrations, chips_of(o, o.ffn_hardware, "--ffn-hardware"), m);
  calibrations.check_used();
  return {std::move(attention), std::move(ffn)};
}

SearchSpace search_space(const PipelineOptions& o, const Model& m) {
  if (o.deployments != "afd" && o.deployments != "ep" && o.deployments != "all")
    throw InputError(fmt::format("--deployments: '{}': expected afd, ep or all", printable(o.deployments)));
  CalibrationSet calibrations(o.calibrations);
  SearchSpace space;
  const bool afd = o.deployments != "ep", ep = o.deployments != "afd";
  std::vector<Pool> attention = pools(calibrations, chips_of(o, o.attention_hardware, "--attention-hardware"), m);
  std::vector<Pool> ffn = pools(calibrations, chips_of(o, o.ffn_hardware, "--ffn-hardware"), m);
  calibrations.check_used();
  if (ep) {
    // EP puts everything on one chip: every chip named for either part is a candidate.
    for (const std::vector<Pool>* list : {&attention, &ffn})
      for (const Pool& p : *list) {
        bool dup = false;
        for (const Pool& q : space.ep_chips) dup = dup || q.hw.id == p.hw.id;
        if (!dup) space.ep_chips.push_back(p);
      }
  }
  if (afd) space.attention_chips = std::move(attention), space.ffn_chips = std::move(ffn);
  return space;
}

}  // namespace decodesim::cli
