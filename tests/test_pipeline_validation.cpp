// The simulator against the served-pipeline bench's real runs on 2 and 4 H100s (bench/results/
// pipeline-h100x4/), timed by the calibration of the kernels those runs used: the targets are
// a median |simulated/measured - 1| of at most 10% and a worst of at most 20%. The runs are data, so
// this is recomputed on every build of the simulator.
#include <cmath>

#include "decodesim/validation.hpp"
#include "decodesim/writers.hpp"
#include "helpers.hpp"

using namespace decodesim;

namespace {

std::vector<ServedCheck> checks_of_committed_run() {
  const auto src = test::source_dir();
  const Hardware hw = load_hardware((src / kServedRunsHardware).string());
  const Calibration cal = load_calibration((src / kServedRunsCalibration).string());
  const ServingStack stack = load_serving_stack((src / kServedRunsServing).string());
  std::vector<ServedCheck> out;
  for (const ServedRun& r : load_served_runs((src / kServedRunsCsv).string())) {
    const Model m = load_model(r.model);
    out.push_back(check_served_run(r, m, Pool{hw, std::make_shared<CalibratedTimer>(hw, m.quant, cal)}, stack));
  }
  return out;
}

}  // namespace

TEST_CASE("the simulated decode step follows the real runs on one machine's GPUs", "[validation]") {
  const std::vector<ServedCheck> checks = checks_of_committed_run();
  REQUIRE(checks.size() >= 12);
  std::vector<double> e;
  for (const ServedCheck& c : checks) {
    INFO(c.run.deployment << " " << c.run.model << " batch " << c.run.batch << ": measured " << c.run.measured_tpot_ms << " ms, simulated "
                          << c.simulated_tpot_ms << " ms");
    CHECK(std::abs(c.error()) <= 0.20);
    e.push_back(std::abs(c.error()));
  }
  std::sort(e.begin(), e.end());
  const double median = e.size() % 2 ? e[e.size() / 2] : 0.5 * (e[e.size() / 2 - 1] + e[e.size() / 2]);
  CHECK(median <= 0.10);
}

TEST_CASE("the committed validation table is the simulator's current answer", "[validation]") {
  const Table t = validation_table(checks_of_committed_run());
  std::ifstream in(test::source_dir() / "bench/results/pipeline-validation.csv");
  std::stringstream committed;
  committed << in.rdbuf();
  CHECK(committed.str() == render_csv(t));  // rerun build/decodesim_pipeline_validation after a model change
}

TEST_CASE("a run's layers are the model's MoE layers and its deployment is at GPU granularity", "[validation]") {
  const Model m = load_model("step3");
  const Model l = moe_layers_only(m, 8);
  REQUIRE(l.num_layers() == 8);
  for (int i = 0; i < 8; ++i) CHECK(l.ffn(i).kind == FfnKind::moe);
  ServedRun r{"3A1F", "step3", 4, 4096, 384, 3, 8, "fp8", 50};
  const Hardware hw = load_hardware((test::source_dir() / kServedRunsHardware).string());
  CHECK_NOTHROW(check_served_run(r, m, Pool{hw, nullptr}, no_serving_overhead()));
  r.gpus = 5;
  CHECK_THROWS_AS(check_served_run(r, m, Pool{hw, nullptr}, no_serving_overhead()), InputError);
  CHECK_THROWS_AS(moe_layers_only(load_model("qwen3-32b"), 8), InputError);
}
