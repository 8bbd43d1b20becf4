// Which reader a config's model_type picks. A new family: a reader file beside these and one
// line here.
#include "hf_config.hpp"

namespace decodesim::io::hf {

namespace {
struct Family {
  const char* model_type;
  Reader read;
};
constexpr Family kFamilies[] = {
    {"deepseek_v3", read_deepseek},
    {"kimi_k2", read_deepseek},
    {"qwen2", read_qwen2},
    {"qwen3", read_qwen3},
    {"qwen2_moe", read_qwen2_moe},
    {"qwen3_moe", read_qwen3_moe},
    {"llama", read_llama},
    {"llama4", from_text_config<read_llama4_text>},
    {"llama4_text", read_llama4_text},
    {"mixtral", read_mixtral},
    {"step3_vl", from_text_config<read_step3_text>},
    {"step3_text", read_step3_text},
    {"ernie4_5_moe", read_ernie4_5_moe},
    {"minimax_m1", read_minimax_m1},
    {"minimax", read_minimax},
    {"gpt_oss", read_gpt_oss},
    {"PanguProMoE", read_pangu_pro_moe},
};
}  // namespace

Reader reader_for(const std::string& model_type) {
  for (const Family& f : kFamilies)
    if (model_type == f.model_type) return f.read;
  return nullptr;
}

}  // namespace decodesim::io::hf

namespace decodesim {

std::vector<std::string> hf_model_types() {
  std::vector<std::string> types;
  for (const auto& f : io::hf::kFamilies) types.emplace_back(f.model_type);
  return types;
}

}  // namespace decodesim
