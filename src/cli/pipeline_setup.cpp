#include "cli/pipeline_setup.hpp"

#include <memory>
#include <tuple>
#include <utility>

#include <fmt/format.h>

#include "decodesim/errors.hpp"
#include "decodesim/limits.hpp"
#include "decodesim/loader.hpp"

namespace decodesim::cli {

Model one_model(const std::string& spec) {
  std::vector<Model> ms = load_models(spec);
  if (ms.size() != 1) throw InputError(fmt::format("--model: '{}': give one model", printable(spec)));
  return std::move(ms.front());
}

CalibrationSet timing_calibrations(const std::string& timing, const std::vector<std::string>& files) {
  if (timing == "roofline") {
    if (!files.empty()) throw InputError("--timing roofline times kernels at datasheet peaks: drop --calibration, or use --timing calibrated");
    return CalibrationSet({});
  }
  if (timing != "calibrated") throw InputError(fmt::format("--timing: '{}': expected calibrated or roofline", timing));
  return CalibrationSet(files.empty() ? std::vector<std::string>{shipped_calibration_path()} : files);
}

std::string timing_note(const CalibrationSet& calibrations) {
  if (calibrations.empty())
    return "Roofline timing: every kernel at the chip's datasheet peaks, an upper bound on throughput (the default, "
           "--timing calibrated, uses measured kernels).";
  return "Calibrated timing: " + calibrations.describe() + "; --timing roofline gives the ideal upper bound.";
}

Model with_kv_option(Model m, const std::string& kv_dtype) {
  if (kv_dtype.empty()) return m;
  const std::optional<Dtype> kv = dtype_named(kv_dtype);
  if (!kv || (*kv != Dtype::bf16 && *kv != Dtype::fp8 && *kv != Dtype::fp4))
    throw InputError(fmt::format("--kv-dtype: '{}': expected bf16, fp8 or fp4", printable(kv_dtype)));
  set_kv_dtype(m.attention_types, m.quant, *kv);
  return m;
}

Model pipeline_model(const PipelineOptions& o) { return with_kv_option(one_model(o.model), o.kv_dtype); }

Deployment deployment(const PipelineOptions& o) {
  Deployment d = parse_deployment(o.deployment, o.gpus_per_instance);
  if (o.attention_tp > 0) d.attention_tp = o.attention_tp;
  if (o.ffn_tp > 0) d.ffn_tp = o.ffn_tp;
  check_deployment(d, "--attention-tp/--ffn-tp:");
  return d;
}

// DeepSeek-V3 Technical Report (arXiv 2412.19437), section 5.4.3: its MTP module's second token is
// accepted 85% to 90% of the time across generation topics; the lower end.
constexpr const char* kDefaultMtpAcceptance = "0.85";

Mtp mtp_option(int draft_tokens, const std::string& acceptance) {
  Mtp mtp;
  mtp.draft_tokens = draft_tokens;
  if (draft_tokens == 0 && !acceptance.empty()) throw InputError("--mtp-acceptance: applies only with --mtp K (K >= 1)");
  const std::string text = acceptance.empty() ? kDefaultMtpAcceptance : acceptance;
  for (size_t at = 0; draft_tokens > 0 && at <= text.size();) {
    const size_t comma = std::min(text.find(',', at), text.size());
    const std::optional<double> a = number_in(text.substr(at, comma - at), limits::kAcceptance);
    if (!a)
      throw InputError(fmt::format("--mtp-acceptance: '{}': expected acceptances in {}, one for every draft position or {} "
                                   "comma-separated (one per position)",
                                   printable(text), limits::to_string(limits::kAcceptance), draft_tokens));
    mtp.acceptance.push_back(*a);
    at = comma + 1;
  }
  check_mtp(mtp, "--mtp");
  return mtp;
}

int micro_batches_option(const PipelineOptions& o) {
  if (o.micro_batches == "auto") return 0;
  const std::optional<long long> n = integer_in(o.micro_batches, limits::kMicroBatches);
  if (!n)
    throw InputError(fmt::format("--micro-batches: '{}': expected auto or a count in {}", printable(o.micro_batches),
                                 limits::to_string(limits::kMicroBatches)));
  return static_cast<int>(*n);
}

ChipOption chips_of(const PipelineOptions& o, const std::string& specs, const char* option) {
  return specs.empty() ? ChipOption{o.hardware, "--hardware"} : ChipOption{specs, option};
}

std::vector<Pool> pools(CalibrationSet& calibrations, ChipOption chips, const Model& m) {
  std::vector<Pool> out;
  for (Hardware& h : load_hardware_list(chips.specs, chips.option)) {
    Pool p{h, nullptr};
    if (const Calibration* c = calibrations.for_chip(h)) p.timer = std::make_shared<CalibratedTimer>(h, m.quant, *c);
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
  if (s == "deepep") return Fanout::library;
  if (s == "per-instance") return Fanout::per_instance;
  if (s == "report") return Fanout::report;
  throw InputError(fmt::format("--fanout: '{}': expected deepep, per-instance or report", printable(s)));
}

// Each count adds a full set of candidates: 1..16 on one chip is 1,536 candidates, 0.7 s on the
// loaded 2-core build machine.
constexpr int kMaxSearchMicroBatches = 16;

// "3" or "2..4" -> {first, last}.
std::pair<int, int> parse_micro_batch_range(const std::string& s) {
  auto bad = [&]() -> std::pair<int, int> {
    throw InputError(fmt::format("--micro-batches-search: '{}': expected N or A..B with 1 <= A <= B <= {}", printable(s),
                                 kMaxSearchMicroBatches));
  };
  const size_t dots = s.find("..");
  const std::string first = s.substr(0, dots), last = dots == std::string::npos ? first : s.substr(dots + 2);
  const std::optional<long long> a = integer_in(first, {1, kMaxSearchMicroBatches}), b = integer_in(last, {1, kMaxSearchMicroBatches});
  if (!a || !b || *b < *a) return bad();
  return {static_cast<int>(*a), static_cast<int>(*b)};
}

}  // namespace

PipelineConfig base_config(const PipelineOptions& o) {
  PipelineConfig c;
  c.tpot_sla_ms = o.tpot_ms;
  c.transport.nic_efficiency = o.nic_efficiency;
  c.transport.fanout = parse_fanout(o.fanout);
  if (o.expert_imbalance > 0) c.transport.routing.imbalance = o.expert_imbalance;
  c.transport.routing.redundant_experts = o.redundant_experts;
  c.mtp = mtp_option(o.mtp, o.mtp_acceptance);
  if (!o.serving.empty()) c.serving = load_serving_stack(o.serving);
  return c;
}

PipelineConfig deployment_config(const PipelineOptions& o, const Deployment& d) {
  PipelineConfig c = base_config(o);
  c.deployment = d;
  c.micro_batches = micro_batches_option(o);
  return c;
}

int chosen_micro_batches(const Model& m, const DeploymentPools& pools, PipelineConfig c) {
  if (c.micro_batches > 0) return c.micro_batches;
  const std::optional<Plan> best = largest_batch_best_micro_batches(m, pools.attention, pools.ffn, c);
  return best ? best->result.config.micro_batches : kAutoMicroBatchesMin;
}

DeploymentPools deployment_pools(const PipelineOptions& o, const Deployment& d, const Model& m) {
  const bool ep = d.colocated();
  if (ep && (!o.attention_hardware.empty() || !o.ffn_hardware.empty()) && o.attention_hardware != o.ffn_hardware)
    throw InputError(fmt::format("--deployment {}: attention and FFN run on the same GPUs; give --hardware", d.name()));
  CalibrationSet calibrations = timing_calibrations(o.timing, o.calibrations);
  Pool attention = one_pool(calibrations, chips_of(o, o.attention_hardware, "--attention-hardware"), m);
  Pool ffn = ep ? attention : one_pool(calibrations, chips_of(o, o.ffn_hardware, "--ffn-hardware"), m);
  calibrations.check_used();
  return {std::move(attention), std::move(ffn), timing_note(calibrations)};
}

SearchSpace search_space(const PipelineOptions& o, const Model& m, std::string* note) {
  bool afd = false, ep = false, tp = false;
  std::string rest = o.deployments;
  for (size_t at = 0; at <= rest.size();) {
    const size_t comma = std::min(rest.find(',', at), rest.size());
    const std::string family = rest.substr(at, comma - at);
    if (family == "afd" || family == "all") afd = true;
    if (family == "ep" || family == "all") ep = true;
    if (family == "tp" || family == "all") tp = true;
    if (family != "afd" && family != "ep" && family != "tp" && family != "all")
      throw InputError(fmt::format("--deployments: '{}': expected afd, ep, tp or all, comma-separated", printable(o.deployments)));
    at = comma + 1;
  }
  CalibrationSet calibrations = timing_calibrations(o.timing, o.calibrations);
  SearchSpace space;
  space.gpus_per_instance = o.gpus_per_instance;
  space.exact_gpus = o.gpus, space.max_gpus = o.max_gpus;
  if (o.gpus > 0 && o.max_gpus > 0) throw InputError("plan: give --gpus (exactly N) or --max-gpus (at most N), not both");
  if (o.attention_tp > 0) space.afd_attention_tp = o.attention_tp, space.ep_attention_tps = {o.attention_tp};
  if (o.ffn_tp > 0) space.afd_ffn_tp = o.ffn_tp;
  space.ep = ep, space.tp = tp;
  if (!o.micro_batches_search.empty())
    std::tie(space.min_micro_batches, space.max_micro_batches) = parse_micro_batch_range(o.micro_batches_search);
  std::vector<Pool> attention = pools(calibrations, chips_of(o, o.attention_hardware, "--attention-hardware"), m);
  std::vector<Pool> ffn = pools(calibrations, chips_of(o, o.ffn_hardware, "--ffn-hardware"), m);
  calibrations.check_used();
  if (note) *note = timing_note(calibrations);
  if (ep || tp) {
    // Colocated deployments put everything on one chip: every chip named for either part is a candidate.
    for (const std::vector<Pool>* list : {&attention, &ffn})
      for (const Pool& p : *list) {
        bool dup = false;
        for (const Pool& q : space.colocated_chips) dup = dup || q.hw.id == p.hw.id;
        if (!dup) space.colocated_chips.push_back(p);
      }
  }
  if (afd) space.attention_chips = std::move(attention), space.ffn_chips = std::move(ffn);
  return space;
}

}  // namespace decodesim::cli
