// `decodesim layer`: one attention layer per GPU at a deployment shape (report Table 9).
#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/pipeline_setup.hpp"
#include "decodesim/errors.hpp"
#include "decodesim/layer.hpp"
#include "decodesim/limits.hpp"
#include "decodesim/loader.hpp"
#include "decodesim/writers.hpp"

namespace decodesim::cli {

int layer_command(const LayerOptions& o, Format f, const std::string& out_dir, std::ostream& out) {
  LayerShape shape;
  shape.batch = o.batch;
  shape.gpus = o.gpus;
  if (o.attention_parallel != "dp" && o.attention_parallel != "tp")
    throw InputError(fmt::format("--attention-parallel: '{}': expected dp or tp", o.attention_parallel));
  shape.parallel = o.attention_parallel == "dp" ? AttentionParallel::dp : AttentionParallel::tp;
  shape.attention_tp = o.attention_tp;
  shape.query_tokens = 1 + o.mtp;
  const std::vector<double> contexts = parse_contexts(o.context);

  CalibrationSet calibrations = timing_calibrations(o.timing, o.calibrations);
  const std::vector<Model> models = load_models(o.model);
  const std::vector<Hardware> chips = load_hardware_list(o.hardware, "--hardware");
  const double rows = double(models.size()) * double(chips.size()) * double(contexts.size());
  if (rows > double(limits::kMaxLayerRows))
    throw InputError(fmt::format("layer: {} models x {} chips x {} contexts is {:.0f} rows, more than the {} one run may give",
                                 models.size(), chips.size(), contexts.size(), rows, limits::kMaxLayerRows));
  std::vector<LayerResult> results;
  for (const Model& loaded : models) {
    const Model m = with_kv_option(loaded, o.kv_dtype);
    // Per model: a calibrated timer takes the model's weight and KV precisions.
    for (const Pool& pool : pools(calibrations, {o.hardware, "--hardware"}, m))
      for (double context : contexts) {
        shape.context_tokens = context;
        for (LayerResult& r : layer_times(m, pool, shape)) results.push_back(std::move(r));
      }
  }
  calibrations.check_used();
  Table summary = layer_table(results);
  summary.notes.push_back(timing_note(calibrations));
  std::vector<Table> tables = {summary, layer_ops_table(results)};
  if (!calibrations.carried().empty()) tables.push_back(calibration_carry_table(calibrations.carried()));
  emit(tables, f, out_dir, out);
  return 0;
}

}  // namespace decodesim::cli
