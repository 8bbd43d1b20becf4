// The simulator against real served runs: the pipeline bench's decode steps on the GPUs of one
// machine (bench/gpu/pipeline_bench.cu), simulated with the same deployment, batch, context, layers and
// link profile, timed by the same kernels' calibration.
#pragma once
#include <string>
#include <vector>

#include "decodesim/pipeline.hpp"
#include "decodesim/table.hpp"

namespace decodesim {

// The committed set of served runs (bench/results/pipeline-h100x4/), the machine they ran on (its
// measured link profile) and the calibration of the kernels they ran, all relative to the source tree. A run set is simulated with the calibration of its own
// kernels, not with whatever calibration ships later: a kernel made faster since would otherwise
// count as pipeline-model error. A new run set comes with a calibration of the same commit, named
// here; the current pair is also what ships (hardware/calibrated/h100.json).
inline constexpr const char* kServedRunsCsv = "bench/results/pipeline-h100x4/pipeline_bench.csv";
inline constexpr const char* kServedRunsHardware = "hardware/local/h100-nvlink.json";
inline constexpr const char* kServedRunsCalibration = "bench/results/h100-moe-3/calibrate/h100.json";
// How the bench issues its work (bench/gpu/pipeline_bench.cu): one CUDA graph per stage task, cross-GPU
// events between them, no sampler, a host thread per GPU that never waits for a step to end.
inline constexpr const char* kServedRunsServing = "serving/pipeline-bench.json";

// One measured configuration, as the bench's CSV writes it.
struct ServedRun {
  std::string deployment;  // "1A1F" (one GPU per instance) or "EP4" (one instance of all the GPUs)
  std::string model;       // the model whose layer shapes the bench ran
  int gpus = 0;
  double context = 0, batch = 0;
  int micro_batches = 0, layers = 0;
  std::string kv_dtype;
  double measured_tpot_ms = 0;
};

struct ServedCheck {
  ServedRun run;
  double simulated_tpot_ms = 0;
  double error() const { return simulated_tpot_ms / run.measured_tpot_ms - 1; }
};

// The bench's layers: `layers` copies of the model's (first) attention design, each with its (first)
// MoE FFN; the bench reuses one layer's weights and KV for every layer.
Model moe_layers_only(const Model& m, int layers);

// The run simulated on `pool` (both sides), with its deployment at GPU granularity, served by `stack`
// (the bench's own, kServedRunsServing).
ServedCheck check_served_run(const ServedRun& run, const Model& model, const Pool& pool, const ServingStack& stack);

// pipeline-validation: deployment, gpus, context, batch, micro_batches, measured and simulated TPOT.
Table validation_table(const std::vector<ServedCheck>& checks);

}  // namespace decodesim
