// Efficiency model fitted to measured kernels: how far real decode kernels sit from a chip's
// peak, per op class, so predicted times and costs use achieved rather than datasheet rates.
#pragma once
#include <string>
#include <vector>

#include "decodesim/hardware.hpp"

namespace decodesim {

struct Sample {
  std::string op_class;  // copy, gemm, moe_ffn, attention_mfa, attention_gqa, attention_mla, attention_layer
  std::string dtype;     // bf16, fp8
  std::string label;
  double m = 0, n = 0, k = 0;
  double flops = 0;
  double bytes = 0;
  double time_us = 0;
  double rel_error = -1;
};

// time_us = launch_us + ((bytes / bytes_per_s)^p + (flops / flops_per_s)^p)^(1/p) * 1e6:
// a roofline whose corner is smoothed by p (p -> infinity is max(), p = 1 adds the two).
struct EfficiencyFit {
  std::string op_class;
  std::string dtype;
  double launch_us = 0;
  double bytes_per_s = 0;
  double flops_per_s = 0;
  double p = 4;
  int train_samples = 0, holdout_samples = 0;
  double train_median_error = 0;    // |pred - meas| / meas
  double holdout_median_error = 0;  // on samples the fit never saw; -1 when none held out
  double predict_us(double flops, double bytes) const;
};

struct Calibration {
  std::string hardware_id;
  std::string device;                // GPU name as the driver reports it
  double copy_bytes_per_s = 0;
  double gemm_bf16_flops_per_s = 0;
  double gemm_fp8_flops_per_s = 0;   // 0 where the chip has no FP8
  std::vector<EfficiencyFit> fits;
  std::vector<Sample> samples;

  const EfficiencyFit* find(const std::string& op_class, const std::string& dtype) const;
};

// Fewest samples a class needs to be fitted (four parameters); smaller classes fall back to
// the measured ceilings wherever the fits are used.
inline constexpr int kMinFitSamples = 6;

// Least-squares fit of one op class on log time (relative error), Levenberg-Marquardt with Eigen.
// `initial` supplies the measured ceilings: the fitted rates stay within 1.1x of them.
EfficiencyFit fit_efficiency(const std::vector<Sample>& train, const EfficiencyFit& initial);

// Fits every (op_class, dtype) group; every `holdout_every`-th sample of a group (by size) is
// held out and predicted. holdout_every <= 1 uses all samples for training.
std::vector<EfficiencyFit> fit_all(const std::vector<Sample>& samples, double copy_bytes_per_s,
                                   double bf16_flops_per_s, double fp8_flops_per_s, int holdout_every);

// The chip as the kernels really run it: bandwidth from the attention fits (memory-bound
// decode attention), FLOP/s from the GEMM fits; every analysis then uses achieved rates.
Hardware apply_calibration(const Hardware& hw, const Calibration& c);

}  // namespace decodesim
