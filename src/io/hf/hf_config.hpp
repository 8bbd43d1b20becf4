// Reading Hugging Face config.json files: a field reader shared by the per-family readers
// (deepseek.cpp, qwen.cpp, llama.cpp, ...), what a reader produces, and the registry that picks
// a reader by model_type. Internal to src/io; the public entry points are in hf_import.hpp.
#pragma once
#include <algorithm>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "../json_reader.hpp"
#include "decodesim/hf_import.hpp"
#include "decodesim/model.hpp"

namespace decodesim::io::hf {

// One object of a config (the file, or its text_config). Field names and defaults are those of
// the transformers configuration class; a field whose class default is some example model's
// size is required, one whose default is a rule (head_dim = hidden / heads) takes the default.
// Unknown fields are normal in a published config and are ignored; every field read is
// remembered for the description's `source`.
class Fields {
 public:
  Fields(const json& j, std::string file, std::string path);

  bool has(const std::string& key) const;  // present and not null
  long required(const std::string& key);   // a positive integer
  long required_count(const std::string& key);  // an integer >= 0 (a width that may be 0: none)
  long or_default(const std::string& key, long dflt);    // absent or null: dflt; else a positive integer
  long nonneg_or(const std::string& key, long dflt);     // absent or null: dflt; else an integer >= 0
  long integer_or(const std::string& key, long dflt);    // absent or null: dflt; else any integer
  // absent: dflt; null: none (the field switches a feature off); else a positive integer.
  std::optional<long> nullable_or(const std::string& key, std::optional<long> dflt);
  bool flag_or(const std::string& key, bool dflt);
  // Layer indices below `layers`: a list, or a comma-separated string ("4,5,6"); absent or null: none.
  std::vector<int> layer_list(const std::string& key, int layers);
  // One entry per layer (at least `layers`, as transformers reads them); absent or null: empty.
  std::vector<std::string> strings_per_layer(const std::string& key, int layers);
  std::vector<long> ints_per_layer(const std::string& key, int layers);
  std::string model_type();
  Fields sub(const std::string& key);  // a required nested object (text_config)

  [[noreturn]] void fail(const std::string& key, const std::string& what) const;
  const std::string& file() const { return reader_.file(); }
  // "hidden_size 7168, num_hidden_layers 61, ..." in the order read, nested objects included.
  std::string used() const;

 private:
  const json& get(const std::string& key);  // records the field as used
  const json& j_;
  ObjectReader reader_;  // for the file and JSON path in messages
  std::string prefix_;   // "text_config." for a nested object
  std::shared_ptr<std::vector<std::string>> used_;
};

// What a reader makes of a config: one attention and one FFN design per layer, and the
// report's precision convention for the family.
struct Layers {
  long hidden_size = 0;
  long vocab_size = 0;
  bool tie_embeddings = false;
  std::vector<AttentionSpec> attention;  // per layer; the name says which design it is
  std::vector<FfnSpec> ffn;              // per layer
  Quantization quant;
};

// Building blocks shared by the readers. `name` names the design in the description.
// num_attention_heads, num_key_value_heads (absent: as many as query heads) and head_dim
// (absent: head_dim_default, or hidden / heads where that is 0).
AttentionSpec gqa(Fields& c, const std::string& name, long hidden_size, long head_dim_default);
AttentionSpec with_window(AttentionSpec a, AttentionScope scope, long window_tokens);
FfnSpec dense(const std::string& name, long intermediate);
// Routed experts and top-k from the named fields; `shared` always-active experts of `shared_width`.
FfnSpec moe(Fields& c, const std::string& name, const std::string& experts_key, const std::string& top_k_key,
            long width, long shared = 0, long shared_width = 0);
// hidden_size, vocab_size and tie_word_embeddings (absent: tie_default), as every family names them.
Layers layers_of(Fields& c, bool tie_default);
int layer_count(Fields& c);  // num_hidden_layers
inline bool listed(const std::vector<int>& layers, int layer) {
  return std::find(layers.begin(), layers.end(), layer) != layers.end();
}
// Per layer: `routed` where is_moe(layer), else a dense MLP as wide as `dense_key` says (read
// only when some layer is dense).
template <class IsMoe>
std::vector<FfnSpec> ffn_per_layer(Fields& c, int layers, IsMoe is_moe, const FfnSpec& routed, const std::string& dense_key) {
  std::vector<FfnSpec> out;
  std::optional<FfnSpec> mlp;
  for (int l = 0; l < layers; ++l) {
    if (!is_moe(l) && !mlp) mlp = dense("dense", c.required(dense_key));
    out.push_back(is_moe(l) ? routed : *mlp);
  }
  return out;
}
// Which layers attend within a sliding window: layer_types where the config has it
// ("sliding_attention" / "full_attention"), else the class's rule.
template <class Rule>
std::vector<bool> sliding_layers(Fields& c, int layers, Rule rule) {
  std::vector<bool> sliding(layers);
  const std::vector<std::string> types = c.strings_per_layer("layer_types", layers);
  for (int l = 0; l < layers; ++l) {
    if (types.empty()) {
      sliding[l] = rule(l);
    } else if (types[l] == "sliding_attention" || types[l] == "full_attention") {
      sliding[l] = types[l] == "sliding_attention";
    } else {
      c.fail(fmt::format("layer_types[{}]", l), fmt::format("expected full_attention or sliding_attention, got \"{}\"", types[l]));
    }
  }
  return sliding;
}

// A parsed JSON object that is a Hugging Face config rather than a description of ours.
bool is_hf_config(const json& j);
Model model_from_hf(const json& j, const std::filesystem::path& file, const HfImportOptions& options);

// One reader per model_type family (deepseek.cpp, qwen.cpp, ...), picked by name from the
// table in registry.cpp; nullptr for a model_type no reader knows.
using Reader = Layers (*)(Fields& config);
Reader reader_for(const std::string& model_type);
Layers read_deepseek(Fields& c);
Layers read_qwen2(Fields& c);
Layers read_qwen3(Fields& c);
Layers read_qwen2_moe(Fields& c);
Layers read_qwen3_moe(Fields& c);
Layers read_llama(Fields& c);
Layers read_llama4_text(Fields& c);
Layers read_mixtral(Fields& c);
Layers read_step3_text(Fields& c);
Layers read_ernie4_5_moe(Fields& c);
Layers read_minimax_m1(Fields& c);
Layers read_minimax(Fields& c);
Layers read_gpt_oss(Fields& c);
Layers read_pangu_pro_moe(Fields& c);
// Multimodal configs (llama4, step3_vl) keep the language model in text_config.
template <Reader read_text>
Layers from_text_config(Fields& c) {
  Fields text = c.sub("text_config");
  return read_text(text);
}

}  // namespace decodesim::io::hf
