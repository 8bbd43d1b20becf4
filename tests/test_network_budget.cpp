// Report sections 5.3-5.4 (MoE sparsity vs network) and 6 (latency budget).
#include "helpers.hpp"

#include "decodesim/budget.hpp"
#include "decodesim/census.hpp"
#include "decodesim/network.hpp"

using namespace decodesim;

TEST_CASE("model sparsity counts shared experts", "[network]") {
  CHECK(model_sparsity(load_model("step3")) == Approx(4.0 / 49));
  CHECK(model_sparsity(load_model("deepseek-v3")) == Approx(9.0 / 257));
  CHECK(model_sparsity(load_model("qwen3-235b-a22b")) == Approx(8.0 / 128));
  CHECK(model_sparsity(load_model("qwen3-32b")) == 1.0);
}

TEST_CASE("B_dense = peak / (2 * bandwidth) with 8-bit weights", "[network]") {
  const Hardware h800 = load_hardware("h800");
  const Model m = load_model("deepseek-v3");
  const SparsityRow r = sparsity_limits(h800, m.quant, m.hidden_size, m.num_layers(), model_sparsity(m), {});
  CHECK(r.b_dense_tokens == Approx(1.98e15 / (2 * 3.35e12)));
  CHECK(r.b_moe_tokens == Approx(r.b_dense_tokens * 257 / 9));
  CHECK(r.comm_bytes_per_layer == Approx(3.0 * 7168 * r.b_moe_tokens));
}

TEST_CASE("S_min is the report's H*peak*L/(net*bw*11.1 ms)", "[network]") {
  for (const char* id : {"h800", "h20", "a800", "ascend-910b"}) {
    const Hardware hw = load_hardware(id);
    Quantization q;
    const double H = 7168, L = 61;
    const double expected = H * hw.peak_flops_per_s(Dtype::fp8) * L /
                            (8 * hw.net_bytes_per_s() * hw.mem_bytes_per_s * (50e-3 / 3 * 2 / 3));
    const SparsityRow r = sparsity_limits(hw, q, 7168, 61, 0.08, {});
    INFO(id);
    CHECK(r.min_sparsity == Approx(expected));
    // Report: real NICs reach about 40 of 50 GB/s, which raises S_min by 25%.
    PipelineSla real;
    real.nic_efficiency = 0.8;
    CHECK(sparsity_limits(hw, q, 7168, 61, 0.08, real).min_sparsity == Approx(1.25 * expected));
    // At S_min the communication of all layers exactly fills one pipeline stage.
    const SparsityRow at = sparsity_limits(hw, q, 7168, 61, r.min_sparsity, {});
    CHECK(at.comm_ms_all_layers == Approx(50.0 / 3));
  }
}

TEST_CASE("S_min per chip with 8 x 400/200 Gb/s NICs per instance", "[network]") {
  // H * peak * L / (8 NICs * bw * 11.1 ms) for H = 7168, L = 61: worked by hand from Table 4.
  const std::pair<const char*, double> expected[] = {{"h800", 0.0584}, {"h20", 0.00728}, {"a800", 0.0307}, {"ascend-910b", 0.0344}};
  for (const auto& [id, s_min] : expected) {
    INFO(id);
    CHECK(sparsity_limits(load_hardware(id), Quantization{}, 7168, 61, 0.08, {}).min_sparsity == Approx(s_min).epsilon(0.01));
  }
}

TEST_CASE("Step-3's sparsity sits above H800's limit, DeepSeek-V3's below", "[network]") {
  const Hardware h800 = load_hardware("h800");
  for (const auto& [id, sustains] : {std::pair{"step3", true}, std::pair{"deepseek-v3", false}}) {
    const Model m = load_model(id);
    INFO(id);
    PipelineSla real;  // even with real NICs (40 of 50 GB/s), Step-3's 4/49 holds on H800
    real.nic_efficiency = 0.8;
    CHECK(sparsity_limits(h800, m.quant, m.hidden_size, m.num_layers(), model_sparsity(m), real).sustains_model == sustains);
  }
}

TEST_CASE("per-layer budget is TPOT / stages / layers", "[budget]") {
  const Model m = load_model("step3");
  const Hardware h20 = load_hardware("h20");
  const AttentionBudget a = attention_budget(h20, m, 8192, {});
  CHECK(a.layer_budget_us == Approx(50e3 / 3 / 61));  // about 273 us (the report rounds to 272)
  CHECK(a.kv_bytes_in_budget == Approx(4e12 * a.layer_budget_us * 1e-6 - a.linear_bytes_per_layer));
  // Batch whose KV is read in the stage time, at 8K context.
  CHECK(a.max_batch == Approx(a.kv_bytes_in_budget * 61 / census(m, 8192).kv_bytes));
  CHECK(a.max_tokens == Approx(a.max_batch * 8192));
}

TEST_CASE("report section 6: an attention card holds o_proj sharded over its server's 8 cards", "[budget]") {
  const Model m = load_model("step3");
  const Hardware h20 = load_hardware("h20");
  // Step-3's projections per layer, 8-bit: q_a 7168x2048 = 14,680,064; q_b 2048x(64x256) =
  // 33,554,432; kv 7168x(256+256) = 3,670,016; o (64x256)x7168 = 117,440,512 bytes.
  const double whole = 14680064.0 + 33554432 + 3670016 + 117440512;  // 169,345,024
  const double sharded = 14680064.0 + 33554432 + 3670016 + 117440512 / 8;  // 66,584,576
  const AttentionBudget report = attention_budget(h20, m, 8192, {});
  const AttentionBudget strict = attention_budget(h20, m, 8192, {}, BudgetConvention::whole_o_proj());
  CHECK(report.linear_bytes_per_layer == Approx(sharded));
  CHECK(strict.linear_bytes_per_layer == Approx(whole));
  // H20 reads 4e12 B/s x 273.22 us = 1,092,896,175 B per layer; the rest after the weights is KV.
  CHECK(report.kv_bytes_in_budget == Approx(4e12 * 50e-3 / 3 / 61 - sharded));
  CHECK(strict.kv_bytes_in_budget == Approx(4e12 * 50e-3 / 3 / 61 - whole));
  // 1,026,311,599 B of KV per layer at 512 B per token per layer: 244.7 requests of 8192 tokens.
  CHECK(report.max_batch == Approx((4e12 * 50e-3 / 3 / 61 - sharded) / (512.0 * 8192)));
  // Memory holds the card's weights (61 layers) once; the rest holds KV.
  CHECK(report.kv_capacity_batch == Approx((9.6e10 - 61 * sharded) / (61 * 512.0 * 8192)));
}

TEST_CASE("report section 6: FFN cards read weights at half the bandwidth, in whole servers", "[budget]") {
  const Model m = load_model("step3");
  const Hardware l20 = load_hardware("l20");
  const FfnBudget f = ffn_budget(l20, m, 2048, {});
  CHECK(f.batch_tokens == 2048);
  // A MoE layer's weights (49 experts of 3 x 7168 x 5120, plus the 7168 x 48 router, 8-bit):
  // 5,396,316,160 B, read within 273.22 us at half of L20's 864 GB/s = 118,032,787 B per card.
  const double weights = 49.0 * 3 * 7168 * 5120 + 7168 * 48;
  CHECK(f.weight_bytes_per_layer == Approx(weights));
  CHECK(f.cards_for_bandwidth == 46);  // 45.7
  CHECK(f.cards_for_bandwidth == static_cast<int>(std::ceil(weights / (0.5 * 8.64e11 * 50e-3 / 3 / 61))));
  // 2048 tokens x 2 x 4 activated experts (3 x 7168 x 5120 each) = 1.804e12 FLOPs over
  // 2.39e14 FLOP/s x 273.22 us = 6.530e10 per card: 27.6 cards.
  CHECK(f.cards_for_compute == 28);
  // All FFN weights, 56 MoE layers and 5 dense (3 x 7168 x 18432): 304.2 GB over 48 GB.
  CHECK(f.cards_for_capacity == 7);
  // 46 cards round up to 6 servers of 8.
  CHECK(f.servers == 6);
  CHECK(f.cards == 48);
  // Defaults to the chip's B_MoE.
  CHECK(ffn_budget(l20, m, 0, {}).batch_tokens ==
        Approx(sparsity_limits(l20, m.quant, 7168, 61, model_sparsity(m), {}).b_moe_tokens));
}

TEST_CASE("the budget's hybrid-model caches: MiniMax state counted twice in traffic, once in memory", "[budget]") {
  const Model m = load_model("minimax-m1");
  const Hardware h20 = load_hardware("h20");
  const AttentionBudget a = attention_budget(h20, m, 8192, {});
  const Census c = census(m, 8192);
  CHECK(c.kv_bytes > c.kv_resident_bytes);
  CHECK(a.max_batch == Approx(a.kv_bytes_in_budget * 80 / c.kv_bytes));
  CHECK(a.kv_capacity_batch == Approx((9.6e10 - 80 * a.linear_bytes_per_layer) / c.kv_resident_bytes));
}
