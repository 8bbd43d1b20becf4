// Hostile input, class by class: numbers out of range, JSON that nlohmann alone would accept,
// text that would break a message, repeats that would overwrite an output, and sizes that would
// ask for unbounded work. Each is refused with an InputError naming where, or stays finite.
#include "helpers.hpp"

#include <algorithm>
#include <chrono>

#include <fmt/format.h>

#include "decodesim/budget.hpp"
#include "decodesim/census.hpp"
#include "decodesim/plots.hpp"
#include "decodesim/report.hpp"
#include "decodesim/search.hpp"
#include "decodesim/writers.hpp"

using namespace decodesim;
using test::replace;

namespace {

std::string shipped(const std::string& path) { return test::read_file(test::source_dir() / path); }

// The message of the InputError `load` throws; checks it is one bounded line.
template <class Load>
std::string refusal(Load load) {
  try {
    load();
  } catch (const InputError& e) {
    const std::string msg = e.what();
    CHECK(msg.find('\n') == std::string::npos);
    CHECK(msg.size() < 1000);
    CHECK(std::none_of(msg.begin(), msg.end(), [](char ch) { return static_cast<unsigned char>(ch) < 0x20; }));
    return msg;
  }
  FAIL("accepted");
  return {};
}

std::string model_refusal(const std::string& text, const std::string& file = "models/step3.json") {
  return refusal([&] { parse_model(text, file); });
}
std::string chip_refusal(const std::string& text) { return refusal([&] { parse_hardware(text, "hardware/h800.json"); }); }

}  // namespace

TEST_CASE("JSON nlohmann would accept: NUL bytes, duplicate keys, deep nesting, huge documents", "[hostile][loader]") {
  const std::string step3 = shipped("models/step3.json");
  CHECK_THAT(model_refusal(step3 + std::string(1, '\0') + "garbage"), Catch::Contains("$: malformed JSON: a NUL byte at line"));
  CHECK_THAT(model_refusal(replace(step3, "\"q_heads\": 64", "\"q_heads\": 64, \"q_heads\": 32")),
             Catch::Contains("models/step3.json: $.attention_types.mfa.q_heads: duplicate key"));
  CHECK_THAT(model_refusal(replace(step3, "{\"type\": \"dense\", \"count\": 4}", "{\"type\": \"dense\", \"type\": \"moe\", \"count\": 4}")),
             Catch::Contains("$.ffn_layers[0].type: duplicate key"));
  // 100,000 levels used to overflow the stack while the message was built.
  for (const std::string& open : {std::string("["), std::string("{\"a\":")}) {
    std::string deep = "{\"id\": \"step3\", \"name\": ";
    for (int i = 0; i < 100000; ++i) deep += open;
    CHECK_THAT(model_refusal(deep), Catch::Contains("expected at most 32 levels of nesting"));
  }
  CHECK_THAT(model_refusal(replace(step3, "Step-3 (StepFun)", "Step-3 \xff")), Catch::Contains("malformed JSON"));
  CHECK_THAT(model_refusal(std::string(limits::kMaxInputBytes + 1, ' ')), Catch::Contains("$: expected at most 67108864 bytes"));
}

TEST_CASE("integers are read as int64 and held to their field's range: nothing wraps", "[hostile][loader]") {
  const std::string step3 = shipped("models/step3.json");
  const std::string mfa = R"("mfa": {"kind": "mfa", "q_heads": 64, "kv_heads": 1, "head_dim": 256, "q_lora_rank": 2048})";
  const std::pair<std::string, std::string> cases[] = {
      // kv_heads 2^32 used to wrap to 0 (SIGFPE); q_heads 2^31 with 2^32-1 gave INT_MIN % -1.
      {R"("mfa": {"kind": "mfa", "q_heads": 64, "kv_heads": 4294967296, "head_dim": 256})",
       "$.attention_types.mfa.kv_heads: expected an integer in [1, 4096], got 4294967296"},
      {R"("mfa": {"kind": "mfa", "q_heads": 2147483648, "kv_heads": 4294967295, "head_dim": 256})",
       "$.attention_types.mfa.q_heads: expected an integer in [1, 4096], got 2147483648"},
      {R"("mfa": {"kind": "mfa", "q_heads": 18446744073709551616, "kv_heads": 1, "head_dim": 256})",
       "q_heads: expected an integer in [1, 4096], got 1.8446744073709552e+19"},
      {R"("mfa": {"kind": "mfa", "q_heads": 64.0, "kv_heads": 1, "head_dim": 256})", "q_heads: expected an integer in [1, 4096], got 64.0"},
      {R"("mfa": {"kind": "mfa", "q_heads": 64, "kv_heads": 1, "head_dim": 256, "window": 2147483648})",
       "window: expected an integer in [1, 1073741824], got 2147483648"},
  };
  for (const auto& [swap, expect] : cases) {
    INFO(swap);
    CHECK_THAT(model_refusal(replace(step3, mfa, swap)), Catch::Contains(expect));
  }
  CHECK_THAT(model_refusal(replace(step3, "\"top_k\": 3", "\"top_k\": 4294967296")),
             Catch::Contains("$.ffn_types.moe.top_k: expected an integer in [1, 1024], got 4294967296"));
  CHECK_THAT(model_refusal(replace(step3, "\"count\": 56", "\"count\": 1021")), Catch::Contains("expected at most 1024 layers in all"));
  const std::string dsv3 = shipped("models/deepseek-v3.json");
  CHECK_THAT(model_refusal(replace(dsv3, "\"kv_lora_rank\": 512", "\"kv_lora_rank\": 2147483647"), "deepseek-v3.json"),
             Catch::Contains("kv_lora_rank: expected an integer in [1, 131072]"));

  const std::string h800 = shipped("hardware/h800.json");
  CHECK_THAT(chip_refusal(replace(h800, "\"nic_count\": 1", "\"nic_count\": 4294967297")),
             Catch::Contains("$.nic_count: expected an integer in [1, 64], got 4294967297"));
  // Tiny positive figures used to underflow a unit cost to 0 or a link time to infinity.
  CHECK_THAT(chip_refusal(replace(h800, "\"usd_per_hour\": 2.00", "\"usd_per_hour\": 1e-308")),
             Catch::Contains("$.usd_per_hour: expected a number in [0.01, 10000], got 1e-308"));
  CHECK_THAT(chip_refusal(replace(h800, "\"nic_gbps\": 400", "\"nic_gbps\": 1e-308")), Catch::Contains("$.nic_gbps"));
  CHECK_THAT(chip_refusal(replace(h800, "\"mem_capacity_bytes\": 8.0e10", "\"mem_capacity_bytes\": 1e28")),
             Catch::Contains("$.mem_capacity_bytes: expected a number in [1000000, 1e+15], got 1e+28"));
}

TEST_CASE("strings: ids are plain file names, equal to the file's, and nothing echoes raw", "[hostile][loader]") {
  const std::string step3 = shipped("models/step3.json");
  CHECK_THAT(model_refusal(step3, "models/step-3.json"), Catch::Contains("$.id: expected 'step-3' (the file's name), got \"step3\""));
  const std::string control = model_refusal(replace(step3, "\"id\": \"step3\"", "\"id\": \"step\\u0000\\n3\""));
  CHECK_THAT(control, Catch::Contains("$.id: expected a name of lower-case letters") && Catch::Contains("\\x00\\n3"));
  CHECK_THAT(model_refusal(replace(step3, "\"Step-3 (StepFun)\"", "\"Step-3\\u001b[31m\"")),
             Catch::Contains("$.name: expected a non-empty string of at most 4096 bytes without control characters"));
  CHECK_THAT(model_refusal(replace(step3, "\"mfa\": {\"kind\"", "\"m f\\na\": {\"kind\"")),
             Catch::Contains("expected type names of lower-case letters") && Catch::Contains("m f\\na"));
  CHECK_THAT(model_refusal(replace(step3, "\"Step-3 (StepFun)\"", "\"" + std::string(5000, 'x') + "\"")),
             Catch::Contains("(5000 bytes)"));
  // An id becomes part of a path only once it is a plain name: no "File name too long".
  CHECK_THAT(refusal([] { load_model(std::string(300, 'a')); }), Catch::Contains("... (300 bytes)' is neither a model id"));
  CHECK_THAT(refusal([] { load_model("a\x01z"); }), Catch::Contains("'a\\x01z' is neither a model id"));
  CHECK_THAT(refusal([] { load_model(std::string(5000, 'a') + ".json"); }), Catch::Contains("cannot read file"));
}

TEST_CASE("printable escapes control bytes and broken UTF-8 and cuts long text", "[hostile]") {
  CHECK(printable("plain") == "plain");
  CHECK(printable("a\nb\tc\x01") == "a\\nb\\tc\\x01");
  CHECK(printable("\xc3\xa9t\xc3\xa9") == "\xc3\xa9t\xc3\xa9");
  CHECK(printable("\xc3(\xff") == "\\xc3(\\xff");
  CHECK(printable(std::string(100, 'x'), 10) == "xxxxxxxxxx... (100 bytes)");
}

TEST_CASE("contexts: whole tokens in range, bounded lists, no repeats", "[hostile][loader]") {
  CHECK(parse_contexts("1.5k,1m") == std::vector<double>{1536, 1048576});
  CHECK(parse_contexts("1:1024:+1").size() == 1024);
  CHECK(parse_contexts("1k:8k:x1.5") == std::vector<double>{1024, 1536, 2304, 3456, 5184, 7776});
  for (const char* bad : {"0.5", "1e-9", "1e3", "0x10", "1e308", "+5", " 5", "nan", "inf", "-1", "1.2", "1g", "1073741825",
                          "8k,8192", "1:1025:+1", "1k:2k:x0.5", "1k:2k:x", "1:2:+0", "1:2:+0.5", "8k:1k:+1"}) {
    INFO(bad);
    CHECK_THROWS_AS(parse_contexts(bad), InputError);
  }
  // A factor a hair above 1 asks for a billion points: refused at once, not after them.
  const auto t0 = std::chrono::steady_clock::now();
  CHECK_THROWS_WITH(parse_contexts("1:1073741824:x1.000000001"), Catch::Contains("expected at most 1024 context lengths"));
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(1));
  CHECK_THAT(refusal([] { parse_contexts(std::string("8k,\x1b[2J")); }), Catch::Contains("\\x1b[2J"));
}

TEST_CASE("deployments and option numbers parse without overflow", "[hostile][pipeline]") {
  CHECK(parse_deployment(" 3a1f ").name() == "3A1F");
  CHECK(parse_deployment("EP8192").attention_nodes() == 1024);
  for (const char* bad : {"99999999999A1F", "EP2147483648", "200000000A200000000F", "0A1F", "1025A1F", "EP12", "EP0", "A1F", "1A",
                          "1AF", "", "2F2A", "EP-8", "1A1F1", "1A+1F", "EP8200"}) {
    INFO(bad);
    CHECK_THROWS_AS(parse_deployment(bad), InputError);
  }
  CHECK(integer_in("010", {1, 64}) == 10);
  for (const char* bad : {"0x10", "-1", "+1", "1.0", "99999999999999999999", "", " 1", "65"}) CHECK_FALSE(integer_in(bad, {1, 64}));
  CHECK(number_in("0.8", limits::kFraction) == 0.8);
  for (const char* bad : {"nan", "inf", "-inf", "1e400", "0x1p3", "abc", "", "0", "1.5"}) CHECK_FALSE(number_in(bad, limits::kFraction));
}

TEST_CASE("outputs: two of one name are refused before anything is written", "[hostile][writers]") {
  test::TempDir d;
  CHECK_THROWS_WITH(write_files(d.path / "out", {{"a.csv", "1"}, {"sub/../a.csv", "2"}}), Catch::Contains("two outputs of this name"));
  CHECK_FALSE(std::filesystem::exists(d.path / "out"));
  // A failure after some files were staged leaves neither them nor the folders it made.
  d.write("blocker", "a file");
  CHECK_THROWS_AS(write_files({}, {{d.path / "new/deeper/a.csv", "1"}, {d.path / "blocker/b.csv", "2"}}), InputError);
  CHECK_FALSE(std::filesystem::exists(d.path / "new"));
}

TEST_CASE("scenarios refuse repeats and say where an id fails", "[hostile][loader]") {
  test::TempDir d;
  const std::string base = R"({"name": "t", "models": ["step3"], "hardware": ["h800"], "contexts": [8192], "analyses": ["cost"]})";
  auto error = [&](const std::string& text) { return refusal([&] { load_scenario(d.write("s.json", text).string()); }); };
  CHECK_THAT(error(replace(base, "[8192]", "[8192, 4096, 8192]")), Catch::Contains("s.json: $.contexts[2]: 8192 is already listed at $.contexts[0]"));
  CHECK_THAT(error(replace(base, "[\"cost\"]", "[\"cost\", \"census\", \"cost\"]")),
             Catch::Contains("$.analyses[2]: \"cost\" is already listed at $.analyses[0]"));
  CHECK_THAT(error(replace(base, "[\"h800\"]", "[\"h800\", \"h20\", \"h800\"]")), Catch::Contains("$.hardware[2]: 'h800' is already listed at $.hardware[0]"));
  CHECK_THAT(error(replace(base, "[\"step3\"]", "[\"step3\", \"step4\"]")),
             Catch::Contains("s.json: $.models[1]: unknown model id 'step4'"));
  CHECK_THAT(error(replace(base, "[8192]", R"({"from": 1, "to": 1073741824, "factor": 1.0001})")),
             Catch::Contains("s.json: $.contexts: expected at most 1024 context lengths"));
  CHECK_THAT(error(replace(base, "\"name\"", R"("network": {"instance_gpus": 4294967296}, "name")")),
             Catch::Contains("$.network.instance_gpus: expected an integer in [1, 1024]"));
  CHECK_THAT(error(replace(base, "\"name\"", R"("budget": {"stages": 2147483648}, "name")")), Catch::Contains("$.budget.stages"));
}

TEST_CASE("calibrated files: measurement sizes, one fit per class, names that reach plots", "[hostile][calibration]") {
  const std::string good = R"({"hardware": "h100", "device": "H100", "copy_bytes_per_s": 3e12, "gemm_bf16_flops_per_s": 7e14,
    "fits": [{"op_class": "gemm", "dtype": "bf16", "launch_us": 3, "bytes_per_s": 3e12, "flops_per_s": 7e14, "p": 2,
              "train_samples": 10, "holdout_samples": 3, "train_median_error": 0.01, "holdout_median_error": -1}],
    "measurements": [{"op_class": "gemm", "dtype": "bf16", "label": "g", "m": 1, "n": 2, "k": 3, "flops": 12, "bytes": 20,
                      "time_us": 4, "rel_error": -1}]})";
  auto error = [&](const std::string& text) { return refusal([&] { parse_calibration(text, "cal.json"); }); };
  CHECK(parse_calibration(good, "cal.json").samples.size() == 1);
  CHECK_THAT(error(replace(good, "\"m\": 1", "\"m\": -1")), Catch::Contains("$.measurements[0].m: expected a number in [0, 1e+12], got -1"));
  CHECK_THAT(error(replace(good, "\"rel_error\": -1", "\"rel_error\": -0.5")), Catch::Contains("$.measurements[0].rel_error"));
  CHECK_THAT(error(replace(good, "\"time_us\": 4", "\"time_us\": 1e-300")), Catch::Contains("$.measurements[0].time_us"));
  CHECK_THAT(error(replace(good, "\"hardware\": \"h100\"", "\"hardware\": \"H100'\"")), Catch::Contains("$.hardware: expected a name"));
  const std::string fit = R"({"op_class": "gemm", "dtype": "bf16", "launch_us": 3, "bytes_per_s": 3e12, "flops_per_s": 7e14, "p": 2,
              "train_samples": 10, "holdout_samples": 3, "train_median_error": 0.01, "holdout_median_error": -1})";
  CHECK_THAT(error(replace(good, "\"fits\": [", "\"fits\": [" + fit + ", ")), Catch::Contains("$.fits[1].op_class: a second fit for gemm bf16"));

  // The device name is free text; in a gnuplot script a quote would end the string and run the rest.
  Calibration c = parse_calibration(replace(good, "\"device\": \"H100\"", R"("device": "H100\"; system(\"touch pwned\") #")"), "cal.json");
  // gnuplot takes a single-quoted string literally (tests/test_plots.cpp lexes every script for what it would run).
  for (const OutputFile& f : calibration_plots(c).files)
    if (f.path.extension() == ".gp")
      CHECK_THAT(f.content, Catch::Contains("'Calibration of h100 on H100\"; system(\"touch pwned\") #: every kernel measured'"));
}

TEST_CASE("the core stays finite at every limit", "[hostile][census]") {
  // Every shape at its bound, through the loader, so the bounds and the arithmetic agree.
  const std::string widest = fmt::format(
      R"({{"id": "widest", "name": "w", "source": "test", "hidden_size": {0}, "vocab_size": {1},
          "attention_types": {{"mla": {{"kind": "mla", "q_heads": {2}, "q_lora_rank": {0}, "kv_lora_rank": {0},
                                       "qk_nope_head_dim": {3}, "qk_rope_head_dim": {3}, "v_head_dim": {3}}},
                               "gqa": {{"kind": "gqa", "q_heads": {2}, "kv_heads": {2}, "head_dim": {3}, "window": {4}}}}},
          "attention_layers": [{{"cycle": ["mla", "gqa"], "count": {5}}}],
          "ffn_types": {{"moe": {{"kind": "moe", "routed_experts": {6}, "top_k": {7}, "expert_intermediate": {8},
                                 "shared_experts": {9}, "shared_intermediate": {8}}}}},
          "quantization": {{"weights": "fp32", "kv": "fp32"}}}})",
      limits::kHiddenSize.hi, limits::kVocabSize.hi, limits::kHeads.hi, limits::kHeadDim.hi, limits::kContextTokens.hi,
      limits::kMaxLayers, limits::kExperts.hi, limits::kTopK.hi, limits::kFfnWidth.hi, limits::kSharedExperts.hi);
  const Model m = parse_model(widest, "widest.json");
  const Census c = census(m, limits::kContextTokens.hi);
  for (double v : {c.kv_bytes, c.attention_flops, c.linear_flops, c.ffn_flops}) CHECK((std::isfinite(v) && v > 0));
  const ParamCount p = count_params(m);
  CHECK(std::isfinite(p.total));

  // The slowest chip at the shortest TPOT needs more cards than an int holds: counted as doubles.
  Hardware slow = load_hardware("l4");
  slow.mem_bytes_per_s = limits::kBytesPerSecond.lo, slow.mem_capacity_bytes = limits::kMemoryBytes.lo;
  PipelineSla sla;
  sla.tpot_ms = limits::kTpotMs.lo;
  const FfnBudget f = ffn_budget(slow, m, 0, sla);
  CHECK(f.cards > 2147483647.0);
  CHECK(std::isfinite(f.cards));
}

TEST_CASE("served pipeline: micro-batches and the batch search are bounded", "[hostile][pipeline]") {
  const Model m = load_model("step3");
  const Pool h800{load_hardware("h800"), nullptr};
  PipelineConfig c;
  c.deployment = parse_deployment("1A1F");
  c.batch = 64;
  c.micro_batches = 4 * 61 + 1;
  CHECK_THROWS_WITH(simulate(m, h800, h800, c), Catch::Contains("expected at most 4 per layer (244 for the 61 layers of step3)"));
  // A memory that would hold billions of one-token requests per GPU: searched up to the bound.
  Pool huge = h800;
  huge.hw.mem_capacity_bytes = limits::kMemoryBytes.hi;
  c.micro_batches = 3;
  c.context_tokens = 1;
  c.tpot_sla_ms = limits::kTpotMs.hi;
  const auto plan = largest_batch(m, huge, huge, c);
  REQUIRE(plan);
  CHECK(plan->result.config.batch <= double(limits::kMaxRequestsPerGpu) * 8 * 3);
  // A plan over 64 x 64 chips is refused before it starts.
  SearchSpace space;
  space.attention_chips.assign(64, h800);
  space.ffn_chips.assign(64, h800);
  const Model step3 = load_model("step3");
  CHECK_THROWS_WITH(check_search_size(space, step3, 1), Catch::Contains("more than the 200000 one plan may try"));
  space.attention_chips.resize(4), space.ffn_chips.resize(4);
  CHECK_NOTHROW(check_search_size(space, step3, 2));
}

TEST_CASE("a models x chips x contexts table is refused before it is built past its bound", "[hostile][report]") {
  const std::vector<Model> models(3, load_model("step3"));
  const std::vector<Hardware> chips(64, load_hardware("h800"));
  const std::vector<double> contexts = parse_contexts("1:1024:+1");
  CHECK_THROWS_WITH(cost_table(models, chips, contexts),
                    Catch::Contains("cost: 3 models x 64 chips x 1024 contexts is 196608 rows, more than the 131072"));
  CHECK_THROWS_AS(budget_table(models, chips, contexts, {}, 0), InputError);
}

TEST_CASE("a Hugging Face config is held to the description's ranges", "[hostile][hf]") {
  const std::string dsv3 = shipped("tests/hf/deepseek-v3/config.json");
  auto error = [&](const std::string& text) { return refusal([&] { parse_model(text, "deepseek-v3/config.json"); }); };
  CHECK_THAT(error(replace(dsv3, "\"kv_lora_rank\": 512", "\"kv_lora_rank\": 2147483647")),
             Catch::Contains("$.kv_lora_rank: expected a positive integer"));
  // Inside the readers' generic bound but beyond the field's: refused once the model is built.
  CHECK_THAT(error(replace(dsv3, "\"num_attention_heads\": 128", "\"num_attention_heads\": 65536")),
             Catch::Contains("the model it describes has attention design 'mla' q_heads 65536: expected an integer in [1, 4096]"));
  CHECK_THAT(error(replace(dsv3, "\"first_k_dense_replace\": 3", "\"first_k_dense_replace\": -9223372036854775808")),
             Catch::Contains("$.first_k_dense_replace"));
}
