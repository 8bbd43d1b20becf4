// Unit tests of the per-token census, one formula at a time, on small hand-checkable models.
#include "helpers.hpp"

#include "decodesim/census.hpp"

using namespace decodesim;

namespace {

Model tiny(AttentionSpec a, FfnSpec f, int layers = 2) {
  Model m;
  m.id = "tiny";
  m.hidden_size = 64;
  m.vocab_size = 100;
  m.attention_types = {a};
  m.ffn_types = {f};
  m.layer_attention.assign(layers, 0);
  m.layer_ffn.assign(layers, 0);
  return m;
}

AttentionSpec gqa(int q, int kv, int d) {
  AttentionSpec a;
  a.kind = AttentionKind::gqa;
  a.q_heads = q, a.kv_heads = kv, a.head_dim = d;
  return a;
}

FfnSpec dense(long i) {
  FfnSpec f;
  f.intermediate = i;
  return f;
}

}  // namespace

TEST_CASE("GQA: KV bytes, core FLOPs and projections", "[census]") {
  const Model m = tiny(gqa(8, 2, 16), dense(128));
  const Census c = census(m, 1000);
  // 2 layers x 1000 tokens x (K+V: 2 x 2 heads x 16) x 1 byte (fp8)
  CHECK(c.kv_bytes == 2 * 1000 * 64);
  // 2 layers x 2 FLOPs x (16 + 16) x 8 heads x 1000
  CHECK(c.attention_flops == 2 * 2.0 * 32 * 8 * 1000);
  // q 64x128, k and v 64x32 each, o 128x64 -> 2 FLOPs each, 2 layers
  CHECK(c.linear_flops == 2 * 2.0 * (64 * 128 + 2 * 64 * 32 + 128 * 64));
  CHECK(c.ffn_flops == 2 * 2.0 * 3 * 64 * 128);
  CHECK(c.arithmetic_intensity() == Approx(2.0 * 32 * 8 / 64));
  CHECK(kv_bytes_per_token(m) == 2 * 64);
}

TEST_CASE("KV precision scales bytes, not FLOPs", "[census]") {
  Model m = tiny(gqa(8, 2, 16), dense(128));
  const Census fp8 = census(m, 512);
  m.quant.kv = Dtype::bf16;
  const Census bf16 = census(m, 512);
  CHECK(bf16.kv_bytes == 2 * fp8.kv_bytes);
  CHECK(bf16.attention_flops == fp8.attention_flops);
  CHECK(bf16.arithmetic_intensity() == Approx(fp8.arithmetic_intensity() / 2));
}

TEST_CASE("MLA is costed absorbed: one latent, counted for both products", "[census]") {
  AttentionSpec a;
  a.kind = AttentionKind::mla;
  a.q_heads = 4, a.kv_lora_rank = 32, a.qk_rope_head_dim = 8, a.qk_nope_head_dim = 16, a.v_head_dim = 16, a.q_lora_rank = 24;
  a.kv_heads = 1;
  const Model m = tiny(a, dense(10), 1);
  const Census c = census(m, 100);
  CHECK(c.kv_bytes == 40 * 100);
  CHECK(c.attention_flops == 2.0 * 2 * 40 * 4 * 100);
  CHECK(c.arithmetic_intensity() == Approx(4.0 * 4));
  // q_a 64x24, q_b 24x(4x24), kv_a 64x40, kv_b 32x(4x32), o (4x16)x64
  CHECK(attention_linear_params(a, 64) == 64 * 24 + 24 * 96 + 64 * 40 + 32 * 128 + 64 * 64);
}

TEST_CASE("MFA: low-rank query, one shared K and V head", "[census]") {
  AttentionSpec a = gqa(16, 1, 32);
  a.kind = AttentionKind::mfa;
  a.q_lora_rank = 20;
  const Model m = tiny(a, dense(10), 1);
  CHECK(attention_linear_params(a, 64) == 64 * 20 + 20 * 512 + 2 * 64 * 32 + 512 * 64);
  CHECK(census(m, 10).arithmetic_intensity() == Approx(2.0 * 64 * 16 / 64));
}

TEST_CASE("sliding and chunked layers stop growing at their window", "[census]") {
  AttentionSpec a = gqa(4, 4, 8);
  a.scope = AttentionScope::chunked;
  a.window_tokens = 256;
  const Model m = tiny(a, dense(10), 1);
  CHECK(census(m, 100).kv_bytes == 100 * 64);
  CHECK(census(m, 256).kv_bytes == census(m, 100000).kv_bytes);
  CHECK(kv_bytes_per_token(m) == 0);  // bounded layers hold no per-token growth
}

TEST_CASE("linear attention keeps a fixed state", "[census]") {
  AttentionSpec a = gqa(4, 4, 8);
  a.kind = AttentionKind::linear;
  a.output_gate = true;
  Model m = tiny(a, dense(10), 1);
  m.quant.state = Dtype::fp32;
  // 4 heads x 8 x 8 FP32 state: read and written back each step, held once.
  CHECK(census(m, 10).kv_bytes == 2 * 4 * 8 * 8 * 4);
  CHECK(census(m, 10).kv_resident_bytes == 4 * 8 * 8 * 4);
  CHECK(census(m, 1e6).kv_bytes == census(m, 10).kv_bytes);
  CHECK(census(m, 10).attention_flops == 4.0 * 4 * 8 * 8);
  CHECK(attention_linear_params(a, 64) == 5 * 64 * 32);  // q, k, v, o and the output gate: 64x32 each
}

TEST_CASE("a design's own cache precision overrides the model's", "[census]") {
  AttentionSpec global = gqa(8, 2, 16), chunked = gqa(8, 2, 16);
  global.name = "global", chunked.name = "chunked";
  global.cache_dtype = Dtype::bf16;
  chunked.scope = AttentionScope::chunked, chunked.window_tokens = 100;
  Model m = tiny(global, dense(10), 2);
  m.attention_types = {chunked, global};
  m.layer_attention = {0, 1};
  // chunked: 2 x 2 heads x 16 = 64 B per token at FP8, 100 tokens; global: 64 x 2 B (BF16), 1000 tokens.
  CHECK(census(m, 1000).kv_bytes == 100 * 64 + 1000 * 64 * 2);
  CHECK(census(m, 1000).kv_resident_bytes == census(m, 1000).kv_bytes);
  CHECK(kv_bytes_per_token(m) == 64 * 2);
  // The model's KV precision still sets the layers without their own.
  m.quant.kv = Dtype::bf16;
  CHECK(census(m, 1000).kv_bytes == 100 * 64 * 2 + 1000 * 64 * 2);
  // A linear layer's own state precision overrides quantization.state.
  AttentionSpec lin = gqa(4, 4, 8);
  lin.kind = AttentionKind::linear;
  lin.cache_dtype = Dtype::bf16;
  const Model l = tiny(lin, dense(10), 1);
  CHECK(census(l, 10).kv_resident_bytes == 4 * 8 * 8 * 2);
}

TEST_CASE("MiniMax-M1: lightning state read and written back, BF16 KV on the softmax layers", "[census][models]") {
  const Model m = load_model("minimax-m1");
  // 70 lightning layers: 64 heads x 128 x 128 FP32 = 4,194,304 B of state each, read and written
  // back: 8,388,608 B per layer, 587,202,560 B in all, whatever the context.
  const double state = 64.0 * 128 * 128 * 4;
  // 10 softmax layers: K and V of 8 heads x 128 in BF16 = 4,096 B per token per layer.
  const double kv_per_token = 2.0 * 8 * 128 * 2;
  const Census c = census(m, 8192);
  CHECK(c.kv_bytes == 70 * 2 * state + 10 * kv_per_token * 8192);         // 922,746,880
  CHECK(c.kv_resident_bytes == 70 * state + 10 * kv_per_token * 8192);    // 629,145,600
  // FLOPs: 2 x 2 x 64 x 128 x 128 per lightning layer, 2 x (128 + 128) x 64 x 8192 per softmax layer.
  CHECK(c.attention_flops == 70 * 4.0 * 64 * 128 * 128 + 10 * 2.0 * 256 * 64 * 8192);  // 2,977,955,840
  CHECK(kv_bytes_per_token(m) == 10 * kv_per_token);
}

TEST_CASE("Llama-4 Maverick: FP8 KV on chunked layers, BF16 on its full-attention NoPE layers", "[census][models]") {
  const Model m = load_model("llama4-maverick");
  // 2 x 8 KV heads x 128 = 2,048 KV elements per token per layer. 36 chunked layers at FP8 hold at
  // most the 8,192-token chunk; 12 NoPE layers hold the whole context at BF16.
  const double elems = 2.0 * 8 * 128;
  CHECK(census(m, 8192).kv_bytes == 36 * elems * 8192 + 12 * elems * 2 * 8192);     // 1,006,632,960
  CHECK(census(m, 32768).kv_bytes == 36 * elems * 8192 + 12 * elems * 2 * 32768);   // 2,214,592,512
  CHECK(kv_bytes_per_token(m) == 12 * elems * 2);                                   // 49,152
}

TEST_CASE("MoE: activated = top-k + shared, total = all experts; routers in params only", "[census]") {
  FfnSpec f;
  f.kind = FfnKind::moe;
  f.routed_experts = 8, f.top_k = 2, f.expert_intermediate = 16, f.shared_experts = 1, f.shared_intermediate = 32;
  const Model m = tiny(gqa(2, 2, 8), f, 3);
  CHECK(census(m, 1).ffn_flops == 3 * 2.0 * 3 * 64 * (2 * 16 + 32));
  const ParamCount p = count_params(m);
  CHECK(p.ffn_total == 3 * 3.0 * 64 * (8 * 16 + 32));
  CHECK(p.ffn_activated == 3 * 3.0 * 64 * (2 * 16 + 32));
  CHECK(p.embedding == 2 * 100 * 64);
  CHECK(p.total == p.embedding + p.attention + p.ffn_total + 3 * 64 * 8);
}

TEST_CASE("parameter counts derived from the description match the published totals", "[census][models]") {
  // Derived: embeddings + LM head + projections + all experts + routers, no norms. Tolerances
  // cover norms, biases and rounding in the published headline (e.g. "1T", "32B").
  for (const std::string& id : known_ids("models")) {
    const Model m = load_model(id);
    const ParamCount p = count_params(m);
    const double emb = m.published.includes_embeddings ? 0 : p.embedding;
    INFO(id << ": derived total " << p.total - emb << ", activated " << p.activated - emb);
    if (m.published.total_params > 0) CHECK(p.total - emb == Approx(m.published.total_params).epsilon(0.03));
    if (m.published.activated_params > 0) CHECK(p.activated - emb == Approx(m.published.activated_params).epsilon(0.035));
  }
}

TEST_CASE("every data file loads and is named after its id", "[data]") {
  for (const char* folder : {"models", "hardware"}) {
    const auto ids = known_ids(folder);
    CHECK(ids.size() >= 9);
    for (const std::string& id : ids) {
      INFO(folder << "/" << id);
      if (std::string(folder) == "models") CHECK(load_model(id).id == id);
      else CHECK(load_hardware(id).id == id);
    }
  }
}
