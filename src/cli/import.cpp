// `decodesim import CONFIG --out models/NAME.json`: a Hugging Face config as a description.
#include <filesystem>

#include <fmt/format.h>

#include "cli/commands.hpp"
#include "decodesim/errors.hpp"
#include "decodesim/hf_import.hpp"
#include "decodesim/loader.hpp"

namespace decodesim::cli {

int import_command(const ImportOptions& o, std::ostream& out) {
  const std::filesystem::path file = o.out_file;
  if (file.extension() != ".json" || file.stem().empty())
    throw InputError(fmt::format("--out: expected a NAME.json file, got '{}'", printable(o.out_file, 256)));
  HfImportOptions opts;
  opts.id = o.id.empty() ? file.stem().string() : o.id;
  // A description's file is named after its id (docs/schema.md).
  if (opts.id != file.stem().string())
    throw InputError(fmt::format("--out: the file name ({}) must be the id ({}.json)", printable(file.filename().string(), 256),
                                 printable(opts.id)));
  auto precision = [](const std::string& name) { return name.empty() ? std::nullopt : dtype_named(name); };
  opts.weights = precision(o.weights), opts.kv = precision(o.kv), opts.state = precision(o.state);
  const Model m = load_hf_config(o.config, opts);
  // What is written must load: checked by the loader itself before anything is written.
  const std::string text = model_description_json(m);
  try {
    parse_model(text, file.string());
  } catch (const InputError& e) {
    throw InputError(fmt::format("import: the description would not load back, nothing written: {}", e.what()));
  }
  write_files(file.parent_path(), {{file.filename(), text}});
  out << fmt::format("wrote {}: {}, {} layers, {} attention and {} FFN designs\n", printable(o.out_file, 256), m.id, m.num_layers(),
                     m.attention_types.size(), m.ffn_types.size());
  return 0;
}

}  // namespace decodesim::cli
