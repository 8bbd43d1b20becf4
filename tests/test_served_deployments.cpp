// Served decoding as serving systems run it: schedules (AFD three stages, EP two micro-batches),
// the KV precision override, deployments of any instance size, per-message link latency, and
// the simulated timeline as Chrome trace events.
#include "helpers.hpp"

#include <map>
#include <regex>
#include <set>

#include "decodesim/census.hpp"
#include "decodesim/chrome_trace.hpp"
#include "decodesim/pipeline.hpp"
#include "decodesim/search.hpp"

using namespace decodesim;

namespace {

Pool pool(const std::string& id) { return Pool{load_hardware(id), nullptr}; }

PipelineConfig config(const std::string& deployment, int gpus_per_instance, double batch, int micro_batches = 0) {
  PipelineConfig c;
  c.deployment = parse_deployment(deployment, gpus_per_instance);
  c.context_tokens = 4096;
  c.batch = batch;
  c.micro_batches = micro_batches > 0 ? micro_batches : default_micro_batches(c.deployment.kind);
  // The ideal transport and balanced routing: the mechanics these tests compute by hand.
  c.transport.fanout = Fanout::per_instance;
  c.transport.routing.imbalance = 1.0;
  return c;
}

// Every task on one resource starts no earlier than the one before it there ended.
void check_no_overlap(const std::vector<TaskRecord>& tasks, int resources) {
  std::vector<std::vector<TaskRecord>> by(resources);
  for (const TaskRecord& t : tasks) {
    REQUIRE(t.resource >= 0);
    REQUIRE(t.resource < resources);
    CHECK(t.end_us >= t.start_us);
    by[t.resource].push_back(t);
  }
  for (auto& list : by) {
    std::sort(list.begin(), list.end(), [](const TaskRecord& a, const TaskRecord& b) { return a.start_us < b.start_us; });
    for (size_t i = 1; i < list.size(); ++i) CHECK(list[i].start_us >= list[i - 1].end_us - 1e-9);
  }
}

}  // namespace

// ---- Timeline ------------------------------------------------------------------------------

TEST_CASE("the engine records every task once, none overlapping on its resource", "[served][trace]") {
  SECTION("one micro-batch runs back to back: the span is steps x layers x the four stages") {
    EventPipeline p;
    p.layers.assign(7, StageTimes{10, 2, 8, 4});
    p.micro_batches = 1;
    std::vector<TaskRecord> tasks;
    const EventRun run = run_events(p, &tasks);
    REQUIRE(tasks.size() == size_t(4 * 7 * 4));
    CHECK(run.end_us == Approx(4 * 7 * 24.0).epsilon(1e-12));
    CHECK(tasks.back().end_us == run.end_us);
    CHECK(tasks.back().stage == Stage::combine);
    CHECK(tasks.back().layer == 6);
    CHECK(tasks.back().step == 3);
    // Recording changes nothing.
    const EventRun plain = run_events(p);
    CHECK(plain.tpot_mean_us == run.tpot_mean_us);
    CHECK(plain.events == run.events);
  }
  SECTION("EP: dense layers' empty transfers take no turn and leave no record") {
    EventPipeline p;
    p.layers = {StageTimes{30, 0, 20, 0}, StageTimes{30, 15, 20, 25}, StageTimes{30, 15, 20, 25}};
    p.micro_batches = 2;
    p.shared_resources = true;
    std::vector<TaskRecord> tasks;
    const EventRun run = run_events(p, &tasks);
    CHECK(tasks.size() == size_t(4 * 2 * (2 + 4 + 4)));
    check_no_overlap(tasks, 2);
    double last = 0;
    for (const TaskRecord& t : tasks) last = std::max(last, t.end_us);
    CHECK(last == run.end_us);
  }
}

TEST_CASE("simulate's timeline as Chrome trace JSON: well formed, one process per resource", "[served][trace]") {
  const Model m = load_model("step3");
  Timeline timeline;
  const PipelineConfig c = config("2A2F", 8, 6144);
  const PipelineResult r = simulate(m, pool("h800"), pool("h800"), c, &timeline);
  CHECK(r.tpot_ms == simulate(m, pool("h800"), pool("h800"), c).tpot_ms);
  REQUIRE(timeline.resources == std::vector<std::string>{"attention", "a2f", "ffn", "f2a"});
  REQUIRE(timeline.tasks.size() == size_t(c.steps * c.micro_batches * m.num_layers() * 4));
  check_no_overlap(timeline.tasks, 4);
  // Busy time per resource over the run is steps x the busy time per step.
  std::vector<double> busy(4, 0.0);
  for (const TaskRecord& t : timeline.tasks) busy[t.resource] += t.end_us - t.start_us;
  for (int i = 0; i < 4; ++i) CHECK(busy[i] * 1e-3 == Approx(c.steps * r.resources[i].busy_ms_per_step));

  const auto j = nlohmann::json::parse(chrome_trace_json(timeline));
  REQUIRE(j["traceEvents"].is_array());
  std::map<int, std::string> process;
  size_t complete = 0;
  double last_end = 0, max_end = 0;
  const std::regex name(R"((attention|dispatch|ffn|combine) L(\d+) mb(\d+))");
  for (const auto& e : j["traceEvents"]) {
    if (e["ph"] == "M") {
      if (e["name"] == "process_name") process[e["pid"].get<int>()] = e["args"]["name"].get<std::string>();
      continue;
    }
    REQUIRE(e["ph"] == "X");
    ++complete;
    std::smatch mt;
    const std::string n = e["name"].get<std::string>();
    REQUIRE(std::regex_match(n, mt, name));
    CHECK(std::stoi(mt[2]) == e["args"]["layer"].get<int>());
    CHECK(std::stoi(mt[3]) == e["tid"].get<int>());
    CHECK(e["args"]["stage"] == mt[1].str());
    CHECK(e["dur"].get<double>() >= 0);
    CHECK(e["args"]["resource"] == process.at(e["pid"].get<int>()));
    last_end = e["ts"].get<double>() + e["dur"].get<double>();
    max_end = std::max(max_end, last_end);
  }
  CHECK(process == std::map<int, std::string>{{1, "attention"}, {2, "a2f"}, {3, "ffn"}, {4, "f2a"}});
  CHECK(complete == timeline.tasks.size());
  // The last event ends when the last micro-batch finishes its last step.
  EventPipeline p;
  for (int l = 0; l < m.num_layers(); ++l) p.layers.push_back(layer_stage_times(m, l, pool("h800"), pool("h800"), c));
  p.layers.front().attention_us += step_head_us(m, pool("h800"), c);
  CHECK(r.head_us == step_head_us(m, pool("h800"), c));
  p.micro_batches = c.micro_batches;
  const double span_us = run_events(p).end_us;
  CHECK(last_end == Approx(span_us).epsilon(1e-12));
  CHECK(max_end == Approx(span_us).epsilon(1e-12));
  CHECK_THAT(j["otherData"]["title"].get<std::string>(), Catch::Contains("step3 2A2F"));
}

TEST_CASE("simulate --trace writes the timeline, atomically, or fails with exit code 2", "[served][trace][cli]") {
  test::TempDir d;
  const std::string file = (d.path / "timeline.json").string();
  const test::Result ok = test::run("simulate --model step3 --deployment EP32 --batch 4096 --trace '" + file + "'");
  REQUIRE(ok.code == 0);
  const auto j = nlohmann::json::parse(test::read_file(file));
  std::set<int> pids;
  for (const auto& e : j["traceEvents"])
    if (e["ph"] == "X") pids.insert(e["pid"].get<int>());
  CHECK(pids == std::set<int>{1, 2});  // EP: gpu and network

  // With --out, the trace and the tables are written together.
  const std::string both = (d.path / "t2.json").string();
  REQUIRE(test::run("simulate --model step3 --batch 6144 --trace '" + both + "' --out '" + (d.path / "res").string() + "'").code == 0);
  CHECK(std::filesystem::exists(both));
  CHECK(std::filesystem::exists(d.path / "res" / "simulate.txt"));

  const auto blocker = d.write("file", "not a folder");
  for (const auto& [args, expect] : {
           std::pair{"simulate --batch 6144 --trace '" + (blocker / "t.json").string() + "'", std::string("cannot")},
           std::pair{"simulate --batch 6144 --context 4k,8k --trace '" + (d.path / "t3.json").string() + "'",
                     std::string("give one --context")},
       }) {
    INFO(args);
    const test::Result r = test::run(args);
    CHECK(r.code == 2);
    CHECK(test::lines(r.err) == 1);
    CHECK_THAT(r.err, Catch::Contains(expect));
    CHECK(r.out.empty());
  }
  CHECK_FALSE(std::filesystem::exists(d.path / "t3.json"));
  CHECK_FALSE(std::filesystem::exists(blocker / "t.json"));
  // A failing --out leaves no trace behind either.
  const std::string orphan = (d.path / "t4.json").string();
  const test::Result bad_out =
      test::run("simulate --batch 6144 --trace '" + orphan + "' --out '" + (blocker / "sub").string() + "'");
  CHECK(bad_out.code == 2);
  CHECK_FALSE(std::filesystem::exists(orphan));
}

// ---- Schedules -----------------------------------------------------------------------------

TEST_CASE("micro-batches: auto picks the fastest of 1..4 inside the SLA and says so; a given count is kept", "[served][schedule]") {
  // The report's and DeepSeek's own schedules, kept for reference.
  CHECK(default_micro_batches(DeploymentKind::afd) == 3);
  CHECK(default_micro_batches(DeploymentKind::colocated) == 2);

  const test::Result given = test::run("simulate --model deepseek-v3 --deployment EP128 --batch 16384 --micro-batches 2 --format csv");
  REQUIRE(given.code == 0);
  CHECK(test::csv_column(given.out, "micro_batches") == std::vector<std::string>{"2"});
  // EP128 at 128 requests per GPU in two micro-batches: DeepSeek's profiled decode.
  CHECK(test::csv_column(given.out, "requests_per_gpu_mb") == std::vector<std::string>{"64"});

  for (const char* args : {"--model deepseek-v3 --deployment EP128 --batch 16384", "--model step3 --deployment 2A2F --batch 6144",
                           "--model qwen3-235b-a22b --hardware h100 --deployment EP8 --batch 512"}) {
    INFO(args);
    const test::Result chosen = test::run(std::string("simulate ") + args + " --format csv");
    REQUIRE(chosen.code == 0);
    CHECK_THAT(chosen.out, Catch::Contains("chosen of 1..4 (--micro-batches auto)"));
    const double tpot = std::stod(test::csv_column(chosen.out, "tpot_ms").at(0));
    const bool met = test::csv_column(chosen.out, "sla_met").at(0) == "yes";
    for (int n = 1; n <= 4; ++n) {
      const test::Result fixed = test::run(std::string("simulate ") + args + " --micro-batches " + std::to_string(n) + " --format csv");
      REQUIRE(fixed.code == 0);
      INFO(n);
      if (test::csv_column(fixed.out, "sla_met").at(0) == "yes" || !met) CHECK(tpot <= std::stod(test::csv_column(fixed.out, "tpot_ms").at(0)) * (1 + 1e-9));
    }
  }
  // Inside one node there is no network to hide: one micro-batch serves an 8-GPU EP fastest.
  const test::Result node = test::run("simulate --model deepseek-v3 --hardware h200 --deployment EP8 --batch 512 --format csv");
  REQUIRE(node.code == 0);
  CHECK(test::csv_column(node.out, "micro_batches") == std::vector<std::string>{"1"});
  for (const char* bad : {"0", "x", "auto2", "1.5"}) {
    const test::Result r = test::run(std::string("simulate --micro-batches ") + bad);
    CHECK(r.code == 2);
    CHECK(test::lines(r.err) == 1);
    CHECK_THAT(r.err, Catch::Contains("--micro-batches"));
  }
}

TEST_CASE("plan searches 1..4 micro-batches for every family and keeps each deployment's best; --micro-batches-search narrows it",
          "[served][schedule][search]") {
  const Model m = load_model("step3");
  SearchSpace space;
  space.attention_chips = space.ffn_chips = space.colocated_chips = {pool("h800")};
  PipelineConfig base;
  SearchStats stats;
  const std::vector<Plan> plans = search_deployments(m, space, base, RankBy::tgs, &stats);
  const long deployments = long(space.afd_deployments().size() + space.colocated_deployments(m).size());
  CHECK(stats.candidates == 4 * deployments);
  std::set<std::string> names, counts;
  bool saw_afd = false, saw_ep = false, saw_tp = false;
  for (const Plan& p : plans) {
    const Deployment& d = p.result.config.deployment;
    CHECK(names.insert(d.name()).second);  // each deployment once, in its best count
    counts.insert(std::to_string(p.result.config.micro_batches));
    saw_afd = saw_afd || !d.colocated();
    saw_tp = saw_tp || d.tensor_parallel();
    saw_ep = saw_ep || (d.colocated() && d.ffn_tp == 1);
  }
  CHECK(saw_afd);
  CHECK(saw_ep);
  CHECK(saw_tp);
  CHECK(counts.size() > 1);
  space.min_micro_batches = space.max_micro_batches = 3;
  SearchStats narrow;
  for (const Plan& p : search_deployments(m, space, base, RankBy::tgs, &narrow)) CHECK(p.result.config.micro_batches == 3);
  CHECK(narrow.candidates == deployments);

  const test::Result widened = test::run("plan --model step3 --hardware h800 --top 1000 --micro-batches-search 2..4 --format csv");
  REQUIRE(widened.code == 0);
  for (const std::string& n : test::csv_column(widened.out, "micro_batches")) CHECK((n == "2" || n == "3" || n == "4"));
  for (const char* bad : {"5..2", "0", "2..", "x", "1..17", "2...4"}) {
    INFO(bad);
    const test::Result r = test::run(std::string("plan --micro-batches-search '") + bad + "'");
    CHECK(r.code == 2);
    CHECK(test::lines(r.err) == 1);
    CHECK_THAT(r.err, Catch::Contains("--micro-batches-search"));
  }
}

// ---- KV precision --------------------------------------------------------------------------

TEST_CASE("kv-dtype: KV bytes and the attention core halve from bf16 to fp8 at roofline", "[served][kv]") {
  // A roofline timer that also keeps the last attention core's time.
  struct Recorder final : OpTimer {
    RooflineTimer roof;
    mutable double attention_us = 0;
    explicit Recorder(const Hardware& h) : roof(h, Dtype::fp8) {}
    double time_us(const Op& op) const override {
      const double t = roof.time_us(op);
      if (op.cls == OpClass::attention) attention_us = t;
      return t;
    }
    std::string name() const override { return "roofline"; }
  };
  const Hardware h800 = load_hardware("h800");
  for (const char* id : {"step3", "deepseek-v3", "qwen3-235b-a22b"}) {
    INFO(id);
    Model fp8 = load_model(id), bf16 = fp8;
    set_kv_dtype(fp8.attention_types, fp8.quant, Dtype::fp8);
    set_kv_dtype(bf16.attention_types, bf16.quant, Dtype::bf16);
    const double context = 32768;
    CHECK(census(bf16, context).kv_bytes == 2 * census(fp8, context).kv_bytes);
    PipelineConfig c = config("2A2F", 8, 16 * 3 * 32);
    c.context_tokens = context;
    CHECK(memory_check(bf16, pool("h800"), pool("h800"), c).attention_kv_bytes ==
          Approx(2 * memory_check(fp8, pool("h800"), pool("h800"), c).attention_kv_bytes));
    auto core_us = [&](const Model& m) {
      auto rec = std::make_shared<Recorder>(h800);
      layer_stage_times(m, m.num_layers() - 1, Pool{h800, rec}, pool("h800"), c);
      return rec->attention_us;
    };
    const double t8 = core_us(fp8), t16 = core_us(bf16);
    // Memory-bound: the difference is exactly one copy of the KV; the BF16 query and output
    // (a few kB beside megabytes of KV) keep the ratio a hair under 2.
    const LayerCensus lc = layer_census(fp8, fp8.num_layers() - 1, context);
    CHECK(t16 - t8 == Approx(1e6 * 32 * lc.kv_bytes / h800.mem_bytes_per_s));
    CHECK(t16 / t8 == Approx(2).epsilon(0.01));
  }
  // Per-design precisions give way; a linear-attention state stays as described.
  Model llama = load_model("llama4-maverick");
  const double mixed = census(llama, 8192).kv_bytes;
  set_kv_dtype(llama.attention_types, llama.quant, Dtype::fp8);
  CHECK(census(llama, 8192).kv_bytes < mixed);
  for (const AttentionSpec& a : llama.attention_types) CHECK(cache_dtype(a, llama.quant) == Dtype::fp8);
  Model minimax = load_model("minimax-m1");
  set_kv_dtype(minimax.attention_types, minimax.quant, Dtype::fp8);
  for (const AttentionSpec& a : minimax.attention_types)
    CHECK(cache_dtype(a, minimax.quant) == (a.kind == AttentionKind::linear ? Dtype::fp32 : Dtype::fp8));

  // On the command line: simulate, plan and traffic take it; the KV held per GPU doubles.
  const test::Result f8 = test::run("simulate --model step3 --batch 6144 --kv-dtype fp8 --format csv");
  const test::Result f16 = test::run("simulate --model step3 --batch 6144 --kv-dtype bf16 --format csv");
  REQUIRE(f8.code == 0);
  REQUIRE(f16.code == 0);
  const double weights = memory_check(load_model("step3"), pool("h800"), pool("h800"), config("2A2F", 8, 6144)).attention_weight_bytes;
  const double kv8 = std::stod(test::csv_column(f8.out, "attention_mem_bytes").at(0)) - weights;
  const double kv16 = std::stod(test::csv_column(f16.out, "attention_mem_bytes").at(0)) - weights;
  CHECK(kv16 == Approx(2 * kv8).epsilon(1e-5));
  CHECK(std::stod(test::csv_column(f16.out, "tpot_ms").at(0)) > std::stod(test::csv_column(f8.out, "tpot_ms").at(0)));
  CHECK(test::run("plan --model step3 --deployments afd --kv-dtype bf16 --top 2").code == 0);
  const test::Result bad = test::run("simulate --kv-dtype int4");  // fp4 is a KV precision (NVFP4), int4 is not
  CHECK(bad.code == 2);
  CHECK_THAT(bad.err, Catch::Contains("--kv-dtype"));
}

// ---- Instances of any size -----------------------------------------------------------------

TEST_CASE("deployments of 1, 2 and 4 GPUs per instance: GPU counts and names", "[served][deployment]") {
  struct Case {
    const char* text;
    int gpus_per_instance, gpus, attention_gpus, ffn_gpus;
  };
  for (const Case& k : {Case{"1A1F", 1, 2, 1, 1}, Case{"2A2F", 1, 4, 2, 2}, Case{"3A1F", 1, 4, 3, 1}, Case{"1A3F", 1, 4, 1, 3},
                        Case{"2A2F", 2, 8, 4, 4}, Case{"EP2", 2, 2, 2, 2}, Case{"EP4", 4, 4, 4, 4}, Case{"EP4", 1, 4, 4, 4},
                        Case{"EP8", 4, 8, 8, 8}}) {
    INFO(k.text << " at " << k.gpus_per_instance);
    const Deployment d = parse_deployment(k.text, k.gpus_per_instance);
    CHECK(d.gpus() == k.gpus);
    CHECK(d.attention_gpus() == k.attention_gpus);
    CHECK(d.ffn_gpus() == k.ffn_gpus);
    CHECK(d.name() == k.text);
    CHECK(parse_deployment(d.name(), k.gpus_per_instance).gpus() == d.gpus());
  }
  CHECK(parse_deployment("EP4", 4).attention_nodes() == 1);
  CHECK(parse_deployment("EP4", 8).attention_nodes() == 1);  // half a node
  CHECK(parse_deployment("EP16", 8).attention_nodes() == 2);
  CHECK_THROWS_WITH(parse_deployment("EP12", 8), Catch::Contains("up to 8 (one node), or a multiple of 8"));
  CHECK_THROWS_WITH(parse_deployment("EP6", 4), Catch::Contains("a multiple of 4"));
}

TEST_CASE("memory per GPU follows the instance size", "[served][deployment]") {
  const Model m = load_model("pangu-pro-moe-72b");
  const double wb = dtype_bytes(m.quant.weights);
  double routed = 0, shared = 0, attention = count_params(m).embedding;
  for (int l = 0; l < m.num_layers(); ++l) {
    const LayerCensus lc = layer_census(m, l, 0);
    const FfnSpec& f = m.ffn(l);
    const double s = f.kind == FfnKind::moe ? 3.0 * m.hidden_size * f.shared_experts * f.shared_intermediate : lc.ffn_total_params;
    shared += s, routed += lc.ffn_total_params - s;
    attention += lc.linear_params + lc.router_params;
  }
  const double kv_per_request = census(m, 4096).kv_resident_bytes;
  struct Case {
    const char* text;
    int n;
    double attention_weights, ffn_weights, requests_per_attention_gpu;
  };
  const double batch = 96;
  for (const Case& k : {
           // One FFN GPU holds every expert; three share the routed ones, each keeping the shared ones whole.
           Case{"1A1F", 1, attention, routed + shared, batch},
           Case{"3A1F", 1, attention, routed + shared, batch / 3},
           Case{"1A3F", 1, attention, routed / 3 + shared, batch},
           Case{"2A2F", 1, attention, routed / 2 + shared, batch / 2},
           // Two-GPU instances: shared experts tensor-parallel over the instance's 2 GPUs.
           Case{"1A1F", 2, attention, routed / 2 + shared / 2, batch / 2},
           // EP: every GPU holds the attention, its quarter (half) of the experts and the shared ones.
           Case{"EP4", 4, attention + routed / 4 + shared, 0, batch / 4},
           Case{"EP2", 2, attention + routed / 2 + shared, 0, batch / 2},
       }) {
    INFO(k.text << " at " << k.n);
    const PipelineConfig c = config(k.text, k.n, batch);
    const MemoryCheck mc = memory_check(m, pool("h100"), pool("h100"), c);
    CHECK(mc.attention_weight_bytes == Approx(k.attention_weights * wb));
    CHECK(mc.ffn_weight_bytes == Approx(k.ffn_weights * wb));
    CHECK(mc.attention_kv_bytes == Approx(k.requests_per_attention_gpu * kv_per_request));
  }
  // 72B of 8-bit weights fit four 80 GB GPUs as EP4; Step-3's 300 GB of experts do not fit one FFN GPU.
  CHECK(memory_check(m, pool("h100"), pool("h100"), config("EP4", 4, 96)).fits());
  CHECK_FALSE(memory_check(load_model("step3"), pool("h100"), pool("h100"), config("1A1F", 1, 96)).ffn_fits());
  CHECK(memory_check(load_model("step3"), pool("h100"), pool("h100"), config("1A1F", 8, 96)).ffn_fits());
}

TEST_CASE("instance links: NICs between instances, the intra-node link inside and between single GPUs", "[served][deployment]") {
  const Model m = load_model("step3");
  const Hardware h = load_hardware("h800");
  Hardware slow_nic = h;
  slow_nic.nic_gbps = 1;
  const double H = double(m.hidden_size);
  const int dense = 0, moe = 10;
  REQUIRE(m.ffn(dense).kind == FfnKind::dense);
  REQUIRE(m.ffn(moe).kind == FfnKind::moe);

  SECTION("AFD: min(x N link_attention, y N link_ffn), N the deployment's GPUs per instance") {
    PipelineConfig c = config("1A3F", 2, 2 * 3 * 64);
    c.transport.fanout = Fanout::report;
    const double T = c.batch / c.micro_batches;
    const double link = std::min(2 * h.net_bytes_per_s(), 6 * h.net_bytes_per_s());
    CHECK(layer_stage_times(m, moe, pool("h800"), pool("h800"), c).dispatch_us == Approx(1e6 * T * H / link));
    // One-GPU instances reach each other over the intra-node link; the NIC plays no part.
    PipelineConfig one = config("1A3F", 1, 3 * 64);
    one.transport.fanout = Fanout::report;
    const double T1 = one.batch / one.micro_batches;
    const StageTimes s = layer_stage_times(m, moe, Pool{slow_nic, nullptr}, Pool{slow_nic, nullptr}, one);
    CHECK(s.dispatch_us == Approx(1e6 * T1 * H / (1 * h.intra_node_bytes_per_s)));
    CHECK(s.combine_us == Approx(2 * s.dispatch_us));
  }
  SECTION("EP4 in one 4-GPU instance: every copy over the intra-node link, none over the NIC") {
    const PipelineConfig c = config("EP4", 4, 4 * 2 * 64);
    const StageTimes fast = layer_stage_times(m, moe, pool("h800"), pool("h800"), c);
    const StageTimes slow = layer_stage_times(m, moe, Pool{slow_nic, nullptr}, Pool{slow_nic, nullptr}, c);
    CHECK(fast.dispatch_us == slow.dispatch_us);
    const FfnSpec& f = m.ffn(moe);
    const double E = f.routed_experts, held = E / 4;
    double miss = 1;
    for (int i = 0; i < f.top_k; ++i) miss *= (E - held - i) / (E - i);
    const double copies = 3 * (1 - miss);  // the instance's other 3 GPUs holding one of its experts
    CHECK(fast.dispatch_us == Approx(1e6 * 64 * copies * H / h.intra_node_bytes_per_s));
    CHECK(layer_stage_times(m, dense, pool("h800"), pool("h800"), c).dispatch_us == 0);
  }
}

TEST_CASE("link latency: once per dispatch and per combine, 2 x layers x micro-batches on a network-bound step", "[served][deployment]") {
  constexpr double kLatencyUs = 7.5;
  SECTION("EP, network-bound: the NIC never idles, so every message's latency lands on the step") {
    const Model m = load_model("qwen3-235b-a22b");  // every layer MoE: every layer sends
    Hardware h = load_hardware("h800");
    h.nic_gbps = 4;  // a network far slower than the GPU
    Hardware late = h;
    late.link_latency_us = kLatencyUs;
    PipelineConfig c = config("EP16", 8, 16 * 2 * 32);
    c.kernels.lm_head = false;  // nothing between steps: the network never waits for the GPUs
    const PipelineResult base = simulate(m, Pool{h, nullptr}, Pool{h, nullptr}, c);
    const PipelineResult slow = simulate(m, Pool{late, nullptr}, Pool{late, nullptr}, c);
    REQUIRE(base.resources[1].utilisation == Approx(1).epsilon(1e-9));  // network-bound
    CHECK(slow.tpot_ms - base.tpot_ms == Approx(2 * m.num_layers() * c.micro_batches * kLatencyUs * 1e-3).epsilon(1e-9));
    // Both transfers of each layer pay it once.
    const StageTimes a = base.groups[0].stage, b = slow.groups[0].stage;
    CHECK(b.dispatch_us - a.dispatch_us == Approx(kLatencyUs));
    CHECK(b.combine_us - a.combine_us == Approx(kLatencyUs));
    CHECK(b.attention_us == a.attention_us);
  }
  SECTION("AFD at one GPU per instance, one micro-batch: the chain pays 2 x layers x latency") {
    const Model m = load_model("pangu-pro-moe-72b");
    Hardware h = load_hardware("h100"), late = h;
    late.link_latency_us = kLatencyUs;
    const PipelineConfig c = config("1A1F", 1, 16, 1);
    const double base = simulate(m, Pool{h, nullptr}, Pool{h, nullptr}, c).tpot_ms;
    // The slower side's latency counts: here only the FFN chip has one.
    const double slow = simulate(m, Pool{h, nullptr}, Pool{late, nullptr}, c).tpot_ms;
    CHECK(slow - base == Approx(2 * m.num_layers() * kLatencyUs * 1e-3).epsilon(1e-9));
  }
  SECTION("no latency given: every chip file reads 0, and nothing changes") {
    for (const std::string& id : known_ids("hardware")) CHECK(load_hardware(id).link_latency_us == 0);
  }
}

TEST_CASE("link_latency_us in a chip file: optional, non-negative, with the usual one-line errors", "[served][loader]") {
  test::TempDir d;
  const std::string good = test::read_file(test::source_dir() / "hardware/h100.json");
  auto with = [&](const std::string& value) {
    std::string text = good;
    text.insert(text.rfind('}'), ", \"link_latency_us\": " + value + "\n");
    return d.write("h100.json", text).string();
  };
  CHECK(load_hardware(with("2.5")).link_latency_us == 2.5);
  CHECK(load_hardware(with("0")).link_latency_us == 0);
  for (const char* bad : {"-1", "\"2us\"", "null"}) {
    INFO(bad);
    const std::string file = with(bad);
    CHECK_THROWS_WITH(load_hardware(file), Catch::Contains(file + ": $.link_latency_us: expected a number in [0, 1000000]"));
  }
}

TEST_CASE("gpus-per-instance on simulate, plan and traffic", "[served][deployment][cli]") {
  const test::Result ep4 =
      test::run("simulate --model pangu-pro-moe-72b --hardware h100 --deployment EP4 --gpus-per-instance 4 --format csv");
  REQUIRE(ep4.code == 0);
  CHECK(test::csv_column(ep4.out, "gpus") == std::vector<std::string>{"4"});
  CHECK(test::csv_column(ep4.out, "gpus_per_instance") == std::vector<std::string>{"4"});
  CHECK(test::csv_column(ep4.out, "memory_fits") == std::vector<std::string>{"yes"});

  const test::Result afd = test::run("simulate --model pangu-pro-moe-72b --hardware h100 --deployment 2A2F --gpus-per-instance 1 "
                                     "--batch 96 --micro-batches 3 --format csv");
  REQUIRE(afd.code == 0);
  CHECK(test::csv_column(afd.out, "gpus") == std::vector<std::string>{"4"});
  CHECK(test::csv_column(afd.out, "requests_per_gpu_mb") == std::vector<std::string>{"16"});

  const test::Result plan =
      test::run("plan --model pangu-pro-moe-72b --hardware h100 --gpus-per-instance 1 --top 500 --format csv");
  REQUIRE(plan.code == 0);
  const auto gpus = test::csv_column(plan.out, "gpus"), per = test::csv_column(plan.out, "gpus_per_instance");
  REQUIRE(!gpus.empty());
  for (size_t i = 0; i < gpus.size(); ++i) CHECK(per[i] == "1");
  CHECK(std::find(gpus.begin(), gpus.end(), "2") != gpus.end());  // 1A1F or EP2 of single GPUs

  const test::Result traffic = test::run("traffic --model pangu-pro-moe-72b --hardware h100 --deployment EP4 --gpus-per-instance 4 "
                                         "--rate 20 --duration 30 --output-tokens 64 --format csv");
  REQUIRE(traffic.code == 0);
  CHECK(test::csv_column(traffic.out, "deployment") == std::vector<std::string>{"EP4"});

  for (const auto& [args, expect] : {
           std::pair{std::string("simulate --deployment EP12"), std::string("up to 8 (one node), or a multiple of 8")},
           std::pair{std::string("simulate --gpus-per-instance 0"), std::string("--gpus-per-node")},
           std::pair{std::string("traffic --deployment EP6 --gpus-per-instance 4 --rate 1"), std::string("a multiple of 4")},
       }) {
    INFO(args);
    const test::Result r = test::run(args);
    CHECK(r.code == 2);
    CHECK(test::lines(r.err) == 1);
    CHECK_THAT(r.err, Catch::Contains(expect));
  }
}
