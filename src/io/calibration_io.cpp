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

namespace {

namespace lim = limits;

// -1 (not measured) or a finite relative error.
double error_or_none(ObjectReader& r, const std::string& key) {
  const json& v = r.raw(key);
  if (v.is_number() && v.get<double>() == -1) return -1;
  return r.number(key, lim::kRelativeError);
}

Calibration calibration_from(const json& j, const std::string& file) {
  ObjectReader r(j, file, "$");
  Calibration c;
  c.hardware_id = r.name("hardware");
  c.device = r.string("device");
  c.copy_bytes_per_s = r.number("copy_bytes_per_s", lim::kBytesPerSecond);
  c.gemm_bf16_flops_per_s = r.number("gemm_bf16_flops_per_s", lim::kFlopsPerSecond);
  c.gemm_fp8_flops_per_s = r.opt_number("gemm_fp8_flops_per_s", lim::kFlopsPerSecond).value_or(0);
  const json& fits = r.array("fits", 64);
  for (size_t i = 0; i < fits.size(); ++i) {
    ObjectReader f(fits[i], file, fmt::format("$.fits[{}]", i));
    EfficiencyFit e;
    e.op_class = f.name("op_class");
    e.dtype = f.name("dtype");
    if (c.find(e.op_class, e.dtype))
      f.fail("op_class", fmt::format("a second fit for {} {}: expected one per op class and dtype", e.op_class, e.dtype));
    e.launch_us = f.number("launch_us", lim::kLaunchUs);
    e.bytes_per_s = f.number("bytes_per_s", lim::kBytesPerSecond);
    e.flops_per_s = f.number("flops_per_s", lim::kFlopsPerSecond);
    e.p = f.number("p", lim::kFitP);
    e.train_samples = static_cast<int>(f.integer("train_samples", {1, lim::kSampleCount.hi}));
    e.holdout_samples = static_cast<int>(f.opt_integer("holdout_samples", lim::kSampleCount, 0));
    e.train_median_error = error_or_none(f, "train_median_error");
    e.holdout_median_error = error_or_none(f, "holdout_median_error");
    f.finish();
    c.fits.push_back(e);
  }
  if (r.has("measurements")) {
    const json& ms = r.raw("measurements");
    if (!ms.is_array() || ms.size() > static_cast<size_t>(lim::kMaxMeasurements))
      r.fail_value("measurements", fmt::format("an array of at most {} samples", lim::kMaxMeasurements), ms);
    for (size_t i = 0; i < ms.size(); ++i) {
      ObjectReader m(ms[i], file, fmt::format("$.measurements[{}]", i));
      Sample s;
      s.op_class = m.name("op_class");
      s.dtype = m.name("dtype");
      s.label = m.string("label");
      s.m = m.number("m", lim::kShape), s.n = m.number("n", lim::kShape), s.k = m.number("k", lim::kShape);
      s.flops = m.number("flops", lim::kKernelWork), s.bytes = m.number("bytes", lim::kKernelWork);
      s.time_us = m.number("time_us", lim::kKernelUs);
      s.rel_error = error_or_none(m, "rel_error");
      m.finish();
      c.samples.push_back(s);
    }
  }
  r.finish();
  return c;
}

}  // namespace

Calibration load_calibration(const std::string& path) { return calibration_from(io::parse_json_file(path), path); }

Calibration parse_calibration(const std::string& json_text, const std::string& file) {
  return calibration_from(io::parse_json_text(json_text, file), file);
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
               {"vector_share", ""},       {"target_flops_efficiency", ""},
               {"bytes_per_s", "B/s"},     {"flops_per_s", "FLOP/s"}, {"launch_us", "us"}};
  for (const Calibration* c : calibrations)
    for (size_t i = 0; i < c->carried.size() && i < c->fits.size(); ++i) {
      const FitCarry& k = c->carried[i];
      const EfficiencyFit& f = c->fits[i];
      t.add({c->measured_on(), c->hardware_id, k.op_class, k.dtype, k.bytes_efficiency, k.bytes_from.empty() ? "fit" : k.bytes_from,
             k.flops_efficiency, k.flops_from.empty() ? "fit" : k.flops_from, k.vector_share, k.target_flops_efficiency,
             f.bytes_per_s, f.flops_per_s, f.launch_us});
    }
  t.notes.push_back("fit: the side the measurements exercised (folded with the other at the median shape where only one was); "
                    "otherwise the fit or ceiling whose fraction it took. vector_share: the part of the compute term "
                    "that scales with the non-tensor FP32 peak; target_flops_efficiency: the carried FLOP/s over the "
                    "target's peak (docs/calibration.md).");
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
