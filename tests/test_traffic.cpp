// Request-level serving: distributions, the engine against closed forms with synthetic step
// timers, the pipeline-backed step timer against simulate(), planning, and the CLI.
#include "helpers.hpp"

#include <cmath>
#include <numeric>

#include <fmt/format.h>

#include "decodesim/served_traffic.hpp"
#include "decodesim/trace.hpp"
#include "decodesim/writers.hpp"
#include "decodesim/traffic.hpp"

using namespace decodesim;

namespace {

// step = base + per_request * batch + per_context * mean context, in ms.
class LinearTimer final : public StepTimer {
 public:
  LinearTimer(double base_ms, double per_request_ms = 0, double per_context_ms = 0)
      : base_(base_ms), per_request_(per_request_ms), per_context_(per_context_ms) {}
  double step_ms(double batch, double context) const override {
    ++calls;
    last_batch = batch, last_context = context;
    return base_ + per_request_ * batch + per_context_ * context;
  }
  mutable long calls = 0;
  mutable double last_batch = 0, last_context = 0;

 private:
  double base_, per_request_, per_context_;
};

// Records the smallest and largest mean context it was asked about.
class ContextRange final : public StepTimer {
 public:
  double step_ms(double, double context) const override {
    lo = std::min(lo, context), hi = std::max(hi, context);
    return 20;
  }
  mutable double lo = 1e300, hi = 0;
};

// Roomy memory: one byte per token, a terabyte for the deployment.
TrafficConfig roomy(double duration_s, double max_batch) {
  TrafficConfig c;
  c.duration_s = duration_s;
  c.max_batch = max_batch;
  c.kv_bytes_per_token = 1;
  c.kv_capacity_bytes = c.kv_request_limit_bytes = 1e12;
  c.gpus = 4;
  c.usd_per_hour = 8;
  return c;
}

std::vector<Request> fixed(const std::vector<double>& arrivals, long input, long output) {
  std::vector<Request> out;
  for (double t : arrivals) out.push_back({t, input, output});
  return out;
}

// A run of duration_s whose first warmup_s are not measured; the deployment fills in the rest.
TrafficConfig run_of(double duration_s, double warmup_s) {
  TrafficConfig c;
  c.duration_s = duration_s;
  c.warmup_s = warmup_s;
  return c;
}

LengthDist dist(const std::string& s) { return parse_length_dist(s, "--test"); }

double mean_of(const std::vector<double>& v) { return std::accumulate(v.begin(), v.end(), 0.0) / double(v.size()); }

Pool pool(const std::string& id) { return Pool{load_hardware(id), nullptr}; }

// Step-3 2A2F, 3 micro-batches, on H800 at datasheet peaks: what `traffic --model step3
// --hardware h800` serves by default.
struct Step3OnH800 {
  Model model = load_model("step3");
  Pool h800 = pool("h800");
  PipelineConfig config = [] {
    PipelineConfig c;
    c.deployment = parse_deployment("2A2F");
    c.micro_batches = 3;
    return c;
  }();
  ServedTraffic serve(const std::vector<Request>& rs, const TrafficConfig& run, double max_batch = 0) const {
    return served_traffic(model, h800, h800, config, batch_mean_context(rs), max_batch, run);
  }
  TrafficResult traffic(const std::vector<Request>& rs, const TrafficConfig& c) const {
    const PipelineStepTimer timer(model, h800, h800, config);
    return simulate_traffic(rs, timer, c);
  }
  PipelineResult steady(double batch, double context) const {
    PipelineConfig c = config;
    c.batch = batch, c.context_tokens = context;
    return simulate(model, h800, h800, c);
  }
};

}  // namespace

// ---- Distributions ---------------------------------------------------------------------------

TEST_CASE("length distributions parse, and bad ones say what was expected", "[traffic][dist]") {
  const LengthDist f = dist("4096");
  CHECK(f.kind == LengthDist::Kind::fixed);
  CHECK(f.a == 4096);
  const LengthDist u = dist("uniform:1:8");
  CHECK(u.kind == LengthDist::Kind::uniform);
  CHECK(u.a == 1);
  CHECK(u.b == 8);
  const LengthDist l = dist("lognormal:3072:0.8");
  CHECK(l.kind == LengthDist::Kind::lognormal);
  CHECK(l.a == 3072);
  CHECK(l.b == 0.8);
  CHECK(l.text() == "lognormal:3072:0.8");
  for (const char* bad : {"", "0", "-5", "1.5", "4k", "uniform:5:2", "uniform:0:2", "uniform:1", "uniform:a:b",
                          "lognormal:0.5:1", "lognormal:100:-1", "lognormal:100", "normal:1:2", "uniform:1:2:3"}) {
    INFO(bad);
    try {
      parse_length_dist(bad, "--output-tokens");
      FAIL("accepted");
    } catch (const InputError& e) {
      CHECK_THAT(e.what(), Catch::StartsWith("--output-tokens: '") && Catch::Contains("uniform:MIN:MAX"));
    }
  }
}

TEST_CASE("the generator is mt19937_64 with our own transforms, and a seed repeats", "[traffic][dist]") {
  // The C++ standard fixes mt19937_64's 10000th output for the default seed 5489.
  Rng rng(5489);
  for (int i = 0; i < 9999; ++i) rng.uniform();
  CHECK(rng.uniform() == double(9981545732273789042ULL >> 11) * 0x1.0p-53);

  const LengthDist in = dist("lognormal:3072:0.8"), out = dist("uniform:16:512");
  const std::vector<Request> a = poisson_requests(50, 100, in, out, 7), b = poisson_requests(50, 100, in, out, 7);
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    CHECK(a[i].arrival_s == b[i].arrival_s);
    CHECK(a[i].input_tokens == b[i].input_tokens);
    CHECK(a[i].output_tokens == b[i].output_tokens);
  }
  const std::vector<Request> c = poisson_requests(50, 100, in, out, 8);
  CHECK((c.size() != a.size() || c[0].arrival_s != a[0].arrival_s));
}

TEST_CASE("distribution moments match their parameters", "[traffic][dist]") {
  Rng rng(11);
  const int n = 200000;
  std::vector<double> u, l, logs;
  long u_min = 1 << 30, u_max = 0;
  for (int i = 0; i < n; ++i) {
    const long x = rng.sample(dist("uniform:1:100"));
    u_min = std::min(u_min, x), u_max = std::max(u_max, x);
    u.push_back(double(x));
    const long y = rng.sample(dist("lognormal:3072:0.8"));
    l.push_back(double(y));
    logs.push_back(std::log(double(y)));
    CHECK(rng.sample(dist("77")) == 77);
  }
  CHECK(u_min == 1);
  CHECK(u_max == 100);
  CHECK(mean_of(u) == Approx(50.5).epsilon(0.005));
  CHECK(mean_of(l) == Approx(3072).epsilon(0.02));
  const double mu = mean_of(logs);
  double var = 0;
  for (double x : logs) var += (x - mu) * (x - mu);
  CHECK(std::sqrt(var / n) == Approx(0.8).epsilon(0.01));
  CHECK(mu == Approx(std::log(3072.0) - 0.32).epsilon(0.002));

  // Poisson: the count within 4 sigma, gaps averaging 1 / rate.
  const std::vector<Request> rs = poisson_requests(200, 500, dist("10"), dist("10"), 3);
  CHECK(std::abs(double(rs.size()) - 1e5) < 4 * std::sqrt(1e5));
  CHECK(rs.back().arrival_s / double(rs.size()) == Approx(1.0 / 200).epsilon(0.02));
  CHECK(std::is_sorted(rs.begin(), rs.end(), [](const Request& a, const Request& b) { return a.arrival_s < b.arrival_s; }));
}

TEST_CASE("a trace is read, sorted and checked line by line", "[traffic][trace]") {
  test::TempDir d;
  const auto good = d.write("t.csv", "arrival_s,input_tokens,output_tokens\n# a comment\n0.5,100,10\n\n0.25,200,20\r\n");
  const std::vector<Request> rs = load_trace(good.string());
  REQUIRE(rs.size() == 2);
  CHECK(rs[0].arrival_s == 0.25);
  CHECK(rs[0].input_tokens == 200);
  CHECK(rs[1].output_tokens == 10);
  CHECK(load_trace(d.write("h.csv", "1,2,3\n").string()).size() == 1);  // the header is optional

  const std::pair<std::string, std::string> bad[] = {
      {"arrival,input,output\n1,2,3\n", "line 1: expected the header"},
      {"arrival_s,input_tokens,output_tokens\n1,2\n", "line 2: expected 3 fields"},
      {"0,2,3\n-1,2,3\n", "line 2: arrival_s: expected seconds in [0, 1e+07], got '-1'"},
      {"0,abc,3\n", "line 1: input_tokens: expected a whole number of tokens >= 1, got 'abc'"},
      {"0,2,0\n", "line 1: output_tokens"},
      {"0,2,2.5\n", "line 1: output_tokens"},
      {"# nothing\n", "no requests"},
  };
  for (const auto& [text, expect] : bad) {
    INFO(text);
    const auto p = d.write("bad.csv", text);
    try {
      load_trace(p.string());
      FAIL("accepted");
    } catch (const InputError& e) {
      CHECK_THAT(e.what(), Catch::StartsWith(p.string()) && Catch::Contains(expect));
    }
  }
  CHECK_THROWS_AS(load_trace((d.path / "missing.csv").string()), InputError);
  CHECK_THROWS_AS(load_trace(d.path.string()), InputError);
}

// ---- The engine, closed forms -----------------------------------------------------------------

TEST_CASE("one request: its steps, its TPOT and its finish in closed form", "[traffic][engine]") {
  // Step = 1 ms + 1 us per token of context; the context runs 100..109 over its 10 steps.
  const LinearTimer timer(1.0, 0, 0.001);
  const TrafficResult r = simulate_traffic(fixed({0.5}, 100, 10), timer, roomy(1.0, 8));
  const TrafficSummary& s = r.summary;
  CHECK(s.requests == 1);
  CHECK(s.completed == 1);
  CHECK(s.steps == 10);
  CHECK(timer.calls == 10);
  CHECK(timer.last_context == 109);
  CHECK(s.tpot_p50_ms == Approx(1.0 + 0.001 * 104.5).epsilon(1e-12));
  CHECK(s.tpot_p99_ms == s.tpot_p50_ms);
  CHECK(s.queue_p99_s == 0);
  CHECK(s.batch_max == 1);
  CHECK(s.tokens_per_s == Approx(10.0));  // 10 tokens in a one-second run
  CHECK(s.batch_mean == Approx(10 * 1.1045e-3).epsilon(1e-9));
  CHECK(s.kv_peak_bytes == 110);
  CHECK_FALSE(s.overloaded);
  long arrivals = 0, completed = 0, steps = 0;
  for (const TrafficSample& x : r.series) arrivals += x.arrivals, completed += x.completed, steps += x.steps;
  CHECK(arrivals == 1);
  CHECK(completed == 1);
  CHECK(steps == 10);
}

TEST_CASE("fixed lengths at a steady pace keep an exact batch", "[traffic][engine]") {
  // Steps of 1/1024 s (exact in binary); a request every 10 steps lives 50 steps, so 5 run at once.
  const double step = 1.0 / 1024;
  std::vector<double> arrivals;
  for (int i = 0; i < 1000; ++i) arrivals.push_back(10 * step * i);
  TrafficConfig c = roomy(1000 * 10 * step, 100);
  c.warmup_s = 100 * step;
  const LinearTimer timer(step * 1e3);
  const TrafficSummary s = simulate_traffic(fixed(arrivals, 64, 50), timer, c).summary;
  CHECK(s.batch_mean == Approx(5).epsilon(1e-9));
  CHECK(s.batch_max == 5);
  CHECK(s.tokens_per_s == Approx(5 * 1024).epsilon(1e-9));
  CHECK(s.tpot_p50_ms == Approx(step * 1e3).epsilon(1e-12));
  CHECK(s.tpot_p99_ms == Approx(step * 1e3).epsilon(1e-12));
  CHECK(s.step_p99_ms == Approx(step * 1e3).epsilon(1e-12));
  CHECK(s.queue_p99_s == 0);
  CHECK(s.context_mean == Approx(64 + 24.5).epsilon(1e-12));
  CHECK(s.tgs == Approx(5 * 1024 / 4.0));
  CHECK(s.usd_per_mtok == Approx(8 / 3600.0 / (5 * 1024) * 1e6));
}

TEST_CASE("Little's law holds for the running batch and for the queue", "[traffic][engine]") {
  // No limit: every request spends exactly O steps of tau in the batch.
  const double rate = 400, tau_ms = 5;
  const long O = 40;
  const std::vector<Request> rs = poisson_requests(rate, 400, dist("128"), dist(std::to_string(O)), 5);
  TrafficConfig c = roomy(400, 1e9);
  c.warmup_s = 20;
  const TrafficSummary free_run = simulate_traffic(rs, LinearTimer(tau_ms), c).summary;
  CHECK(free_run.batch_mean == Approx(rate * O * tau_ms * 1e-3).epsilon(0.02));
  CHECK(free_run.tpot_p99_ms == Approx(tau_ms));

  // A batch limit near the load: a queue forms, and its mean equals rate x mean wait.
  c.max_batch = 82;  // capacity 82 / (40 x 5 ms) = 410 requests/s
  const TrafficSummary limited = simulate_traffic(rs, LinearTimer(tau_ms), c).summary;
  REQUIRE(limited.queue_wait_mean_s > 0.01);
  CHECK(limited.queue_mean == Approx(rate * limited.queue_wait_mean_s).epsilon(0.03));
  CHECK(limited.batch_max == 82);
  CHECK_FALSE(limited.overloaded);
}

TEST_CASE("overload is detected when arrivals outpace the service", "[traffic][engine]") {
  // 100 requests of 10 steps of 10 ms at once: capacity 1000 requests per second.
  const LinearTimer timer(10);
  TrafficConfig c = roomy(60, 100);
  for (const auto& [rate, overloaded] : {std::pair{800.0, false}, std::pair{950.0, false}, std::pair{1050.0, true},
                                         std::pair{1500.0, true}}) {
    INFO(rate);
    const TrafficSummary s = simulate_traffic(poisson_requests(rate, 60, dist("10"), dist("10"), 1), timer, c).summary;
    CHECK(s.overloaded == overloaded);
    if (overloaded) {
      CHECK(s.queue_end > s.queue_mid);
      CHECK(s.tokens_per_s == Approx(100 * 100).epsilon(0.01));  // saturated: the full batch every step
    }
  }
}

TEST_CASE("reserve admits by final context and never preempts; grow packs more and preempts", "[traffic][engine]") {
  // One byte per token, 1000 bytes: reserving 100 tokens each fits 10 requests.
  TrafficConfig c = roomy(10, 1000);
  c.kv_capacity_bytes = 1000;
  c.kv_request_limit_bytes = 500;
  const std::vector<Request> rs = poisson_requests(40, 10, dist("90"), dist("10"), 2);
  const LinearTimer timer(20);
  const TrafficSummary reserve = simulate_traffic(rs, timer, c).summary;
  CHECK(reserve.batch_max == 10);
  CHECK(reserve.preemptions == 0);
  CHECK(reserve.kv_peak_bytes <= 1000);

  c.admission = Admission::grow;
  c.duration_s = 200;  // long enough for everyone to finish
  // 80 + 20 tokens: 12 start (12 x 81 bytes fit, 13 do not), growth then forces preemptions
  // down to the 10 that hold their final 100 tokens.
  const std::vector<Request> burst = fixed(std::vector<double>(30, 0.0), 80, 20);
  const TrafficSummary grow = simulate_traffic(burst, timer, c).summary;
  CHECK(grow.batch_max == 12);
  CHECK(grow.preemptions > 0);
  CHECK(grow.kv_peak_bytes <= 1000);
  CHECK(grow.completed == 30);
  // Preempted requests keep their tokens: every output token is made exactly once.
  CHECK(grow.tokens_per_s * grow.measured_s == Approx(30 * 20));
  // Contexts stay those of real requests through preemptions and restarts: 80 .. 99 during a step.
  const ContextRange range;
  CHECK(simulate_traffic(burst, range, c).summary.preemptions == grow.preemptions);
  CHECK(range.lo >= 80);
  CHECK(range.hi <= 99);
  c.admission = Admission::reserve;
  const TrafficSummary reserved = simulate_traffic(burst, timer, c).summary;
  CHECK(reserved.batch_max == 10);
  CHECK(reserved.preemptions == 0);
  CHECK(reserved.tokens_per_s * reserved.measured_s == Approx(30 * 20));
}

TEST_CASE("a request that fits no attention GPU is rejected, the rest are served", "[traffic][engine]") {
  TrafficConfig c = roomy(10, 100);
  c.kv_request_limit_bytes = 1000;
  std::vector<Request> rs = fixed({0.0, 0.1, 0.2}, 100, 10);
  rs[1].input_tokens = 5000;
  const TrafficSummary s = simulate_traffic(rs, LinearTimer(1), c).summary;
  CHECK(s.rejected == 1);
  CHECK(s.completed == 2);
  CHECK_FALSE(s.overloaded);
}

TEST_CASE("the engine refuses unsorted requests and bad settings", "[traffic][engine]") {
  const LinearTimer timer(1);
  CHECK_THROWS_AS(simulate_traffic(fixed({1.0, 0.5}, 10, 10), timer, roomy(2, 8)), std::invalid_argument);
  TrafficConfig c = roomy(2, 8);
  c.warmup_s = 2;
  CHECK_THROWS_AS(simulate_traffic(fixed({0.0}, 10, 10), timer, c), std::invalid_argument);
  CHECK_THROWS_AS(simulate_traffic(fixed({0.0}, 10, 10), LinearTimer(-1), roomy(2, 8)), std::runtime_error);
}

// ---- On the served pipeline -------------------------------------------------------------------

TEST_CASE("the step-time grid stays within 2% of simulate() everywhere", "[traffic][grid]") {
  struct Case {
    const char* model;
    const char* deployment;
    int micro_batches;
  };
  for (const Case& k : {Case{"step3", "2A2F", 3}, Case{"deepseek-v3", "EP128", 2}, Case{"qwen3-235b-a22b", "3A1F", 3}}) {
    INFO(k.model << " " << k.deployment);
    const Model m = load_model(k.model);
    PipelineConfig c;
    c.deployment = parse_deployment(k.deployment);
    c.micro_batches = k.micro_batches;
    const PipelineStepTimer timer(m, pool("h800"), pool("h800"), c);
    Rng rng(17);
    double worst = 0;
    for (int i = 0; i < 200; ++i) {
      const double batch = std::exp(rng.uniform() * std::log(20000.0)), context = 100 + rng.uniform() * 40000;
      const double grid = timer.step_ms(batch, context), direct = timer.simulate_ms(batch, context);
      worst = std::max(worst, std::abs(grid - direct) / direct);
    }
    CHECK(worst < 0.02);
    CHECK(timer.max_cell_error() < 0.02);
    // On a grid node the grid is simulate() itself.
    const double line = PipelineStepTimer::grid_line(PipelineStepTimer::grid_index(4096));
    CHECK(timer.step_ms(16, line) == timer.simulate_ms(16, line));
  }
  for (double x : {1.0, 2.0, 31.9, 32.0, 33.0, 4096.0, 1e6})
    CHECK(PipelineStepTimer::grid_line(PipelineStepTimer::grid_index(x)) <= x);
  CHECK(PipelineStepTimer::grid_line(PipelineStepTimer::grid_index(4096.0) + 1) > 4096.0);
}

TEST_CASE("fixed lengths at full load agree with simulate's steady state within 2%", "[traffic][consistency]") {
  const Step3OnH800 d;
  // 3584 prompt + 1024 generated: the batch averages 4095.5 tokens of context.
  const TrafficConfig run = run_of(200, 80);
  const std::vector<Request> rs = poisson_requests(400, run.duration_s, dist("3584"), dist("1024"), 1);
  const ServedTraffic served = d.serve(rs, run, 6144);
  CHECK(served.batch_limited_by == "given");
  const TrafficSummary s = d.traffic(rs, served.config).summary;
  CHECK(s.overloaded);
  CHECK(s.batch_mean == Approx(6144).epsilon(1e-6));

  const PipelineResult ref = d.steady(6144, 3584 + 1023 / 2.0);
  CHECK(s.tokens_per_s == Approx(ref.tokens_per_s).epsilon(0.02));
  CHECK(s.tgs == Approx(ref.tgs).epsilon(0.02));
  CHECK(s.usd_per_mtok == Approx(ref.usd_per_mtok).epsilon(0.02));
  CHECK(s.tpot_p50_ms == Approx(ref.tpot_ms).epsilon(0.02));
}

TEST_CASE("at steady load below capacity, TPOT is simulate's at the measured batch", "[traffic][consistency]") {
  const Step3OnH800 d;
  const TrafficConfig run = run_of(300, 100);
  const std::vector<Request> rs = poisson_requests(60, run.duration_s, dist("3072"), dist("2048"), 4);
  const ServedTraffic served = d.serve(rs, run);
  CHECK(served.config.max_batch > 4000);
  const TrafficSummary s = d.traffic(rs, served.config).summary;
  CHECK_FALSE(s.overloaded);
  CHECK(s.tokens_per_s == Approx(60 * 2048).epsilon(0.03));
  CHECK(s.tpot_p50_ms == Approx(d.steady(s.batch_mean, s.context_mean).tpot_ms).epsilon(0.02));
}

TEST_CASE("the served KV model and batch limit come from memory_check and largest_batch", "[traffic][served]") {
  const Step3OnH800 d;
  const ServedTraffic s = served_traffic(d.model, d.h800, d.h800, d.config, 4096, 0, TrafficConfig{});
  PipelineConfig c = d.config;
  c.context_tokens = 4096;
  const std::optional<Plan> p = largest_batch(d.model, d.h800, d.h800, c);
  REQUIRE(p);
  CHECK(s.config.max_batch == p->result.config.batch);
  CHECK(s.batch_limited_by == p->limited_by);
  c.batch = 16;  // one request per attention GPU
  const MemoryCheck one = memory_check(d.model, d.h800, d.h800, c);
  CHECK(s.config.kv_bytes_per_token * 4096 + s.config.kv_fixed_bytes == Approx(one.attention_kv_bytes));
  CHECK(s.config.kv_request_limit_bytes == Approx(one.attention_capacity_bytes - one.attention_weight_bytes));
  CHECK(s.config.kv_capacity_bytes == Approx(16 * s.config.kv_request_limit_bytes));
  CHECK(s.config.usd_per_hour == Approx(32 * 2.0));
  CHECK(s.config.gpus == 32);
}

TEST_CASE("a seed repeats the whole run exactly", "[traffic][seed]") {
  const Step3OnH800 d;
  const TrafficConfig run = run_of(60, 10);
  auto once = [&](std::uint64_t seed) {
    const std::vector<Request> rs = poisson_requests(80, 60, dist("lognormal:2048:0.7"), dist("uniform:64:1024"), seed);
    return render_csv(traffic_timeseries_table(d.traffic(rs, d.serve(rs, run).config)));
  };
  const std::string a = once(9), b = once(9), other = once(10);
  CHECK(a == b);
  CHECK(a != other);
}

TEST_CASE("plan: the cheapest replicas that meet the p99 TPOT, none fewer", "[traffic][plan]") {
  const Model m = load_model("step3");
  SearchSpace space;
  space.attention_chips = {pool("h800"), pool("h20")};
  space.ffn_chips = {pool("h800")};
  space.max_attention_instances = 3, space.max_ffn_instances = 2;
  space.min_micro_batches = space.max_micro_batches = 3;
  const PipelineConfig base;
  TrafficDemand demand;
  demand.rate_per_s = 600;
  demand.input = dist("3072");
  demand.output = dist("512");
  demand.duration_s = 80;
  // A request lives at most 512 x 50 ms = 25.6 s under the SLA: after 30 s the batch is full.
  const TrafficConfig run = run_of(80, 30);
  const TrafficSla sla{50, 0};
  TrafficPlanStats stats;
  const std::vector<TrafficPlan> plans = plan_traffic(m, space, base, demand, sla, run, 3, &stats);
  REQUIRE(plans.size() == 3);
  CHECK(stats.evaluated < stats.search.candidates);  // the bound pruned
  for (size_t i = 0; i + 1 < plans.size(); ++i) CHECK(plans[i].usd_per_hour <= plans[i + 1].usd_per_hour);
  for (const TrafficPlan& p : plans) {
    CHECK(sla.met_by(p.summary));
    CHECK(p.summary.tokens_per_s * p.replicas == Approx(600 * 512).epsilon(0.05));
    if (p.replicas > 1) {
      // One replica fewer fails: its share overloads it or breaks the SLA.
      const PipelineStepTimer timer(m, pool(p.deployment.result.attention_hw), pool(p.deployment.result.ffn_hw),
                                    p.deployment.result.config);
      CHECK_FALSE(sla.met_by(simulate_traffic(demand.replica_share(p.replicas - 1), timer, p.config).summary));
    }
  }
  // Pruning leaves the answer as an exhaustive search would find it.
  const std::vector<TrafficPlan> all = plan_traffic(m, space, base, demand, sla, run, 1000);
  REQUIRE(all.size() >= 3);
  for (size_t i = 0; i < 3; ++i) {
    CHECK(all[i].usd_per_hour == plans[i].usd_per_hour);
    CHECK(all[i].deployment.result.config.deployment.name() == plans[i].deployment.result.config.deployment.name());
  }
}

// ---- The command line --------------------------------------------------------------------------

using test::lines;
using test::Result;
using test::run;

TEST_CASE("traffic --rate prints the summary with the documented columns and writes its files", "[traffic][cli]") {
  test::TempDir d;
  const std::string out = (d.path / "res").string();
  const Result r = run("traffic --model step3 --hardware h800 --deployment 2A2F --rate 50 --duration 120 --seed 3 "
                       "--input-tokens lognormal:2048:0.5 --output-tokens uniform:128:1024 --format csv --out '" + out + "'");
  REQUIRE(r.code == 0);
  const std::string header = r.out.substr(0, r.out.find('\n'));
  size_t at = 0;
  for (const char* col : {"requests", "completed", "tokens_per_s", "tgs", "usd_per_mtok", "tpot_p50_ms", "tpot_p90_ms",
                          "tpot_p99_ms", "queue_p50_s", "queue_p99_s", "batch_mean", "batch_max", "kv_peak_bytes", "overloaded"}) {
    INFO(col);
    const size_t p = header.find(std::string(",") + col + ",");
    REQUIRE(p != std::string::npos);
    CHECK(p >= at);
    at = p;
  }
  CHECK(lines(r.out) == 2);
  for (const char* f : {"traffic.csv", "traffic_timeseries.csv", "traffic-timeseries.dat", "traffic-timeseries.gp"}) {
    INFO(f);
    CHECK(std::filesystem::exists(d.path / "res" / f));
  }
  const std::string series = test::read_file(d.path / "res" / "traffic_timeseries.csv");
  CHECK(series.substr(0, series.find('\n')).starts_with("time_s,arrivals,completed,preemptions,steps,batch,queue,step_ms"));
  CHECK(lines(series) == 1 + 1000);
  if (std::system("command -v gnuplot >/dev/null 2>&1") == 0)
    CHECK(std::filesystem::file_size(d.path / "res" / "traffic-timeseries.png") > 1000);

  // The same seed writes the same bytes.
  const std::string again = (d.path / "again").string();
  REQUIRE(run("traffic --model step3 --hardware h800 --deployment 2A2F --rate 50 --duration 120 --seed 3 "
              "--input-tokens lognormal:2048:0.5 --output-tokens uniform:128:1024 --format csv --out '" + again + "'")
              .code == 0);
  for (const char* f : {"traffic.csv", "traffic_timeseries.csv", "traffic-timeseries.dat"})
    CHECK(test::read_file(d.path / "res" / f) == test::read_file(d.path / "again" / f));
}

TEST_CASE("traffic --trace serves the trace's requests", "[traffic][cli]") {
  test::TempDir d;
  std::string csv = "arrival_s,input_tokens,output_tokens\n";
  for (int i = 0; i < 400; ++i) csv += fmt::format("{},{},{}\n", 0.05 * i, 1000 + 10 * i, 50 + i % 200);
  const auto trace = d.write("trace.csv", csv);
  const Result r = run("traffic --model step3 --hardware h800 --deployment 1A1F --trace '" + trace.string() +
                       "' --duration 40 --warmup-s 5 --format json");
  REQUIRE(r.code == 0);
  const auto j = nlohmann::json::parse(r.out);
  const auto& row = j["rows"][0];
  CHECK(row["requests"].get<double>() == 400);
  CHECK(row["completed"].get<double>() == 400);
  CHECK(row["overloaded"].get<std::string>() == "no");
  CHECK(row["deployment"].get<std::string>() == "1A1F");
}

TEST_CASE("traffic: bad distributions, traces and options give one line, exit 2, nothing written", "[traffic][cli]") {
  test::TempDir d;
  const std::string out = (d.path / "res").string();
  const auto bad_trace = d.write("bad.csv", "arrival_s,input_tokens,output_tokens\n0,100,10\n1,x,10\n");
  const auto empty_trace = d.write("empty.csv", "arrival_s,input_tokens,output_tokens\n");
  const std::string base = "traffic --model step3 --hardware h800 --out '" + out + "' ";
  const std::pair<std::string, std::string> cases[] = {
      {"--rate 10 --input-tokens uniform:5:2", "--input-tokens: 'uniform:5:2': expected"},
      {"--rate 10 --output-tokens lognormal:abc:1", "--output-tokens: 'lognormal:abc:1'"},
      {"--rate 10 --output-tokens 0", "--output-tokens: '0'"},
      {"--trace '" + bad_trace.string() + "'", bad_trace.string() + ": line 3: input_tokens"},
      {"--trace '" + empty_trace.string() + "'", "no requests"},
      {"--trace '" + (d.path / "none.csv").string() + "'", "cannot read file"},
      {"--trace '" + bad_trace.string() + "' --input-tokens 5", "drop --input-tokens"},
      {"", "give --rate R"},
      {"--rate 10 --trace '" + bad_trace.string() + "'", "not both"},
      {"--rate 10 --duration 10 --warmup-s 20", "--warmup-s"},
      {"--rate 10 --admission sometimes", "--admission"},
      {"--rate 10 --context 4096", "--context"},
      {"--rate 1e6 --duration 3600", "more than"},
  };
  for (const auto& [args, expect] : cases) {
    INFO(args);
    const Result r = run(base + args);
    CHECK(r.code == 2);
    CHECK(lines(r.err) == 1);
    CHECK_THAT(r.err, Catch::Contains(expect));
    CHECK(r.out.empty());
    CHECK_FALSE(std::filesystem::exists(out));
  }
}

TEST_CASE("plan --rate prints the cheapest deployments that serve the traffic", "[traffic][cli][plan]") {
  const Result r = run("plan --model step3 --hardware h800 --deployments afd --rate 300 --input-tokens 3072 "
                       "--output-tokens 512 --duration 60 --p99-tpot-ms 40 --top 2 --format csv");
  REQUIRE(r.code == 0);
  CHECK(r.out.starts_with("rank,deployment,attention_hardware,ffn_hardware,micro_batches,max_batch,replicas,gpus,usd_per_hour"));
  CHECK(lines(r.out) == 3);
  const auto j = nlohmann::json::parse(run("plan --model step3 --hardware h800 --deployments afd --rate 300 --input-tokens 3072 "
                                           "--output-tokens 512 --duration 60 --p99-tpot-ms 40 --top 2 --format json")
                                           .out);
  for (const auto& row : j["rows"]) CHECK(row["tpot_p99_ms"].get<double>() <= 40);
}
