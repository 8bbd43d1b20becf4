// Hugging Face config.json files as model descriptions: one more way in to the same Model.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "decodesim/model.hpp"

namespace decodesim {

struct HfImportOptions {
  std::string id;  // empty: the config's folder name (or the file's stem when not config.json)
  // Precisions replacing the report's convention (8-bit weights and KV; official precisions
  // where the report keeps them). weights also sets the compute precision; kv and state also
  // replace any per-design precision.
  std::optional<Dtype> weights, kv, state;
};

// A config.json as published (or a folder holding one), read by the reader its model_type
// names. Throws InputError naming the file and the field.
Model load_hf_config(const std::string& path, const HfImportOptions& options = {});

// The model_type values a config may carry.
std::vector<std::string> hf_model_types();

// The description in decodesim's own schema, as pretty JSON (what `decodesim import` writes).
std::string model_description_json(const Model& m);

}  // namespace decodesim
