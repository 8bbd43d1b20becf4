#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>

#include "decodesim/loader.hpp"
#include "decodesim/writers.hpp"
#include "json_reader.hpp"

namespace decodesim {

using io::json;
using io::ObjectReader;

std::string calibration_json(const Calibration& c) {
  nlohmann::ordered_json j;
  j["_note"] = "written by `decodesim calibrate`; fits: time_us = launch_us + ((bytes/bytes_per_s)^p + (flops/flops_per_s)^p)^(1/p) * 1e6";
  j["hardware"] = c.hardware_id;
  j["device"] = c.device;
  j["copy_bytes_per_s"] = c.copy_bytes_per_s;
  j["gemm_bf16_flops_per_s"] = c.gemm_bf16_flops_per_s;
  if (c.gemm_fp8_flops_per_s > 0) j["gemm_fp8_flops_per_s"] = c.gemm_fp8_flops_per_s;
  j["fits"] = nlohmann::ordered_json::array();
  for (const EfficiencyFit& f : c.fits) {
    nlohmann::ordered_json o;
    o["op_class"] = f.op_class;
    o["dtype"] = f.dtype;
    o["launch_us"] = f.launch_us;
    o["bytes_per_s"] = f.bytes_per_s;
    o["flops_per_s"] = f.flops_per_s;
    o["p"] = f.p;
    o["train_samples"] = f.train_samples;
    o["holdout_samples"] = f.holdout_samples;
    o["train_median_error"] = f.train_median_error;
    o["holdout_median_error"] = f.holdout_median_error;
    j["fits"].push_back(o);
  }
  j["measurements"] = nlohmann::ordered_json::array();
  for (const Sample& s : c.samples) {
    nlohmann::ordered_json o;
    o["op_class"] = s.op_class;
    o["dtype"] = s.dtype;
    o["label"] = s.label;
    o["m"] = s.m, o["n"] = s.n, o["k"] = s.k;
    o["flops"] = s.flops;
    o["bytes"] = s.bytes;
    o["time_us"] = s.time_us;
    o["rel_error"] = s.rel_error;
    j["measurements"].push_back(o);
  }
  return j.dump(1) + "\n";
}

Calibration load_calibration(const std::string& path) {
  const json j = io::parse_json_file(path);
  ObjectReader r(j, path, "$");
  Calibration c;
  c.hardware_id = r.string("hardware");
  c.device = r.string("device");
  c.copy_bytes_per_s = r.positive("copy_bytes_per_s");
  c.gemm_bf16_flops_per_s = r.positive("gemm_bf16_flops_per_s");
  c.gemm_fp8_flops_per_s = r.opt_positive("gemm_fp8_flops_per_s").value_or(0);
  const json& fits = r.array("fits");
  for (size_t i = 0; i < fits.size(); ++i) {
    ObjectReader f(fits[i], path, fmt::format("$.fits[{}]", i));
    EfficiencyFit e;
    e.op_class = f.string("op_class");
    e.dtype = f.string("dtype");
    e.launch_us = f.positive("launch_us");
    e.bytes_per_s = f.positive("bytes_per_s");
    e.flops_per_s = f.positive("flops_per_s");
    e.p = f.positive("p");
    if (e.p < 1) f.fail_value("p", "a number >= 1", json(e.p));
    e.train_samples = static_cast<int>(f.positive_int("train_samples"));
    e.holdout_samples = static_cast<int>(f.opt_nonneg_int("holdout_samples", 0));
    e.train_median_error = f.raw("train_median_error").is_number() ? f.raw("train_median_error").get<double>() : -1;
    e.holdout_median_error = f.raw("holdout_median_error").is_number() ? f.raw("holdout_median_error").get<double>() : -1;
    f.finish();
    c.fits.push_back(e);
  }
  if (r.has("measurements")) {
    const json& ms = r.raw("measurements");
    if (!ms.is_array()) r.fail_value("measurements", "an array", ms);
    for (size_t i = 0; i < ms.size(); ++i) {
      ObjectReader m(ms[i], path, fmt::format("$.measurements[{}]", i));
      Sample s;
      s.op_class = m.string("op_class");
      s.dtype = m.string("dtype");
      s.label = m.string("label");
      auto num = [&](const char* k) {
        const json& v = m.raw(k);
        if (!v.is_number() || !std::isfinite(v.get<double>())) m.fail_value(k, "a finite number", v);
        return v.get<double>();
      };
      s.m = num("m"), s.n = num("n"), s.k = num("k");
      s.flops = num("flops"), s.bytes = num("bytes");
      s.time_us = m.positive("time_us");
      s.rel_error = num("rel_error");
      m.finish();
      c.samples.push_back(s);
    }
  }
  r.finish();
  return c;
}

Table calibration_fits_table(const Calibration& c) {
  Table t{"calibration_fits", fmt::format("Efficiency fits for {} on {}", c.hardware_id, c.device), {}, {}, {}};
  t.columns = {{"op_class", ""},  {"dtype", ""},           {"launch_us", "us"},       {"bytes_per_s", "B/s"},
               {"flops_per_s", "FLOP/s"}, {"p", ""},       {"train_samples", ""},     {"holdout_samples", ""},
               {"train_median_error", ""}, {"holdout_median_error", ""}};
  for (const EfficiencyFit& f : c.fits)
    t.add({f.op_class, f.dtype, f.launch_us, f.bytes_per_s, f.flops_per_s, f.p, double(f.train_samples),
           double(f.holdout_samples), f.train_median_error, f.holdout_median_error});
  return t;
}

Table calibration_carry_table(const std::vector<const Calibration*>& calibrations) {
  Table t{"calibration_carry", "Fits carried from the measured chip: fractions of each chip's datasheet bandwidth and peak", {}, {}, {}};
  t.columns = {{"measured_on", ""},        {"hardware", ""},          {"op_class", ""},         {"dtype", ""},
               {"bytes_efficiency", ""},   {"bytes_from", ""},        {"flops_efficiency", ""}, {"flops_from", ""},
               {"bytes_per_s", "B/s"},     {"flops_per_s", "FLOP/s"}, {"launch_us", "us"}};
  for (const Calibration* c : calibrations)
    for (size_t i = 0; i < c->carried.size() && i < c->fits.size(); ++i) {
      const FitCarry& k = c->carried[i];
      const EfficiencyFit& f = c->fits[i];
      t.add({c->measured_on(), c->hardware_id, k.op_class, k.dtype, k.bytes_efficiency, k.bytes_from.empty() ? "fit" : k.bytes_from,
             k.flops_efficiency, k.flops_from.empty() ? "fit" : k.flops_from, f.bytes_per_s, f.flops_per_s, f.launch_us});
    }
  t.notes.push_back("fit: the side the measurements exercised (folded with the other at the median shape where only one was); "
                    "otherwise the fit or ceiling whose fraction it took (docs/calibration.md).");
  return t;
}

Table calibration_samples_table(const Calibration& c) {
  Table t{"calibration_samples", "Measured kernels and the fitted prediction", {}, {}, {}};
  t.columns = {{"op_class", ""}, {"dtype", ""},      {"label", ""},         {"flops", "FLOP"},
               {"bytes", "B"},   {"time_us", "us"},  {"predicted_us", "us"}, {"achieved_bytes_per_s", "B/s"},
               {"achieved_flops_per_s", "FLOP/s"},   {"rel_error", ""}};
  for (const Sample& s : c.samples) {
    const EfficiencyFit* f = c.find(s.op_class, s.dtype);
    const double pred = f ? f->predict_us(s.flops, s.bytes) : -1;
    t.add({s.op_class, s.dtype, s.label, s.flops, s.bytes, s.time_us, pred, s.bytes / (s.time_us * 1e-6),
           s.flops / (s.time_us * 1e-6), s.rel_error});
  }
  return t;
}

}  // namespace decodesim
