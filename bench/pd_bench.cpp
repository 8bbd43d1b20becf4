// Benchmark (not a test): one hour of P/D traffic at 500 requests/s on one thread, as `decodesim
// traffic --prefill-deployment` runs it: Step-3 prefilled on EP16 replicas (H800, datasheet peaks)
// and decoded on 2A2F, the prefill tier's queue, KV transfers and the decode engine (docs/prefill.md).
//   build/decodesim_pd_bench [--rate R] [--duration S] [--prefill-replicas N] [--repeats N]
#include <algorithm>
#include <chrono>
#include <string>
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
  int repeats = 3, prefill_replicas = 6;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--rate") rate = std::stod(argv[i + 1]);
    else if (a == "--duration") duration = std::stod(argv[i + 1]);
    else if (a == "--prefill-replicas") prefill_replicas = std::stoi(argv[i + 1]);
    else if (a == "--repeats") repeats = std::stoi(argv[i + 1]);
  }
  const Model m = load_model("step3");
  const Pool h800{load_hardware("h800"), nullptr};
  PipelineConfig c;
  c.deployment = parse_deployment("2A2F");
  c.micro_batches = 3;
  c.tpot_sla_ms = 50;
  PrefillConfig pc;
  pc.deployment = parse_deployment("EP16");
  pc.batch_tokens = 16384;
  // The traffic bench's: prompts around 3K, 256-960 tokens out; 500 requests/s near 2A2F's capacity.
  LengthDist input{LengthDist::Kind::lognormal, 3072, 0.5}, output{LengthDist::Kind::uniform, 256, 960};

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
