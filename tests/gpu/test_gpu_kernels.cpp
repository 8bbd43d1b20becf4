// GPU kernel checks: every kernel class on small shapes against the CPU reference, and paged == contiguous.
// Exits 77 (CTest: skipped) where no usable GPU is present. Only the public interface (gpu.hpp) is used;
// linked to the kernels directly, not through the loader.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <cmath>
#include <iostream>

#include "decodesim/gpu.hpp"

namespace g = decodesim::gpu;

int main(int argc, char** argv) {
  std::string why;
  if (!g::available(&why)) {
    std::cerr << "GPU tests skipped: " << why << "\n";
    return 77;
  }
  const g::DeviceInfo d = g::device_info();
  std::cerr << "GPU tests on " << d.name << " (" << d.sm_count << " SMs, sm_" << d.cc_major << d.cc_minor << ")\n";
  return Catch::Session().run(argc, argv);
}

namespace {

g::SweepPlan quick_plan() {
  g::SweepPlan p;
  p.warmup = 1;
  p.repeats = 3;
  p.check = true;
  return p;
}

g::AttentionShape attn(const std::string& design, int q, int kv, int dqk, int dv, int batch, int ctx, int kv_bits, g::KvLayout layout) {
  g::AttentionShape s;
  s.model = "test";
  s.design = design;
  s.q_heads = q, s.kv_heads = kv, s.qk_dim = dqk, s.v_dim = dv;
  s.batch = batch, s.context = ctx, s.kv_bits = kv_bits, s.layout = layout;
  return s;
}

std::vector<g::AttentionShape> small_attention_shapes() {
  std::vector<g::AttentionShape> v;
  for (int kv_bits : {16, 8, 4})  // 4: e2m1 caches, every variant in the warpgroup kernel
    for (g::KvLayout lay : {g::KvLayout::contiguous, g::KvLayout::paged}) {
      // contexts that are not multiples of the tile or page exercise the masked tail
      v.push_back(attn("mfa", 64, 1, 256, 256, 3, 1000, kv_bits, lay));   // Step-3
      v.push_back(attn("gqa", 64, 4, 128, 128, 2, 333, kv_bits, lay));    // Qwen3-235B, 16 heads per KV head
      v.push_back(attn("gqa", 40, 8, 128, 128, 2, 129, kv_bits, lay));    // 5 heads per KV head (padded rows)
      v.push_back(attn("gqa", 64, 2, 128, 128, 2, 700, kv_bits, lay));    // 32 per KV head: two 16-head blocks each
      v.push_back(attn("mla", 128, 1, 576, 512, 2, 517, kv_bits, lay));   // DeepSeek-V3 absorbed
      v.push_back(attn("mla", 64, 1, 576, 512, 1, 64, kv_bits, lay));     // Kimi-K2 width, one tile
      // as many requests as SMs: one split each, so a block's ring of tiles wraps many times
      v.push_back(attn("mfa", 64, 1, 256, 256, 132, 1500, kv_bits, lay));
    }
  v.push_back(attn("mfa", 64, 1, 256, 256, 80, 130, 16, g::KvLayout::contiguous));  // many blocks, few splits
  v.push_back(attn("mfa", 16, 1, 256, 256, 2, 700, 16, g::KvLayout::contiguous));   // 16 heads per KV head
  return v;
}

}  // namespace

TEST_CASE("decode attention matches the float64 reference", "[gpu][attention]") {
  g::SweepPlan p = quick_plan();
  p.attention = small_attention_shapes();
  const auto ms = g::measure(p, {});
  REQUIRE(ms.size() == p.attention.size());
  for (size_t i = 0; i < ms.size(); ++i) {
    INFO(ms[i].label << " rel err " << ms[i].rel_error);
    CHECK(ms[i].op_class == "attention_" + p.attention[i].design);
    CHECK(ms[i].rel_error >= 0);
    CHECK(ms[i].dtype == g::kv_dtype_name(p.attention[i].kv_bits));
    CHECK(ms[i].rel_error < (p.attention[i].kv_bits <= 8 ? 8e-2 : 1e-2));  // see attention_tolerance()
    CHECK(ms[i].time_us > 0);
    CHECK(ms[i].bytes > 0);
    CHECK(ms[i].flops > 0);
  }
}

// Several query tokens per request, causal among themselves: MTP verification (2-4) and prompts or
// chunks (prefill). Every variant that fits is run and checked (measure autotunes over them all).
TEST_CASE("multi-token and prefill attention match the causal float64 reference", "[gpu][attention][causal]") {
  g::SweepPlan p = quick_plan();
  auto q = [](g::AttentionShape s, int tokens) {
    s.query_tokens = tokens;
    return s;
  };
  auto lens = [](g::AttentionShape s, std::vector<int> l) {
    s.context_lens = std::move(l);
    return s;
  };
  for (int kv_bits : {16, 8})
    for (g::KvLayout lay : {g::KvLayout::contiguous, g::KvLayout::paged}) {
      p.attention.push_back(q(attn("mfa", 64, 1, 256, 256, 3, 1000, kv_bits, lay), 2));
      p.attention.push_back(q(attn("mfa", 64, 1, 256, 256, 2, 515, kv_bits, lay), 4));
      p.attention.push_back(q(attn("gqa", 64, 4, 128, 128, 2, 333, kv_bits, lay), 3));  // 48 rows per KV head
      p.attention.push_back(q(attn("gqa", 40, 8, 128, 128, 2, 129, kv_bits, lay), 4));  // 20 rows
      p.attention.push_back(q(attn("mla", 128, 1, 576, 512, 2, 517, kv_bits, lay), 2));
      p.attention.push_back(q(attn("mla", 64, 1, 576, 512, 1, 66, kv_bits, lay), 3));
      // prefill: whole prompts, a chunk after a prefix, MLA un-absorbed (192/128 per head)
      p.attention.push_back(q(attn("gqa", 64, 4, 128, 128, 2, 300, kv_bits, lay), 300));
      p.attention.push_back(q(attn("gqa", 64, 8, 128, 128, 1, 700, kv_bits, lay), 150));
      p.attention.push_back(q(attn("mfa", 64, 1, 256, 256, 1, 200, kv_bits, lay), 200));
      p.attention.push_back(q(attn("gqa", 16, 16, 192, 128, 1, 257, kv_bits, lay), 257));
      // variable length: prompts of unequal length in one launch, and chunks after unequal prefixes
      p.attention.push_back(lens(q(attn("gqa", 64, 4, 128, 128, 3, 300, kv_bits, lay), 300), {300, 37, 129}));
      p.attention.push_back(lens(q(attn("mfa", 64, 1, 256, 256, 2, 200, kv_bits, lay), 200), {65, 200}));
      p.attention.push_back(lens(q(attn("gqa", 16, 16, 192, 128, 2, 257, kv_bits, lay), 257), {100, 257}));
      p.attention.push_back(lens(q(attn("gqa", 64, 8, 128, 128, 3, 700, kv_bits, lay), 50), {700, 120, 50}));
    }
  const auto ms = g::measure(p, {});
  REQUIRE(ms.size() == p.attention.size());
  for (size_t i = 0; i < ms.size(); ++i) {
    INFO(ms[i].label << " rel err " << ms[i].rel_error);
    const bool prefill = p.attention[i].query_tokens > g::kMaxDecodeQueryTokens;
    CHECK(ms[i].op_class == (prefill ? "prefill_attention_" : "mtp_attention_") + p.attention[i].design);
    CHECK(ms[i].rel_error >= 0);
    CHECK(ms[i].rel_error < (p.attention[i].kv_bits <= 8 ? 8e-2 : 1e-2));
    CHECK(ms[i].time_us > 0);
  }
}

TEST_CASE("paged and contiguous KV give bit-identical attention", "[gpu][attention][paged]") {
  for (int kv_bits : {16, 8, 4}) {
    for (const g::AttentionShape& s : {attn("mfa", 64, 1, 256, 256, 3, 1000, kv_bits, g::KvLayout::contiguous),
                                       attn("gqa", 64, 4, 128, 128, 2, 333, kv_bits, g::KvLayout::contiguous),
                                       attn("mla", 128, 1, 576, 512, 2, 517, kv_bits, g::KvLayout::contiguous)}) {
      INFO(s.design << " " << g::kv_dtype_name(kv_bits));
      CHECK(g::paged_contiguous_max_diff(s) == 0.0);
    }
  }
}

TEST_CASE("cuBLASLt GEMMs match the reference", "[gpu][gemm]") {
  g::SweepPlan p = quick_plan();
  for (bool fp8 : {false, true}) {
    p.gemms.push_back({"small", 5, 256, 512, fp8});
    p.gemms.push_back({"step3 q_a", 64, 2048, 7168, fp8});
    p.gemms.push_back({"step3 kv", 1, 512, 7168, fp8});
  }
  const auto ms = g::measure(p, {});
  REQUIRE(ms.size() == p.gemms.size());
  for (size_t i = 0; i < ms.size(); ++i) {
    INFO(ms[i].label << " rel err " << ms[i].rel_error);
    CHECK(ms[i].rel_error >= 0);
    CHECK(ms[i].rel_error < (p.gemms[i].fp8 ? 5e-2 : 1e-2));
    CHECK(ms[i].flops == Approx(2.0 * p.gemms[i].m * p.gemms[i].n * p.gemms[i].k));
  }
}

TEST_CASE("MoE expert FFN matches the reference", "[gpu][moe]") {
  g::SweepPlan p = quick_plan();
  for (bool fp8 : {false, true}) {
    p.moe.push_back({"tiny", 3, 5, 512, 256, fp8});
    p.moe.push_back({"one token", 2, 1, 1024, 512, fp8});
    p.moe.push_back({"two token blocks", 2, 200, 512, 384, fp8});
  }
  const auto ms = g::measure(p, {});
  REQUIRE(ms.size() == p.moe.size());
  for (size_t i = 0; i < ms.size(); ++i) {
    INFO(ms[i].label << " rel err " << ms[i].rel_error);
    CHECK(ms[i].op_class == "moe_ffn");
    CHECK(ms[i].rel_error >= 0);
    CHECK(ms[i].rel_error < (p.moe[i].fp8 ? 5e-2 : 1e-2));
  }
}

TEST_CASE("grouped MoE FFN handles uneven routing and empty experts", "[gpu][moe]") {
  g::SweepPlan p = quick_plan();
  for (bool fp8 : {false, true}) {
    g::GroupedGemmShape u{"uneven", 6, 0, 1024, 512, fp8};
    u.tokens = {0, 1, 19, 0, 130, 7};  // 130 > one 128-token block
    p.moe.push_back(u);
  }
  const auto ms = g::measure(p, {});
  REQUIRE(ms.size() == p.moe.size());
  for (size_t i = 0; i < ms.size(); ++i) {
    INFO(ms[i].label << " rel err " << ms[i].rel_error);
    CHECK(ms[i].rel_error >= 0);
    CHECK(ms[i].rel_error < (p.moe[i].fp8 ? 5e-2 : 1e-2));
    CHECK(ms[i].flops == Approx(6.0 * 157 * 1024 * 512));
  }
}

TEST_CASE("attention layer runs projections and attention as one graph", "[gpu][layer]") {
  g::SweepPlan p = quick_plan();
  g::AttentionLayerShape l;
  l.attention = attn("mfa", 64, 1, 256, 256, 4, 300, 16, g::KvLayout::contiguous);
  l.projections = {{"q_a", 4, 2048, 7168, true}, {"q_b", 4, 64 * 256, 2048, true}, {"kv", 4, 512, 7168, true}, {"o", 4, 7168, 64 * 256, true}};
  p.layers.push_back(l);
  const auto ms = g::measure(p, {});
  REQUIRE(ms.size() == 1);
  INFO(ms[0].label << " rel err " << ms[0].rel_error);
  CHECK(ms[0].op_class == "attention_layer");
  CHECK(ms[0].rel_error >= 0);
  CHECK(ms[0].rel_error < 5e-2);
  CHECK(ms[0].time_us > 0);
}

TEST_CASE("copy bandwidth and peak GEMM are measured and checked", "[gpu][peak]") {
  const g::Measurement c = g::measure_copy();
  CHECK(c.rel_error == 0.0);
  CHECK(c.bytes / (c.time_us * 1e-6) > 1e11);
  const g::Measurement b = g::measure_peak_gemm(false);
  INFO(b.label << " rel err " << b.rel_error);
  CHECK(b.rel_error < 1e-2);
  const g::DeviceInfo d = g::device_info();
  if (d.cc_major * 10 + d.cc_minor >= 89) {
    const g::Measurement f = g::measure_peak_gemm(true);
    INFO(f.label << " rel err " << f.rel_error);
    CHECK(f.rel_error < 5e-2);
  }
}
