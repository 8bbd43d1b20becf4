// Bad input: one line naming the file, the JSON path and what was expected.
#include "helpers.hpp"

#include <regex>

#include "decodesim/report.hpp"

using namespace decodesim;
using test::replace;

namespace {

std::string good_model() { return test::read_file(test::source_dir() / "models/qwen3-32b.json"); }
std::string good_chip() { return test::read_file(test::source_dir() / "hardware/h100.json"); }

// Loads text as a model (or chip) file, named as its id, and returns the error message.
template <class Load>
std::string error_of(const std::string& text, Load load, const std::string& name) {
  test::TempDir d;
  const auto p = d.write(name, text);
  try {
    load(p.string());
  } catch (const InputError& e) {
    const std::string msg = e.what();
    CHECK(msg.find('\n') == std::string::npos);
    CHECK(msg.find(p.string()) != std::string::npos);
    return msg;
  }
  FAIL("no error for: " << text);
  return {};
}

std::string model_error(const std::string& text, const std::string& name = "qwen3-32b.json") {
  return error_of(text, [](const std::string& p) { load_model(p); }, name);
}
std::string chip_error(const std::string& text) { return error_of(text, [](const std::string& p) { load_hardware(p); }, "h100.json"); }

}  // namespace

TEST_CASE("malformed JSON names the file and the place", "[loader]") {
  const std::string msg = model_error("{\"id\": \"x\",");
  CHECK(msg.find("malformed JSON") != std::string::npos);
}

TEST_CASE("missing, mistyped, unknown and out-of-range fields", "[loader]") {
  const std::string m = good_model();
  CHECK_THAT(model_error(replace(m, "\"hidden_size\"", "\"hiden_size\"")),
             Catch::Contains("$.hidden_size: missing required key"));
  CHECK_THAT(model_error(replace(m, "\"vocab_size\": 151936", "\"vocab_size\": 151936, \"vocab_sise\": 1")),
             Catch::Contains("$.vocab_sise: unknown key"));
  CHECK_THAT(model_error(replace(m, "\"hidden_size\": 5120", "\"hidden_size\": \"5120\"")),
             Catch::Contains("$.hidden_size: expected an integer in [1, 131072], got \"5120\""));
  CHECK_THAT(model_error(replace(m, "\"hidden_size\": 5120", "\"hidden_size\": -5120")),
             Catch::Contains("$.hidden_size: expected an integer in [1, 131072], got -5120"));
  CHECK_THAT(model_error(replace(m, "\"hidden_size\": 5120", "\"hidden_size\": 0")),
             Catch::Contains("expected an integer in [1, 131072], got 0"));
  CHECK_THAT(model_error(replace(m, "\"hidden_size\": 5120", "\"hidden_size\": 51.5")),
             Catch::Contains("expected an integer in [1, 131072], got 51.5"));
  CHECK_THAT(model_error(replace(m, "\"q_heads\": 64", "\"q_heads\": 64, \"qheads\": 2")),
             Catch::Contains("$.attention_types.gqa.qheads: unknown key"));
  CHECK_THAT(model_error(replace(m, "\"kv_heads\": 8", "\"kv_heads\": 7")),
             Catch::Contains("$.attention_types.gqa.kv_heads: expected a divisor of q_heads"));
  CHECK_THAT(model_error(replace(m, "\"kind\": \"gqa\"", "\"kind\": \"gqa2\"")),
             Catch::Contains("$.attention_types.gqa.kind: expected one of gqa, mha, mfa, mla, linear"));
  CHECK_THAT(model_error(replace(m, "\"weights\": \"fp8\"", "\"weights\": \"fp7\"")),
             Catch::Contains("$.quantization.weights: expected one of fp32"));
  CHECK_THAT(model_error(replace(m, "\"count\": 64", "\"count\": 63")),
             Catch::Contains("expected 63 layers in all"));
  CHECK_THAT(model_error(replace(m, "{\"type\": \"gqa\", \"count\": 64}", "{\"type\": \"mla\", \"count\": 64}")),
             Catch::Contains("$.attention_layers[0].type: expected a declared type (gqa), got \"mla\""));
  CHECK_THAT(model_error("[1, 2]"), Catch::Contains("$: expected an object, got an array of 2 elements"));
  CHECK_THAT(model_error(replace(m, "\"head_dim\": 128", "\"head_dim\": 128, \"kv_dtype\": \"bf17\"")),
             Catch::Contains("$.attention_types.gqa.kv_dtype: expected one of fp32, bf16"));
  CHECK_THAT(model_error(replace(m, "\"head_dim\": 128", "\"head_dim\": 128, \"state_dtype\": \"fp32\"")),
             Catch::Contains("$.attention_types.gqa.state_dtype: unknown key"));
}

TEST_CASE("an attention type's kv_dtype overrides the model's KV precision", "[loader]") {
  const Model m = load_model("llama4-maverick");
  for (const AttentionSpec& a : m.attention_types) {
    INFO(a.name);
    CHECK(cache_dtype(a, m.quant) == (a.name == "global" ? Dtype::bf16 : Dtype::fp8));
  }
  test::TempDir d;
  const auto p = d.write("qwen3-32b.json", replace(good_model(), "\"head_dim\": 128", "\"head_dim\": 128, \"kv_dtype\": \"fp16\""));
  const Model f = load_model(p.string());
  CHECK(cache_dtype(f.attention_types[0], f.quant) == Dtype::fp16);
}

TEST_CASE("non-finite and negative chip figures are refused", "[loader]") {
  const std::string h = good_chip();
  CHECK_THAT(chip_error(replace(h, "\"usd_per_hour\": 3.20", "\"usd_per_hour\": -3.2")),
             Catch::Contains("$.usd_per_hour: expected a number in [0.01, 10000], got -3.2"));
  CHECK_THAT(chip_error(replace(h, "\"mem_bytes_per_s\": 3.35e12", "\"mem_bytes_per_s\": 1e400")),
             Catch::Contains("malformed JSON"));  // JSON has no infinity: nlohmann refuses the literal
  CHECK_THAT(chip_error(replace(h, "\"mem_bytes_per_s\": 3.35e12", "\"mem_bytes_per_s\": null")),
             Catch::Contains("$.mem_bytes_per_s: expected a number in [1000000000, 1e+17], got null"));
  CHECK_THAT(chip_error(replace(h, "\"bf16\":", "\"bf61\": 1, \"bf16\":")),
             Catch::Contains("$.peak_flops_per_s.bf61: unknown key"));
}

TEST_CASE("unknown ids and unreadable files", "[loader]") {
  try {
    load_model("no-such-model");
    FAIL("loaded an unknown id");
  } catch (const InputError& e) {
    CHECK_THAT(e.what(), Catch::Contains("unknown model id 'no-such-model'") && Catch::Contains("step3"));
  }
  CHECK_THROWS_WITH(load_hardware("/nonexistent/chip.json"), Catch::Contains("/nonexistent/chip.json: cannot read file"));
  test::TempDir d;
  CHECK_THROWS_WITH(load_model(d.path.string() + "/"), Catch::Contains("cannot read file"));
}

TEST_CASE("context lists and ranges", "[loader]") {
  CHECK(parse_contexts("8192,32k,1m") == std::vector<double>{8192, 32768, 1048576});
  CHECK(parse_contexts("8k:64k:x2") == std::vector<double>{8192, 16384, 32768, 65536});
  CHECK(parse_contexts("8k:32k:+8k") == std::vector<double>{8192, 16384, 24576, 32768});
  for (const char* bad : {"", "abc", "-5", "0", "8k:1k:x2", "8k:1m:x1", "8k:1m", "8k:1m:/2", "nan", "inf"}) {
    INFO(bad);
    CHECK_THROWS_AS(parse_contexts(bad), InputError);
  }
}

TEST_CASE("scenarios validate their own fields", "[loader]") {
  test::TempDir d;
  auto scenario_error = [&](const std::string& text) {
    const auto p = d.write("s.json", text);
    try {
      load_scenario(p.string());
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  const std::string base = R"({"name": "t", "models": ["step3"], "hardware": ["h800"], "contexts": [8192], "analyses": ["cost"]})";
  CHECK(scenario_error(base) == "no error");
  CHECK_THAT(scenario_error(replace(base, "[8192]", "[8192, -1]")),
             Catch::Contains("$.contexts[1]: expected an integer in [1, 1073741824], got -1"));
  CHECK_THAT(scenario_error(replace(base, "[\"cost\"]", "[\"costs\"]")), Catch::Contains("$.analyses[0]: expected one of"));
  CHECK_THAT(scenario_error(replace(base, "[\"step3\"]", "[\"step4\"]")), Catch::Contains("unknown model id 'step4'"));
  CHECK_THAT(scenario_error(replace(base, "\"name\"", "\"title\": 1, \"name\"")), Catch::Contains("$.title: unknown key"));
  CHECK_THAT(scenario_error(replace(base, "[8192]", R"({"from": 8192, "to": 65536, "factor": 2, "step": 2})")),
             Catch::Contains("exactly one of factor or step"));
  const auto p = d.write("r.json", replace(base, "[8192]", R"({"from": 8192, "to": 65536, "factor": 2})"));
  CHECK(load_scenario(p.string()).contexts.size() == 4);
  CHECK_THAT(scenario_error(replace(base, "\"name\"", R"("plan": {"rank_by": "cost"}, "name")")),
             Catch::Contains("$.plan.rank_by: expected usd or tgs"));
  CHECK_THAT(scenario_error(replace(base, "\"name\"", R"("plan": {"top": 0}, "name")")),
             Catch::Contains("$.plan.top: expected an integer in [1, 1000000], got 0"));
  CHECK_THAT(scenario_error(replace(base, "\"name\"", R"("plots": {"pareto_models": []}, "name")")),
             Catch::Contains("$.plots.pareto_models: expected a non-empty array of at most 64 elements"));
  CHECK_THAT(scenario_error(replace(base, "\"name\"", R"("plots": {"pareto_models": ["step3", 7]}, "name")")),
             Catch::Contains("$.plots.pareto_models[1]: expected an id or path string, got 7"));
  CHECK_THAT(scenario_error(replace(base, "\"name\"", R"("plots": {"pareto_models": ["nosuch"]}, "name")")),
             Catch::Contains("unknown model id 'nosuch'"));
  CHECK_THAT(scenario_error(replace(base, "\"name\"", R"("plots": {"models": ["step3"]}, "name")")),
             Catch::Contains("$.plots.models: unknown key"));
  const auto with_pareto = d.write("f.json", replace(base, "\"name\"", R"("plots": {"pareto_models": ["kimi-k2", "step3"]}, "name")"));
  CHECK(load_scenario(with_pareto.string()).pareto_models.size() == 2);
  CHECK(load_scenario(p.string()).pareto_models.empty());
  CHECK_THAT(scenario_error(replace(base, "\"name\"", R"("budget": {"whole_o_proj": 1}, "name")")),
             Catch::Contains("$.budget.whole_o_proj: expected true or false"));
  const auto strict = d.write("w.json", replace(base, "\"name\"", R"("budget": {"whole_o_proj": true}, "name")"));
  CHECK(load_scenario(strict.string()).budget_convention.o_proj_shards == 1);
  CHECK(load_scenario(p.string()).budget_convention.o_proj_shards == 8);
}

TEST_CASE("a scenario's plan ranks served deployments over its chips", "[loader][plan]") {
  test::TempDir d;
  const auto p = d.write("plan.json", R"({"name": "p", "models": ["step3"], "hardware": ["h800", "h20"], "contexts": [4096],
      "analyses": ["plan"], "plan": {"top": 4, "rank_by": "usd"}})");
  const std::vector<Table> tables = scenario_tables(load_scenario(p.string()));
  REQUIRE(tables.size() == 1);
  const Table& t = tables[0];
  CHECK(t.name == "plan-step3-4096");
  REQUIRE(t.rows.size() == 4);
  for (size_t r = 1; r < t.rows.size(); ++r) CHECK(t.number(r - 1, "usd_per_mtok") <= t.number(r, "usd_per_mtok"));
  for (size_t r = 0; r < t.rows.size(); ++r) CHECK(t.number(r, "tpot_ms") <= 50.0);
}
