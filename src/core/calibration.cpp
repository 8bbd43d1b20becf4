#include "decodesim/calibration.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <stdexcept>

#include <Eigen/Dense>

#include "decodesim/limits.hpp"

namespace decodesim {

namespace {
// The calibration's dtype names: fp8 is costed at the chip's FP8 peak (BF16 where it has none), and
// so is fp4 (a 4-bit cache expanded to e4m3 and multiplied at FP8).
Dtype fit_dtype(const std::string& name) { return name == "fp8" || name == "fp4" ? Dtype::fp8 : Dtype::bf16; }
}  // namespace

double EfficiencyFit::predict_us(double flops, double bytes) const {
  const double tb = bytes / bytes_per_s, tf = flops / flops_per_s;
  const double hi = std::max(tb, tf);
  if (hi <= 0) return launch_us;
  // Scaled to avoid overflow in the powers.
  const double body = hi * std::pow(std::pow(tb / hi, p) + std::pow(tf / hi, p), 1.0 / p);
  return launch_us + body * 1e6;
}

const EfficiencyFit* Calibration::find(const std::string& op_class, const std::string& dtype) const {
  for (const EfficiencyFit& f : fits)
    if (f.op_class == op_class && f.dtype == dtype) return &f;
  return nullptr;
}

namespace {

double median(std::vector<double> v) {
  if (v.empty()) return -1;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Bounded parameters, so a fit stays physical: launch_us > 0, achieved bandwidth and FLOP/s
// between 0 and 1.1x the measured ceilings (a streaming read beats a copy by a few percent),
// and the corner sharpness p in (1, 64). theta = (log launch_us, logit bandwidth, logit FLOP/s, logit p).
double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }
double logit(double y) { return std::log(y / (1.0 - y)); }
constexpr double kCeilingSlack = 1.1, kMaxP = limits::kFitP.hi;

EfficiencyFit from_theta(const Eigen::Vector4d& t, const EfficiencyFit& base) {
  EfficiencyFit f = base;
  f.launch_us = std::exp(t[0]);
  f.bytes_per_s = kCeilingSlack * base.bytes_per_s * sigmoid(t[1]);
  f.flops_per_s = kCeilingSlack * base.flops_per_s * sigmoid(t[2]);
  f.p = 1.0 + (kMaxP - 1.0) * sigmoid(t[3]);
  return f;
}

Eigen::VectorXd residuals(const Eigen::Vector4d& t, const EfficiencyFit& base, const std::vector<Sample>& s) {
  const EfficiencyFit f = from_theta(t, base);
  Eigen::VectorXd r(s.size());
  for (size_t i = 0; i < s.size(); ++i) r[i] = std::log(f.predict_us(s[i].flops, s[i].bytes) / s[i].time_us);
  return r;
}

double median_error(const EfficiencyFit& f, const std::vector<Sample>& s) {
  std::vector<double> e;
  for (const Sample& x : s) e.push_back(std::abs(f.predict_us(x.flops, x.bytes) - x.time_us) / x.time_us);
  return median(e);
}

}  // namespace

namespace {

// Levenberg-Marquardt on weighted residuals sqrt(w_i) * r_i; returns the weighted squared cost.
double levenberg_marquardt(Eigen::Vector4d& t, const EfficiencyFit& initial, const std::vector<Sample>& train,
                           const Eigen::VectorXd& w) {
  const Eigen::VectorXd sw = w.array().sqrt();
  auto weighted = [&](const Eigen::Vector4d& th) -> Eigen::VectorXd {
    return residuals(th, initial, train).cwiseProduct(sw);
  };
  double lambda = 1e-3;
  Eigen::VectorXd r = weighted(t);
  double cost = r.squaredNorm();
  for (int it = 0; it < 200; ++it) {
    Eigen::MatrixXd J(train.size(), 4);
    for (int k = 0; k < 4; ++k) {
      Eigen::Vector4d tk = t;
      const double h = 1e-6 * std::max(1.0, std::abs(t[k]));
      tk[k] += h;
      J.col(k) = (weighted(tk) - r) / h;
    }
    const Eigen::Matrix4d JtJ = J.transpose() * J;
    const Eigen::Vector4d g = J.transpose() * r;
    Eigen::Matrix4d A = JtJ;
    A.diagonal() += lambda * (JtJ.diagonal().array() + 1e-9).matrix();
    const Eigen::Vector4d cand = t + A.ldlt().solve(-g);
    const Eigen::VectorXd rc = weighted(cand);
    const double cc = rc.squaredNorm();
    if (std::isfinite(cc) && cc < cost) {
      const double gain = cost - cc;
      t = cand, r = rc, cost = cc, lambda = std::max(lambda * 0.3, 1e-12);
      if (gain < 1e-14 * (1 + cost)) break;
    } else {
      lambda *= 10;
      if (lambda > 1e12) break;
    }
  }
  return cost;
}

}  // namespace

// The fit as a calibrated file may hold it (limits.hpp): what is fitted must load back. Extreme
// measurements (a 1e12 us kernel, a ceiling at its bound times the slack) would otherwise give a
// launch cost, or a rate, outside the ranges the loader reads.
static double bounded_error(double e) { return std::isfinite(e) ? std::min(e, limits::kRelativeError.hi) : limits::kRelativeError.hi; }

static EfficiencyFit within_limits(EfficiencyFit f) {
  auto clamp = [](double v, limits::Range r) { return std::clamp(v, r.lo, r.hi); };
  f.launch_us = clamp(f.launch_us, limits::kLaunchUs);
  f.bytes_per_s = clamp(f.bytes_per_s, limits::kBytesPerSecond);
  f.flops_per_s = clamp(f.flops_per_s, limits::kFlopsPerSecond);
  f.p = clamp(f.p, limits::kFitP);
  return f;
}

EfficiencyFit fit_efficiency(const std::vector<Sample>& train, const EfficiencyFit& initial) {
  EfficiencyFit best = initial;
  best.train_samples = static_cast<int>(train.size());
  if (train.empty()) return best;
  // The bounds are relative to the starting ceilings.
  if (!(initial.bytes_per_s > 0) || !(initial.flops_per_s > 0))
    throw std::invalid_argument("fit_efficiency: starting bandwidth and FLOP/s must be positive");
  double best_cost = INFINITY;
  double min_t = INFINITY;
  for (const Sample& s : train) min_t = std::min(min_t, s.time_us);
  // A few starting corners: the fit is not convex in p and the launch term.
  for (double p0 : {1.5, 4.0, 12.0, 40.0})
    for (double l0 : {0.6 * min_t, 0.3 * min_t, 0.1 * min_t, 0.02 * min_t}) {
      Eigen::Vector4d t(std::log(std::max(l0, 1e-3)), logit(0.8 / kCeilingSlack), logit(0.8 / kCeilingSlack),
                        logit((p0 - 1.0) / (kMaxP - 1.0)));
      // Least absolute log error by iterated reweighting: the error we report is a median, and a
      // library's erratic pick for one thin GEMM should not pull the whole class.
      Eigen::VectorXd w = Eigen::VectorXd::Ones(static_cast<Eigen::Index>(train.size()));
      for (int round = 0; round < 10; ++round) {
        levenberg_marquardt(t, initial, train, w);
        w = residuals(t, initial, train).cwiseAbs().cwiseMax(1e-3).cwiseInverse();
      }
      const double cost = residuals(t, initial, train).cwiseAbs().sum();
      if (std::isfinite(cost) && cost < best_cost) {
        best_cost = cost;
        best = within_limits(from_theta(t, initial));
        best.train_samples = static_cast<int>(train.size());
      }
    }
  best.train_median_error = bounded_error(median_error(best, train));
  best.holdout_median_error = -1;
  return best;
}

std::vector<EfficiencyFit> fit_all(const std::vector<Sample>& samples, double copy_bytes_per_s, double bf16_flops_per_s,
                                   double fp8_flops_per_s, int holdout_every) {
  std::map<std::pair<std::string, std::string>, std::vector<Sample>> groups;
  // Ceilings and whole layers (a sum of other classes' kernels) are measurements, not classes.
  for (const Sample& s : samples)
    if (s.op_class != "copy" && s.op_class != "read" && s.op_class != "attention_layer" && s.time_us > 0 &&
        (s.bytes > 0 || s.flops > 0))
      groups[{s.op_class, s.dtype}].push_back(s);
  std::vector<EfficiencyFit> fits;
  for (auto& [key, group] : groups) {
    // Held out by shape (every repeat of a shape on the same side), every holdout_every-th shape
    // in order of size, so the held-out shapes spread over the whole range.
    std::sort(group.begin(), group.end(), [](const Sample& a, const Sample& b) {
      return a.bytes + a.flops != b.bytes + b.flops ? a.bytes + a.flops < b.bytes + b.flops : a.label < b.label;
    });
    std::map<std::string, size_t> shape_rank;
    for (const Sample& x : group) shape_rank.emplace(x.label, shape_rank.size());
    const bool hold = holdout_every > 1 && shape_rank.size() >= static_cast<size_t>(2 * kMinFitSamples);
    std::vector<Sample> train, held;
    for (const Sample& x : group) (hold && shape_rank[x.label] % holdout_every == 1 ? held : train).push_back(x);
    if (train.size() < static_cast<size_t>(kMinFitSamples)) continue;  // too few to pin four parameters
    EfficiencyFit init;
    init.op_class = key.first;
    init.dtype = key.second;
    init.bytes_per_s = copy_bytes_per_s;
    init.flops_per_s = fit_dtype(key.second) == Dtype::fp8 && fp8_flops_per_s > 0 ? fp8_flops_per_s : bf16_flops_per_s;
    EfficiencyFit f = fit_efficiency(train, init);
    f.holdout_samples = static_cast<int>(held.size());
    f.holdout_median_error = held.empty() ? -1 : bounded_error(median_error(f, held));
    fits.push_back(f);
  }
  return fits;
}

// ---- Carrying fits to another chip ----------------------------------------------------------

namespace {

// (a^p + b^p)^(1/p), scaled so the powers cannot overflow.
double p_norm(double a, double b, double p) {
  const double hi = std::max(a, b);
  if (hi <= 0) return 0;
  return hi * std::pow(std::pow(a / hi, p) + std::pow(b / hi, p), 1.0 / p);
}

bool is_attention(const std::string& op_class) { return op_class.rfind("attention_", 0) == 0; }

// One fit's own achieved fractions of the measured chip's datasheet, an unidentified side folded
// into the identified one. An unidentified side's rate is still at least what the kernel reached
// on it at the median shape: the floor a borrowed fraction may not go below.
struct OwnEfficiency {
  IdentifiedSides sides;
  double bytes = 0, flops = 0;
  double bytes_floor = 0, flops_floor = 0;
};

OwnEfficiency own_efficiency(const EfficiencyFit& f, const std::vector<Sample>& samples, const Hardware& measured) {
  OwnEfficiency e;
  e.sides = identified_sides(f, samples, measured);
  double bytes_per_s = f.bytes_per_s, flops_per_s = f.flops_per_s;
  const double I = e.sides.median_intensity;
  // At one intensity the fit pins only the time per byte: keep it, all on the identified side.
  if (I > 0 && !e.sides.flops) bytes_per_s = 1.0 / p_norm(1.0 / f.bytes_per_s, I / f.flops_per_s, f.p);
  if (I > 0 && !e.sides.bytes) flops_per_s = 1.0 / p_norm(1.0 / (I * f.bytes_per_s), 1.0 / f.flops_per_s, f.p);
  e.bytes = bytes_per_s / measured.mem_bytes_per_s;
  e.flops = flops_per_s / measured.peak_flops_per_s(fit_dtype(f.dtype));
  if (I > 0) {
    e.flops_floor = I * bytes_per_s / measured.peak_flops_per_s(fit_dtype(f.dtype));
    e.bytes_floor = flops_per_s / I / measured.mem_bytes_per_s;
  }
  return e;
}

// A compute rate e * P_M on the measured chip taken as a tensor part at the saturated fraction
// `tensor` of the tensor peak plus a remainder at the chip's non-tensor FP32 rate, times adding:
// 1/(e P_M) = 1/(tensor P_M) + 1/R_M. Carried, R_M scales with the FP32 peaks and the tensor part
// with the tensor peaks. Returns the target's fraction of its tensor peak, or nothing where the
// split does not apply (a chip without a published FP32 peak, or a kernel as fast as the GEMMs).
std::optional<double> split_flops(double e, double tensor, const Hardware& measured, const Hardware& target, Dtype d) {
  if (!measured.fp32_flops_per_s || !target.fp32_flops_per_s || !(e > 0) || !(tensor > e)) return std::nullopt;
  const double peak_m = measured.peak_flops_per_s(d), peak_t = target.peak_flops_per_s(d);
  const double vector_rate_m = 1.0 / (1.0 / (e * peak_m) - 1.0 / (tensor * peak_m));
  const double vector_rate_t = vector_rate_m * *target.fp32_flops_per_s / *measured.fp32_flops_per_s;
  return 1.0 / (1.0 / (tensor * peak_t) + 1.0 / vector_rate_t) / peak_t;
}

}  // namespace

IdentifiedSides identified_sides(const EfficiencyFit& f, const std::vector<Sample>& samples, const Hardware& measured) {
  IdentifiedSides s;
  const double peak = measured.peak_flops_per_s(fit_dtype(f.dtype));
  std::vector<double> datasheet_ratio, intensity;
  for (const Sample& x : samples) {
    if (x.op_class != f.op_class || x.dtype != f.dtype || !(x.bytes > 0) || !(x.flops > 0)) continue;
    // Compute term over memory term, at the datasheet and at the fitted rates.
    const double d = (x.flops / peak) / (x.bytes / measured.mem_bytes_per_s);
    const double r = (x.flops / f.flops_per_s) / (x.bytes / f.bytes_per_s);
    s.flops_strength = std::max(s.flops_strength, std::min(d, r));
    s.bytes_strength = std::max(s.bytes_strength, std::min(1.0 / d, 1.0 / r));
    datasheet_ratio.push_back(d);
    intensity.push_back(x.flops / x.bytes);
  }
  if (intensity.empty()) return s;  // nothing measured: carried as fitted
  // Within a factor 2: that side's term moved the measured time.
  constexpr double kWithin = 0.5;
  s.flops = s.flops_strength >= kWithin;
  s.bytes = s.bytes_strength >= kWithin;
  if (!s.flops && !s.bytes) (median(datasheet_ratio) >= 1 ? s.flops : s.bytes) = true;
  s.median_intensity = median(intensity);
  return s;
}

Calibration carry_calibration(const Calibration& c, const Hardware& measured, const Hardware& target) {
  if (!c.measured_hardware_id.empty())
    throw std::invalid_argument("carry_calibration: " + c.hardware_id + " was already carried from " + c.measured_hardware_id);
  if (measured.id != c.hardware_id)
    throw std::invalid_argument("carry_calibration: fits measured on " + c.hardware_id + ", datasheet of " + measured.id);
  if (target.id == c.hardware_id) return c;

  std::vector<OwnEfficiency> own;
  for (const EfficiencyFit& f : c.fits) own.push_back(own_efficiency(f, c.samples, measured));
  // The fit of `dtype` whose FLOP/s the measurements pin down best among those `eligible`.
  auto best_flops = [&](const std::string& dtype, auto eligible) -> std::optional<size_t> {
    std::optional<size_t> best;
    for (size_t i = 0; i < c.fits.size(); ++i)
      if (c.fits[i].dtype == dtype && own[i].sides.flops && eligible(c.fits[i]) &&
          (!best || own[i].sides.flops_strength > own[*best].sides.flops_strength))
        best = i;
    return best;
  };
  auto label = [&](size_t i) { return c.fits[i].op_class + " " + c.fits[i].dtype; };
  // The fraction of the tensor peak a saturated tensor pipe reaches on the measured chip: the GEMM
  // fit of the dtype, else the measured GEMM ceiling; 0 when neither is known.
  auto tensor_efficiency = [&](const std::string& dtype) -> double {
    if (const auto g = best_flops(dtype, [](const EfficiencyFit& x) { return x.op_class == "gemm"; }))
      return std::min(own[*g].flops, 1.0);
    const double ceiling = fit_dtype(dtype) == Dtype::fp8 && c.gemm_fp8_flops_per_s > 0 ? c.gemm_fp8_flops_per_s : c.gemm_bf16_flops_per_s;
    return std::min(ceiling / measured.peak_flops_per_s(fit_dtype(dtype)), 1.0);
  };

  Calibration out = c;
  out.hardware_id = target.id;
  out.measured_hardware_id = c.hardware_id;
  out.samples.clear();  // measurements of the other chip
  out.fits.clear();
  for (size_t i = 0; i < c.fits.size(); ++i) {
    const EfficiencyFit& f = c.fits[i];
    const Dtype d = fit_dtype(f.dtype);
    FitCarry carry{f.op_class, f.dtype, own[i].bytes, own[i].flops, "", ""};
    if (!own[i].sides.flops) {
      std::optional<size_t> from;
      if (is_attention(f.op_class))
        from = best_flops(f.dtype, [&](const EfficiencyFit& g) { return is_attention(g.op_class) && &g != &f; });
      if (!from) from = best_flops(f.dtype, [&](const EfficiencyFit& g) { return g.op_class == "gemm" && &g != &f; });
      const double ceiling = d == Dtype::fp8 && c.gemm_fp8_flops_per_s > 0 ? c.gemm_fp8_flops_per_s : c.gemm_bf16_flops_per_s;
      if (from) {
        carry.flops_efficiency = own[*from].flops, carry.flops_from = label(*from);
      } else if (ceiling > 0) {
        carry.flops_efficiency = ceiling / measured.peak_flops_per_s(d), carry.flops_from = "measured GEMM ceiling";
      } else {
        carry.flops_efficiency = 1.0, carry.flops_from = "datasheet";
      }
      if (own[i].flops_floor > carry.flops_efficiency) carry.flops_efficiency = own[i].flops_floor, carry.flops_from = "own floor";
    }
    if (!own[i].sides.bytes) {
      if (c.copy_bytes_per_s > 0) carry.bytes_efficiency = c.copy_bytes_per_s / measured.mem_bytes_per_s, carry.bytes_from = "measured copy";
      else carry.bytes_efficiency = 1.0, carry.bytes_from = "datasheet";
      if (own[i].bytes_floor > carry.bytes_efficiency) carry.bytes_efficiency = own[i].bytes_floor, carry.bytes_from = "own floor";
    }
    // No kernel beats the datasheet: a fraction above 1 is a fit's slack, not a faster chip.
    carry.bytes_efficiency = std::min(carry.bytes_efficiency, 1.0);
    carry.flops_efficiency = std::min(carry.flops_efficiency, 1.0);
    carry.target_flops_efficiency = carry.flops_efficiency;
    if (f.op_class != "gemm") {
      const double tensor = tensor_efficiency(f.dtype);
      if (const auto split = split_flops(carry.flops_efficiency, tensor, measured, target, d)) {
        carry.vector_share = 1.0 - carry.flops_efficiency / tensor;
        carry.target_flops_efficiency = std::min(*split, 1.0);
      }
    }
    EfficiencyFit g = f;
    // Measurements that never came near one side's term never came near the corner either, so they
    // did not pin its sharpness: the fold put all of the median shape's time on the identified side,
    // and a soft corner would count the borrowed side's term there a second time.
    if (!own[i].sides.flops || !own[i].sides.bytes) g.p = kMaxP;
    g.bytes_per_s = carry.bytes_efficiency * target.mem_bytes_per_s;
    g.flops_per_s = carry.target_flops_efficiency * target.peak_flops_per_s(d);
    out.fits.push_back(g);
    out.carried.push_back(carry);
  }
  out.copy_bytes_per_s = c.copy_bytes_per_s * target.mem_bytes_per_s / measured.mem_bytes_per_s;
  out.gemm_bf16_flops_per_s = c.gemm_bf16_flops_per_s * target.peak_flops_per_s(Dtype::bf16) / measured.peak_flops_per_s(Dtype::bf16);
  out.gemm_fp8_flops_per_s =
      c.gemm_fp8_flops_per_s * target.peak_flops_per_s(Dtype::fp8) / measured.peak_flops_per_s(Dtype::fp8);
  return out;
}

Hardware apply_calibration(const Hardware& hw, const Calibration& c) {
  Hardware out = hw;
  std::vector<double> bw;
  for (const EfficiencyFit& f : c.fits)
    if (f.op_class.rfind("attention_", 0) == 0 && f.op_class != "attention_layer") bw.push_back(f.bytes_per_s);
  if (!bw.empty()) out.mem_bytes_per_s = std::min(median(bw), hw.mem_bytes_per_s);
  else if (c.copy_bytes_per_s > 0) out.mem_bytes_per_s = std::min(c.copy_bytes_per_s, hw.mem_bytes_per_s);
  if (const EfficiencyFit* g = c.find("gemm", "bf16"); g && out.bf16_flops_per_s)
    out.bf16_flops_per_s = std::min(g->flops_per_s, *out.bf16_flops_per_s);
  if (const EfficiencyFit* g = c.find("gemm", "fp8"); g && out.fp8_flops_per_s)
    out.fp8_flops_per_s = std::min(g->flops_per_s, *out.fp8_flops_per_s);
  out.name += c.measured_on() == hw.id ? " (calibrated)" : " (calibrated on " + c.measured_on() + ")";
  return out;
}

}  // namespace decodesim
