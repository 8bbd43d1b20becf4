// bench/published.json: the published figures `decodesim validate` reproduces.
#include <fmt/format.h>

#include "decodesim/errors.hpp"
#include "decodesim/limits.hpp"
#include "decodesim/loader.hpp"
#include "decodesim/published.hpp"
#include "json_reader.hpp"

namespace decodesim {

using io::json;

std::vector<PublishedFigure> load_published_figures(const std::string& path) {
  const json doc = io::parse_json_file(path);
  io::ObjectReader top(doc, path, "$");
  top.opt_string("_note");
  const json& list = top.array("figures", 1000);
  top.finish();
  std::vector<PublishedFigure> out;
  for (size_t i = 0; i < list.size(); ++i) {
    io::ObjectReader r(list[i], path, fmt::format("$.figures[{}]", i));
    PublishedFigure f;
    f.figure = r.string("figure"), f.label = r.string("case"), f.source = r.string("source");
    const std::string kind = r.string("kind");
    f.measured = r.number("measured", {0, 1e12, true});
    f.hardware = r.string("hardware");
    if (kind == "simulate" || kind == "layer") {
      f.kind = kind == "simulate" ? FigureKind::simulate : FigureKind::layer;
      f.model = r.string("model");
      f.metric = r.string("metric");
      f.context = r.number("context", {1, double(limits::kContextTokens.hi), false});
      f.kv_dtype = r.opt_string("kv_dtype").value_or("");
      if (f.kind == FigureKind::simulate) {
        f.deployment = r.string("deployment");
        f.batch = r.opt_number("batch", limits::kTokens).value_or(0);
        f.micro_batches = static_cast<int>(r.opt_integer("micro_batches", limits::kMicroBatches, 0));
        f.redundant_experts = r.opt_integer("redundant_experts", limits::kExperts, 0);
        if (f.metric != "tgs" && f.metric != "tpot_ms") r.fail_value("metric", "tgs or tpot_ms", r.raw("metric"));
      } else {
        f.gpus = static_cast<int>(r.integer("gpus", limits::kGpus));
        f.batch = r.number("batch", limits::kTokens);
        f.attention_tp = static_cast<int>(r.integer("attention_tp", limits::kGpus));
        if (f.metric != "attention_layer_us") r.fail_value("metric", "attention_layer_us", r.raw("metric"));
      }
    } else if (kind == "deepep") {
      f.kind = FigureKind::deepep;
      f.ep_gpus = static_cast<int>(r.integer("ep_gpus", limits::kGpus));
      const std::string dir = r.string("direction");
      if (dir != "dispatch" && dir != "combine") r.fail_value("direction", "dispatch or combine", r.raw("direction"));
      f.metric = dir + "_us";
    } else if (kind == "prefill") {
      f.kind = FigureKind::prefill;
      f.model = r.string("model");
      f.deployment = r.string("deployment");
      f.input_tokens = r.number("input_tokens", {1, double(limits::kContextTokens.hi), false});
      f.batch_tokens = r.number("batch_tokens", limits::kTokens);
      f.micro_batches = static_cast<int>(r.integer("micro_batches", limits::kMicroBatches));
      f.redundant_experts = r.opt_integer("redundant_experts", limits::kExperts, 0);
      f.expert_imbalance = r.opt_number("expert_imbalance", limits::kExpertImbalance).value_or(0);
      f.metric = r.string("metric");
      if (f.metric != "input_tokens_per_s_per_node") r.fail_value("metric", "input_tokens_per_s_per_node", r.raw("metric"));
    } else {
      r.fail_value("kind", "simulate, layer, deepep or prefill", r.raw("kind"));
    }
    r.finish();
    out.push_back(std::move(f));
  }
  return out;
}

}  // namespace decodesim
