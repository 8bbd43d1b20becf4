#include "decodesim/traffic.hpp"

#include <algorithm>
#include <cmath>
#include <deque>
#include <limits>
#include <numbers>
#include <queue>
#include <stdexcept>

#include <fmt/format.h>

namespace decodesim {

// ---- Request streams ---------------------------------------------------------------------

std::string LengthDist::text() const {
  switch (kind) {
    case Kind::fixed: return fmt::format("{}", a);
    case Kind::uniform: return fmt::format("uniform:{}:{}", a, b);
    case Kind::lognormal: return fmt::format("lognormal:{}:{}", a, b);
  }
  return {};
}

double Rng::uniform() { return static_cast<double>(gen_() >> 11) * 0x1.0p-53; }

double Rng::exponential(double rate) { return -std::log1p(-uniform()) / rate; }

double Rng::normal() {
  const double u1 = 1.0 - uniform();  // (0, 1]: log stays finite
  const double u2 = uniform();
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
}

long Rng::sample(const LengthDist& d) {
  // A billion tokens is far beyond any context; the cap keeps a wild lognormal tail finite.
  constexpr double kMaxTokens = 1e9;
  double x = d.a;
  switch (d.kind) {
    case LengthDist::Kind::fixed: break;
    case LengthDist::Kind::uniform: x = d.a + std::floor(uniform() * (d.b - d.a + 1)); break;
    case LengthDist::Kind::lognormal: {
      // a is the arithmetic mean: mu = ln(mean) - sigma^2 / 2.
      const double mu = std::log(d.a) - 0.5 * d.b * d.b;
      x = std::exp(mu + d.b * normal());
      break;
    }
  }
  // NaN (an overflowing spread) would pass clamp and make the cast undefined: it counts as 1.
  return static_cast<long>(std::isnan(x) ? 1.0 : std::clamp(std::round(x), 1.0, kMaxTokens));
}

std::vector<Request> poisson_requests(double rate_per_s, double duration_s, const LengthDist& input,
                                      const LengthDist& output, std::uint64_t seed) {
  if (!(rate_per_s > 0) || !(duration_s > 0)) throw std::invalid_argument("poisson_requests: rate and duration must be positive");
  Rng rng(seed);
  std::vector<Request> out;
  out.reserve(static_cast<size_t>(std::min(rate_per_s * duration_s * 1.01 + 16, 1e8)));
  for (double t = rng.exponential(rate_per_s); t < duration_s; t += rng.exponential(rate_per_s)) {
    Request r;
    r.arrival_s = t;
    r.input_tokens = rng.sample(input);
    r.output_tokens = rng.sample(output);
    out.push_back(r);
  }
  return out;
}

std::vector<Request> round_robin_share(const std::vector<Request>& requests, int replicas) {
  if (replicas < 1) throw std::invalid_argument("round_robin_share: replicas must be at least 1");
  std::vector<Request> out;
  out.reserve(requests.size() / replicas + 1);
  for (size_t i = 0; i < requests.size(); i += replicas) out.push_back(requests[i]);
  return out;
}

double batch_mean_context(const std::vector<Request>& requests) {
  double weighted = 0, steps = 0;
  for (const Request& r : requests) {
    const double o = double(r.output_tokens);
    weighted += o * (double(r.input_tokens) + (o - 1) / 2);
    steps += o;
  }
  return steps > 0 ? weighted / steps : 0;
}

double mean_output_tokens(const std::vector<Request>& requests) {
  double sum = 0;
  for (const Request& r : requests) sum += double(r.output_tokens);
  return requests.empty() ? 0 : sum / double(requests.size());
}

double default_warmup_s(double mean_output_tokens, double tpot_sla_ms, double duration_s) {
  return std::min(duration_s / 2, mean_output_tokens * tpot_sla_ms * 1e-3);
}

double percentile(std::vector<double>& v, double p) {
  if (v.empty()) return std::numeric_limits<double>::quiet_NaN();
  const size_t rank = static_cast<size_t>(std::ceil(std::clamp(p, 0.0, 1.0) * double(v.size())));
  const size_t k = rank == 0 ? 0 : rank - 1;
  std::nth_element(v.begin(), v.begin() + static_cast<long>(k), v.end());
  return v[k];
}

// ---- The engine --------------------------------------------------------------------------

namespace {

// Integral over each sampling interval of a piecewise-constant quantity, fed as spans:
// O(1) per span however many intervals it covers (whole intervals go to a difference array).
class SpanIntegral {
 public:
  SpanIntegral(double interval_s, size_t intervals)
      : dt_(interval_s), partial_(intervals, 0.0), whole_(intervals + 1, 0.0) {}
  void add(double t0, double t1, double value) {
    if (!(t1 > t0) || value == 0) return;
    const size_t k0 = index(t0), k1 = index(t1);
    if (k0 == k1) {
      partial_[k0] += value * (t1 - t0);
      return;
    }
    partial_[k0] += value * ((k0 + 1) * dt_ - t0);
    partial_[k1] += value * (t1 - k1 * dt_);
    whole_[k0 + 1] += value;
    whole_[k1] -= value;
  }
  std::vector<double> integrals() const {
    std::vector<double> out(partial_.size());
    double running = 0;
    for (size_t k = 0; k < out.size(); ++k) {
      running += whole_[k];
      out[k] = partial_[k] + running * dt_;
    }
    return out;
  }

 private:
  size_t index(double t) const { return std::min(static_cast<size_t>(std::max(t, 0.0) / dt_), partial_.size() - 1); }
  double dt_;
  std::vector<double> partial_, whole_;
};

double overlap(double t0, double t1, double w0, double w1) { return std::max(0.0, std::min(t1, w1) - std::max(t0, w0)); }

enum class State : unsigned char { waiting, running, done, rejected };

void check_config(const std::vector<Request>& rs, const TrafficConfig& c) {
  auto bad = [](const std::string& what) { throw std::invalid_argument("simulate_traffic: " + what); };
  if (!(c.duration_s > 0) || !std::isfinite(c.duration_s)) bad("duration must be positive");
  if (!(c.warmup_s >= 0) || !(c.warmup_s < c.duration_s)) bad("warm-up must lie in [0, duration)");
  if (!(c.max_batch >= 1)) bad("max_batch must be at least 1");
  if (!(c.kv_bytes_per_token >= 0) || !(c.kv_fixed_bytes >= 0)) bad("KV sizes must be non-negative");
  if (!(c.kv_request_limit_bytes > 0) || !(c.kv_capacity_bytes >= c.kv_request_limit_bytes))
    bad("KV capacity must be positive and hold the largest request");
  if (c.gpus < 1 || !(c.usd_per_hour >= 0) || !(c.sample_s >= 0)) bad("gpus, price and sample interval out of range");
  if (!(c.prefill_chunk_tokens >= 0) || (c.prefill_chunk_tokens > 0 && !c.prefill_chunk_ms))
    bad("colocated prefill needs a non-negative chunk and its step time");
  if (rs.size() >= (1UL << 31)) bad("at most 2^31 requests");
  for (size_t i = 0; i < rs.size(); ++i) {
    if (rs[i].input_tokens < 1 || rs[i].output_tokens < 1 || !(rs[i].arrival_s >= 0))
      bad(fmt::format("request {}: needs arrival >= 0 and positive token counts", i));
    if (i > 0 && rs[i].arrival_s < rs[i - 1].arrival_s) bad("requests must be sorted by arrival");
  }
}

// TTFT percentiles, prefill throughput and overload, and the TTFT time series, from each request's
// first-token time (NaN: not yet by the end). `N`: requests arrived by the end.
void summarize_prefill(TrafficResult& r, const std::vector<Request>& rq, size_t N, const std::vector<double>& first_token_s,
                       double w0, double end, double dt_sample) {
  TrafficSummary& s = r.summary;
  const size_t K = r.series.size();
  std::vector<double> ttft_ms, sum(K, 0.0);
  std::vector<long> count(K, 0);
  double tokens = 0;
  long waiting_mid = 0, waiting_end = 0;
  const double mid = (w0 + end) / 2;
  for (size_t i = 0; i < N; ++i) {
    const double a = rq[i].arrival_s, f = first_token_s[i];
    const bool done = !std::isnan(f) && f <= end;
    if (a >= w0) ttft_ms.push_back(((done ? f : end) - a) * 1e3);
    if (a <= mid && !(done && f <= mid)) ++waiting_mid;
    if (!done) ++waiting_end;
    if (!done) continue;
    if (f > w0) tokens += double(rq[i].input_tokens);
    const size_t k = std::min(static_cast<size_t>(f / dt_sample), K - 1);
    sum[k] += (f - a) * 1e3, ++count[k];
    r.series[k].ttft_max_ms = std::isnan(r.series[k].ttft_max_ms) ? (f - a) * 1e3 : std::max(r.series[k].ttft_max_ms, (f - a) * 1e3);
  }
  for (size_t k = 0; k < K; ++k) r.series[k].ttft_ms = count[k] ? sum[k] / double(count[k]) : std::numeric_limits<double>::quiet_NaN();
  double total = 0;
  for (double x : ttft_ms) total += x;
  s.ttft_mean_ms = ttft_ms.empty() ? std::numeric_limits<double>::quiet_NaN() : total / double(ttft_ms.size());
  s.ttft_p50_ms = percentile(ttft_ms, 0.50);
  s.ttft_p90_ms = percentile(ttft_ms, 0.90);
  s.ttft_p99_ms = percentile(ttft_ms, 0.99);
  s.prefill_tokens_per_s = tokens / (end - w0);
  // As `overloaded`: the prompts waiting for their first token grew over the second half by more
  // than Poisson noise plus 0.5% of that half's arrivals.
  const double half = double(std::count_if(rq.begin(), rq.begin() + static_cast<long>(N), [&](const Request& x) { return x.arrival_s > mid; }));
  s.prefill_overloaded = double(waiting_end - waiting_mid) > 3 * std::sqrt(half) + 0.005 * half;
}

}  // namespace

TrafficResult simulate_traffic(const std::vector<Request>& rq, const StepTimer& timer, const TrafficConfig& c) {
  check_config(rq, c);
  const double end = c.duration_s, w0 = c.warmup_s, mid = (w0 + end) / 2;
  const size_t N = static_cast<size_t>(
      std::upper_bound(rq.begin(), rq.end(), end, [](double t, const Request& r) { return t < r.arrival_s; }) - rq.begin());
  const double dt_sample = c.sample_s > 0 ? c.sample_s : end / 1000;
  const size_t K = std::max<size_t>(1, static_cast<size_t>(std::ceil(end / dt_sample - 1e-9)));
  auto interval = [&](double t) { return std::min(static_cast<size_t>(std::max(t, 0.0) / dt_sample), K - 1); };

  // Colocated prefill: requests become ready to decode, in arrival order, when their prompt is done.
  const bool colo = c.prefill_chunk_tokens > 0;
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<double> ready_at(colo ? N : 0, inf), first_token(colo ? N : 0, std::numeric_limits<double>::quiet_NaN());
  auto ready_time = [&](size_t i) { return colo ? ready_at[i] : rq[i].arrival_s; };
  size_t pf_next = 0;     // the prompt being prefilled
  double pf_done = 0;     // its tokens done
  std::vector<size_t> prefilled;  // prompts finished by the current step

  // KV of `tokens` context tokens spread over `requests` requests; every check below uses this
  // one expression on exact integer sums, so an admission and the preemption it mirrors agree.
  auto kv_for = [&](long long tokens, long long requests) {
    return c.kv_bytes_per_token * double(tokens) + c.kv_fixed_bytes * double(requests);
  };

  std::vector<State> state(N, State::waiting);
  std::vector<double> first_step_s(N, -1.0);
  std::vector<int> started_step(N, 0);   // step index of its latest (re)start
  std::vector<long> generated(N, 0);     // tokens produced before its latest (re)start
  std::vector<std::uint64_t> finish_heap;  // (finishing step << 32) | request, a min-heap
  auto heap_greater = std::greater<std::uint64_t>();
  std::vector<std::uint64_t> start_order;  // grow: (start step << 32) | request, latest last, for preemption
  std::deque<std::pair<int, double>> preempted;  // (request, since), waiting ahead of new arrivals

  TrafficResult result;
  TrafficSummary& s = result.summary;
  std::vector<TrafficSample>& series = result.series;
  series.resize(K);
  for (size_t k = 0; k < K; ++k) series[k].time_s = double(k) * dt_sample;
  std::vector<double> step_sum_ms(K, 0.0), context_sum(K, 0.0), tokens_in(K, 0.0);
  SpanIntegral batch_int(dt_sample, K), queue_int(dt_sample, K), kv_int(dt_sample, K);
  double batch_window = 0, queue_window = 0, context_weighted = 0, tokens_window = 0;
  std::vector<double> tpots_ms, waits_s;
  tpots_ms.reserve(N), waits_s.reserve(N);
  std::vector<std::pair<double, double>> step_tokens;  // (step ms, tokens) of steps ending in the window

  long long sum_ctx = 0;    // running requests' contexts
  long long sum_final = 0;  // running requests' final contexts (reserve)
  long n = 0;               // running requests
  long queued = 0;          // waiting: preempted + arrived, not started, not rejected
  size_t arrived = 0, next_new = 0;
  double t = 0;
  long step = 0;
  bool have_mid = false;

  auto wait_ended = [&](double since, double until) {
    queue_int.add(since, std::min(until, end), 1.0);
    queue_window += overlap(since, until, w0, end);
  };
  auto start = [&](int id, double since) {
    const Request& r = rq[id];
    if (first_step_s[id] < 0) {
      first_step_s[id] = t;
      if (r.arrival_s >= w0) waits_s.push_back(t - ready_time(id));
    }
    wait_ended(since, t);
    state[id] = State::running;
    started_step[id] = static_cast<int>(step);
    const long finish = step + (r.output_tokens - generated[id]);
    if (finish >= (1L << 31)) throw std::runtime_error("simulate_traffic: more than 2^31 steps");
    finish_heap.push_back((std::uint64_t(finish) << 32) | std::uint64_t(id));
    std::push_heap(finish_heap.begin(), finish_heap.end(), heap_greater);
    if (c.admission == Admission::grow) start_order.push_back((std::uint64_t(step) << 32) | std::uint64_t(id));
    sum_ctx += r.input_tokens + generated[id];
    sum_final += r.input_tokens + r.output_tokens;
    ++n, --queued;
  };
  auto preempt_latest = [&]() {
    while (!start_order.empty()) {
      const std::uint64_t e = start_order.back();
      start_order.pop_back();
      const int id = static_cast<int>(e & 0xffffffffu);
      if (state[id] != State::running || std::uint64_t(started_step[id]) != (e >> 32)) continue;  // finished or restarted since
      const Request& r = rq[id];
      generated[id] += step - started_step[id];
      sum_ctx -= r.input_tokens + generated[id];  // its context now
      sum_final -= r.input_tokens + r.output_tokens;
      state[id] = State::waiting;  // its heap entry goes stale: the state no longer says running
      preempted.emplace_front(id, t);
      --n, ++queued, ++s.preemptions;
      ++series[interval(t)].preemptions;
      return;
    }
    throw std::logic_error("simulate_traffic: nothing to preempt");
  };

  auto arrive_until = [&](double until) {  // arrivals join the queue, or are rejected if no GPU could hold them
    for (; arrived < N && ready_time(arrived) <= until; ++arrived) {
      const Request& r = rq[arrived];
      ++series[interval(r.arrival_s)].arrivals;
      if (kv_for(r.input_tokens + r.output_tokens, 1) > c.kv_request_limit_bytes) {
        state[arrived] = State::rejected;
        ++s.rejected;
      } else {
        ++queued;
      }
    }
  };

  long progress_tick = 0;
  for (;;) {
    if (!have_mid && t >= mid) s.queue_mid = double(queued), have_mid = true;
    arrive_until(t);
    if (n == 0 && queued == 0 && !(colo && pf_next < N && rq[pf_next].arrival_s <= t)) {
      if (colo ? pf_next >= N : arrived == N) break;
      t = colo ? rq[pf_next].arrival_s : rq[arrived].arrival_s;
      continue;
    }

    // Grow: every running request writes one more token this step; make room by preempting
    // the latest started (vLLM's order).
    if (c.admission == Admission::grow)
      while (n > 0 && kv_for(sum_ctx + n, n) > c.kv_capacity_bytes) preempt_latest();
    // Admit in FIFO order while the head fits: preempted requests first, then arrivals.
    while (queued > 0 && double(n) < c.max_batch) {
      while (preempted.empty() && state[next_new] != State::waiting) ++next_new;
      const bool old = !preempted.empty();
      const int id = old ? preempted.front().first : static_cast<int>(next_new);
      const Request& r = rq[id];
      const bool fits = c.admission == Admission::reserve
                            ? kv_for(sum_final + r.input_tokens + r.output_tokens, n + 1) <= c.kv_capacity_bytes
                            : kv_for(sum_ctx + n + r.input_tokens + generated[id] + 1, n + 1) <= c.kv_capacity_bytes;
      if (!fits) break;
      const double since = old ? preempted.front().second : ready_time(id);
      if (old) preempted.pop_front();
      else ++next_new;
      start(id, since);
    }
    if (n == 0 && !colo) throw std::logic_error("simulate_traffic: the queue's head fits no empty deployment");

    const double mean_context = n > 0 ? double(sum_ctx) / double(n) : 0.0;
    double step_ms = n > 0 ? timer.step_ms(double(n), mean_context) : 0.0;
    prefilled.clear();
    if (colo) {  // this step's prefill chunk: the arrived prompts, first come first served
      double budget = c.prefill_chunk_tokens, chunk = 0;
      while (budget > 0 && pf_next < N && rq[pf_next].arrival_s <= t) {
        const double take = std::min(budget, double(rq[pf_next].input_tokens) - pf_done);
        pf_done += take, budget -= take, chunk += take;
        if (pf_done >= double(rq[pf_next].input_tokens)) prefilled.push_back(pf_next++), pf_done = 0;
      }
      if (chunk > 0) step_ms += c.prefill_chunk_ms(chunk);
      if (n == 0 && chunk == 0) throw std::logic_error("simulate_traffic: the queue's head fits no empty deployment");
    }
    if (!(step_ms > 0) || !std::isfinite(step_ms))
      throw std::runtime_error(fmt::format("simulate_traffic: step time {} ms for batch {} at context {}", step_ms, n, mean_context));
    const double t1 = t + step_ms * 1e-3;
    const double kv_live = kv_for(sum_ctx + n, n);  // after this step's tokens are written
    batch_int.add(t, std::min(t1, end), double(n));
    kv_int.add(t, std::min(t1, end), kv_live);
    const double in_window = overlap(t, t1, w0, end);
    batch_window += in_window * double(n);
    if (in_window > 0) {
      s.batch_max = std::max(s.batch_max, double(n));
      s.kv_peak_bytes = std::max(s.kv_peak_bytes, kv_live);
    }
    if (t1 > end) break;  // this step's tokens come after the end of the run
    const size_t k1 = interval(t1);
    ++series[k1].steps;
    series[k1].step_max_ms = std::max(series[k1].step_max_ms, step_ms);
    step_sum_ms[k1] += step_ms;
    context_sum[k1] += mean_context;
    tokens_in[k1] += double(n);
    if (t1 > w0) {
      tokens_window += double(n);
      context_weighted += double(n) * mean_context;
      step_tokens.emplace_back(step_ms, double(n));
    }
    t = t1;
    ++step;
    sum_ctx += n;
    for (size_t id : prefilled) ready_at[id] = first_token[id] = t;  // the chunk's step makes the first token

    while (!finish_heap.empty() && long(finish_heap.front() >> 32) <= step) {
      const std::uint64_t e = finish_heap.front();
      std::pop_heap(finish_heap.begin(), finish_heap.end(), heap_greater);
      finish_heap.pop_back();
      const int id = static_cast<int>(e & 0xffffffffu);
      const Request& r = rq[id];
      if (state[id] != State::running || started_step[id] + (r.output_tokens - generated[id]) != long(e >> 32)) continue;
      state[id] = State::done;
      sum_ctx -= r.input_tokens + r.output_tokens;
      sum_final -= r.input_tokens + r.output_tokens;
      --n, ++s.completed;
      ++series[interval(t)].completed;
      if (r.arrival_s >= w0) tpots_ms.push_back((t - first_step_s[id]) * 1e3 / double(r.output_tokens));
    }
    if (c.progress && (++progress_tick & 4095) == 0) c.progress(t / end);
  }

  // The end: whoever arrived and waits is still queued.
  t = end;
  if (!have_mid) s.queue_mid = double(queued);
  arrive_until(end);
  s.queue_end = double(queued);
  for (const auto& [id, since] : preempted) wait_ended(since, end);
  for (size_t i = next_new; i < arrived; ++i) {
    if (state[i] != State::waiting || first_step_s[i] >= 0) continue;
    wait_ended(ready_time(i), end);
    if (rq[i].arrival_s >= w0) waits_s.push_back(end - ready_time(i));
  }

  // Summary over the measured window.
  s.requests = static_cast<long>(N);
  s.steps = step;
  s.measured_s = end - w0;
  s.tokens_per_s = tokens_window / s.measured_s;
  s.tgs = s.tokens_per_s / c.gpus;
  s.usd_per_mtok = s.tokens_per_s > 0 ? c.usd_per_hour / 3600.0 / s.tokens_per_s * 1e6 : std::numeric_limits<double>::infinity();
  s.tpot_p50_ms = percentile(tpots_ms, 0.50);
  s.tpot_p90_ms = percentile(tpots_ms, 0.90);
  s.tpot_p99_ms = percentile(tpots_ms, 0.99);
  s.queue_p50_s = percentile(waits_s, 0.50);
  s.queue_p99_s = percentile(waits_s, 0.99);
  double wait_sum = 0;
  for (double w : waits_s) wait_sum += w;
  s.queue_wait_mean_s = waits_s.empty() ? 0 : wait_sum / double(waits_s.size());
  s.queue_mean = queue_window / s.measured_s;
  s.batch_mean = batch_window / s.measured_s;
  s.context_mean = tokens_window > 0 ? context_weighted / tokens_window : 0;
  std::sort(step_tokens.begin(), step_tokens.end());
  auto token_percentile = [&](double p) {
    double seen = 0;
    for (const auto& [ms, tokens] : step_tokens)
      if ((seen += tokens) >= p * tokens_window) return ms;
    return step_tokens.empty() ? std::numeric_limits<double>::quiet_NaN() : step_tokens.back().first;
  };
  s.step_p50_ms = token_percentile(0.50);
  s.step_p99_ms = token_percentile(0.99);
  // Overloaded: the queue grew over the second half of the window by more than Poisson noise
  // (3 sigma of that half's arrivals) plus 0.5% of them, i.e. arrivals outpace service.
  const auto half_begin = std::upper_bound(rq.begin(), rq.begin() + static_cast<long>(N), mid,
                                           [](double x, const Request& r) { return x < r.arrival_s; });
  const double half_arrivals = double(rq.begin() + static_cast<long>(N) - half_begin);
  s.overloaded = s.queue_end - s.queue_mid > 3 * std::sqrt(half_arrivals) + 0.005 * half_arrivals;

  const std::vector<double> batch = batch_int.integrals(), queue = queue_int.integrals(), kv = kv_int.integrals();
  for (size_t k = 0; k < K; ++k) {
    TrafficSample& x = series[k];
    const double span = std::min(dt_sample, end - x.time_s);
    x.batch = batch[k] / span;
    x.queue = queue[k] / span;
    x.kv_bytes = kv[k] / span;
    x.tokens_per_s = tokens_in[k] / span;
    const double nan = std::numeric_limits<double>::quiet_NaN();
    x.step_ms = x.steps ? step_sum_ms[k] / double(x.steps) : nan;
    x.context = x.steps ? context_sum[k] / double(x.steps) : nan;
    if (!x.steps) x.step_max_ms = nan;
    x.ttft_ms = x.ttft_max_ms = nan;
  }
  if (colo) summarize_prefill(result, rq, N, first_token, w0, end, dt_sample);
  if (c.progress) c.progress(1.0);
  return result;
}

// ---- Prefill/decode disaggregation ----------------------------------------------------------

PrefillStage run_prefill_tier(const std::vector<Request>& rq, const PrefillTimer& timer, int replicas, double duration_s) {
  if (replicas < 1) throw std::invalid_argument("run_prefill_tier: replicas must be at least 1");
  PrefillStage out;
  out.first_token_s.reserve(rq.size()), out.ready_s.reserve(rq.size());
  // Each replica's time its queue of work runs out; the balancer picks the earliest.
  std::priority_queue<double, std::vector<double>, std::greater<double>> free_at;
  for (int i = 0; i < replicas; ++i) free_at.push(0.0);
  long last_tokens = -1;
  PromptTimes pt;
  for (const Request& r : rq) {
    if (r.arrival_s > duration_s) break;
    if (r.input_tokens != last_tokens) pt = timer.prompt(r.input_tokens), last_tokens = r.input_tokens;
    const double start = std::max(r.arrival_s, free_at.top());
    free_at.pop();
    free_at.push(start + pt.work_s);
    const double first = start + std::max(pt.work_s, pt.alone_s);
    out.first_token_s.push_back(first);
    out.ready_s.push_back(first + pt.transfer_s);
  }
  return out;
}

TrafficSummary prefill_summary(const std::vector<Request>& rq, const PrefillStage& stage, double warmup_s, double duration_s) {
  TrafficResult r;
  r.series.resize(1);
  std::vector<double> first(stage.first_token_s);
  for (double& f : first)
    if (f > duration_s) f = std::numeric_limits<double>::quiet_NaN();
  summarize_prefill(r, rq, first.size(), first, warmup_s, duration_s, duration_s);
  return r.summary;
}

TrafficResult simulate_pd_traffic(const std::vector<Request>& rq, const PrefillTimer& prefill, int prefill_replicas,
                                  int decode_replicas, const StepTimer& decode, const TrafficConfig& c) {
  if (decode_replicas < 1) throw std::invalid_argument("simulate_pd_traffic: decode replicas must be at least 1");
  if (c.prefill_chunk_tokens > 0) throw std::invalid_argument("simulate_pd_traffic: prefill runs on its own tier, not in the decode steps");
  const PrefillStage stage = run_prefill_tier(rq, prefill, prefill_replicas, c.duration_s);
  const size_t N = stage.ready_s.size();
  // The decode replica's share, in order of KV arrival.
  std::vector<size_t> order(N);
  for (size_t i = 0; i < N; ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return stage.ready_s[a] < stage.ready_s[b]; });
  std::vector<Request> share;
  share.reserve(N / decode_replicas + 1);
  for (size_t k = 0; k < N; k += decode_replicas) {
    Request r = rq[order[k]];
    r.arrival_s = stage.ready_s[order[k]];
    share.push_back(r);
  }
  TrafficResult result = simulate_traffic(share, decode, c);
  const double dt_sample = c.sample_s > 0 ? c.sample_s : c.duration_s / 1000;
  std::vector<double> first(stage.first_token_s);
  for (double& f : first)
    if (f > c.duration_s) f = std::numeric_limits<double>::quiet_NaN();
  summarize_prefill(result, rq, N, first, c.warmup_s, c.duration_s, dt_sample);
  double transfer = 0;
  long counted = 0;
  for (size_t i = 0; i < N; ++i)
    if (rq[i].arrival_s >= c.warmup_s) transfer += stage.ready_s[i] - stage.first_token_s[i], ++counted;
  result.summary.kv_transfer_mean_ms = counted ? 1e3 * transfer / double(counted) : 0.0;
  return result;
}

Table traffic_timeseries_table(const TrafficResult& r) {
  Table t{"traffic_timeseries", "Served traffic over time (counts per interval, time-weighted means)", {}, {}, {}};
  t.columns = {{"time_s", "s"},           {"arrivals", ""},   {"completed", ""},         {"preemptions", ""},
               {"steps", ""},             {"batch", "requests"}, {"queue", "requests"}, {"step_ms", "ms"},
               {"step_max_ms", "ms"},     {"context", "tokens"}, {"kv_bytes", "B"},     {"tokens_per_s", "tok/s"},
               {"ttft_ms", "ms"},         {"ttft_max_ms", "ms"}};
  for (const TrafficSample& x : r.series)
    t.add({x.time_s, double(x.arrivals), double(x.completed), double(x.preemptions), double(x.steps), x.batch, x.queue,
           x.step_ms, x.step_max_ms, x.context, x.kv_bytes, x.tokens_per_s, x.ttft_ms, x.ttft_max_ms});
  return t;
}

}  // namespace decodesim
