// The report's what-ifs: multi-token prediction (MTP) and low-bit (fp4) KV storage.
#include "helpers.hpp"

#include <chrono>

#include "decodesim/census.hpp"
#include "decodesim/cost.hpp"
#include "decodesim/layer.hpp"
#include "decodesim/pipeline.hpp"
#include "decodesim/report.hpp"
#include "decodesim/search.hpp"

using namespace decodesim;

namespace {

Pool pool(const std::string& id) { return Pool{load_hardware(id), nullptr}; }

Model with_kv(Model m, Dtype kv) {
  set_kv_dtype(m.attention_types, m.quant, kv);
  return m;
}

double attention_usd(const Model& m, const std::string& chip, double context) {
  return token_cost(census(m, context), unit_cost(load_hardware(chip), m.quant.compute)).attention_usd;
}

// The best TGS of a search over every family on H800 at 4K context.
double best_tgs(const Model& m, const Mtp& mtp, bool as_deployed = false) {
  SearchSpace space;
  space.attention_chips = space.ffn_chips = space.colocated_chips = {pool("h800")};
  PipelineConfig base;
  base.context_tokens = 4096;
  base.mtp = mtp;
  if (!as_deployed) {  // the report's own view: the network hidden at line rate, routing balanced
    base.transport.fanout = Fanout::report;
    base.transport.routing.imbalance = 1.0;
  }
  const std::vector<Plan> plans = search_deployments(m, space, base, RankBy::tgs);
  REQUIRE_FALSE(plans.empty());
  return plans.front().result.tgs;
}

}  // namespace

TEST_CASE("tokens per step: 1 + a_1 + a_1 a_2 + ...", "[whatif][mtp]") {
  CHECK(Mtp{}.tokens_per_step() == 1);
  CHECK(Mtp{1, {0.8}}.tokens_per_step() == Approx(1.8));
  // One acceptance for every position: 1 + A + A^2 + A^3.
  CHECK(Mtp{3, {0.5}}.tokens_per_step() == Approx(1 + 0.5 + 0.25 + 0.125));
  // Per position, each given the ones before accepted.
  CHECK(Mtp{3, {0.9, 0.5, 0.2}}.tokens_per_step() == Approx(1 + 0.9 + 0.9 * 0.5 + 0.9 * 0.5 * 0.2));
  CHECK(Mtp{2, {0.0}}.tokens_per_step() == 1);
  CHECK(Mtp{2, {1.0}}.tokens_per_step() == 3);
  CHECK_THROWS_AS(check_mtp(Mtp{2, {0.5, 0.5, 0.5}}), InputError);
  CHECK_THROWS_AS(check_mtp(Mtp{1, {1.5}}), InputError);
  CHECK_THROWS_AS(check_mtp(Mtp{-1, {}}), InputError);
  CHECK_NOTHROW(check_mtp(Mtp{2, {0.9, 0.7}}));
  // From the command line: one line naming the option, exit 2.
  for (const char* bad : {"simulate --mtp 1 --mtp-acceptance 1.2", "simulate --mtp-acceptance 0.9",
                          "simulate --mtp 2 --mtp-acceptance 0.9,0.8,0.7", "layer --mtp 17"}) {
    INFO(bad);
    const test::Result r = test::run(bad);
    CHECK(r.code == 2);
    CHECK(test::lines(r.err) == 1);
    CHECK_THAT(r.err, Catch::Contains("--mtp"));
  }
}

TEST_CASE("MTP K=1: the attention core reads the same KV and does twice the FLOPs", "[whatif][mtp][layer]") {
  for (const char* id : {"step3", "deepseek-v3", "qwen3-235b-a22b"}) {
    INFO(id);
    const Model m = load_model(id);
    std::vector<LayerOp> one, two;
    const RooflineTimer t(load_hardware("h800"), m.quant.compute);
    attention_layer_time(m, m.num_layers() - 1, 8192, {64, 1, {}, 1}, t, &one);
    attention_layer_time(m, m.num_layers() - 1, 8192, {64, 1, {}, 2}, t, &two);
    REQUIRE(one.size() == two.size());
    for (size_t i = 0; i < one.size(); ++i) {
      INFO(one[i].name);
      CHECK(two[i].flops == Approx(2 * one[i].flops));
      if (one[i].name == "core") {
        // Bytes: the KV once, the BF16 query and output twice.
        const double kv = 64 * layer_census(m, m.num_layers() - 1, 8192).kv_bytes;
        CHECK(two[i].bytes - kv == Approx(2 * (one[i].bytes - kv)));
        CHECK(two[i].bytes - kv > 0);
      } else {
        CHECK(two[i].m == 2 * one[i].m);  // projections and router: twice the rows
      }
    }
  }
}

TEST_CASE("MTP K=1: FFN rows, routed pairs and dispatch rows double; the layer view says K+1", "[whatif][mtp]") {
  const Deployment d = parse_deployment("2A2F");
  const FfnSpec& f = load_model("deepseek-v3").ffn(60);
  const LayerShard one = layer_shard(d, f, 2048, 1), two = layer_shard(d, f, 2048, 2);
  CHECK(two.attention_requests == one.attention_requests);
  CHECK(two.attention_rows == 2 * one.attention_rows);
  CHECK(two.dense_tokens == 2 * one.dense_tokens);
  CHECK(two.routed_pairs == 2 * one.routed_pairs);
  CHECK(two.dispatch_rows == 2 * one.dispatch_rows);
  CHECK(two.group_tokens == 2 * one.group_tokens);  // the expert hit probability uses the larger count

  LayerShape shape;
  shape.query_tokens = 2;
  const std::vector<LayerResult> r = layer_times(load_model("step3"), pool("h800"), shape);
  const Table t = layer_table(r);
  CHECK(t.number(0, "query_tokens") == 2);
  const test::Result cli = test::run("layer --model step3 --mtp 1 --timing roofline --format csv");
  REQUIRE(cli.code == 0);
  CHECK_THAT(cli.out, Catch::Contains(",2\n"));
}

TEST_CASE("MTP in the served pipeline: TPOT is per accepted token, the draft runs K times", "[whatif][mtp][pipeline]") {
  const Model m = load_model("deepseek-v3");
  PipelineConfig c;
  c.deployment = parse_deployment("EP32");
  c.context_tokens = 4096;
  c.batch = 32 * 2 * 32;
  c.micro_batches = 2;
  const PipelineResult base = simulate(m, pool("h800"), pool("h800"), c);
  c.mtp = {1, {0.8}};
  const PipelineResult mtp = simulate(m, pool("h800"), pool("h800"), c);
  CHECK(mtp.tokens_per_step == Approx(1.8));
  CHECK(mtp.tpot_ms == Approx(mtp.step_ms / 1.8));
  CHECK(mtp.tokens_per_s == Approx(c.batch * 1.8 / (mtp.step_ms * 1e-3)));
  CHECK(mtp.step_ms > base.step_ms);  // twice the query tokens and a draft pass
  CHECK(mtp.draft.attention_us > 0);
  CHECK(mtp.draft.ffn_us > 0);
  // The draft module's layer is held too: more weights and KV than the model alone.
  CHECK(mtp.memory.attention_weight_bytes > base.memory.attention_weight_bytes);
  CHECK(mtp.memory.attention_kv_bytes > base.memory.attention_kv_bytes);
  // K drafts: the step grows by K draft passes (and more verification rows).
  c.mtp = {2, {0.8}};
  const PipelineResult k2 = simulate(m, pool("h800"), pool("h800"), c);
  CHECK(k2.step_ms > mtp.step_ms);
  CHECK(k2.tokens_per_step == Approx(1 + 0.8 + 0.64));
}

TEST_CASE("fp4 KV: NVFP4, 4.5 bits per value with its scales", "[whatif][kv]") {
  CHECK(dtype_bytes(Dtype::fp4) == 0.5625);
  CHECK(std::string(dtype_name(Dtype::fp4)) == "fp4");
  for (const char* id : {"step3", "deepseek-v3", "qwen3-235b-a22b"}) {
    INFO(id);
    const Model m = load_model(id), low = with_kv(m, Dtype::fp4);
    const Census a = census(m, 8192), b = census(low, 8192);
    CHECK(b.kv_bytes == Approx(a.kv_bytes * 4.5 / 8).epsilon(1e-12));
    CHECK(b.attention_flops == a.attention_flops);  // computed on at 8 bits
    CHECK(kv_bytes_per_token(low) == Approx(kv_bytes_per_token(m) * 0.5625));
  }
  // Timed on the fp8 fit at the bytes read: a calibration without 4-bit kernels gives a 4-bit-cache
  // core the 8-bit attention fit.
  const Model dsv3 = load_model("deepseek-v3");
  Calibration cal = load_calibration(shipped_calibration_path());
  const CalibratedTimer t(load_hardware("h800"), dsv3.quant, cal);
  for (AttentionKind k : {AttentionKind::mla, AttentionKind::mfa, AttentionKind::gqa}) {
    REQUIRE(t.fit_for(OpClass::attention, k, Dtype::fp8) != nullptr);
    REQUIRE(t.fit_for(OpClass::attention, k, Dtype::fp4) != nullptr);
    CHECK(t.fit_for(OpClass::attention, k, Dtype::fp4)->dtype == "fp8");
    CHECK(t.fit_for(OpClass::attention, k, Dtype::fp4)->launch_us == t.fit_for(OpClass::attention, k, Dtype::fp8)->launch_us);
  }
  // One that measured its 4-bit kernels gives them their own fit.
  EfficiencyFit own = *cal.find("attention_mla", "fp8");
  own.dtype = "fp4", own.launch_us += 1;
  cal.fits.push_back(own);
  const CalibratedTimer t4(load_hardware("h800"), dsv3.quant, cal);
  CHECK(t4.fit_for(OpClass::attention, AttentionKind::mla, Dtype::fp4)->dtype == "fp4");
  CHECK(t4.fit_for(OpClass::attention, AttentionKind::mla, Dtype::fp8)->dtype == "fp8");
  CHECK(t4.fit_for(OpClass::attention, AttentionKind::mfa, Dtype::fp4)->dtype == "fp8");
  const Op fp8_core{OpClass::attention, 1e12, 1e9, AttentionKind::mla, Dtype::fp8};
  Op fp4_core = fp8_core;
  fp4_core.cache = Dtype::fp4;
  CHECK(t.time_us(fp4_core) == t.time_us(fp8_core));  // the same op on the same fit: bytes, not the name, differ
  const RooflineTimer roof(load_hardware("h800"), Dtype::fp8);
  fp4_core.bytes = 0.5625e9;
  CHECK(roof.time_us(fp4_core) <= roof.time_us(fp8_core));
  const test::Result census_cli = test::run("census --model qwen3-235b-a22b --context 8192 --kv-dtype fp4");
  REQUIRE(census_cli.code == 0);
  CHECK_THAT(census_cli.out, Catch::Contains("NVFP4"));
  CHECK(test::run("cost --model step3 --hardware h800 --kv-dtype fp4").code == 0);
  CHECK(test::run("simulate --model qwen3-235b-a22b --deployment EP16 --kv-dtype fp4 --timing roofline").code == 0);
  CHECK(test::run("census --kv-dtype fp2").code == 2);
}

TEST_CASE("report claim: with 4-bit KV DeepSeek-V3's attention cost on H800 falls least of the three", "[whatif][kv][report]") {
  // MLA at 512 FLOP/B is just below H800's 591 roofline in FP8; in NVFP4 it is 910, compute-bound, so
  // only the part of the time above the FLOP floor goes. MFA (128 -> 228) and GQA (32 -> 57) stay
  // memory-bound and lose 44% of the core.
  double fall[3];
  const char* ids[] = {"step3", "deepseek-v3", "qwen3-235b-a22b"};
  for (int i = 0; i < 3; ++i) {
    const Model m = load_model(ids[i]);
    fall[i] = 1 - attention_usd(with_kv(m, Dtype::fp4), "h800", 8192) / attention_usd(m, "h800", 8192);
  }
  CHECK(fall[1] < fall[0]);
  CHECK(fall[1] < fall[2]);
  CHECK(fall[1] > 0);
}

TEST_CASE("report claim: with 4-bit KV Qwen3's attention cost falls on every chip", "[whatif][kv][report]") {
  const Model m = load_model("qwen3-235b-a22b");
  for (const char* chip : {"h800", "h20", "a800", "ascend-910b"})
    for (double context : {4096.0, 32768.0}) {
      INFO(chip << " " << context);
      CHECK(attention_usd(with_kv(m, Dtype::fp4), chip, context) < attention_usd(m, chip, context));
    }
}

TEST_CASE("report claim: MTP at acceptance 0.8 raises Step-3's best TGS on H800 by more than DeepSeek-V3's",
          "[whatif][mtp][report]") {
  const Mtp mtp{1, {0.8}};
  const Model step3 = load_model("step3"), dsv3 = load_model("deepseek-v3");
  const double step3_gain = best_tgs(step3, mtp) / best_tgs(step3, {}) - 1;
  const double dsv3_gain = best_tgs(dsv3, mtp) / best_tgs(dsv3, {}) - 1;
  WARN("MTP gain on H800 (all families, the report's network view): step3 " << 100 * step3_gain << "%, deepseek-v3 "
                                                                            << 100 * dsv3_gain << "%");
  CHECK(step3_gain > 0);
  CHECK(step3_gain > dsv3_gain);
  // As deployed (DeepEP's kernels, the busiest GPU's routed load) both still gain, but the claim
  // turns: twice the tokens per step halve DeepSeek-V3's routing skew more than Step-3's
  // (docs/pipeline.md, MTP), so its gain is the larger. Held here as the mechanism gives it.
  const double step3_deployed = best_tgs(step3, mtp, true) / best_tgs(step3, {}, true) - 1;
  const double dsv3_deployed = best_tgs(dsv3, mtp, true) / best_tgs(dsv3, {}, true) - 1;
  WARN("MTP gain on H800, as deployed: step3 " << 100 * step3_deployed << "%, deepseek-v3 " << 100 * dsv3_deployed << "%");
  CHECK(step3_deployed > 0);
  CHECK(dsv3_deployed > 0);
}

TEST_CASE("what-if scenario: every variant per model and chip, the claims checked, fast", "[whatif][report]") {
  const Scenario s = load_scenario("what-if");
  const auto t0 = std::chrono::steady_clock::now();
  const WhatIfStudy w = what_if_study(s);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  WARN("what-if study: " << seconds * 1e3 << " ms");
  CHECK(seconds < 2.0);
  CHECK(w.rows.size() == s.models.size() * s.hardware.size() * s.contexts.size() * (2 + s.what_if.acceptances.size()));
  for (const WhatIfRow& r : w.rows) {
    INFO(r.model << " " << r.hardware << " " << r.variant << " " << r.acceptance);
    CHECK(r.feasible);
    if (r.variant == "mtp") CHECK(r.tokens_per_step == Approx(1 + r.acceptance));
  }
  REQUIRE(w.claims.size() == 3);
  for (const WhatIfClaim& c : w.claims) CHECK(c.holds != "n/a");
  const Table claims = what_if_claims_table(w);
  CHECK(claims.rows.size() == 3);
}
