// Served decoding as an event pipeline, and the deployment search.
#include "helpers.hpp"

#include <chrono>

#include "cli/cli.hpp"
#include "decodesim/census.hpp"
#include "decodesim/pipeline.hpp"
#include "decodesim/search.hpp"
#include "decodesim/writers.hpp"

using namespace decodesim;

namespace {

EventPipeline uniform(int layers, StageTimes s, int micro_batches, bool shared = false) {
  EventPipeline p;
  p.layers.assign(layers, s);
  p.micro_batches = micro_batches;
  p.shared_resources = shared;
  return p;
}

Pool pool(const std::string& id) { return Pool{load_hardware(id), nullptr}; }

PipelineConfig step3_2a2f() {
  PipelineConfig c;
  c.deployment = parse_deployment("2A2F");
  c.context_tokens = 4096;
  c.batch = 6144;
  c.micro_batches = 3;
  c.tpot_sla_ms = 50;
  return c;
}

double served(const char* key) {
  return test::paper_values()["served_throughput"][key].get<double>();
}

}  // namespace

TEST_CASE("one micro-batch runs its layers' stages back to back", "[pipeline][events]") {
  // Nothing overlaps: TPOT = L * (a + d + f + c).
  const EventRun r = run_events(uniform(61, {100, 20, 80, 40}, 1));
  CHECK(r.tpot_mean_us == Approx(61 * 240.0).epsilon(1e-12));
  CHECK(r.tpot_max_us == Approx(61 * 240.0).epsilon(1e-12));
  CHECK(r.events == 4L * 61 * 4);
}

TEST_CASE("with several micro-batches a dominant stage sets the pace", "[pipeline][events]") {
  // FFN 100 us against 10 + 10 + 10 us elsewhere: with 3 micro-batches the FFN never idles
  // after the fill, so a step takes L * n * f and every other resource waits.
  const EventRun r = run_events(uniform(10, {10, 10, 100, 10}, 3));
  CHECK(r.tpot_mean_us == Approx(10 * 3 * 100.0).epsilon(1e-12));
  CHECK(r.busy_us_per_step[2] == Approx(3000));
  CHECK(r.busy_us_per_step[0] == Approx(300));

  // Without enough micro-batches to cover the rest of the chain, the bottleneck idles:
  // 2 micro-batches, chain a+d+c = 150 us > (n-1) * f = 100 us.
  const EventRun gap = run_events(uniform(10, {50, 50, 100, 50}, 2));
  CHECK(gap.tpot_mean_us == Approx(10 * (50 + 50 + 100 + 50.0)).epsilon(1e-12));
  CHECK(gap.tpot_mean_us > gap.busy_us_per_step[2]);
}

TEST_CASE("EP shares one GPU between attention and FFN, and skips empty network stages", "[pipeline][events]") {
  // No communication (dense layers run where the token is): two micro-batches simply take
  // turns on the GPU, L * 2 * (a + f).
  const EventRun r = run_events(uniform(5, {30, 0, 20, 0}, 2, true));
  CHECK(r.tpot_mean_us == Approx(5 * 2 * 50.0).epsilon(1e-12));
  REQUIRE(r.busy_us_per_step.size() == 2);
  CHECK(r.busy_us_per_step[1] == 0);
  // With the network busier than the GPU, it paces the step.
  const EventRun net = run_events(uniform(5, {10, 40, 10, 80}, 2, true));
  CHECK(net.tpot_mean_us >= net.busy_us_per_step[1] - 1e-9);
  CHECK(net.tpot_mean_us == Approx(net.busy_us_per_step[1]).epsilon(0.05));
}

TEST_CASE("deployment names parse both ways", "[pipeline]") {
  const Deployment a = parse_deployment("2A2F");
  CHECK(a.kind == DeploymentKind::afd);
  CHECK(a.gpus() == 32);
  CHECK(a.name() == "2A2F");
  const Deployment e = parse_deployment("ep128");
  CHECK(e.kind == DeploymentKind::colocated);
  CHECK(e.attention_nodes() == 16);
  CHECK(e.gpus() == 128);
  CHECK(e.name() == "EP128");
  CHECK_THROWS_AS(parse_deployment("EP12"), InputError);
  const Deployment t = parse_deployment("tp4");
  CHECK(t.tensor_parallel());
  CHECK(t.name() == "TP4");
  CHECK(t.attention_tp == 4);
  CHECK(t.ffn_tp == 4);
  CHECK(parse_deployment("EP16-ATP4").attention_dp() == 4);
  CHECK(parse_deployment("EP16-ATP4").name() == "EP16-ATP4");
  CHECK(parse_deployment("2a2f-atp2-ftp8").name() == "2A2F-ATP2-FTP8");
  CHECK(parse_deployment("2A2F-FTP8-ATP2").name() == "2A2F-ATP2-FTP8");
  for (const char* bad : {"2A2F-ATP2-ATP4", "EP8-XTP2", "EP8-", "EP8-ATP", "TP8-ATP-1"})
    CHECK_THROWS_WITH(parse_deployment(bad), Catch::Contains("-ATPn and -FTPn"));
  CHECK(parse_deployment("2A2F-FTP8").expert_parallel() == 2);
  CHECK(parse_deployment("EP8-FTP8").name() == "EP8-FTP8");  // DP attention, TP FFN
  CHECK_THROWS_WITH(parse_deployment("EP8-ATP3"), Catch::Contains("attention TP 3 must divide its 8 GPUs"));
  CHECK_THROWS_WITH(parse_deployment("EP16-FTP4"), Catch::Contains("must be 1 (experts spread, EP) or all 16 (TP)"));
  CHECK_THROWS_WITH(parse_deployment("1A1F-FTP16"), Catch::Contains("FFN TP 16 must divide the 8 GPUs of an instance"));
  CHECK_THROWS_AS(parse_deployment("0A2F"), InputError);
  CHECK_THROWS_AS(parse_deployment("2F2A"), InputError);
}

TEST_CASE("dispatch sends FP8 out and BF16 back over the slower side's NICs", "[pipeline]") {
  const Model m = load_model("step3");
  PipelineConfig c = step3_2a2f();
  c.transport.fanout = Fanout::report;  // one crossing per token and direction
  const StageTimes s = layer_stage_times(m, 10, pool("h800"), pool("h800"), c);
  // 2048 tokens x 7168 x 1 byte over 16 NICs of 50 GB/s each.
  const double bw = 16 * 400e9 / 8;
  CHECK(s.dispatch_us == Approx(1e6 * 2048 * 7168 / bw));
  CHECK(s.combine_us == Approx(2 * s.dispatch_us));
  // Spread over two FFN instances holding 24 experts each, a token's 3 experts reach
  // 2 * (1 - C(24,3)/C(48,3)) instances on average.
  c.transport.fanout = Fanout::per_instance;
  const double copies = 2 * (1 - (24.0 * 23 * 22) / (48.0 * 47 * 46));
  CHECK(layer_stage_times(m, 10, pool("h800"), pool("h800"), c).dispatch_us == Approx(copies * s.dispatch_us));
  // Dense layers go to one instance.
  CHECK(layer_stage_times(m, 0, pool("h800"), pool("h800"), c).dispatch_us == Approx(s.dispatch_us));
}

TEST_CASE("the roofline attention stage reads the KV and the projection weights once", "[pipeline]") {
  const Model m = load_model("step3");
  const Hardware h = load_hardware("h800");
  const PipelineConfig c = step3_2a2f();
  const StageTimes s = layer_stage_times(m, 10, pool("h800"), pool("h800"), c);
  // 128 requests per GPU per micro-batch: memory-bound at FP8, so at least the bytes' time.
  const LayerCensus lc = layer_census(m, 10, 4096);
  // The serving stack's 7 element-wise kernels each read and write the BF16 hidden states.
  const double elementwise_bytes = 7 * 128.0 * m.hidden_size * 2 * 2;
  const double floor_us = 1e6 * (128 * lc.kv_bytes + lc.linear_params + elementwise_bytes) / h.mem_bytes_per_s;
  CHECK(s.attention_us >= floor_us);
  CHECK(s.attention_us == Approx(floor_us).epsilon(0.06));  // + query/output, activations, router
}

TEST_CASE("attention GEMMs cover every projection and router parameter of each model", "[pipeline]") {
  // A timer that only records: FLOPs / (2 m) of the GEMMs it sees is their weight count.
  struct Recorder final : OpTimer {
    mutable double gemm_flops = 0, attention_bytes = 0;
    double time_us(const Op& op) const override {
      (op.cls == OpClass::gemm ? gemm_flops : attention_bytes) += op.cls == OpClass::gemm ? op.flops : op.bytes;
      return 1;
    }
    std::string name() const override { return "recorder"; }
  };
  for (const std::string& id : known_ids("models")) {
    const Model m = load_model(id);
    INFO(id);
    auto rec = std::make_shared<Recorder>();
    const Pool a{load_hardware("h800"), rec};
    PipelineConfig c;
    c.deployment = parse_deployment("1A1F");
    c.batch = 8 * 2 * 16;  // 16 requests per attention GPU per micro-batch
    c.micro_batches = 2;
    const int last = m.num_layers() - 1;
    layer_stage_times(m, last, a, pool("h800"), c);
    const LayerCensus lc = layer_census(m, last, c.context_tokens);
    CHECK(rec->gemm_flops / (2 * 16) == Approx(lc.linear_params + lc.router_params));
    CHECK(rec->attention_bytes >= 16 * lc.kv_bytes);
  }
}

TEST_CASE("the SLA holds at the report's batch and fails below the bottleneck's time", "[pipeline]") {
  const Model m = load_model("step3");
  PipelineConfig c = step3_2a2f();
  const PipelineResult ok = simulate(m, pool("h800"), pool("h800"), c);
  CHECK(ok.sla_met);
  CHECK(ok.feasible());
  // No schedule beats the busiest resource: an SLA below it must fail.
  double busiest = 0;
  for (const ResourceUse& u : ok.resources) busiest = std::max(busiest, u.busy_ms_per_step);
  CHECK(ok.tpot_ms >= busiest - 1e-9);
  c.tpot_sla_ms = 0.9 * busiest;
  const PipelineResult tight = simulate(m, pool("h800"), pool("h800"), c);
  CHECK_FALSE(tight.sla_met);
  CHECK_FALSE(tight.feasible());
}

TEST_CASE("the memory check rejects a batch whose KV does not fit", "[pipeline]") {
  const Model m = load_model("step3");
  PipelineConfig c = step3_2a2f();
  const double kv_per_request = census(m, 4096).kv_bytes;  // 61 x 512 B x 4096
  const PipelineResult fits = simulate(m, pool("h800"), pool("h800"), c);
  CHECK(fits.memory.attention_kv_bytes == Approx(384 * kv_per_request));
  CHECK(fits.memory.fits());
  // 700 requests per attention GPU hold 89 GB of KV on an 80 GB card.
  c.batch = 16 * 700;
  const PipelineResult full = simulate(m, pool("h800"), pool("h800"), c);
  CHECK_FALSE(full.memory.attention_fits());
  CHECK(full.memory.ffn_fits());
  CHECK_FALSE(full.feasible());
  // The largest batch stops exactly where one more request per GPU per micro-batch would not fit.
  c.tpot_sla_ms = 1e6;
  const auto plan = largest_batch(m, pool("h800"), pool("h800"), c);
  REQUIRE(plan);
  CHECK(plan->limited_by == "memory");
  CHECK(plan->result.memory.fits());
  c.batch = plan->result.config.batch + 16 * 3;
  CHECK_FALSE(memory_check(m, pool("h800"), pool("h800"), c).fits());
}

TEST_CASE("the search returns feasible deployments, best first", "[pipeline][search]") {
  const Model m = load_model("step3");
  SearchSpace space;
  space.attention_chips = {pool("h800"), pool("h20")};
  space.ffn_chips = {pool("h800")};
  space.colocated_chips = {pool("h800")};
  PipelineConfig base;
  base.context_tokens = 4096;
  SearchStats stats;
  const auto t0 = std::chrono::steady_clock::now();
  const std::vector<Plan> by_tgs = search_deployments(m, space, base, RankBy::tgs, &stats);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  WARN("search: " << stats.candidates << " candidates, " << stats.simulations << " simulations, " << seconds * 1e3 << " ms");
  CHECK(seconds < 2.0);
  REQUIRE(by_tgs.size() > 10);
  for (size_t i = 0; i < by_tgs.size(); ++i) {
    INFO(by_tgs[i].result.config.deployment.name() << " " << by_tgs[i].result.attention_hw);
    CHECK(by_tgs[i].result.feasible());
    CHECK(by_tgs[i].result.tpot_max_ms <= 50);
    if (i) CHECK(by_tgs[i - 1].result.tgs >= by_tgs[i].result.tgs);
  }
  // The best plan's batch is the largest: one more request per GPU per micro-batch breaks it.
  const Plan& best = by_tgs.front();
  PipelineConfig more = best.result.config;
  more.batch += double(more.deployment.attention_gpus()) * more.micro_batches;
  const Pool& a = best.result.attention_hw == "h800" ? space.attention_chips[0] : space.attention_chips[1];
  CHECK_FALSE(simulate(m, a, space.ffn_chips[0], more).feasible());

  const std::vector<Plan> by_usd = search_deployments(m, space, base, RankBy::usd_per_mtok);
  REQUIRE(by_usd.size() == by_tgs.size());
  for (size_t i = 1; i < by_usd.size(); ++i) CHECK(by_usd[i - 1].result.usd_per_mtok <= by_usd[i].result.usd_per_mtok);
  const Table t = search_table(by_usd, 10, RankBy::usd_per_mtok);
  CHECK(t.rows.size() == 10);
  CHECK(t.number(0, "usd_per_mtok") == Approx(by_usd[0].result.usd_per_mtok));
}

TEST_CASE("cost per million tokens is the deployment's rent over its throughput", "[pipeline]") {
  const Model m = load_model("step3");
  PipelineConfig c = step3_2a2f();
  const PipelineResult r = simulate(m, pool("h20"), pool("h800"), c);
  const double usd_per_s = (16 * 0.80 + 16 * 2.00) / 3600;
  CHECK(r.usd_per_mtok == Approx(usd_per_s / r.tokens_per_s * 1e6));
  CHECK(r.tokens_per_s == Approx(6144 / (r.tpot_ms * 1e-3)));
  CHECK(r.tgs == Approx(r.tokens_per_s / 32));
}

TEST_CASE("calibrated timing uses the fitted kernels and falls back to measured rates", "[pipeline][calibration]") {
  const Hardware h = load_hardware("h800");
  Calibration cal = test::calibration_for("h800", "", 2.5e12, 6e14, 1.2e15);
  EfficiencyFit gemm{"gemm", "fp8", 5.0, 2.0e12, 1.0e15, 50};
  EfficiencyFit mfa{"attention_mfa", "fp8", 8.0, 2.2e12, 4.0e14, 50};
  EfficiencyFit mfa_bf16{"attention_mfa", "bf16", 9.0, 2.0e12, 3.0e14, 50};
  cal.fits = {gemm, mfa, mfa_bf16};
  Quantization q;  // fp8 weights and KV
  const CalibratedTimer t(h, q, cal);

  const Op g{OpClass::gemm, 2.0 * 128 * 7168 * 2048, 7168.0 * 2048, AttentionKind::gqa};
  CHECK(t.time_us(g) == Approx(gemm.predict_us(g.flops, g.bytes)));
  CHECK(t.time_us(g) > 5.0 + 1e6 * g.bytes / 2.0e12 - 1e-9);  // launch + bytes at the fitted bandwidth
  const Op a{OpClass::attention, 3e10, 2.7e8, AttentionKind::mfa};
  CHECK(t.time_us(a) == Approx(mfa.predict_us(a.flops, a.bytes)));
  // No moe_ffn fit: a roofline at the measured copy bandwidth and FP8 GEMM rate.
  CHECK(t.fit_for(OpClass::moe_ffn) == nullptr);
  const Op e{OpClass::moe_ffn, 8e10, 3.3e8, AttentionKind::gqa};
  CHECK(t.time_us(e) == Approx(1e6 * std::max(e.bytes / 2.5e12, e.flops / 1.2e15)));
  // BF16 KV picks the bf16 attention fit.
  Quantization q16;
  q16.kv = Dtype::bf16;
  CHECK(CalibratedTimer(h, q16, cal).time_us(a) == Approx(mfa_bf16.predict_us(a.flops, a.bytes)));
  // A layer's own cache precision picks its fit, whatever the model's KV precision.
  Op a16 = a;
  a16.cache = Dtype::bf16;
  CHECK(t.time_us(a16) == Approx(mfa_bf16.predict_us(a.flops, a.bytes)));
  REQUIRE(t.fit_for(OpClass::attention, AttentionKind::mfa, Dtype::bf16) != nullptr);
  CHECK(t.fit_for(OpClass::attention, AttentionKind::mfa, Dtype::bf16)->dtype == "bf16");
  CHECK(t.fit_for(OpClass::attention, AttentionKind::mfa, Dtype::int8)->dtype == "fp8");
  CHECK(t.fit_for(OpClass::attention, AttentionKind::gqa, Dtype::bf16) == nullptr);
  // Prefill attention and several query tokens (MTP) take their own fits where the calibration
  // measured them. Without, MTP takes decode's fit; a prompt takes decode's launch and bandwidth,
  // its products at the measured BF16 GEMM rate (6e14 here) and its exponentials at the chip's
  // special function rate (H800: 3.9e12 a second), one after the other.
  Op mtp = a16;
  mtp.query_tokens = 2;
  Op pre{OpClass::attention, 4e12, 3e8, AttentionKind::mfa, Dtype::bf16, 0, 4096};
  pre.exps = 4e12 / (2.0 * 512);
  REQUIRE(h.sfu_ops_per_s == 3.9e12);
  EfficiencyFit prompt = mfa_bf16;
  prompt.flops_per_s = pre.flops / (pre.flops / 6e14 + pre.exps / 3.9e12);
  CHECK(t.time_us(pre) == Approx(prompt.predict_us(pre.flops, pre.bytes)));
  CHECK(t.time_us(pre) > 1e6 * (pre.flops / 6e14 + pre.exps / 3.9e12));
  for (const auto& [op, own_class] : {std::pair{pre, "prefill_attention_mfa"}, std::pair{mtp, "mtp_attention_mfa"}}) {
    INFO(own_class);
    if (op.query_tokens <= 16) CHECK(t.time_us(op) == Approx(mfa_bf16.predict_us(op.flops, op.bytes)));
    Calibration with_own = cal;
    const EfficiencyFit own{own_class, "bf16", 12.0, 2.0e12, 2.0e14, 50};
    with_own.fits.push_back(own);
    const CalibratedTimer t_own(h, q, with_own);
    CHECK(t_own.time_us(op) == Approx(own.predict_us(op.flops, op.bytes)));
    CHECK(t_own.time_us(a16) == Approx(mfa_bf16.predict_us(a.flops, a.bytes)));
  }

  // Slower-than-peak kernels lengthen the simulated step.
  const Model m = load_model("step3");
  Pool calibrated{h, std::make_shared<CalibratedTimer>(h, m.quant, cal)};
  const PipelineResult roof = simulate(m, pool("h800"), pool("h800"), step3_2a2f());
  const PipelineResult fit = simulate(m, calibrated, calibrated, step3_2a2f());
  CHECK(fit.timing == "calibrated:h800");
  CHECK(fit.tpot_ms > roof.tpot_ms);
}

TEST_CASE("report: Step-3 2A2F on H800 at peak bounds the measured 4039 TGS from above", "[pipeline][report]") {
  const double measured = served("step3 2A2F, 32 Hopper GPUs, 4096 context, FP8 attention, batch 6144 in 3 micro-batches");
  // At peak: every kernel at the roofline, the ideal transport at the NICs' line rate, balanced routing.
  PipelineConfig c = step3_2a2f();
  c.transport.fanout = Fanout::per_instance;
  c.transport.routing.imbalance = 1.0;
  const PipelineResult r = simulate(load_model("step3"), pool("h800"), pool("h800"), c);
  WARN("Step-3 2A2F H800 4K, batch 6144 / 3 micro-batches, roofline at peak: TPOT " << r.tpot_ms << " ms, " << r.tgs
                                                                                    << " TGS (report measured " << measured
                                                                                    << ", " << measured / r.tgs * 100 << "% of ideal)");
  CHECK(r.sla_met);
  CHECK(r.memory.fits());
  CHECK(r.tgs >= measured);
}

TEST_CASE("report: DeepSeek-V3 EP128 on H800 at peak bounds the reported 2324 TGS from above", "[pipeline][report]") {
  const double measured = served("deepseek-v3, 128 H800, 4096 context (DeepSeek profiling data)");
  const Model m = load_model("deepseek-v3");
  // DeepSeek's profiled decode: EP128, 128 requests per GPU in two micro-batches.
  PipelineConfig c;
  c.deployment = parse_deployment("EP128");
  c.context_tokens = 4096;
  c.batch = 128 * 128;
  c.micro_batches = 2;
  // At peak: every kernel at the roofline, the ideal transport at the NICs' line rate, balanced routing.
  c.transport.fanout = Fanout::per_instance;
  c.transport.routing.imbalance = 1.0;
  const PipelineResult r = simulate(m, pool("h800"), pool("h800"), c);
  const auto best = largest_batch(m, pool("h800"), pool("h800"), c);
  REQUIRE(best);
  WARN("DeepSeek-V3 EP128 H800 4K, 128 requests/GPU in 2 micro-batches, roofline at peak: TPOT "
       << r.tpot_ms << " ms, " << r.tgs << " TGS; largest batch under 50 ms: " << best->result.config.batch << " at "
       << best->result.tgs << " TGS (reported " << measured << ")");
  CHECK(r.sla_met);
  CHECK(r.memory.fits());
  CHECK(r.tgs >= measured);
  CHECK(best->result.tgs >= r.tgs);
}

TEST_CASE("simulate and plan run from the command line", "[pipeline][cli]") {
  std::ostringstream out, err;
  const char* sim[] = {"decodesim", "simulate", "--model", "step3", "--deployment", "2A2F", "--batch", "6144",
                       "--micro-batches", "3", "--format", "csv", "--timing", "roofline"};
  REQUIRE(cli::main(14, sim, out, err) == 0);
  CHECK(out.str().find("step3,2A2F,h800,h800,roofline,4096,6144,3,128,32,") != std::string::npos);

  std::ostringstream out2, err2;
  const char* plan[] = {"decodesim", "plan", "--model", "step3", "--hardware", "h800", "--deployments", "afd", "--top", "3",
                        "--format", "csv", "--timing", "roofline"};
  REQUIRE(cli::main(14, plan, out2, err2) == 0);
  CHECK(out2.str().rfind("rank,deployment,", 0) == 0);
  CHECK(out2.str().find(",roofline,1\n") != std::string::npos);  // timing, then tokens per step (no MTP: 1)

  // A calibration file for the chip switches its kernels to the fitted times.
  Calibration cal = test::calibration_for("h800", "synthetic", 2.5e12, 6e14, 1.2e15);
  cal.fits = {EfficiencyFit{"gemm", "fp8", 5.0, 2.0e12, 1.0e15, 4, 1}};
  const test::TempDir dir;
  const std::string file = dir.write("h800-calibrated.json", calibration_json(cal)).string();
  std::ostringstream out4, err4;
  const char* calibrated[] = {"decodesim", "simulate", "--model", "step3", "--deployment", "2A2F", "--batch", "6144",
                              "--micro-batches", "3", "--format", "csv", "--calibration", file.c_str()};
  REQUIRE(cli::main(14, calibrated, out4, err4) == 0);
  CHECK(out4.str().find("step3,2A2F,h800,h800,calibrated:h800,4096,") != std::string::npos);
  // --timing roofline and a calibration contradict each other.
  std::ostringstream out5, err5;
  const char* both[] = {"decodesim", "simulate", "--timing", "roofline", "--calibration", file.c_str()};
  CHECK(cli::main(6, both, out5, err5) == 2);
  CHECK(err5.str().find("--timing roofline") != std::string::npos);

  std::ostringstream out3, err3;
  const char* bad[] = {"decodesim", "simulate", "--deployment", "EP12"};
  CHECK(cli::main(4, bad, out3, err3) == 2);
  CHECK(err3.str().find("EP counts GPUs") != std::string::npos);
}
