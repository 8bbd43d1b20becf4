// The one place JSON is read and validated. Everything else takes the structs.
#pragma once
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "decodesim/errors.hpp"
#include "decodesim/hardware.hpp"
#include "decodesim/limits.hpp"
#include "decodesim/model.hpp"
#include "decodesim/published.hpp"
#include "decodesim/scenario.hpp"
#include "decodesim/serving.hpp"
#include "decodesim/sweep.hpp"

namespace decodesim {

// Folders searched for models/<id>.json, hardware/<id>.json, scenarios/<id>.json:
// $DECODESIM_DATA (if set), then the source tree the binary was built from.
std::vector<std::filesystem::path> data_dirs();
// A file of the data folders by its path inside them ("bench/published.json"). Throws InputError.
std::string data_file(const std::string& relative);

// `spec` is an id ("step3"), a path to a JSON file ("./my-model.json"), or a Hugging Face
// config.json or the folder holding one (see hf_import.hpp). Throws InputError.
Model load_model(const std::string& spec);
Hardware load_hardware(const std::string& spec);
Scenario load_scenario(const std::string& spec);
// A serving stack (serving/<id>.json, docs/schema.md): every key optional, defaults in ServingStack.
ServingStack load_serving_stack(const std::string& spec);
ServingStack parse_serving_stack(const std::string& json_text, const std::string& file);
// The same from a document's text; `file` names it in errors, and its stem must equal the id.
Model parse_model(const std::string& json_text, const std::string& file);
Hardware parse_hardware(const std::string& json_text, const std::string& file);
Scenario parse_scenario(const std::string& json_text, const std::string& file);
// The ranges the description loader holds each field to (docs/schema.md), for a model built
// another way (a Hugging Face config). Throws InputError naming `file` and the field.
void check_model_ranges(const Model& m, const std::string& file);
// Ids of every file in the data folders' models/ (or hardware/) folder that an id can name, sorted.
std::vector<std::string> known_ids(const std::string& folder);

// "fp8" -> Dtype::fp8; none for a name that is no precision.
std::optional<Dtype> dtype_named(const std::string& name);

// "a,b,,c" -> {a, b, c}.
std::vector<std::string> split_list(const std::string& comma_separated);

// Comma-separated ids/paths, each loaded; at most limits::kMaxListItems, no id twice.
// `option` names the list in errors.
std::vector<Model> load_models(const std::string& csv_specs, const std::string& option = "--model");
std::vector<Hardware> load_hardware_list(const std::string& csv_specs, const std::string& option = "--hardware");

// calibrate --only: "prefill,mtp" -> those sweep families, each once; "" or "all" -> every one.
std::vector<SweepFamily> parse_sweep_families(const std::string& list);

// "8192,32k,1m" or ranges "8k:1m:x2" (geometric) and "8k:64k:+8k" (arithmetic): whole token
// counts in limits::kContextTokens, at most limits::kMaxContexts of them, none twice.
std::vector<double> parse_contexts(const std::string& text);


}  // namespace decodesim

#include "decodesim/calibration.hpp"

namespace decodesim {
// A calibrated hardware file written by `decodesim calibrate` (see docs/schema.md).
Calibration load_calibration(const std::string& path);
Calibration parse_calibration(const std::string& json_text, const std::string& file);
// The calibration decodesim ships, hardware/calibrated/h100.json in the data folders: its own
// kernels measured on an NVIDIA H100 80GB HBM3, which calibrated timing carries to every chip.
std::string shipped_calibration_path();
}  // namespace decodesim

#include "decodesim/validation.hpp"

namespace decodesim {
// The pipeline bench's runs (its CSV: deployment, model, gpus, context, batch, micro_batches,
// layers, kv_dtype, measured_tpot_ms, ...). Throws InputError naming the file, line and column.
std::vector<ServedRun> load_served_runs(const std::string& csv_path);
// The published figures `decodesim validate` reproduces (bench/published.json; docs/schema.md).
std::vector<PublishedFigure> load_published_figures(const std::string& path);
}  // namespace decodesim
