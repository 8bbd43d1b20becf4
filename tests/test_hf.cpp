// Hugging Face config.json as a model description: the published configs in tests/hf/ against
// the built-in descriptions and the published parameter counts; defaults, options and errors.
#include "helpers.hpp"

#include <set>

#include "decodesim/census.hpp"
#include "decodesim/hf_import.hpp"
#include "decodesim/network.hpp"

using namespace decodesim;

namespace {

std::string hf_config(const std::string& model) { return (test::source_dir() / "tests/hf" / model / "config.json").string(); }

const char* const kBuiltIn[] = {"step3",           "deepseek-v3",        "kimi-k2",
                                "qwen3-235b-a22b", "qwen3-32b",          "llama4-maverick",
                                "minimax-m1",      "ernie4.5-300b-a47b", "pangu-pro-moe-72b"};

void check_same_census(const Model& a, const Model& b) {
  REQUIRE(a.num_layers() == b.num_layers());
  for (double ctx : {1.0, 4096.0, 8192.0, 32768.0, 1048576.0}) {
    INFO("context " << ctx);
    const Census x = census(a, ctx), y = census(b, ctx);
    CHECK(x.kv_bytes == y.kv_bytes);
    CHECK(x.kv_resident_bytes == y.kv_resident_bytes);
    CHECK(x.attention_flops == y.attention_flops);
    CHECK(x.linear_flops == y.linear_flops);
    CHECK(x.ffn_flops == y.ffn_flops);
  }
  const ParamCount p = count_params(a), q = count_params(b);
  CHECK(p.total == q.total);
  CHECK(p.activated == q.activated);
  CHECK(p.embedding == q.embedding);
  CHECK(kv_bytes_per_token(a) == kv_bytes_per_token(b));
  CHECK(model_sparsity(a) == model_sparsity(b));
  CHECK(a.quant.weights == b.quant.weights);
  CHECK(a.quant.compute == b.quant.compute);
}

// A config written into a scratch folder from JSON text.
struct Config {
  test::TempDir dir;
  std::string path;
  explicit Config(const std::string& text) : path(dir.write("m/config.json", text).string()) {}
};

std::string error_of(const std::string& config_text) {
  const Config c(config_text);
  try {
    load_model(c.path);
  } catch (const InputError& e) {
    const std::string msg = e.what();
    CHECK(msg.find('\n') == std::string::npos);
    CHECK(msg.find(c.path) != std::string::npos);
    return msg;
  }
  FAIL("no error for: " << config_text);
  return {};
}

}  // namespace

TEST_CASE("the nine built-in models through their published configs cost exactly what their descriptions do", "[hf]") {
  for (const char* id : kBuiltIn) {
    INFO(id);
    const Model hf = load_model(hf_config(id));
    CHECK(hf.id == id);  // named after the config's folder
    check_same_census(hf, load_model(id));
  }
}

TEST_CASE("a model folder, a config.json path and load_hf_config give one model", "[hf]") {
  const Model by_folder = load_model((test::source_dir() / "tests/hf/step3").string());
  check_same_census(by_folder, load_model(hf_config("step3")));
  check_same_census(by_folder, load_hf_config(hf_config("step3")));
  CHECK(by_folder.source.find("share_q_dim 2048") != std::string::npos);
  CHECK(by_folder.source.find("the Step-3 report's convention") != std::string::npos);
}

TEST_CASE("parameter totals through the configs match the published counts", "[hf][models]") {
  // The built-in descriptions' published figures (their files cite them); tolerances as in
  // test_census.cpp: norms, biases and rounded headlines.
  for (const char* id : kBuiltIn) {
    const Model described = load_model(id);
    const ParamCount p = count_params(load_model(hf_config(id)));
    const double emb = described.published.includes_embeddings ? 0 : p.embedding;
    INFO(id << ": total " << p.total - emb << ", activated " << p.activated - emb);
    CHECK(p.total - emb == Approx(described.published.total_params).epsilon(0.03));
    CHECK(p.activated - emb == Approx(described.published.activated_params).epsilon(0.035));
  }
  struct Published {
    const char* model;
    double total, activated;
    double embedding_share;  // of embedding + LM head counted in the published activated figure
  };
  const Published published[] = {
      // Llama 3.1 model card (huggingface.co/meta-llama/Llama-3.1-70B): 70B, dense.
      {"llama-3.1-70b", 70e9, 70e9, 1.0},
      // Mistral AI, "Mixtral of experts" (mistral.ai/news/mixtral-of-experts): 46.7B total, 12.9B per token.
      {"mixtral-8x7b", 46.7e9, 12.9e9, 1.0},
      // Qwen2.5-72B-Instruct model card: Number of Parameters 72.7B, dense.
      {"qwen2.5-72b", 72.7e9, 72.7e9, 1.0},
      // Qwen blog "Qwen1.5-MoE: Matching 7B Model Performance with 1/3 Activated Parameters": 14.3B, 2.7B activated.
      {"qwen1.5-moe-a2.7b", 14.3e9, 2.7e9, 1.0},
      // gpt-oss-120b model card (arXiv 2508.10925, Table 1): 116.83B total, 5.13B active, which
      // counts the unembedding but not the embedding.
      {"gpt-oss-120b", 116.83e9, 5.13e9, 0.5},
  };
  for (const Published& pub : published) {
    const ParamCount p = count_params(load_model(hf_config(pub.model)));
    const double activated = p.activated - (1 - pub.embedding_share) * p.embedding;
    INFO(pub.model << ": total " << p.total << ", activated " << activated);
    CHECK(p.total == Approx(pub.total).epsilon(0.03));
    CHECK(activated == Approx(pub.activated).epsilon(0.035));
  }
}

TEST_CASE("every supported family reads its published config; import writes a description that loads back", "[hf]") {
  test::TempDir d;
  int configs = 0;
  std::set<std::string> published_types;
  for (const auto& entry : std::filesystem::directory_iterator(test::source_dir() / "tests/hf")) {
    if (!entry.is_directory()) continue;
    ++configs;
    published_types.insert(nlohmann::json::parse(test::read_file(entry.path() / "config.json"))["model_type"].get<std::string>());
    const std::string name = entry.path().filename().string();
    INFO(name);
    const Model m = load_model(entry.path().string());
    CHECK(m.num_layers() > 0);
    // What import writes: our schema, loadable, the same costs.
    const auto file = d.write(name + ".json", model_description_json(m));
    const Model back = load_model(file.string());
    CHECK(back.id == m.id);
    CHECK(back.source == m.source);
    REQUIRE(back.num_layers() == m.num_layers());
    for (int layer = 0; layer < m.num_layers(); ++layer) {
      CHECK(back.attention(layer) == m.attention(layer));
      CHECK(back.ffn(layer) == m.ffn(layer));
    }
    check_same_census(back, m);
  }
  CHECK(configs == 14);
  // Every model_type the registry knows has a published config here, except llama4_text and
  // step3_text (read inside the llama4 and step3_vl configs) and minimax (transformers' port of
  // the MiniMax architecture, checked with the defaults below).
  for (const std::string& type : hf_model_types()) {
    INFO(type);
    CHECK((published_types.count(type) == 1 || type == "llama4_text" || type == "step3_text" || type == "minimax"));
  }
}

TEST_CASE("shapes the readers derive from the published configs", "[hf]") {
  // Step-3: MFA, 64 heads of 256 sharing one K and V head, query rank 2048; layers 0-3 and 60 dense.
  const Model step3 = load_model(hf_config("step3"));
  REQUIRE(step3.attention_types.size() == 1);
  CHECK(step3.attention_types[0].kind == AttentionKind::mfa);
  CHECK(step3.attention_types[0].kv_heads == 1);
  CHECK(step3.attention_types[0].q_lora_rank == 2048);
  CHECK(step3.ffn(3).kind == FfnKind::dense);
  CHECK(step3.ffn(4).kind == FfnKind::moe);
  CHECK(step3.ffn(59).kind == FfnKind::moe);
  CHECK(step3.ffn(60).kind == FfnKind::dense);
  // Llama-4: NoPE layers 3, 7, ... attend globally with BF16 KV; MoE on odd layers.
  const Model l4 = load_model(hf_config("llama4-maverick"));
  CHECK(l4.attention(3).scope == AttentionScope::global);
  CHECK(cache_dtype(l4.attention(3), l4.quant) == Dtype::bf16);
  CHECK(l4.attention(2).scope == AttentionScope::chunked);
  CHECK(l4.attention(2).window_tokens == 8192);
  CHECK(cache_dtype(l4.attention(2), l4.quant) == Dtype::fp8);
  CHECK(l4.ffn(0).kind == FfnKind::dense);
  CHECK(l4.ffn(1).kind == FfnKind::moe);
  // gpt-oss: sliding 128-token window on even layers, full attention on odd ones.
  const Model oss = load_model(hf_config("gpt-oss-120b"));
  CHECK(oss.attention(0).scope == AttentionScope::sliding);
  CHECK(oss.attention(0).window_tokens == 128);
  CHECK(oss.attention(1).scope == AttentionScope::global);
  // 18 full layers x 2 x 8 x 64 KV elements at FP8 x 8192 tokens + 18 sliding layers x 128 tokens.
  CHECK(census(oss, 8192).kv_bytes == 18 * 1024.0 * 8192 + 18 * 1024.0 * 128);
  // Qwen1.5-MoE: one shared expert of 5632 beside 60 routed experts of 1408, top 4.
  const Model qmoe = load_model(hf_config("qwen1.5-moe-a2.7b"));
  CHECK(qmoe.ffn(0).shared_experts == 1);
  CHECK(qmoe.ffn(0).shared_intermediate == 5632);
  CHECK(model_sparsity(qmoe) == Approx((4 * 1408.0 + 5632) / (60 * 1408.0 + 5632)));
}

TEST_CASE("absent fields take the transformers classes' defaults", "[hf]") {
  // Qwen3Config: head_dim 128; Qwen2: hidden / heads.
  const std::string qwen = R"("hidden_size": 1024, "vocab_size": 100, "num_hidden_layers": 2,
                              "num_attention_heads": 16, "num_key_value_heads": 4, "intermediate_size": 3072)";
  const Config q3("{\"model_type\": \"qwen3\", " + qwen + "}");
  CHECK(load_model(q3.path).attention_types[0].head_dim == 128);
  const Config q2("{\"model_type\": \"qwen2\", " + qwen + "}");
  CHECK(load_model(q2.path).attention_types[0].head_dim == 64);
  // Qwen2: sliding window from max_window_layers on, only with use_sliding_window.
  const Config q2s("{\"model_type\": \"qwen2\", \"use_sliding_window\": true, \"sliding_window\": 512, \"max_window_layers\": 1, " +
                   qwen + "}");
  const Model sliding = load_model(q2s.path);
  CHECK(sliding.attention(0).scope == AttentionScope::global);
  CHECK(sliding.attention(1).scope == AttentionScope::sliding);
  CHECK(sliding.attention(1).window_tokens == 512);
  CHECK(sliding.attention(1).name == "sliding");
  // Llama: no num_key_value_heads means multi-head attention.
  const Config llama(R"({"model_type": "llama", "hidden_size": 512, "vocab_size": 100, "num_hidden_layers": 1,
                         "num_attention_heads": 8, "intermediate_size": 1024})");
  CHECK(load_model(llama.path).attention_types[0].kv_heads == 8);
  // Ernie4_5_MoeConfig ties the embeddings unless told otherwise.
  const Config ernie(R"({"model_type": "ernie4_5_moe", "hidden_size": 512, "vocab_size": 100, "num_hidden_layers": 3,
                         "num_attention_heads": 8, "num_key_value_heads": 2, "intermediate_size": 1024,
                         "moe_num_experts": 8, "moe_k": 2, "moe_intermediate_size": 128})");
  const Model e = load_model(ernie.path);
  CHECK(e.tie_embeddings);
  CHECK(e.ffn(0).kind == FfnKind::dense);  // moe_layer_start_index 1
  CHECK(e.ffn(1).kind == FfnKind::moe);
  CHECK(e.ffn(1).shared_experts == 2);     // moe_num_shared_experts 2
  // DeepseekV3Config: three dense layers first.
  const Config ds(R"({"model_type": "deepseek_v3", "hidden_size": 256, "vocab_size": 100, "num_hidden_layers": 5,
                      "num_attention_heads": 4, "q_lora_rank": null, "kv_lora_rank": 32, "qk_nope_head_dim": 16,
                      "qk_rope_head_dim": 8, "v_head_dim": 16, "intermediate_size": 512, "moe_intermediate_size": 64,
                      "n_routed_experts": 8, "num_experts_per_tok": 2})");
  const Model d = load_model(ds.path);
  CHECK(d.ffn(2).kind == FfnKind::dense);
  CHECK(d.ffn(3).kind == FfnKind::moe);
  CHECK(d.attention_types[0].q_lora_rank == 0);  // null: a full-rank query
  // Llama4TextConfig: without no_rope_layers, every 4th layer is NoPE; without
  // interleave_moe_layer_step, every layer is MoE.
  const Config l4(R"({"model_type": "llama4_text", "hidden_size": 512, "vocab_size": 100, "num_hidden_layers": 8,
                      "num_attention_heads": 8, "num_key_value_heads": 2, "head_dim": 64, "intermediate_size": 128,
                      "num_local_experts": 4, "num_experts_per_tok": 1})");
  const Model m4 = load_model(l4.path);
  for (int layer = 0; layer < 8; ++layer) {
    INFO(layer);
    CHECK(m4.attention(layer).scope == (layer % 4 == 3 ? AttentionScope::global : AttentionScope::chunked));
    CHECK(m4.ffn(layer).kind == FfnKind::moe);
  }
  // MiniMaxConfig (transformers): full attention on even layers, lightning on odd ones.
  const Config mm(R"({"model_type": "minimax", "hidden_size": 512, "vocab_size": 100, "num_hidden_layers": 4,
                      "num_attention_heads": 8, "num_key_value_heads": 2, "intermediate_size": 128,
                      "num_local_experts": 4, "num_experts_per_tok": 2})");
  const Model mini = load_model(mm.path);
  CHECK(mini.attention(0).kind == AttentionKind::gqa);
  CHECK(mini.attention(1).kind == AttentionKind::linear);
  CHECK(mini.attention(1).head_dim == 64);
  CHECK(mini.quant.kv == Dtype::bf16);
  // Mixtral: a sliding_window applies to every layer.
  const Config mx(R"({"model_type": "mixtral", "hidden_size": 512, "vocab_size": 100, "num_hidden_layers": 2,
                      "num_attention_heads": 8, "num_key_value_heads": 2, "intermediate_size": 128,
                      "num_local_experts": 4, "num_experts_per_tok": 2, "sliding_window": 4096})");
  CHECK(load_model(mx.path).attention(1).scope == AttentionScope::sliding);
}

TEST_CASE("import options replace the report's precisions", "[hf]") {
  HfImportOptions o;
  o.kv = Dtype::fp8;
  o.state = Dtype::bf16;
  o.weights = Dtype::bf16;
  const Model mm = load_hf_config(hf_config("minimax-m1"), o);
  CHECK(mm.quant.kv == Dtype::fp8);
  CHECK(mm.quant.state == Dtype::bf16);
  CHECK(mm.quant.weights == Dtype::bf16);
  CHECK(mm.quant.compute == Dtype::bf16);
  CHECK(mm.source.find("kv fp8") != std::string::npos);
  // 70 lightning layers: 64 x 128 x 128 BF16 state read and written back; 10 softmax layers of
  // 2 x 8 x 128 FP8 KV per token.
  CHECK(census(mm, 1000).kv_bytes == 70 * 2 * 64 * 128 * 128 * 2.0 + 10 * 2048.0 * 1000);
  // --kv also replaces Llama-4's BF16 NoPE layers.
  const Model l4 = load_hf_config(hf_config("llama4-maverick"), o);
  for (const AttentionSpec& a : l4.attention_types) CHECK(cache_dtype(a, l4.quant) == Dtype::fp8);
  o = {};
  o.id = "my-step3";
  CHECK(load_hf_config(hf_config("step3"), o).id == "my-step3");
  o.id = "My Step3";
  CHECK_THROWS_WITH(load_hf_config(hf_config("step3"), o), Catch::Contains("--id: expected lower-case letters"));
}

TEST_CASE("unknown model types and missing or mistyped fields: one line naming the file and field", "[hf]") {
  const std::string unknown = error_of(R"({"model_type": "falcon", "hidden_size": 4544})");
  CHECK_THAT(unknown, Catch::Contains("$.model_type: unsupported model_type \"falcon\""));
  for (const std::string& t : hf_model_types()) CHECK_THAT(unknown, Catch::Contains(t));

  auto without = [](const std::string& model, const std::string& field, const char* inside = nullptr) {
    nlohmann::json j = nlohmann::json::parse(test::read_file(hf_config(model)));
    (inside ? j[inside] : j).erase(field);
    return j.dump();
  };
  CHECK_THAT(error_of(without("deepseek-v3", "kv_lora_rank")), Catch::Contains("$.kv_lora_rank: missing required field"));
  CHECK_THAT(error_of(without("deepseek-v3", "hidden_size")), Catch::Contains("$.hidden_size: missing required field"));
  CHECK_THAT(error_of(without("deepseek-v3", "model_type")), Catch::Contains("$.model_type: missing required field"));
  CHECK_THAT(error_of(without("step3", "share_q_dim", "text_config")),
             Catch::Contains("$.text_config.share_q_dim: missing required field"));
  CHECK_THAT(error_of(without("step3", "text_config")), Catch::Contains("$.text_config: missing required field"));
  CHECK_THAT(error_of(R"({"model_type": "qwen3", "hidden_size": "1024"})"),
             Catch::Contains("$.hidden_size: expected a positive integer, got \"1024\""));
  const std::string base = R"("hidden_size": 512, "vocab_size": 100, "num_hidden_layers": 2, "intermediate_size": 128)";
  CHECK_THAT(error_of(R"({"model_type": "llama", "num_attention_heads": 8, "num_key_value_heads": 3, )" + base + "}"),
             Catch::Contains("$.num_key_value_heads: expected a divisor of num_attention_heads (8), got 3"));
  CHECK_THAT(error_of(R"({"model_type": "mixtral", "num_attention_heads": 8, "num_local_experts": 4, "num_experts_per_tok": 5, )" +
                      base + "}"),
             Catch::Contains("$.num_experts_per_tok: expected at most num_local_experts (4), got 5"));
  CHECK_THAT(error_of(R"({"model_type": "gpt_oss", "num_attention_heads": 8, "num_local_experts": 4, "num_experts_per_tok": 2,
                          "layer_types": ["full_attention", "chunked"], )" + base + "}"),
             Catch::Contains("$.layer_types[1]: expected full_attention or sliding_attention, got \"chunked\""));
  CHECK_THAT(error_of(R"({"model_type": "gpt_oss", "num_attention_heads": 8, "num_local_experts": 4, "num_experts_per_tok": 2,
                          "layer_types": ["full_attention"], )" + base + "}"),
             Catch::Contains("$.layer_types: expected a list of strings with one entry per layer (2)"));
  CHECK_THAT(error_of(R"({"model_type": "qwen3_moe", "num_attention_heads": 8, "num_experts": 4, "num_experts_per_tok": 2,
                          "moe_intermediate_size": 64, "mlp_only_layers": [0, 7], )" + base + "}"),
             Catch::Contains("$.mlp_only_layers: expected layer indices from 0 to 1"));
  CHECK_THAT(error_of(R"({"model_type": "minimax_m1", "num_attention_heads": 8, "num_local_experts": 4, "num_experts_per_tok": 2,
                          "attn_type_list": [0, 2], )" + base + "}"),
             Catch::Contains("$.attn_type_list[1]: expected 0 (lightning) or 1 (softmax), got 2"));
  CHECK_THAT(error_of(R"({"model_type": "llama", "num_attention_heads": 8, "hidden_size": 512, "vocab_size": 100,
                          "num_hidden_layers": 1000000000})"),
             Catch::Contains("$.num_hidden_layers: expected at most 1024 layers, got 1000000000"));
  CHECK_THAT(error_of("[1]"), Catch::Contains("$: expected an object"));
  // A folder without a config.json.
  test::TempDir empty;
  CHECK_THROWS_WITH(load_model(empty.path.string() + "/"), Catch::Contains("config.json: cannot read file"));
}
