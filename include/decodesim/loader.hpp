// The one place JSON is read and validated. Everything else takes the structs.
#pragma once
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "decodesim/errors.hpp"
#include "decodesim/hardware.hpp"
#include "decodesim/model.hpp"
#include "decodesim/scenario.hpp"

namespace decodesim {

// Folders searched for models/<id>.json, hardware/<id>.json, scenarios/<id>.json:
// $DECODESIM_DATA (if set), then the source tree the binary was built from.
std::vector<std::filesystem::path> data_dirs();

// `spec` is an id ("step3"), a path to a JSON file ("./my-model.json"), or a Hugging Face
// config.json or the folder holding one (see hf_import.hpp). Throws InputError.
Model load_model(const std::string& spec);
Hardware load_hardware(const std::string& spec);
Scenario load_scenario(const std::string& spec);
// Ids of every file in the data folders' models/ (or hardware/) folder, sorted.
std::vector<std::string> known_ids(const std::string& folder);

// "fp8" -> Dtype::fp8; none for a name that is no precision.
std::optional<Dtype> dtype_named(const std::string& name);

// "a,b,,c" -> {a, b, c}.
std::vector<std::string> split_list(const std::string& comma_separated);

// Comma-separated ids/paths, each loaded.
std::vector<Model> load_models(const std::string& csv_specs);
std::vector<Hardware> load_hardware_list(const std::string& csv_specs);

// "8192,32k,1m" or ranges "8k:1m:x2" (geometric) and "8k:64k:+8k" (arithmetic).
std::vector<double> parse_contexts(const std::string& text);

}  // namespace decodesim

#include "decodesim/calibration.hpp"

namespace decodesim {
// A calibrated hardware file written by `decodesim calibrate` (see docs/schema.md).
Calibration load_calibration(const std::string& path);
// The calibration decodesim ships, hardware/calibrated/h100.json in the data folders: its own
// kernels measured on an NVIDIA H100 80GB HBM3, which calibrated timing carries to every chip.
std::string shipped_calibration_path();
}  // namespace decodesim

#include "decodesim/validation.hpp"

namespace decodesim {
// The pipeline bench's runs (its CSV: deployment, model, gpus, context, batch, micro_batches,
// layers, kv_dtype, measured_tpot_ms, ...). Throws InputError naming the file, line and column.
std::vector<ServedRun> load_served_runs(const std::string& csv_path);
}  // namespace decodesim
