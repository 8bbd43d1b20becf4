// libFuzzer target over the loaders and what uses their results (fuzz/load_checked.hpp).
// Input: one byte choosing model, chip, scenario or calibration, then the document, which is
// named after its own id so that the id check does not stop every mutant. InputError is the
// expected answer to bad input; any other exception, a sanitizer report or a crash is a finding.
// Built with -DDECODESIM_FUZZ=ON under clang (see tests/fuzz/README.md).
#include <cstddef>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "load_checked.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static const char* folders[] = {"models", "hardware", DECODESIM_SOURCE_DIR "/scenarios", "calibrated"};
  const int kind = data[0] % 4;
  const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::string id = "fuzz";
  // Only to name the file; nlohmann's parser and destructor do not recurse.
  const nlohmann::json doc = nlohmann::json::parse(text, nullptr, false);
  if (doc.is_object() && doc.contains("id") && doc["id"].is_string()) id = doc["id"].get<std::string>();
  try {
    fuzz::load_checked(static_cast<fuzz::Kind>(kind), text, std::string(folders[kind]) + "/" + id + ".json");
  } catch (const decodesim::InputError&) {
  }
  return 0;
}
