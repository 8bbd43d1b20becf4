// One input document through its loader and, when it loads, through the analyses that use what
// it holds. Shared by the fixed-seed mutation test (tests/test_fuzz.cpp) and the libFuzzer
// target (tests/fuzz/fuzz_loaders.cpp). Bad input must end in InputError; anything else a
// loaded value makes the analyses do wrong (a NaN, an infinity, a negative count) is reported as
// std::logic_error, so the callers can tell "refused" from "accepted and then misbehaved".
#pragma once
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "decodesim/budget.hpp"
#include "decodesim/census.hpp"
#include "decodesim/cost.hpp"
#include "decodesim/hf_import.hpp"
#include "decodesim/loader.hpp"
#include "decodesim/network.hpp"
#include "decodesim/pipeline.hpp"
#include "decodesim/plots.hpp"
#include "decodesim/report.hpp"
#include "decodesim/search.hpp"
#include "decodesim/writers.hpp"

namespace fuzz {

enum class Kind { model, hardware, scenario, calibration };

inline void expect(bool ok, const std::string& what) {
  if (!ok) throw std::logic_error("loaded input gives " + what);
}

// Finite and >= 0: every figure below is a count, a size, a time or a price.
inline void expect_figure(double v, const char* what) { expect(std::isfinite(v) && v >= 0, std::string("a bad ") + what); }

inline void check_model(const decodesim::Model& m, const decodesim::Hardware& chip) {
  using namespace decodesim;
  expect(m.num_layers() >= 1 && m.layer_attention.size() == m.layer_ffn.size(), "no layers");
  for (double context : {1.0, 8192.0, double(limits::kContextTokens.hi)}) {
    const Census c = census(m, context);
    for (double v : {c.kv_bytes, c.attention_flops, c.linear_flops, c.ffn_flops, c.arithmetic_intensity()})
      expect_figure(v, "census figure");
    const TokenCost t = token_cost(c, unit_cost(chip, m.quant.compute));
    expect_figure(t.total_usd(), "token cost");
    const AttentionBudget a = attention_budget(chip, m, context, {});
    for (double v : {a.max_batch, a.max_tokens, a.kv_capacity_batch}) expect_figure(v, "attention budget");
  }
  const ParamCount p = count_params(m);
  for (double v : {p.total, p.activated, p.attention, p.ffn_total}) expect_figure(v, "parameter count");
  const double s = model_sparsity(m);
  expect(s > 0 && s <= 1, "a sparsity outside (0, 1]");
  const FfnBudget f = ffn_budget(chip, m, 0, {});
  for (double v : {f.cards, f.batch_tokens, f.flops_per_layer}) expect_figure(v, "FFN budget");
}

inline void check_chip(const decodesim::Hardware& h, const decodesim::Model& m) {
  using namespace decodesim;
  const UnitCost u = unit_cost(h, m.quant.compute);
  expect(u.usd_per_flop > 0 && u.usd_per_byte > 0 && std::isfinite(u.usd_per_flop) && std::isfinite(u.usd_per_byte),
         "a bad unit cost");
  const SparsityRow r = sparsity_limits(h, m.quant, m.hidden_size, m.num_layers(), model_sparsity(m), {});
  for (double v : {r.b_dense_tokens, r.b_moe_tokens, r.min_sparsity, r.comm_ms_all_layers}) expect_figure(v, "sparsity limit");
  const FfnBudget f = ffn_budget(h, m, 0, {});
  for (double v : {f.cards, f.cards_for_bandwidth, f.cards_for_compute, f.cards_for_capacity}) expect_figure(v, "card count");
  // The served pipeline: one simulation and the batch search, which sizes memory in requests.
  PipelineConfig c;
  c.deployment = parse_deployment("1A1F");
  c.batch = 64;
  const Pool pool{h, nullptr};
  const PipelineResult sim = simulate(m, pool, pool, c);
  for (double v : {sim.tpot_ms, sim.tgs, sim.usd_per_mtok}) expect_figure(v, "simulated figure");
  if (const auto plan = largest_batch(m, pool, pool, c)) expect_figure(plan->result.config.batch, "batch");
}

// What decodesim writes, its loader reads back: a model as `import` writes it (the same census),
// a calibration as `calibrate --refit` fits it. A refusal here is the writer's fault.
template <class Load>
inline auto reads_back(Load load, const std::string& what) {
  try {
    return load();
  } catch (const decodesim::InputError& e) {
    throw std::logic_error(what + " as written is refused by the loader: " + e.what());
  }
}

inline void check_model_round_trip(const decodesim::Model& m) {
  using namespace decodesim;
  const Model back = reads_back([&] { return parse_model(model_description_json(m), "models/" + m.id + ".json"); }, "the model");
  const Census a = census(m, 8192), b = census(back, 8192);
  expect(a.kv_bytes == b.kv_bytes && a.attention_flops == b.attention_flops && a.linear_flops == b.linear_flops &&
             a.ffn_flops == b.ffn_flops,
         "a different census once written and read back");
}

// The refit is the costly part (a few ms per op class): `samples` of them at most.
inline void check_refit_round_trip(decodesim::Calibration c, size_t samples) {
  using namespace decodesim;
  if (c.samples.size() > samples) c.samples.resize(samples);
  c.fits = fit_all(c.samples, c.copy_bytes_per_s, c.gemm_bf16_flops_per_s, c.gemm_fp8_flops_per_s, 4);
  if (c.fits.empty()) return;  // calibrate writes nothing then
  reads_back([&] { return parse_calibration(calibration_json(c), "calibrated/refit.json"); }, "the refit calibration");
}

// Loads `text` as `kind`, named `file` (whose stem must equal the id), and checks what loads.
inline void load_checked(Kind kind, const std::string& text, const std::string& file) {
  using namespace decodesim;
  static const Model step3 = load_model("step3");
  static const Hardware h800 = load_hardware("h800");
  switch (kind) {
    case Kind::model: {
      const Model m = parse_model(text, file);
      check_model(m, h800);
      check_model_round_trip(m);
      break;
    }
    case Kind::hardware: check_chip(parse_hardware(text, file), step3); break;
    case Kind::scenario: {
      Scenario s = parse_scenario(text, file);
      // The plan analysis searches hundreds of deployments: the chips are checked above instead.
      std::erase(s.analyses, Analysis::plan);
      report_plots(s);
      for (const Table& t : scenario_tables(s))
        for (const auto& row : t.rows)
          for (const Cell& cell : row)
            if (const double* v = std::get_if<double>(&cell)) expect(!std::isnan(*v), "a NaN in table " + t.name);
      break;
    }
    case Kind::calibration: {
      const Calibration c = parse_calibration(text, file);
      const Hardware calibrated = apply_calibration(h800, c);
      expect_figure(calibrated.mem_bytes_per_s, "calibrated bandwidth");
      const Pool pool{h800, std::make_shared<CalibratedTimer>(h800, step3.quant, c)};
      PipelineConfig config;
      config.deployment = parse_deployment("1A1F");
      config.batch = 64;
      expect_figure(simulate(step3, pool, pool, config).tpot_ms, "calibrated TPOT");
      check_refit_round_trip(c, 64);
      break;
    }
  }
}

}  // namespace fuzz
