// `decodesim traffic` and `decodesim plan --rate/--trace`: request-level serving on the event pipeline.
#include <unistd.h>

#include <chrono>
#include <limits>
#include <memory>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/options.hpp"
#include "cli/pipeline_setup.hpp"
#include "decodesim/errors.hpp"
#include "decodesim/plots.hpp"
#include "decodesim/prefill.hpp"
#include "decodesim/pd_plan.hpp"
#include "decodesim/served_traffic.hpp"
#include "decodesim/trace.hpp"

namespace decodesim::cli {

namespace {

// 3072 prompt tokens and 2048 generated make the batch average 4K of context, the report's
// headline setting (section 7).
const char* kDefaultInputTokens = "3072";
const char* kDefaultOutputTokens = "2048";
// Ten minutes: several request lifetimes at the SLA (2048 tokens x 50 ms is 102 s).
constexpr double kDefaultDurationS = 600;
constexpr double kMaxIntervals = 1e6;
const char* kPlanTrafficGroup = "Traffic (with --rate or --trace)";

TrafficDemand demand_from(const TrafficOptions& t) {
  if (!t.requested()) throw InputError("traffic: give --rate R (requests per second) or --trace FILE");
  if (t.rate_per_s > 0 && !t.trace.empty()) throw InputError("traffic: give --rate or --trace, not both");
  TrafficDemand d;
  d.seed = t.seed;
  if (t.rate_per_s > 0) {
    d.rate_per_s = t.rate_per_s;
    d.input = parse_length_dist(t.input_tokens.empty() ? kDefaultInputTokens : t.input_tokens, "--input-tokens");
    d.output = parse_length_dist(t.output_tokens.empty() ? kDefaultOutputTokens : t.output_tokens, "--output-tokens");
    d.duration_s = t.duration_s > 0 ? t.duration_s : kDefaultDurationS;
    if (d.rate_per_s * d.duration_s > limits::kMaxRequests)
      throw InputError(fmt::format("--rate: {} requests/s for {} s is more than {:.0f} requests", d.rate_per_s, d.duration_s,
                                   limits::kMaxRequests));
    return d;
  }
  if (!t.input_tokens.empty() || !t.output_tokens.empty())
    throw InputError(
        fmt::format("--trace: '{}' gives every request's tokens; drop --input-tokens and --output-tokens", printable(t.trace, 256)));
  d.trace = load_trace(t.trace);
  d.duration_s = t.duration_s > 0 ? t.duration_s : d.trace.back().arrival_s;
  if (!(d.duration_s > 0))
    throw InputError(fmt::format("{}: every request arrives at 0 s; give --duration", printable(t.trace, 256)));
  return d;
}

TrafficConfig run_config(const TrafficOptions& t, const TrafficDemand& d, double mean_output_tokens, double tpot_sla_ms) {
  TrafficConfig c;
  c.duration_s = d.duration_s;
  c.warmup_s = t.warmup_s >= 0 ? t.warmup_s : default_warmup_s(mean_output_tokens, tpot_sla_ms, d.duration_s);
  if (c.warmup_s >= c.duration_s)
    throw InputError(fmt::format("--warmup-s: {} s leaves nothing of the {} s run to measure", c.warmup_s, c.duration_s));
  if (t.admission != "reserve" && t.admission != "grow")
    throw InputError(fmt::format("--admission: '{}': expected reserve or grow", printable(t.admission)));
  c.admission = t.admission == "grow" ? Admission::grow : Admission::reserve;
  if (t.sample_s > 0 && d.duration_s / t.sample_s > kMaxIntervals)
    throw InputError(fmt::format("--sample-s: {} s makes more than {:.0f} intervals of the {} s run", t.sample_s, kMaxIntervals,
                                 d.duration_s));
  c.sample_s = t.sample_s;
  return c;
}

// A bar on stderr, only when it is a terminal and the run has already taken a second.
std::function<void(double)> progress_bar(std::ostream& err) {
  if (!isatty(STDERR_FILENO)) return {};
  const auto t0 = std::chrono::steady_clock::now();
  auto shown = std::make_shared<bool>(false);
  return [&err, t0, shown](double fraction) {
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (fraction >= 1) {
      if (*shown) err << "\r" << std::string(72, ' ') << "\r" << std::flush;
      return;
    }
    if (s < 1) return;
    *shown = true;
    constexpr int kWidth = 40;
    const int filled = static_cast<int>(fraction * kWidth);
    err << fmt::format("\rtraffic [{}{}] {:3.0f}% ({:.0f} s)", std::string(filled, '#'), std::string(kWidth - filled, '.'),
                       100 * fraction, s)
        << std::flush;
  };
}

// The prefill tier's configuration: the decode configuration's network and routing, the traffic
// options' tokens per forward and micro-batches.
PrefillConfig prefill_tier_config(const PipelineConfig& decode, const TrafficOptions& t) {
  PrefillConfig c = prefill_config(decode);
  c.batch_tokens = t.prefill_batch_tokens;
  c.micro_batches = t.prefill_micro_batches;
  return c;
}

}  // namespace

void add_traffic_options(CLI::App* cmd, TrafficOptions& t, bool plan) {
  std::vector<CLI::Option*> added = {
      cmd->add_option("--rate", t.rate_per_s, "requests per second, Poisson arrivals")->check(number_option(limits::kRatePerSecond)),
      cmd->add_option("--trace", t.trace, "CSV of requests: arrival_s,input_tokens,output_tokens"),
      cmd->add_option("--input-tokens", t.input_tokens,
                      fmt::format("prompt tokens: N, uniform:MIN:MAX or lognormal:MEAN:SIGMA (default {})", kDefaultInputTokens)),
      cmd->add_option("--output-tokens", t.output_tokens,
                      fmt::format("generated tokens: N, uniform:MIN:MAX or lognormal:MEAN:SIGMA (default {})", kDefaultOutputTokens)),
      cmd->add_option("--duration", t.duration_s, "seconds of arrivals (default 600; with --trace its last arrival)")
          ->check(number_option(limits::kSeconds)),
      cmd->add_option("--warmup-s", t.warmup_s, "seconds not measured (default: mean output tokens x TPOT SLA, at most half the run)")
          ->check(number_option({0, limits::kSeconds.hi, false})),
      cmd->add_option("--seed", t.seed, "random seed of arrivals and lengths")
          ->check(integer_option({0, std::numeric_limits<long long>::max()}))
          ->capture_default_str(),
      cmd->add_option("--admission", t.admission, "reserve (KV of the final context up front) or grow (preempt the latest when full)")
          ->check(CLI::IsMember({"reserve", "grow"}))
          ->capture_default_str(),
  };
  added.push_back(cmd->add_option("--prefill-hardware", t.prefill_hardware, "P/D: the prefill tier's chip (default --hardware)"));
  added.push_back(cmd->add_option("--prefill-batch-tokens", t.prefill_batch_tokens,
                                  "prefill tokens per forward of one data-parallel group (DeepSeek's profile: 16384 per GPU)")
                      ->check(number_option(limits::kTokens))
                      ->capture_default_str());
  added.push_back(cmd->add_option("--prefill-micro-batches", t.prefill_micro_batches, "prefill micro-batches (DeepSeek: 2)")
                      ->check(integer_option({1, 4}))
                      ->capture_default_str());
  if (plan) {
    added.push_back(cmd->add_option("--p99-ttft-s", t.p99_ttft_s,
                                    "plan the cheapest P/D pair: prefill tier within this p99 TTFT (prefill chip: "
                                    "--prefill-hardware or --hardware), decode within --p99-tpot-ms")
                        ->check(number_option(limits::kSeconds)));
    added.push_back(cmd->add_option("--p99-tpot-ms", t.p99_tpot_ms, "p99 of the requests' TPOT each replica must meet (default --tpot-ms)")
                        ->check(number_option(limits::kTpotMs)));
    added.push_back(cmd->add_option("--p99-queue-s", t.p99_queue_s, "p99 queueing each replica must meet (default: none)")
                        ->check(number_option(limits::kSeconds)));
    for (CLI::Option* o : added) o->group(kPlanTrafficGroup);
    return;
  }
  cmd->add_option("--max-batch", t.max_batch, "running requests at most (default: the largest batch meeting the SLA and memory)")
      ->check(number_option(limits::kTokens));
  cmd->add_option("--replicas", t.replicas, "copies of the deployment, each taking 1/replicas of the traffic")
      ->check(integer_option(limits::kReplicas))
      ->capture_default_str();
  cmd->add_option("--sample-s", t.sample_s, "time-series interval in seconds (default: duration / 1000)")
      ->check(number_option(limits::kSeconds));
  cmd->add_option("--prefill-deployment", t.prefill_deployment,
                  "P/D: the prefill tier's deployment (EPn, TPn, xAyF); requests then pass prefill and a KV transfer before "
                  "decode, and TTFT is reported");
  cmd->add_option("--prefill-replicas", t.prefill_replicas, "P/D: replicas of the prefill tier (all the traffic's prompts)")
      ->check(integer_option(limits::kInstances))
      ->capture_default_str();
  cmd->add_option("--colocated-prefill-tokens", t.colocated_prefill_tokens,
                  "colocated prefill: prompt tokens each decode step also prefills (whole deployment), chunked prefill "
                  "sharing the decode GPUs")
      ->check(number_option(limits::kTokens));
}

void check_plan_traffic_options(const CLI::App* plan, const TrafficOptions& t) {
  if (t.requested() && t.p99_ttft_s <= 0)
    for (const char* name : {"--prefill-hardware", "--prefill-batch-tokens", "--prefill-micro-batches"})
      if (plan->count(name) > 0) throw InputError(fmt::format("plan: {} applies only with --p99-ttft-s (a P/D pair)", name));
  if (t.requested()) return;
  for (const CLI::Option* o : plan->get_options())
    if (o->get_group() == kPlanTrafficGroup && o->count() > 0)
      throw InputError(fmt::format("plan: {} applies only with --rate or --trace", o->get_name()));
}

int traffic_command(const PipelineOptions& o, const TrafficOptions& t, Format f, const std::string& out_dir, std::ostream& out,
                    std::ostream& err) {
  const Model m = pipeline_model(o);
  const Deployment d = deployment(o);
  const DeploymentPools pools = deployment_pools(o, d, m);
  const auto& [attention, ffn, timing] = pools;
  const TrafficDemand demand = demand_from(t);
  PipelineConfig c = deployment_config(o, d);
  check_traffic_steps(traffic_steps_bound(m, attention, ffn, c, demand.duration_s), demand.duration_s);
  const bool pd = !t.prefill_deployment.empty(), colocated_prefill = t.colocated_prefill_tokens > 0;
  if (pd && colocated_prefill) throw InputError("traffic: give --prefill-deployment (P/D) or --colocated-prefill-tokens, not both");
  if (!pd && (!t.prefill_hardware.empty() || t.prefill_replicas != 1))
    throw InputError("traffic: --prefill-hardware and --prefill-replicas describe the P/D prefill tier: give --prefill-deployment");
  if (!pd && !colocated_prefill && (t.prefill_batch_tokens != kDefaultPrefillBatchTokens || t.prefill_micro_batches != kDefaultPrefillMicroBatches))
    throw InputError("traffic: --prefill-batch-tokens and --prefill-micro-batches time prefill: give --prefill-deployment or "
                     "--colocated-prefill-tokens");
  // P/D: the prefill tier takes every request; the decode replica its share in order of KV arrival.
  const std::vector<Request> requests = demand.replica_share(pd ? 1 : t.replicas);
  if (requests.empty()) throw InputError(fmt::format("traffic: no request arrives within {} s", demand.duration_s));

  c.context_tokens = batch_mean_context(requests);
  c.micro_batches = chosen_micro_batches(m, pools, c);
  const TrafficConfig run = run_config(t, demand, mean_output_tokens(requests), c.tpot_sla_ms);
  const ServedTraffic served = served_traffic(m, attention, ffn, c, batch_mean_context(requests), t.max_batch, run);
  const PipelineStepTimer timer(m, attention, ffn, c);
  TrafficConfig config = served.config;
  config.progress = progress_bar(err);
  PrefillConfig pc = prefill_tier_config(c, t);
  std::string prefill_name, prefill_hw, prefill_note;
  TrafficResult result;
  std::optional<PrefillResult> prefill_at_mean;
  double mean_input = 0;
  for (const Request& r : requests) mean_input += double(r.input_tokens) / double(requests.size());
  if (pd) {
    PipelineOptions po = o;
    po.deployment = t.prefill_deployment;
    po.attention_hardware = po.ffn_hardware = "";
    if (!t.prefill_hardware.empty()) po.hardware = t.prefill_hardware;
    po.attention_tp = po.ffn_tp = 0;
    const Deployment prefill_deployment = deployment(po);
    const DeploymentPools prefill_pools = deployment_pools(po, prefill_deployment, m);
    pc.deployment = prefill_deployment;
    const PrefillPromptTimer prefill(m, prefill_pools.attention, prefill_pools.ffn, pc,
                                     kv_link(prefill_pools.attention, prefill_deployment, attention, d, c.transport.nic_efficiency));
    result = simulate_pd_traffic(requests, prefill, t.prefill_replicas, t.replicas, timer, config);
    prefill_name = prefill_deployment.name(), prefill_hw = prefill_pools.attention.hw.id;
    prefill_at_mean = prefill.at(std::round(mean_input));
    prefill_note = fmt::format("P/D: {} replica(s) of {} on {} prefill every prompt ({:.4g} input tokens/s each at the mean prompt "
                               "of {:.0f} tokens, TTFT alone {:.4g} ms; {} simulations on a grid of prompt lengths); each prompt's KV "
                               "crosses one NIC to the decode tier.",
                               t.prefill_replicas, prefill_name, prefill_hw, prefill_at_mean->input_tokens_per_s, mean_input,
                               prefill_at_mean->ttft_ms, prefill.simulations());
  } else if (colocated_prefill) {
    pc.deployment = d;
    config.prefill_chunk_tokens = t.colocated_prefill_tokens;
    config.prefill_chunk_ms = colocated_chunk_ms(m, attention, ffn, pc, mean_input, t.colocated_prefill_tokens);
    result = simulate_traffic(requests, timer, config);
    prefill_name = "colocated";
    prefill_hw = attention.hw.id;
    prefill_note = fmt::format("Colocated prefill: each decode step also prefills up to {:.0f} prompt tokens, adding {:.4g} ms for a "
                               "full chunk (forwards back to back at the mean prompt of {:.0f} tokens; an upper bound).",
                               t.colocated_prefill_tokens, config.prefill_chunk_ms(t.colocated_prefill_tokens), mean_input);
  } else {
    result = simulate_traffic(requests, timer, config);
  }

  TrafficRun row;
  row.model = m.id;
  row.deployment = d.name();
  row.attention_hw = attention.hw.id;
  row.ffn_hw = ffn.hw.id;
  row.timing = timing_name(attention, ffn);
  row.batch_limited_by = served.batch_limited_by;
  row.micro_batches = c.micro_batches;
  row.replicas = t.replicas;
  row.tpot_sla_ms = c.tpot_sla_ms;
  row.config = served.config;
  row.summary = result.summary;
  row.prefill = prefill_name, row.prefill_hw = prefill_hw, row.prefill_replicas = pd ? t.prefill_replicas : 0;
  Table summary = traffic_table({row});
  if (!prefill_note.empty()) summary.notes.push_back(prefill_note);
  const long grid_simulations = timer.simulations();
  summary.notes.push_back(fmt::format("Step times from {} pipeline simulations on a grid; worst interpolation error at the "
                                      "centres of the {} cells used: {:.3f}%.",
                                      grid_simulations, timer.cells_used(), 100 * timer.max_cell_error()));
  if (c.mtp.draft_tokens > 0)
    summary.notes.push_back(fmt::format("MTP: {} draft token(s), {:.4g} tokens per step; a step here is the time per accepted "
                                        "token (decode step / tokens per step), each request advancing one token per step.",
                                        c.mtp.draft_tokens, c.mtp.tokens_per_step()));
  summary.notes.push_back(timing);
  if (!(result.summary.tokens_per_s > 0)) {
    // An infinite cost per token with no word would read as a result.
    const std::string why = fmt::format(
        "No token was decoded in the measured window ({} s to {} s): throughput is 0 and the cost per token infinite{}; "
        "lengthen --duration or shorten --warmup-s.",
        run.warmup_s, run.duration_s,
        result.summary.rejected > 0 ? fmt::format(" ({} requests did not fit the deployment's memory)", result.summary.rejected) : "");
    summary.notes.push_back(why);
    if (f != Format::table) err << "decodesim: note: " << why << "\n";
  }

  std::vector<OutputFile> extra;
  PlotSet plots;
  if (!out_dir.empty()) {
    if (f != Format::csv) extra.push_back({"traffic.csv", render_csv(summary)});
    extra.push_back({"traffic_timeseries.csv", render_csv(traffic_timeseries_table(result))});
    plots = traffic_plots(result, served.config.max_batch, c.tpot_sla_ms);
    if (pd || colocated_prefill) {
      const PlotSet more = ttft_tpot_plots(result, c.tpot_sla_ms);
      plots.files.insert(plots.files.end(), more.files.begin(), more.files.end());
      plots.scripts.insert(plots.scripts.end(), more.scripts.begin(), more.scripts.end());
    }
    for (const OutputFile& file : plots.files) extra.push_back(file);
  }
  std::vector<Table> tables{summary};
  if (pd) tables.push_back(pd_ratio_table({pd_row(row, *prefill_at_mean, demand.offered_rate_per_s(), mean_input)}));
  emit(tables, f, out_dir, out, std::move(extra));
  if (!out_dir.empty())
    if (const std::string note = render_plots(out_dir, plots); !note.empty()) err << "decodesim: " << note << "\n";
  return 0;
}

namespace {

int plan_pd_command(const PipelineOptions& o, const TrafficOptions& t, const Model& m, const SearchSpace& space,
                    const TrafficDemand& demand, const PipelineConfig& base, const TrafficSla& sla, const TrafficConfig& run, Format f,
                    const std::string& out_dir, std::ostream& out, const std::string& timing) {
  if (o.gpus > 0) throw InputError("plan: --gpus N (exactly N) does not apply to a P/D pair; give --max-gpus N for the pair's budget");
  CalibrationSet calibrations = timing_calibrations(o.timing, o.calibrations);
  const std::vector<Pool> prefill_chips =
      pools(calibrations, t.prefill_hardware.empty() ? ChipOption{o.hardware, "--hardware"} : ChipOption{t.prefill_hardware, "--prefill-hardware"}, m);
  const PrefillConfig pc = prefill_tier_config(base, t);
  const auto t0 = std::chrono::steady_clock::now();
  long prefill_simulations = 0;
  const std::vector<PrefillTier> tiers =
      plan_prefill(m, prefill_chips, pc, demand, t.p99_ttft_s, run.warmup_s, o.gpus_per_instance, &prefill_simulations);
  TrafficPlanStats stats;
  // Enough decode candidates that a GPU budget still leaves pairs to choose from.
  const size_t top = static_cast<size_t>(o.top);
  const std::vector<TrafficPlan> decode = plan_traffic(m, space, base, demand, sla, run, std::max<size_t>(top, 20), &stats);
  long tried = 0;
  const std::vector<PdPlan> pairs =
      plan_pd(m, tiers, decode, space, prefill_chips, pc, demand, run, sla, t.p99_ttft_s, top, o.max_gpus, &tried);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  // The colocated alternative on the cheapest decode deployments, for comparison.
  long colocated_runs = 0;
  const std::vector<ColocatedPlan> colocated =
      plan_colocated(m, decode, space, pc, demand, run, sla, t.p99_ttft_s, 3, top, o.max_gpus, &colocated_runs);
  Table table = pd_plan_table(pairs, demand, sla, t.p99_ttft_s);
  table.notes.push_back(fmt::format("Prefill: {} tiers meet the TTFT SLA ({} prefill simulations, {:.0f} tokens per forward and group, {} "
                                    "micro-batches); decode: {} plans meet the TPOT SLA ({} candidates, {} traffic runs); {} pairs "
                                    "served together{}; {:.1f} s in all.",
                                    tiers.size(), prefill_simulations, pc.batch_tokens, pc.micro_batches, decode.size(),
                                    stats.search.candidates, stats.traffic_runs, tried,
                                    o.max_gpus > 0 ? fmt::format("; at most {} GPUs per pair", o.max_gpus) : "", s));
  table.notes.push_back(timing);
  Table alternative = colocated_plan_table(colocated, t.p99_ttft_s, sla.p99_tpot_ms);
  alternative.notes.push_back(fmt::format("{} colocated traffic runs on the 3 cheapest decode deployments.", colocated_runs));
  emit({table, alternative}, f, out_dir, out);
  return 0;
}

}  // namespace

int plan_traffic_command(const PipelineOptions& o, const TrafficOptions& t, Format f, const std::string& out_dir,
                         std::ostream& out) {
  const Model m = pipeline_model(o);
  std::string timing;
  const SearchSpace space = search_space(o, m, &timing);
  check_search_work(space, m, 1);
  const TrafficDemand demand = demand_from(t);
  const PipelineConfig base = base_config(o);
  const TrafficSla sla{t.p99_tpot_ms > 0 ? t.p99_tpot_ms : o.tpot_ms, t.p99_queue_s};
  const TrafficConfig run = run_config(t, demand, mean_output_tokens(demand.replica_share(1)), base.tpot_sla_ms);

  if (t.p99_ttft_s > 0) return plan_pd_command(o, t, m, space, demand, base, sla, run, f, out_dir, out, timing);

  TrafficPlanStats stats;
  const auto t0 = std::chrono::steady_clock::now();
  const std::vector<TrafficPlan> plans =
      plan_traffic(m, space, base, demand, sla, run, static_cast<size_t>(o.top), &stats);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  Table table = traffic_plan_table(plans, demand, sla);
  table.notes.push_back(fmt::format("Searched {} candidates with {} pipeline simulations; put {} under traffic with {} traffic "
                                    "simulations of {} s each; {:.1f} s in all.",
                                    stats.search.candidates, stats.search.simulations, stats.evaluated, stats.traffic_runs,
                                    demand.duration_s, s));
  table.notes.push_back(timing);
  emit({table}, f, out_dir, out);
  return 0;
}

}  // namespace decodesim::cli
