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

TEST_CASE("a calibration file changes costs and is carried to other chips", "[calibration][cli]") {
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
  // Measured on h800, carried to h20: the table says which chip was measured and which predicted.
  const test::Result carried = test::run("cost --model step3 --hardware h20 --context 8192 --calibration '" + p.string() + "'");
  CHECK(carried.code == 0);
  CHECK_THAT(carried.out, Catch::Contains("kernels measured on test (h800), carried to h20 by datasheet ratios"));
  CHECK(carried.out != test::run("cost --model step3 --hardware h20 --context 8192").out);
  // A second file measured on a chip not given is unused: an error naming it.
  Calibration other = test::calibration_for("a800", "test", 1.5e12, 2.5e14, 0);
  other.fits = c.fits;
  const auto q = d.write("a800.json", calibration_json(other));
  const test::Result unused =
      test::run("cost --hardware h20 --calibration '" + p.string() + "' --calibration '" + q.string() + "'");
  CHECK(unused.code == 2);
  CHECK_THAT(unused.err, Catch::Contains("a800.json: $.hardware: calibration is for 'a800'"));
  // Carrying needs the measured chip's datasheet.
  Calibration unknown = test::calibration_for("h999", "test", 1.5e12, 2.5e14, 0);
  unknown.fits = c.fits;
  const test::Result no_datasheet =
      test::run("cost --hardware h20 --calibration '" + d.write("h999.json", calibration_json(unknown)).string() + "'");
  CHECK(no_datasheet.code == 2);
  CHECK_THAT(no_datasheet.err, Catch::Contains("h999.json: $.hardware: carrying its fits to h20 needs the measured chip's datasheet"));
  CHECK(test::lines(no_datasheet.err) == 1);
  // A scenario's chips take the calibration too (the default scenario has h800).
  const std::string run = "'" + bin + "' run --format csv --out '" + (d.path / "res").string() + "'";
  CHECK(std::system((run + " > '" + (d.path / "plain-run.csv").string() + "' 2>/dev/null").c_str()) == 0);
  CHECK(std::system((run + " --calibration '" + p.string() + "' > '" + (d.path / "cal-run.csv").string() + "' 2>/dev/null").c_str()) == 0);
  CHECK(test::read_file(d.path / "plain-run.csv") != test::read_file(d.path / "cal-run.csv"));
}

// ---- Carrying fits to another chip ------------------------------------------------------------

namespace {

Hardware chip(const std::string& id, double mem_bytes_per_s, double bf16, std::optional<double> fp8) {
  Hardware h;
  h.id = id;
  h.mem_bytes_per_s = mem_bytes_per_s;
  h.bf16_flops_per_s = bf16;
  h.fp8_flops_per_s = fp8;
  return h;
}

// Measured chip: ridge 500 FLOP/byte in BF16, 1000 in FP8. Target: 4 TB/s, a fifth of the BF16 rate.
const Hardware kMeasured = chip("m", 2e12, 1e15, 2e15);
const Hardware kTarget = chip("t", 4e12, 2e14, 4e14);

EfficiencyFit fit(const std::string& op_class, const std::string& dtype, double bytes_per_s, double flops_per_s, double p) {
  EfficiencyFit f;
  f.op_class = op_class, f.dtype = dtype;
  f.launch_us = 7, f.bytes_per_s = bytes_per_s, f.flops_per_s = flops_per_s, f.p = p;
  return f;
}

// Measurements of one class at the given intensities (FLOP per byte), timed by its own fit.
void measure(Calibration& c, const EfficiencyFit& f, std::initializer_list<double> intensities) {
  for (double bytes : {1e7, 1e8, 1e9})
    for (double intensity : intensities) {
      Sample s;
      s.op_class = f.op_class, s.dtype = f.dtype;
      s.label = f.op_class + " " + std::to_string(c.samples.size());
      s.bytes = bytes, s.flops = bytes * intensity;
      s.time_us = f.predict_us(s.flops, s.bytes);
      c.samples.push_back(s);
    }
}

const FitCarry& carry_of(const Calibration& c, const std::string& op_class, const std::string& dtype) {
  for (const FitCarry& k : c.carried)
    if (k.op_class == op_class && k.dtype == dtype) return k;
  throw std::runtime_error("no carry for " + op_class);
}

}  // namespace

TEST_CASE("a fit whose measurements exercise both sides carries its fractions of the datasheet", "[calibration][carry]") {
  Calibration c = test::calibration_for("m", "measured GPU", 1.8e12, 8e14, 1.6e15);
  // 80% of the bandwidth, 70% of the BF16 peak, measured from 1 to 3000 FLOP per byte.
  const EfficiencyFit gemm = fit("gemm", "bf16", 1.6e12, 7e14, 4);
  c.fits = {gemm};
  measure(c, gemm, {1, 30, 300, 1000, 3000});
  const IdentifiedSides sides = identified_sides(gemm, c.samples, kMeasured);
  CHECK(sides.bytes);
  CHECK(sides.flops);

  const Calibration t = carry_calibration(c, kMeasured, kTarget);
  CHECK(t.hardware_id == "t");
  CHECK(t.measured_on() == "m");
  CHECK(t.device == "measured GPU");
  CHECK(t.samples.empty());
  REQUIRE(t.fits.size() == 1);
  CHECK(t.fits[0].bytes_per_s == Approx(0.8 * 4e12));
  CHECK(t.fits[0].flops_per_s == Approx(0.7 * 2e14));
  CHECK(t.fits[0].launch_us == 7);
  CHECK(t.fits[0].p == 4);
  CHECK(carry_of(t, "gemm", "bf16").bytes_from.empty());
  CHECK(carry_of(t, "gemm", "bf16").flops_from.empty());
  // The measured ceilings scale by the same datasheet ratios.
  CHECK(t.copy_bytes_per_s == Approx(1.8e12 * 2));
  CHECK(t.gemm_bf16_flops_per_s == Approx(8e14 / 5));
  CHECK(t.gemm_fp8_flops_per_s == Approx(1.6e15 / 5));
  // Carried to the chip it was measured on, nothing changes.
  const Calibration same = carry_calibration(c, kMeasured, kMeasured);
  CHECK(same.hardware_id == "m");
  CHECK(same.fits[0].flops_per_s == gemm.flops_per_s);
  CHECK(same.carried.empty());
}

TEST_CASE("a side never exercised is folded into the other and borrows its fraction", "[calibration][carry]") {
  Calibration c = test::calibration_for("m", "measured GPU", 1.8e12, 8e14, 1.6e15);
  // MFA-like: every shape at 64 FLOP per byte, an eighth of the BF16 ridge. The fit put its corner
  // where it happened to: FLOP/s 1e14 bind at the fitted rates though the chip never ran out of them.
  const EfficiencyFit mfa = fit("attention_mfa", "bf16", 1.9e12, 1e14, 64);
  // MLA-like: near the ridge, 50% of the BF16 peak; GQA-like never computes at all.
  const EfficiencyFit mla = fit("attention_mla", "bf16", 1.8e12, 5e14, 64);
  const EfficiencyFit gemm = fit("gemm", "bf16", 1.6e12, 7e14, 4);
  c.fits = {mfa, mla, gemm};
  measure(c, mfa, {64});
  measure(c, mla, {400, 500, 600});
  measure(c, gemm, {1, 30, 300, 1000, 3000});

  const IdentifiedSides s = identified_sides(mfa, c.samples, kMeasured);
  CHECK(s.bytes);
  CHECK_FALSE(s.flops);  // 64/500 at datasheet rates, although 1.2 at the fitted ones
  CHECK(s.median_intensity == Approx(64));
  CHECK(identified_sides(mla, c.samples, kMeasured).flops);

  const Calibration t = carry_calibration(c, kMeasured, kTarget);
  // The measured time per byte stays whole on the bandwidth side: 1 / ((1/B)^p + (I/F)^p)^(1/p).
  // Times per byte scaled by the larger, 64 / 1e14 s, so the 64th powers stay in range.
  const double folded = 1e14 / 64 / std::pow(std::pow(1e14 / 64 / 1.9e12, 64) + 1.0, 1.0 / 64);
  CHECK(t.find("attention_mfa", "bf16")->bytes_per_s == Approx(folded / 2e12 * 4e12));
  // Its FLOP/s fraction is the MLA fit's: 50% of the target's BF16 peak.
  CHECK(t.find("attention_mfa", "bf16")->flops_per_s == Approx(0.5 * 2e14));
  CHECK(carry_of(t, "attention_mfa", "bf16").flops_from == "attention_mla bf16");
  // Carried to the measured chip's twin, the fit still predicts what was measured.
  Hardware twin = kMeasured;
  twin.id = "twin";
  const Calibration same = carry_calibration(c, kMeasured, twin);
  for (const Sample& x : c.samples)
    if (x.op_class == "attention_mfa") CHECK(same.find("attention_mfa", "bf16")->predict_us(x.flops, x.bytes) == Approx(x.time_us).epsilon(1e-3));

  // Without an identified attention class, the GEMM fit of the dtype lends its FLOP/s; without
  // that, the measured GEMM ceiling.
  Calibration no_mla = c;
  no_mla.fits = {mfa, gemm};
  CHECK(carry_of(carry_calibration(no_mla, kMeasured, kTarget), "attention_mfa", "bf16").flops_from == "gemm bf16");
  CHECK(carry_calibration(no_mla, kMeasured, kTarget).find("attention_mfa", "bf16")->flops_per_s == Approx(0.7 * 2e14));
  no_mla.fits = {mfa};
  const Calibration ceiling = carry_calibration(no_mla, kMeasured, kTarget);
  CHECK(carry_of(ceiling, "attention_mfa", "bf16").flops_from == "measured GEMM ceiling");
  CHECK(ceiling.fits[0].flops_per_s == Approx(0.8 * 2e14));
  // A lender slower than what the kernel itself reached: the kernel's own FLOP rate at the median
  // shape (64 FLOP per byte at the folded bandwidth) is the floor.
  no_mla.gemm_bf16_flops_per_s = 5e13;
  const Calibration floor = carry_calibration(no_mla, kMeasured, kTarget);
  CHECK(carry_of(floor, "attention_mfa", "bf16").flops_from == "own floor");
  CHECK(floor.fits[0].flops_per_s == Approx(64 * folded / 1e15 * 2e14));
}

TEST_CASE("an unexercised bandwidth takes the measured copy's fraction", "[calibration][carry]") {
  Calibration c = test::calibration_for("m", "measured GPU", 1.8e12, 8e14, 1.6e15);
  // Compute-bound everywhere: 5000 FLOP per byte, five times the FP8 ridge.
  const EfficiencyFit f = fit("attention_mla", "fp8", 1.9e12, 1e15, 8);
  c.fits = {f};
  measure(c, f, {5000});
  const IdentifiedSides s = identified_sides(f, c.samples, kMeasured);
  CHECK(s.flops);
  CHECK_FALSE(s.bytes);
  const Calibration t = carry_calibration(c, kMeasured, kTarget);
  CHECK(t.fits[0].bytes_per_s == Approx(1.8e12 / 2e12 * 4e12));
  CHECK(carry_of(t, "attention_mla", "fp8").bytes_from == "measured copy");
  const double folded = 1e15 / std::pow(std::pow(1e15 / (5000 * 1.9e12), 8) + 1.0, 1.0 / 8);
  CHECK(t.fits[0].flops_per_s == Approx(folded / 2e15 * 4e14));
}

TEST_CASE("an FP8 fit carried to a chip without FP8 takes its BF16 peak", "[calibration][carry]") {
  Calibration c = test::calibration_for("m", "measured GPU", 1.8e12, 8e14, 1.6e15);
  const EfficiencyFit gemm = fit("gemm", "fp8", 1.6e12, 1.4e15, 4);  // 70% of the FP8 peak
  c.fits = {gemm};
  measure(c, gemm, {1, 30, 300, 1000, 3000});
  const Hardware ampere = chip("ampere", 2e12, 3e14, std::nullopt);
  const Calibration t = carry_calibration(c, kMeasured, ampere);
  CHECK(t.fits[0].flops_per_s == Approx(0.7 * 3e14));
  CHECK(t.fits[0].bytes_per_s == Approx(0.8 * 2e12));
  CHECK(t.gemm_fp8_flops_per_s == Approx(1.6e15 / 2e15 * 3e14));
  // A file without measurements carries its fits as fitted.
  c.samples.clear();
  const IdentifiedSides s = identified_sides(gemm, c.samples, kMeasured);
  CHECK(s.bytes);
  CHECK(s.flops);
  CHECK(carry_calibration(c, kMeasured, ampere).fits[0].flops_per_s == Approx(0.7 * 3e14));
}

TEST_CASE("a 4-bit-cache attention fit is costed at the FP8 peak, measured and carried", "[calibration][carry]") {
  Calibration c = test::calibration_for("m", "measured GPU", 1.8e12, 8e14, 1.6e15);
  // 70% of the FP8 peak (2e15): the 4-bit kernels multiply at FP8
  const EfficiencyFit fp4 = fit("attention_mfa", "fp4", 1.6e12, 1.4e15, 4);
  c.fits = {fp4};
  measure(c, fp4, {1, 30, 300, 1000, 3000});
  const Calibration t = carry_calibration(c, kMeasured, kTarget);
  REQUIRE(t.fits.size() == 1);
  CHECK(t.fits[0].dtype == "fp4");
  CHECK(t.fits[0].flops_per_s == Approx(0.7 * 4e14));  // the target's FP8 peak, not its BF16 (2e14)
  CHECK(t.fits[0].bytes_per_s == Approx(0.8 * 4e12));
}

TEST_CASE("the shipped H100 calibration: which sides its kernels exercised", "[calibration][carry]") {
  const Calibration c = load_calibration((test::source_dir() / "hardware/calibrated/h100.json").string());
  const Hardware h100 = load_hardware("h100");
  auto sides = [&](const char* cls, const char* dtype) { return identified_sides(*c.find(cls, dtype), c.samples, h100); };
  // GQA and MFA are memory-bound on H100 at every measured shape (16 to 126 FLOP per byte against
  // ridges of 295 and 591): their FLOP/s is a bound, not a measurement.
  for (const char* dtype : {"bf16", "fp8"}) {
    INFO(dtype);
    CHECK_FALSE(sides("attention_gqa", dtype).flops);
    CHECK_FALSE(sides("attention_mfa", dtype).flops);
    CHECK(sides("attention_mla", dtype).flops);
    CHECK(sides("gemm", dtype).flops);
    CHECK(sides("gemm", dtype).bytes);
  }
  // Carried to H800 (H100's SMs, HBM3 and peaks), every measured kernel keeps its fitted time,
  // up to the fold at the median shape (the smallest contexts sit off it).
  const Calibration h800 = carry_calibration(c, h100, load_hardware("h800"));
  double worst = 0;
  for (const Sample& s : c.samples) {
    const EfficiencyFit* measured = c.find(s.op_class, s.dtype);
    if (!measured || !(s.bytes > 0)) continue;
    const double fitted = measured->predict_us(s.flops, s.bytes);
    worst = std::max(worst, std::abs(h800.find(s.op_class, s.dtype)->predict_us(s.flops, s.bytes) / fitted - 1));
  }
  WARN("H100 fits carried to H800: largest change of a measured kernel's predicted time " << 100 * worst << "%");
  // Shapes off the median intensity (1K contexts) are where a fit can move: an FP8 MFA fit whose
  // FLOP/s term binds at the median but is not identified changes them by about 4-5% (the shipped
  // file 4.97%, earlier ones 4.2% and 4.0%, one between them 0.6%; docs/calibration.md).
  CHECK(worst < 0.05);
}

TEST_CASE("the compute time a saturated tensor pipe would not take scales with the FP32 peak", "[calibration][carry]") {
  Calibration c = test::calibration_for("m", "measured GPU", 1.8e12, 8e14, 1.6e15);
  // GEMMs reach 80% of the BF16 peak; the MLA-like kernel 40%: half of its compute time is the
  // tensor pipe at the GEMMs' rate, half is softmax, scaling and conversion work.
  const EfficiencyFit gemm = fit("gemm", "bf16", 1.6e12, 8e14, 4);
  const EfficiencyFit mla = fit("attention_mla", "bf16", 1.8e12, 4e14, 4);
  c.fits = {gemm, mla};
  measure(c, gemm, {1, 30, 300, 1000, 3000});
  measure(c, mla, {400, 500, 600});

  // Without FP32 peaks the whole compute rate scales with the tensor peak (a fifth).
  const Calibration plain = carry_calibration(c, kMeasured, kTarget);
  CHECK(plain.find("attention_mla", "bf16")->flops_per_s == Approx(0.4 * 2e14));
  CHECK(carry_of(plain, "attention_mla", "bf16").vector_share == 0);

  // The target keeps half the FP32 rate but a fifth of the tensor rate: on the measured chip
  // 1/(0.4 P) = 1/(0.8 P) + 1/R, so R = 0.8 P = 8e14; carried, 1/F = 1/(0.8 * 2e14) + 1/(8e14 / 2).
  Hardware m = kMeasured, t = kTarget;
  m.fp32_flops_per_s = 6e13, t.fp32_flops_per_s = 3e13;
  const Calibration split = carry_calibration(c, m, t);
  const FitCarry k = carry_of(split, "attention_mla", "bf16");
  CHECK(k.vector_share == Approx(0.5));
  CHECK(k.flops_efficiency == Approx(0.4));
  const double carried = 1.0 / (1.0 / 1.6e14 + 1.0 / 4e14);
  CHECK(split.find("attention_mla", "bf16")->flops_per_s == Approx(carried));
  CHECK(k.target_flops_efficiency == Approx(carried / 2e14));
  // The GEMMs are the saturated tensor pipe itself: carried by the tensor peak alone.
  CHECK(split.find("gemm", "bf16")->flops_per_s == Approx(0.8 * 2e14));
  CHECK(carry_of(split, "gemm", "bf16").vector_share == 0);
  // A target with the measured chip's peaks predicts what was measured.
  Hardware twin = m;
  twin.id = "twin";
  CHECK(carry_calibration(c, m, twin).find("attention_mla", "bf16")->flops_per_s == Approx(4e14));
}
