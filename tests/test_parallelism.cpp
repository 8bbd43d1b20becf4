// Deployments as people run them: tensor parallelism, DP attention with EP, a GPU budget. Memory per
// GPU, collective bytes and a decode step computed by hand, against the simulator.
#include "helpers.hpp"

#include <set>

#include "decodesim/deployment.hpp"
#include "decodesim/collectives.hpp"
#include "decodesim/pipeline.hpp"
#include "decodesim/search.hpp"

using namespace decodesim;

namespace {

Pool roofline(const std::string& chip) { return {load_hardware(chip), nullptr}; }

}  // namespace

TEST_CASE("collectives: a group inside a node runs on NVLink, a larger one on the NICs", "[parallel][network]") {
  const Hardware h100 = load_hardware("h100");
  const LinkProfile node = group_link(h100, 8, 8);
  CHECK(node.collective_bus_bytes_per_s == link_profile(h100).collective_bus_bytes_per_s);
  CHECK(node.collective_step_us == link_profile(h100).collective_step_us);
  // Across nodes: the NICs at the given efficiency (else the chip's measured one), NCCL's network
  // step latency (2.7 us against NVLink's 0.6, LL).
  const LinkProfile nics = group_link(h100, 16, 8, 0.8);
  CHECK(nics.collective_bus_bytes_per_s == Approx(h100.net_bytes_per_s() * 0.8));
  CHECK(nics.collective_step_us == Approx(2.7));
  CHECK(group_link(h100, 16, 8).collective_bus_bytes_per_s == Approx(h100.net_bytes_per_s() * h100.network.rdma_efficiency));
  for (Collective c : {Collective::all_reduce, Collective::all_gather, Collective::reduce_scatter}) {
    CHECK(collective_us(c, 1e6, 16, nics) > collective_us(c, 1e6, 8, node));
    CHECK(collective_us(c, 1e6, 1, node) == 0);
  }
  CHECK(collective_us(Collective::all_reduce, 1e6, 8, node) == allreduce_us(1e6, 8, node).us);
  CHECK(collective_us(Collective::all_gather, 1e6, 8, node) == allgather_us(1e6, 8, node).us);
  CHECK(collective_us(Collective::reduce_scatter, 1e6, 8, node) == reduce_scatter_us(1e6, 8, node).us);
}

TEST_CASE("TP memory: weights split n ways, GQA KV by heads, an MLA latent on every GPU", "[parallel][memory]") {
  const Model qwen = load_model("qwen3-32b");
  const Deployment tp8 = parse_deployment("TP8");
  // Per GPU: embedding and LM head (untied) by vocabulary, q and o by heads, the KV projection by
  // KV heads (8 over 8), the MLP by columns.
  const double H = 5120, V = 151936;
  const double embedding = 2 * V * H / 8;
  const double attention = 64 * (H * 64 * 128 / 8 + H * 2 * 8 * 128 / 8 + 64 * 128 * H / 8);
  const double mlp = 64 * 3 * H * 25600 / 8;
  const ShardParams p = shard_params(qwen, tp8);
  CHECK(p.attention == Approx(embedding + attention));
  CHECK(p.ffn == Approx(mlp));
  // KV: 8 KV heads of 128 at one byte, K and V, 64 layers: each of 8 GPUs one head.
  CHECK(kv_bytes_per_request(qwen, tp8, 4096) == Approx(64 * 2 * 128 * 4096.0));
  CHECK(kv_bytes_per_request(qwen, parse_deployment("EP8"), 4096) == Approx(64 * 2 * 8 * 128 * 4096.0));
  // Over 16 GPUs the 8 KV heads are replicated: still one head per GPU.
  CHECK(kv_bytes_per_request(qwen, parse_deployment("TP16"), 4096) == Approx(64 * 2 * 128 * 4096.0));

  const Model dsv3 = load_model("deepseek-v3");
  CHECK(kv_bytes_per_request(dsv3, tp8, 4096) == Approx(kv_bytes_per_request(dsv3, parse_deployment("EP8"), 4096)));
  CHECK(kv_bytes_per_request(dsv3, tp8, 4096) == Approx(census(dsv3, 4096).kv_resident_bytes));

  // Whole-deployment memory: TP8 of one request per GPU group holds every request's KV share.
  PipelineConfig c;
  c.deployment = tp8;
  c.batch = 64, c.micro_batches = 1, c.context_tokens = 4096;
  const Pool h100 = roofline("h100");
  const MemoryCheck mc = memory_check(qwen, h100, h100, c);
  CHECK(mc.attention_weight_bytes == Approx(embedding + attention + mlp));  // FP8 weights
  CHECK(mc.attention_kv_bytes == Approx(64 * 64 * 2 * 128 * 4096.0));
  // EP8 (DP attention) of the same dense model: every GPU the whole model and an eighth of the requests.
  c.deployment = parse_deployment("EP8");
  const MemoryCheck dp = memory_check(qwen, h100, h100, c);
  CHECK(dp.attention_weight_bytes == Approx(2 * V * H + 64 * (H * 8192 + H * 2048 + 8192 * H) + 64 * 3 * H * 25600));
  CHECK(dp.attention_kv_bytes == Approx(8 * 64 * 2 * 8 * 128 * 4096.0));
}

TEST_CASE("EP memory: routed experts spread over all GPUs, shared ones whole; AFD FFN TP holds slices", "[parallel][memory]") {
  const Model dsv3 = load_model("deepseek-v3");
  const ShardParams ep = shard_params(dsv3, parse_deployment("EP64"));
  const ShardParams ep_atp = shard_params(dsv3, parse_deployment("EP64-ATP4"));
  CHECK(ep_atp.ffn == Approx(ep.ffn));             // attention TP leaves the experts alone
  CHECK(ep_atp.attention < ep.attention / 2);      // and splits the attention weights
  const ShardParams afd = shard_params(dsv3, parse_deployment("2A2F"));
  const ShardParams afd_tp = shard_params(dsv3, parse_deployment("2A2F-FTP8"));
  CHECK(afd_tp.ffn == Approx(afd.ffn));  // 1/16 of every routed weight per GPU, either way
}

TEST_CASE("a TP2 decode step by hand: projections, core and MLP at 1/2, two all-reduces per layer", "[parallel][tpot]") {
  const Model qwen = load_model("qwen3-32b");
  const Pool h100 = roofline("h100");
  PipelineConfig c;
  c.deployment = parse_deployment("TP2");
  c.batch = 16, c.micro_batches = 1, c.context_tokens = 4096;
  c.kernels.serving_stack = false, c.kernels.lm_head = false;
  const double bw = 3.35e12, peak = 1.979e15, R = 16, H = 5120;
  auto op = [&](double bytes, double flops) { return std::max(bytes / bw, flops / peak) * 1e6; };
  auto gemm = [&](double k, double n) { return op(k * n + R * k + R * n * 2, 2 * R * k * n); };
  // Attention per GPU: 32 query heads, 4 KV heads, o by input rows.
  const double projections = gemm(H, 4096) + gemm(H, 1024) + gemm(4096, H);
  const double core = op(R * (2 * 4 * 128 * 4096.0 + 2 * 32 * 256), R * 2 * 256 * 32 * 4096.0);
  // All-reduce of 16 x 5120 BF16 over 2 GPUs on NVLink: 2 ring steps; NCCL's LL protocol (6.6 us
  // base, 0.6 per step) at a quarter of H100's 460 GB/s bus bandwidth, algorithm bandwidth n/steps of it.
  const double allreduce = 6.6 + 2 * 0.6 + 16 * H * 2 / (0.25 * 460e9 * 2 / 2) * 1e6;
  const double mlp = gemm(H, 2 * 12800) + gemm(12800, H);
  const double layer = projections + core + allreduce + mlp + allreduce;
  const PipelineResult r = simulate(qwen, h100, h100, c);
  CHECK(r.tpot_ms == Approx(64 * layer * 1e-3).epsilon(1e-9));
  // The stage split: attention (with its all-reduce) and FFN (with its), nothing on the network.
  REQUIRE(r.groups.size() == 1);
  CHECK(r.groups[0].stage.attention_us == Approx(projections + core + allreduce));
  CHECK(r.groups[0].stage.ffn_us == Approx(mlp + allreduce));
  CHECK(r.groups[0].stage.dispatch_us == 0);
  CHECK(r.groups[0].stage.combine_us == 0);
}

TEST_CASE("DP attention with a TP FFN gathers every token before the FFN and scatters the sums back", "[parallel][tpot]") {
  const Model qwen = load_model("qwen3-32b");
  const Pool h100 = roofline("h100");
  PipelineConfig c;
  c.deployment = parse_deployment("EP8-FTP8");
  c.batch = 64, c.micro_batches = 1, c.context_tokens = 4096;
  const StageTimes s = layer_stage_times(qwen, 0, h100, h100, c);
  const LinkProfile l = group_link(h100.hw, 8, 8);
  CHECK(s.dispatch_us == Approx(collective_us(Collective::all_gather, 64 * 5120 * 2.0, 8, l)));
  CHECK(s.combine_us == Approx(collective_us(Collective::reduce_scatter, 64 * 5120 * 2.0, 8, l)));
}

TEST_CASE("EP with attention TP: the group's requests attended with its heads split, each GPU dispatching its share",
          "[parallel][tpot]") {
  const Model dsv3 = load_model("deepseek-v3");
  const Pool h200 = roofline("h200");
  PipelineConfig c;
  c.batch = 512, c.micro_batches = 1, c.context_tokens = 4096;
  c.deployment = parse_deployment("EP8");
  const StageTimes dp = layer_stage_times(dsv3, 5, h200, h200, c);
  c.deployment = parse_deployment("EP8-ATP8");
  const StageTimes tp = layer_stage_times(dsv3, 5, h200, h200, c);
  CHECK(tp.dispatch_us == Approx(dp.dispatch_us));  // each GPU still sends 64 rows
  CHECK(tp.ffn_us == Approx(dp.ffn_us));
  // MLA's latent is read whole by every GPU of the group: 8x the requests per GPU, so the core
  // costs more, which is why DP attention is what MLA models run.
  CHECK(tp.attention_us > dp.attention_us);
}

TEST_CASE("plan under a GPU budget: one node of 8 H100s gets a single-node deployment, TP for latency", "[parallel][search][cli]") {
  const test::Result tp = test::run("plan --model qwen3-32b --hardware h100 --gpus 8 --tpot-ms 10 --top 50 --format csv");
  REQUIRE(tp.code == 0);
  const auto names = test::csv_column(tp.out, "deployment"), totals = test::csv_column(tp.out, "total_gpus");
  REQUIRE(!names.empty());
  CHECK(names.front().starts_with("TP"));
  for (const std::string& g : totals) CHECK(g == "8");
  const test::Result any = test::run("plan --model deepseek-v3 --hardware h200 --gpus 8 --top 100 --format csv");
  REQUIRE(any.code == 0);
  const auto gpus = test::csv_column(any.out, "gpus");
  REQUIRE(!gpus.empty());
  for (const std::string& g : gpus) CHECK(std::stoi(g) <= 8);
  for (const std::string& g : test::csv_column(any.out, "total_gpus")) CHECK(g == "8");
  const test::Result capped = test::run("plan --model step3 --hardware h800 --max-gpus 32 --top 400 --format csv");
  REQUIRE(capped.code == 0);
  for (const std::string& g : test::csv_column(capped.out, "gpus")) CHECK(std::stoi(g) <= 32);
  const test::Result both = test::run("plan --gpus 8 --max-gpus 8");
  CHECK(both.code == 2);
  CHECK(test::lines(both.err) == 1);
}

TEST_CASE("simulate, plan and traffic say which parallelism each row uses", "[parallel][cli]") {
  const test::Result sim = test::run("simulate --model qwen3-32b --hardware h100 --deployment TP4 --batch 64 --format csv");
  REQUIRE(sim.code == 0);
  CHECK(test::csv_column(sim.out, "deployment") == std::vector<std::string>{"TP4"});
  CHECK(test::csv_column(sim.out, "attention_tp") == std::vector<std::string>{"4"});
  CHECK(test::csv_column(sim.out, "ffn_tp") == std::vector<std::string>{"4"});
  CHECK(test::csv_column(sim.out, "attention_dp") == std::vector<std::string>{"1"});
  const test::Result text = test::run("simulate --model qwen3-32b --hardware h100 --deployment TP4 --batch 64");
  CHECK_THAT(text.out, Catch::Contains("TP4: attention DP1 x TP4, FFN EP1 x TP4."));
  const test::Result opt =
      test::run("simulate --model deepseek-v3 --hardware h200 --deployment EP8 --attention-tp 2 --batch 256 --format csv");
  REQUIRE(opt.code == 0);
  CHECK(test::csv_column(opt.out, "deployment") == std::vector<std::string>{"EP8-ATP2"});
  CHECK(test::csv_column(opt.out, "attention_dp") == std::vector<std::string>{"4"});
  CHECK(test::csv_column(opt.out, "expert_parallel") == std::vector<std::string>{"8"});
  const test::Result afd = test::run("simulate --deployment 2A2F --ffn-tp 8 --batch 6144 --format csv");
  REQUIRE(afd.code == 0);
  CHECK(test::csv_column(afd.out, "deployment") == std::vector<std::string>{"2A2F-FTP8"});
  const test::Result bad = test::run("simulate --deployment EP16 --ffn-tp 4");
  CHECK(bad.code == 2);
  CHECK(test::lines(bad.err) == 1);
  CHECK_THAT(bad.err, Catch::Contains("FFN TP 4"));
}

TEST_CASE("report Table 8 as a user runs it: default timing, DeepEP's kernels, modelled routing, within 15%", "[parallel][report]") {
  const test::Result step3 =
      test::run("simulate --model step3 --hardware h800 --deployment 2A2F --batch 6144 --micro-batches 3 --format csv");
  REQUIRE(step3.code == 0);
  const double step3_tgs = std::stod(test::csv_column(step3.out, "tgs").at(0));
  // DeepSeek-V3 deploys redundant experts for load balance (DeepSeek-V3 technical report, section 3.4).
  const test::Result dsv3 = test::run("simulate --model deepseek-v3 --hardware h800 --deployment EP128 --redundant-experts 32 --format csv");
  REQUIRE(dsv3.code == 0);
  const double dsv3_tgs = std::stod(test::csv_column(dsv3.out, "tgs").at(0));
  WARN("Table 8: Step-3 2A2F " << step3_tgs << " TGS (report 4039), DeepSeek-V3 EP128 " << dsv3_tgs << " TGS (report 2324)");
  CHECK(step3_tgs == Approx(4039).epsilon(0.15));
  CHECK(dsv3_tgs == Approx(2324).epsilon(0.15));
  CHECK(test::csv_column(dsv3.out, "sla_met").at(0) == "yes");
}

TEST_CASE("validate: every published figure in its configuration, DeepEP's cells and Table 8 within 15%", "[validate][cli]") {
  const test::TempDir dir;
  const test::Result r = test::run("validate --format csv --out '" + (dir.path / "v").string() + "'");
  REQUIRE(r.code == 0);
  const auto figures = test::csv_column(r.out, "figure"), errors = test::csv_column(r.out, "error"),
             cases = test::csv_column(r.out, "case");
  REQUIRE(figures.size() == errors.size());
  std::set<std::string> groups(figures.begin(), figures.end());
  CHECK(groups == std::set<std::string>{"report Table 8", "report Table 9", "DeepEP low-latency", "DeepSeek prefill (H800)",
                                        "SGLang prefill (H100)", "served runs, 2-4 H100 (NVLink)"});
  for (size_t i = 0; i < figures.size(); ++i) {
    INFO(figures[i] << " row " << i);
    if (figures[i] == "DeepEP low-latency" || figures[i] == "report Table 8") CHECK(std::abs(std::stod(errors[i])) <= 0.15);
    // DeepSeek's production figure; its profile and SGLang's runs are not met (docs/prefill.md)
    if (cases[i].find("cache hits included") != std::string::npos) CHECK(std::abs(std::stod(errors[i])) <= 0.25);
    if (figures[i].starts_with("served runs")) CHECK(std::abs(std::stod(errors[i])) <= 0.10);
  }
  CHECK(std::filesystem::exists(dir.path / "v" / "validate.csv"));
  CHECK(std::filesystem::exists(dir.path / "v" / "validate.gp"));
  const auto bad = dir.write("bad.json", R"({"figures": [{"figure": "x", "case": "y", "source": "z", "kind": "guess", "measured": 1, "hardware": "h800"}]})");
  const test::Result refused = test::run("validate --published '" + bad.string() + "'");
  CHECK(refused.code == 2);
  CHECK(test::lines(refused.err) == 1);
  CHECK_THAT(refused.err, Catch::Contains("$.figures[0].kind"));
}

TEST_CASE("TP all-reduce at decode sizes against the custom all-reduce serving stacks run, H100", "[parallel][network]") {
  // SGLang pull request 2904 (github.com/sgl-project/sglang/pull/2904), H100, its custom all-reduce
  // (TensorRT-LLM's one/two-shot kernels), without CUDA graphs, in us, for TP 2 / 4 / 8.
  struct Cell { double bytes; double us[3]; };
  const Cell measured[] = {{262144, {7.9, 13.9, 16.7}}, {524288, {12.5, 20.2, 22.1}}, {1048576, {19.9, 31.1, 33.8}}};
  const LinkProfile node = group_link(load_hardware("h100"), 8, 8);
  const int tps[] = {2, 4, 8};
  for (const Cell& c : measured)
    for (int i = 0; i < 3; ++i) {
      const double model = collective_us(Collective::all_reduce, c.bytes, tps[i], node);
      INFO(c.bytes << " B over " << tps[i] << " GPUs: model " << model << " us, measured " << c.us[i]);
      CHECK(model == Approx(c.us[i]).epsilon(0.30));
    }
  // Below 64 KB the same stacks finish in 4-8 us, where NCCL's ring latency gives 8-15: small TP
  // batches are charged up to 2x their all-reduce (docs/network.md).
  CHECK(collective_us(Collective::all_reduce, 32768, 8, node) > 7.8);
}
