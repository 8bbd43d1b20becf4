// Golden tests: every value in the Step-3 report's tables that decodesim computes, within 1%.
#include "helpers.hpp"

#include "decodesim/census.hpp"
#include "decodesim/cost.hpp"

using namespace decodesim;

TEST_CASE("per-token census matches report Tables 2 and 3", "[golden][census]") {
  const auto ref = test::paper_values()["per_token"];
  for (const auto& [id, by_ctx] : ref.items()) {
    if (id.starts_with("_")) continue;
    const Model m = load_model(id);
    for (const auto& [ctx, v] : by_ctx.items()) {
      INFO(id << " at " << ctx);
      const Census c = census(m, std::stod(ctx));
      CHECK(c.kv_bytes == test::within_1pct(v["kv_bytes"].get<double>()));
      CHECK(c.attention_flops == test::within_1pct(v["attention_flops"].get<double>()));
      CHECK(c.linear_flops == test::within_1pct(v["linear_flops"].get<double>()));
      CHECK(c.ffn_flops == test::within_1pct(v["ffn_flops"].get<double>()));
    }
  }
}

TEST_CASE("arithmetic intensity matches the report", "[golden][census]") {
  const auto ref = test::paper_values()["arithmetic_intensity"];  // items() only refers to it: keep it alive
  for (const auto& [id, v] : ref.items()) {
    INFO(id);
    for (double ctx : {4096.0, 8192.0, 65536.0})
      CHECK(census(load_model(id), ctx).arithmetic_intensity() == test::within_1pct(v.get<double>()));
  }
}

TEST_CASE("chip rooflines and unit costs match report Tables 4 and 5", "[golden][cost]") {
  const auto ref = test::paper_values();
  for (const auto& [id, v] : ref["hardware_roofline"].items()) {
    INFO(id);
    CHECK(load_hardware(id).roofline_flops_per_byte(Dtype::fp8) == test::within_1pct(v.get<double>()));
  }
  for (const auto& [id, v] : ref["unit_costs"].items()) {
    if (id.starts_with("_")) continue;
    INFO(id);
    const UnitCost u = unit_cost(load_hardware(id), Dtype::fp8);
    CHECK(u.usd_per_flop == test::within_1pct(v["usd_per_flop"].get<double>()));
    CHECK(u.usd_per_byte == test::within_1pct(v["usd_per_byte"].get<double>()));
  }
}

TEST_CASE("USD per million tokens matches report Table 6", "[golden][cost]") {
  const auto ref = test::paper_values()["usd_per_million_tokens"];
  for (const auto& [id, parts] : ref.items()) {
    if (id.starts_with("_")) continue;
    const Model m = load_model(id);
    for (const auto& [ctx, chips] : parts["attention"].items())
      for (const auto& [hw, v] : chips.items()) {
        INFO(id << " attention on " << hw << " at " << ctx);
        const TokenCost t = token_cost(census(m, std::stod(ctx)), unit_cost(load_hardware(hw), m.quant.compute));
        // Three printed digits: 0.040 covers 0.0395..0.0405, so allow half a unit in the last place too.
        CHECK(per_million(t.attention_usd) == Approx(v.get<double>()).margin(0.0005).epsilon(0.01));
      }
    for (const auto& [hw, v] : parts["ffn"].items()) {
      INFO(id << " FFN on " << hw);
      const TokenCost t = token_cost(census(m, 8192), unit_cost(load_hardware(hw), m.quant.compute));
      CHECK(per_million(t.ffn_usd) == Approx(v.get<double>()).margin(0.0005).epsilon(0.01));
    }
  }
}

TEST_CASE("best deployments match report Observation 1", "[golden][cost]") {
  const auto ref = test::paper_values()["best_deployments"];
  std::vector<Hardware> chips;
  for (const char* id : {"h800", "h20", "a800", "ascend-910b"}) chips.push_back(load_hardware(id));
  std::vector<const Hardware*> ptrs;
  for (const Hardware& h : chips) ptrs.push_back(&h);
  auto afd = [&](const char* id, double ctx) { return best_afd(load_model(id), ctx, ptrs); };

  CHECK(afd("step3", 8192).afd_usd_per_mtok == Approx(ref["8192"]["step3 AFD (attention h20|a800, FFN h800)"].get<double>()).margin(0.0005));
  CHECK(afd("step3", 8192).ffn_hw->id == "h800");
  const std::string step3_attn = afd("step3", 8192).attention_hw->id;
  CHECK((step3_attn == "h20" || step3_attn == "a800"));
  // DeepSeek-V3 is cheapest on H800 for both parts: its AFD pairing is plain EP on H800.
  const AfdRow ds = afd("deepseek-v3", 8192);
  CHECK(ds.attention_hw->id == "h800");
  CHECK(ds.ffn_hw->id == "h800");
  CHECK(ds.single_usd_per_mtok == Approx(ref["8192"]["deepseek-v3 EP on h800"].get<double>()).margin(0.0005));
  const AfdRow qw = afd("qwen3-235b-a22b", 8192);
  CHECK(qw.attention_hw->id == "h20");
  CHECK(qw.ffn_hw->id == "h800");
  CHECK(qw.afd_usd_per_mtok == Approx(ref["8192"]["qwen3-235b-a22b AFD (attention h20, FFN h800)"].get<double>()).margin(0.0005));
  for (const char* id : {"step3", "deepseek-v3", "qwen3-235b-a22b"}) {
    INFO(id << " at 32K");
    CHECK(afd(id, 32768).afd_usd_per_mtok == Approx(ref["32768"][id].get<double>()).margin(0.0005).epsilon(0.01));
  }
}
