// The efficiency fit on synthetic data with known parameters, and calibrated files.
#include "helpers.hpp"

#include <random>

#include <sys/wait.h>

#include "decodesim/calibration.hpp"
#include "decodesim/cost.hpp"
#include "decodesim/writers.hpp"

using namespace decodesim;

namespace {

// Samples from a known model, with multiplicative noise.
std::vector<Sample> synthetic(const EfficiencyFit& truth, double noise, unsigned seed) {
  std::mt19937 rng(seed);
  std::lognormal_distribution<double> jitter(0.0, noise);
  std::vector<Sample> out;
  for (double bytes : {1e5, 1e6, 1e7, 1e8, 1e9})
    for (double intensity : {1.0, 30.0, 300.0, 1000.0, 3000.0}) {
      Sample s;
      s.op_class = "gemm";
      s.dtype = "bf16";
      s.label = "synthetic " + std::to_string(out.size());
      s.bytes = bytes;
      s.flops = bytes * intensity;
      s.time_us = truth.predict_us(s.flops, s.bytes) * (noise > 0 ? jitter(rng) : 1.0);
      out.push_back(s);
    }
  return out;
}

EfficiencyFit truth() {
  EfficiencyFit t;
  t.launch_us = 4.0;
  t.bytes_per_s = 2.8e12;
  t.flops_per_s = 6.5e14;
  t.p = 3.0;
  return t;
}

}  // namespace

TEST_CASE("the model reduces to a roofline at its limits", "[calibration]") {
  EfficiencyFit f = truth();
  CHECK(f.predict_us(0, 2.8e12) == Approx(4.0 + 1e6));
  CHECK(f.predict_us(6.5e14, 0) == Approx(4.0 + 1e6));
  f.p = 1;
  CHECK(f.predict_us(6.5e14, 2.8e12) == Approx(4.0 + 2e6));
  f.p = 200;
  CHECK(f.predict_us(6.5e14, 2.8e12) == Approx(4.0 + 1e6).epsilon(0.01));
}

TEST_CASE("fit recovers known parameters from exact data", "[calibration]") {
  EfficiencyFit init;
  init.bytes_per_s = 3.35e12;  // datasheet-like start, off by 20%
  init.flops_per_s = 9.9e14;
  const EfficiencyFit f = fit_efficiency(synthetic(truth(), 0, 1), init);
  CHECK(f.launch_us == Approx(4.0).epsilon(0.02));
  CHECK(f.bytes_per_s == Approx(2.8e12).epsilon(0.01));
  CHECK(f.flops_per_s == Approx(6.5e14).epsilon(0.01));
  CHECK(f.p == Approx(3.0).epsilon(0.05));
  CHECK(f.train_median_error < 1e-3);
}

TEST_CASE("with 3% noise the held-out error stays near the noise", "[calibration]") {
  std::vector<Sample> s = synthetic(truth(), 0.03, 7);
  const auto fits = fit_all(s, 3.35e12, 9.9e14, 0, 4);
  REQUIRE(fits.size() == 1);
  CHECK(fits[0].holdout_samples > 0);
  CHECK(fits[0].holdout_median_error < 0.05);
  CHECK(fits[0].bytes_per_s == Approx(2.8e12).epsilon(0.1));
  CHECK(fits[0].flops_per_s == Approx(6.5e14).epsilon(0.1));
}

TEST_CASE("calibrated files round-trip and lower the chip's rates", "[calibration]") {
  Calibration c = test::calibration_for("h100", "NVIDIA H100 80GB HBM3", 3.0e12, 7.9e14, 1.4e15);
  c.samples = synthetic(truth(), 0.01, 3);
  for (Sample s : synthetic(truth(), 0.01, 4)) {
    s.op_class = "attention_mfa";
    c.samples.push_back(s);
  }
  c.fits = fit_all(c.samples, c.copy_bytes_per_s, c.gemm_bf16_flops_per_s, c.gemm_fp8_flops_per_s, 4);
  test::TempDir d;
  const auto p = d.write("h100.json", calibration_json(c));
  const Calibration back = load_calibration(p.string());
  CHECK(back.hardware_id == "h100");
  CHECK(back.fits.size() == c.fits.size());
  CHECK(back.samples.size() == c.samples.size());
  CHECK(back.find("gemm", "bf16")->flops_per_s == Approx(c.find("gemm", "bf16")->flops_per_s));

  const Hardware h100 = load_hardware("h100");
  const Hardware cal = apply_calibration(h100, back);
  CHECK(cal.mem_bytes_per_s == Approx(back.find("attention_mfa", "bf16")->bytes_per_s));
  CHECK(cal.mem_bytes_per_s < h100.mem_bytes_per_s);
  CHECK(*cal.bf16_flops_per_s < *h100.bf16_flops_per_s);
  // Slower achieved rates can only make a token dearer.
  const Model m = load_model("step3");
  const Census k = census(m, 8192);
  CHECK(token_cost(k, unit_cost(cal, Dtype::bf16)).total_usd() > token_cost(k, unit_cost(h100, Dtype::bf16)).total_usd());
}

TEST_CASE("bad or partial calibration files get clear errors", "[calibration]") {
  test::TempDir d;
  const std::string good = R"({"hardware": "h100", "device": "H100", "copy_bytes_per_s": 3e12, "gemm_bf16_flops_per_s": 7e14,
    "fits": [{"op_class": "gemm", "dtype": "bf16", "launch_us": 3, "bytes_per_s": 3e12, "flops_per_s": 7e14, "p": 2,
              "train_samples": 10, "holdout_samples": 3, "train_median_error": 0.01, "holdout_median_error": 0.02}]})";
  CHECK(load_calibration(d.write("ok.json", good).string()).fits.size() == 1);
  auto error_of = [&](const std::string& text) {
    try {
      load_calibration(d.write("c.json", text).string());
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  auto swap = [&](const std::string& from, const std::string& to) {
    std::string s = good;
    s.replace(s.find(from), from.size(), to);
    return s;
  };
  CHECK_THAT(error_of(good.substr(0, good.size() / 2)), Catch::Contains("malformed JSON"));
  CHECK_THAT(error_of(swap("\"p\": 2", "\"p\": 0.5")), Catch::Contains("$.fits[0].p: expected a number in [1, 64], got 0.5"));
  CHECK_THAT(error_of(swap("\"launch_us\": 3,", "")), Catch::Contains("$.fits[0].launch_us: missing required key"));
  CHECK_THAT(error_of(swap("\"device\": \"H100\",", "")), Catch::Contains("$.device: missing required key"));
  CHECK_THAT(error_of(swap("\"bytes_per_s\": 3e12", "\"bytes_per_s\": -1")), Catch::Contains("$.fits[0].bytes_per_s"));
  CHECK_THAT(error_of(swap("\"fits\": [", "\"fitz\": 1, \"fits\": [")), Catch::Contains("$.fitz: unknown key"));
}

TEST_CASE("a calibration file changes costs and rejects a foreign chip", "[calibration][cli]") {
  test::TempDir d;
  Calibration c = test::calibration_for("h800", "test", 2.5e12, 6e14, 0);
  EfficiencyFit f = truth();
  f.op_class = "attention_mfa", f.dtype = "bf16", f.train_samples = 5, f.bytes_per_s = 2.5e12;
  c.fits.push_back(f);
  const auto p = d.write("cal.json", calibration_json(c));
  const std::string bin = DECODESIM_BINARY;
  const std::string base = "'" + bin + "' cost --model step3 --hardware h800 --context 8192 --format csv";
  CHECK(std::system((base + " > '" + (d.path / "plain.csv").string() + "'").c_str()) == 0);
  CHECK(std::system((base + " --calibration '" + p.string() + "' > '" + (d.path / "cal.csv").string() + "'").c_str()) == 0);
  CHECK(test::read_file(d.path / "plain.csv") != test::read_file(d.path / "cal.csv"));
  const int code = std::system(("'" + bin + "' cost --hardware h20 --calibration '" + p.string() + "' 2>/dev/null").c_str());
  CHECK(WEXITSTATUS(code) == 2);
  // A scenario's chips take the calibration too (the default scenario has h800).
  const std::string run = "'" + bin + "' run --format csv --out '" + (d.path / "res").string() + "'";
  CHECK(std::system((run + " > '" + (d.path / "plain-run.csv").string() + "' 2>/dev/null").c_str()) == 0);
  CHECK(std::system((run + " --calibration '" + p.string() + "' > '" + (d.path / "cal-run.csv").string() + "' 2>/dev/null").c_str()) == 0);
  CHECK(test::read_file(d.path / "plain-run.csv") != test::read_file(d.path / "cal-run.csv"));
}
