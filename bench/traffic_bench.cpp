// Benchmark (not a test): one hour of Poisson traffic on Step-3 2A2F (H800, datasheet peaks)
// near its capacity, as `decodesim traffic` runs it, on one thread; then the step-time grid's
// error against simulate() at random whole batches and contexts (docs/traffic.md). With
// --prefill-replicas N, P/D traffic instead, as `decodesim traffic --prefill-deployment` runs it:
// the prompts prefilled on N EP16 replicas, their KV transferred, decoded on 2A2F (docs/prefill.md).
//   build/decodesim_traffic_bench [--rate R] [--duration S] [--repeats N] [--grid-points N] [--prefill-replicas N]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <string>
#include <tuple>
#include <vector>

#include <fmt/format.h>

#include "decodesim/loader.hpp"
#include "decodesim/prefill.hpp"
#include "decodesim/served_traffic.hpp"

using namespace decodesim;
using Clock = std::chrono::steady_clock;

namespace {
double s_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }
}  // namespace

int main(int argc, char** argv) {
  double rate = 500, duration = 3600;
  int repeats = 3, grid_points = 4000, prefill_replicas = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--rate") rate = std::stod(argv[i + 1]);
    else if (a == "--duration") duration = std::stod(argv[i + 1]);
    else if (a == "--repeats") repeats = std::stoi(argv[i + 1]);
    else if (a == "--grid-points") grid_points = std::stoi(argv[i + 1]);
    else if (a == "--prefill-replicas") prefill_replicas = std::stoi(argv[i + 1]);
  }
  const Model m = load_model("step3");
  const Pool h800{load_hardware("h800"), nullptr};
  PipelineConfig c;
  c.deployment = parse_deployment("2A2F");
  c.micro_batches = 3;
  c.tpot_sla_ms = 50;
  // Prompts around 3K, 256-960 tokens out: 500 requests/s is about what 2A2F serves (docs/speed.md).
  LengthDist input{LengthDist::Kind::lognormal, 3072, 0.5}, output{LengthDist::Kind::uniform, 256, 960};

  if (prefill_replicas > 0) {
    PrefillConfig pc;
    pc.deployment = parse_deployment("EP16");
    pc.batch_tokens = 16384;
    std::vector<double> total_s;
    for (int r = 0; r < repeats; ++r) {
      const auto t0 = Clock::now();
      const std::vector<Request> requests = poisson_requests(rate, duration, input, output, 1);
      TrafficConfig run;
      run.duration_s = duration;
      run.warmup_s = default_warmup_s(mean_output_tokens(requests), c.tpot_sla_ms, duration);
      const ServedTraffic served = served_traffic(m, h800, h800, c, batch_mean_context(requests), 0, run);
      const PipelineStepTimer timer(m, h800, h800, c);
      const PrefillPromptTimer prefill(m, h800, h800, pc, kv_link(h800, pc.deployment, h800, c.deployment, 1.0));
      const TrafficResult result = simulate_pd_traffic(requests, prefill, prefill_replicas, 1, timer, served.config);
      total_s.push_back(s_since(t0));
      const TrafficSummary& s = result.summary;
      fmt::print("run {}: {} requests, {} steps, {} step-time and {} prefill simulations; {:.2f} s in all; prefill {:.0f} tok/s, "
                 "TTFT p50 {:.0f} ms p99 {:.0f} ms, KV transfer {:.1f} ms; decode {:.0f} tok/s, p99 TPOT {:.2f} ms, overloaded {}/{}\n",
                 r + 1, s.requests, s.steps, timer.simulations(), prefill.simulations(), total_s.back(), s.prefill_tokens_per_s,
                 s.ttft_p50_ms, s.ttft_p99_ms, s.kv_transfer_mean_ms, s.tokens_per_s, s.tpot_p99_ms, s.prefill_overloaded ? "yes" : "no",
                 s.overloaded ? "yes" : "no");
    }
    std::sort(total_s.begin(), total_s.end());
    fmt::print("median of {}: {:.2f} s for {:.0f} s of P/D traffic at {} requests/s\n", repeats, total_s[total_s.size() / 2], duration, rate);
    return 0;
  }

  std::vector<double> total_s, engine_s;
  for (int r = 0; r < repeats; ++r) {
    const auto t0 = Clock::now();
    const std::vector<Request> requests = poisson_requests(rate, duration, input, output, 1);
    const double generate_s = s_since(t0);
    TrafficConfig run;
    run.duration_s = duration;
    run.warmup_s = default_warmup_s(mean_output_tokens(requests), c.tpot_sla_ms, duration);
    const ServedTraffic served = served_traffic(m, h800, h800, c, batch_mean_context(requests), 0, run);
    const PipelineStepTimer timer(m, h800, h800, c);
    const auto t1 = Clock::now();
    const TrafficResult result = simulate_traffic(requests, timer, served.config);
    engine_s.push_back(s_since(t1));
    total_s.push_back(s_since(t0));
    const TrafficSummary& s = result.summary;
    fmt::print("run {}: {} requests ({:.2f} s to draw), {} steps, {} step-time simulations; engine {:.2f} s, total {:.2f} s; "
               "batch mean {:.0f} of {:.0f}, {:.0f} tok/s, p99 TPOT {:.2f} ms, overloaded {}\n",
               r + 1, s.requests, generate_s, s.steps, timer.simulations(), engine_s.back(), total_s.back(), s.batch_mean,
               served.config.max_batch, s.tokens_per_s, s.tpot_p99_ms, s.overloaded ? "yes" : "no");
  }
  std::sort(total_s.begin(), total_s.end());
  std::sort(engine_s.begin(), engine_s.end());
  fmt::print("{} s of traffic at {} requests/s: median {:.2f} s in all (engine {:.2f} s), min {:.2f} s, over {} runs\n", duration,
             rate, total_s[total_s.size() / 2], engine_s[engine_s.size() / 2], total_s.front(), repeats);

  // The grid against simulate(): whole batches 1..20,000 (log-uniform), contexts 100..40,100.
  for (const auto& [model, deployment, micro_batches] :
       {std::tuple{"step3", "2A2F", 3}, std::tuple{"deepseek-v3", "EP128", 2}, std::tuple{"qwen3-235b-a22b", "3A1F", 3}}) {
    PipelineConfig g;
    g.deployment = parse_deployment(deployment);
    g.micro_batches = micro_batches;
    const PipelineStepTimer timer(load_model(model), h800, h800, g);
    Rng rng(17);
    double worst = 0;
    for (int i = 0; i < grid_points; ++i) {
      const double batch = std::round(std::exp(rng.uniform() * std::log(20000.0))), context = 100 + rng.uniform() * 40000;
      const double direct = timer.simulate_ms(batch, context);
      worst = std::max(worst, std::abs(timer.step_ms(batch, context) - direct) / direct);
    }
    fmt::print("grid, {} {} on h800: worst error {:.3f}% over {} points; at the centres of the {} cells used {:.3f}%\n", model,
               deployment, 100 * worst, grid_points, timer.cells_used(), 100 * timer.max_cell_error());
  }
  return 0;
}
