// The calibration sweep without a GPU: its families, what each shape measures, `calibrate --list`.
#include "helpers.hpp"

#include "decodesim/gpu_measurement.hpp"
#include "decodesim/loader.hpp"
#include "decodesim/sweep.hpp"

using namespace decodesim;

namespace {

size_t shapes_of(const gpu::SweepPlan& p) { return p.attention.size() + p.gemms.size() + p.moe.size() + p.layers.size(); }

const std::vector<Model>& models() {
  static const std::vector<Model> m = load_models("step3,qwen3-235b-a22b,deepseek-v3");
  return m;
}

}  // namespace

TEST_CASE("sweep families: names, all, duplicates and a clear refusal", "[sweep]") {
  CHECK(parse_sweep_families("").size() == std::size(kSweepFamilies));
  CHECK(parse_sweep_families("all").size() == std::size(kSweepFamilies));
  CHECK(parse_sweep_families("prefill,mtp,prefill") == std::vector<SweepFamily>{SweepFamily::prefill, SweepFamily::mtp});
  for (SweepFamily f : kSweepFamilies) CHECK(parse_sweep_families(sweep_family_name(f)) == std::vector<SweepFamily>{f});
  CHECK_THROWS_WITH(parse_sweep_families("prefill,prefil"), Catch::Contains("--only: 'prefil': expected a comma-separated list"));
  CHECK_THROWS_AS(parse_sweep_families("prefill,"), InputError);
}

TEST_CASE("the families partition the sweep, and each keeps only its own shapes", "[sweep]") {
  const gpu::SweepPlan all = build_sweep_plan(models(), false, parse_sweep_families("all"));
  size_t sum = 0;
  for (SweepFamily f : kSweepFamilies) {
    INFO(sweep_family_name(f));
    const gpu::SweepPlan p = build_sweep_plan(models(), false, {f});
    CHECK(shapes_of(p) > 0);
    sum += shapes_of(p);
    for (const gpu::AttentionShape& s : p.attention) {
      const std::string cls = gpu::attention_measurement(s).op_class;
      if (f == SweepFamily::prefill) CHECK(cls.rfind("prefill_attention_", 0) == 0);
      if (f == SweepFamily::mtp) CHECK(cls.rfind("mtp_attention_", 0) == 0);
      if (f == SweepFamily::fp4) CHECK(s.kv_bits == 4);
      if (f == SweepFamily::decode) CHECK((s.query_tokens == 1 && s.kv_bits >= 8));
    }
    if (f != SweepFamily::gemm) CHECK(p.gemms.empty());
    if (f != SweepFamily::moe) CHECK(p.moe.empty());
    if (f != SweepFamily::layer) CHECK(p.layers.empty());
  }
  CHECK(sum == shapes_of(all));
  // Prompts, chunks and a batch of unequal prompts, BF16 and FP8: six of each per model.
  CHECK(build_sweep_plan(models(), false, {SweepFamily::prefill}).attention.size() == 3 * 12);
  // Interleaving keeps every shape once.
  CHECK(one_shape_each(all).size() == shapes_of(all));
}

TEST_CASE("what a sweep shape measures, before it runs", "[sweep]") {
  // One causal prompt of N tokens: N (N + 1) / 2 (query, key) pairs per head.
  gpu::AttentionShape s;
  s.model = "m", s.design = "gqa", s.q_heads = 64, s.kv_heads = 4, s.qk_dim = s.v_dim = 128;
  s.batch = 1, s.context = s.query_tokens = 4096;
  const gpu::Measurement m = gpu::attention_measurement(s);
  CHECK(m.op_class == "prefill_attention_gqa");
  CHECK(m.flops == Approx(2.0 * 256 * 64 * 4096.0 * 4097 / 2));
  CHECK(m.bytes == Approx(4096.0 * 4 * 256 * 2 + 4096.0 * 64 * 256 * 2));
  CHECK(m.label == "m gqa b=1 ctx=4096 q=4096 h=64/4 d=128/128 kv=bf16 contiguous");
  s.query_tokens = 1, s.kv_bits = 4;
  CHECK(gpu::attention_measurement(s).op_class == "attention_gqa");
  CHECK(gpu::attention_measurement(s).dtype == "fp4");

  // Routed experts: an expert without tokens reads no weights.
  gpu::GroupedGemmShape g;
  g.experts = 4, g.hidden = 256, g.intermediate = 128, g.fp8 = true, g.tokens = {3, 0, 5, 0};
  const gpu::Measurement e = gpu::moe_measurement(g);
  CHECK(e.flops == Approx(6.0 * 8 * 256 * 128));
  CHECK(e.bytes == Approx(2 * 3.0 * 256 * 128 + 8.0 * 256 * 3));
  g.tokens = {1, 2};
  CHECK_THROWS_WITH(gpu::moe_measurement(g), Catch::Contains("2 token counts for 4 experts"));
}

TEST_CASE("the sweep table predicts each shape by its class's fit", "[sweep]") {
  const Calibration c = load_calibration((test::source_dir() / "hardware/calibrated/h100.json").string());
  const std::vector<gpu::SweepPlan> shapes = one_shape_each(build_sweep_plan(models(), false, {SweepFamily::decode, SweepFamily::prefill}));
  const Table t = sweep_table(shapes, &c);
  REQUIRE(t.rows.size() == shapes.size());
  int predicted = 0, unpredicted = 0;
  for (size_t i = 0; i < t.rows.size(); ++i) {
    const EfficiencyFit* f = c.find(t.text(i, "op_class"), t.text(i, "dtype"));
    if (f) {
      ++predicted;
      CHECK(t.number(i, "predicted_us") == Approx(f->predict_us(t.number(i, "flops"), t.number(i, "bytes"))));
    } else {
      ++unpredicted;
      CHECK(t.number(i, "predicted_us") == -1);
    }
  }
  // The shipped file fits one-token attention, not prompts.
  CHECK(predicted > 0);
  CHECK(unpredicted > 0);
  CHECK_THAT(t.notes.front(), Catch::Contains("shapes:") && Catch::Contains(" decode") && Catch::Contains(" prefill"));
}

TEST_CASE("calibrate --list and --only need no GPU; their misuse is refused in one line", "[cli][sweep]") {
  const test::Result list = test::run("calibrate --list --hardware h800 --only prefill --model step3");
  REQUIRE(list.code == 0);
  CHECK_THAT(list.out, Catch::Contains("12 shapes: 12 prefill") && Catch::Contains("prefill_attention_mfa"));
  CHECK(list.out.find(" attention_mfa ") == std::string::npos);  // no one-token shape
  for (const auto& [args, expect] : std::vector<std::pair<std::string, std::string>>{
           {"calibrate --list --hardware h100 --only prefil", "--only: 'prefil': expected"},
           {"calibrate --hardware h100 --only prefill", "--out is required (or --list)"},
           {"calibrate --list --refit x.json", "--refit refits measurements already taken"},
           {"calibrate --list --only moe --model qwen3-32b --hardware h100", "the models have no shapes of it"},
       }) {
    INFO(args);
    const test::Result r = test::run(args);
    CHECK(r.code == 2);
    CHECK(test::lines(r.err) == 1);
    CHECK_THAT(r.err, Catch::Contains(expect));
  }
}
