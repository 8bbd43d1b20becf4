// Request-level serving (continuous batching): requests arrive, join the running batch while
// KV memory and the batch limit allow, get one token per decode step and leave when done; the
// rest wait in a FIFO queue. The engine asks a StepTimer how long one step of the current batch
// takes and knows nothing else of the served pipeline (docs/traffic.md).
#pragma once
#include <cstdint>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "decodesim/table.hpp"

namespace decodesim {

struct Request {
  double arrival_s = 0;
  long input_tokens = 1;   // context at its first decode step (prefill is not simulated)
  long output_tokens = 1;  // decode steps it needs, one token each
};

// Token counts: fixed N, integers uniform in [a, b], or lognormal with arithmetic mean a and
// log-space sigma b, rounded to the nearest integer and at least 1.
struct LengthDist {
  enum class Kind { fixed, uniform, lognormal };
  Kind kind = Kind::fixed;
  double a = 1, b = 0;
  std::string text() const;  // as written on the command line: 4096, uniform:1:8192, lognormal:3072:0.8
};

// One seeded generator with our own transforms: std:: distributions differ between standard
// libraries, so a seed would not repeat across them.
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : gen_(seed) {}
  double uniform();  // [0, 1), 53 random bits
  double exponential(double rate);
  double normal();  // Box-Muller, one value per pair of uniforms
  long sample(const LengthDist& d);

 private:
  std::mt19937_64 gen_;
};

// Poisson arrivals at rate_per_s over [0, duration_s); each request draws its gap, input and
// output in that order from one generator.
std::vector<Request> poisson_requests(double rate_per_s, double duration_s, const LengthDist& input,
                                      const LengthDist& output, std::uint64_t seed);

// Every replica-th request starting with the first: one replica's share behind a round-robin balancer.
std::vector<Request> round_robin_share(const std::vector<Request>& requests, int replicas);

// Mean context of the running batch these requests make: each spends output_tokens steps in
// it, at contexts input .. input + output - 1.
double batch_mean_context(const std::vector<Request>& requests);
double mean_output_tokens(const std::vector<Request>& requests);

// Warm-up long enough for a request of mean length to pass through at the SLA (by then the
// batch holds requests of every age), at most half the run.
double default_warmup_s(double mean_output_tokens, double tpot_sla_ms, double duration_s);

class StepTimer {
 public:
  virtual ~StepTimer() = default;
  // One decode step giving each of batch_requests running requests one token, their contexts
  // averaging mean_context_tokens. Attention reads KV linearly in each request's context, so
  // the batch's summed context is what matters.
  virtual double step_ms(double batch_requests, double mean_context_tokens) const = 0;
};

enum class Admission {
  reserve,  // a request starts only if KV for its final context fits: nothing is ever preempted
  grow,     // it starts if its current context fits; when growth overflows, the latest started is preempted
};

struct TrafficConfig {
  double duration_s = 600;  // arrivals up to here; the run ends here
  double warmup_s = 0;      // [0, warmup_s) fills the system and is not measured
  double max_batch = 1;     // running requests at most
  Admission admission = Admission::reserve;
  // KV one request holds at context C: kv_fixed_bytes + kv_bytes_per_token * C.
  double kv_bytes_per_token = 0, kv_fixed_bytes = 0;
  double kv_capacity_bytes = 0;       // for KV, over all attention GPUs
  double kv_request_limit_bytes = 0;  // what one request may hold (one attention GPU's room); larger ones are rejected
  int gpus = 1;                       // of the replica, for TGS
  double usd_per_hour = 0;            // of the replica
  double sample_s = 0;                // time-series interval; 0: duration / 1000
  std::function<void(double)> progress;  // fraction of the run simulated, called now and then
  // Colocated prefill (chunked prefill sharing the decode steps): each step also prefills up to
  // this many prompt tokens of the requests that arrived, first come first served, and takes
  // prefill_chunk_ms(tokens) longer; a request joins the decode queue when its prompt is done, and
  // its first token comes out then (TTFT). 0: requests arrive prefilled (elsewhere).
  double prefill_chunk_tokens = 0;
  std::function<double(double tokens)> prefill_chunk_ms;
};

struct TrafficSummary {
  long requests = 0;   // arrived by the end of the run
  long completed = 0;  // finished by the end of the run
  long rejected = 0;   // never fit one attention GPU
  long preemptions = 0;
  long steps = 0;
  double measured_s = 0;  // the window [warmup_s, duration_s]
  double tokens_per_s = 0, tgs = 0, usd_per_mtok = 0;
  // Per request (arrived in the window, completed): time from its first step to its last token / output tokens.
  double tpot_p50_ms = 0, tpot_p90_ms = 0, tpot_p99_ms = 0;
  // Per token: the duration of the step that produced it.
  double step_p50_ms = 0, step_p99_ms = 0;
  // Per request arrived in the window: arrival to first step (still waiting at the end: so far).
  double queue_p50_s = 0, queue_p99_s = 0, queue_wait_mean_s = 0;
  double queue_mean = 0;  // time-averaged waiting requests
  double batch_mean = 0, batch_max = 0;  // time-averaged running requests (idle counts as 0)
  double context_mean = 0;  // token-weighted mean context of the steps
  double kv_peak_bytes = 0;
  double queue_mid = 0, queue_end = 0;  // waiting requests at the window's midpoint and end
  bool overloaded = false;
  // With prefill (colocated, or a P/D prefill tier): per request arrived in the window, arrival to
  // its first token (still in prefill at the end: so far); NaN without prefill.
  double ttft_p50_ms = std::numeric_limits<double>::quiet_NaN(), ttft_p90_ms = ttft_p50_ms, ttft_p99_ms = ttft_p50_ms;
  double ttft_mean_ms = ttft_p50_ms;
  double prefill_tokens_per_s = 0;  // prompt tokens whose prefill ended in the window / its length
  double kv_transfer_mean_ms = 0;   // P/D: prefill end to the KV at the decode tier
  bool prefill_overloaded = false;  // prompts waiting for prefill grew as `overloaded` says
};

// One time-series interval: counts within it, time-weighted means over it.
struct TrafficSample {
  double time_s = 0;  // start of the interval
  long arrivals = 0, completed = 0, preemptions = 0, steps = 0;
  double batch = 0, queue = 0, kv_bytes = 0;
  double step_ms = 0, step_max_ms = 0;  // mean and worst step ending in the interval (NaN: none)
  double context = 0;                   // mean context of those steps (NaN: none)
  double tokens_per_s = 0;
  double ttft_ms = 0, ttft_max_ms = 0;  // mean and worst TTFT of first tokens in the interval (NaN: none)
};

struct TrafficResult {
  TrafficSummary summary;
  std::vector<TrafficSample> series;
};

// Requests sorted by arrival; those arriving after duration_s are ignored.
TrafficResult simulate_traffic(const std::vector<Request>& requests, const StepTimer& timer, const TrafficConfig& c);

// ---- Prefill/decode disaggregation ----------------------------------------------------------

// A prompt on one replica of the prefill tier.
struct PromptTimes {
  double work_s = 0;      // the replica's time per prompt with forwards back to back (1 / its prompt rate)
  double alone_s = 0;     // its TTFT with nothing else there (>= work_s: a forward's fill and drain)
  double transfer_s = 0;  // its KV to the decode tier: the link's latency + bytes / rate
};
class PrefillTimer {
 public:
  virtual ~PrefillTimer() = default;
  virtual PromptTimes prompt(long input_tokens) const = 0;
};

// When each request's first token comes out of the prefill tier and when its KV reaches the
// decode tier. The tier: `replicas` replicas, each a work-conserving first-come-first-served server
// of its prompts' work; a balancer sends each arrival to the replica that frees soonest. A prompt's
// first token comes at its work's end, or alone_s after it starts where that is later.
struct PrefillStage {
  std::vector<double> first_token_s, ready_s;  // per request, in arrival order
};
PrefillStage run_prefill_tier(const std::vector<Request>& requests, const PrefillTimer& timer, int replicas, double duration_s);

// The TTFT percentiles, prefill throughput and overload of a prefill stage alone, over [warmup_s, duration_s].
TrafficSummary prefill_summary(const std::vector<Request>& requests, const PrefillStage& stage, double warmup_s, double duration_s);

// One decode replica of a P/D service: the prefill tier takes every request; the decode replica
// receives every decode_replicas-th request in order of KV arrival (round robin), which then
// arrives at it when its KV does. The summary's TTFT and prefill figures are the tier's.
TrafficResult simulate_pd_traffic(const std::vector<Request>& requests, const PrefillTimer& prefill, int prefill_replicas,
                                  int decode_replicas, const StepTimer& decode, const TrafficConfig& c);

// Nearest-rank percentile (p in [0, 1]); NaN for no values. Reorders v.
double percentile(std::vector<double>& v, double p);

Table traffic_timeseries_table(const TrafficResult& r);

}  // namespace decodesim
