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

// How one fit was carried to another chip: its achieved fractions of the measured chip's
// datasheet rates, and where a side the measurements never exercised took its fraction from.
struct FitCarry {
  std::string op_class, dtype;
  double bytes_efficiency = 0;  // achieved / datasheet memory bandwidth
  double flops_efficiency = 0;  // achieved / datasheet peak of the dtype (BF16 where the chip lacks FP8)
  std::string bytes_from, flops_from;  // empty: the fit's own side; else the fit or ceiling it was borrowed from
  // Share of the compute term, on the measured chip, not spent at the tensor pipe's saturated rate
  // (the GEMM fit's): it scales with the non-tensor FP32 peak. 0 where not split (docs/calibration.md).
  double vector_share = 0;
  double target_flops_efficiency = 0;  // the carried FLOP/s over the target's datasheet peak
};

struct Calibration {
  std::string hardware_id;           // the chip these fits time
  std::string device;                // GPU name as the driver reports it, of the measured chip
  std::string measured_hardware_id;  // where the fits were carried from another chip: the chip measured
  double copy_bytes_per_s = 0;
  double gemm_bf16_flops_per_s = 0;
  double gemm_fp8_flops_per_s = 0;   // 0 where the chip has no FP8
  std::vector<EfficiencyFit> fits;
  std::vector<Sample> samples;
  std::vector<FitCarry> carried;     // one per fit where carried, else empty

  const EfficiencyFit* find(const std::string& op_class, const std::string& dtype) const;
  // The chip the kernels ran on.
  const std::string& measured_on() const { return measured_hardware_id.empty() ? hardware_id : measured_hardware_id; }
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

// Which sides of a fit its measurements pin down. A side is identified when some measured shape
// brings its term within a factor 2 of the other side's, both at the measured chip's datasheet
// rates and at the fitted ones; where neither side passes, the side binding on the datasheet at
// the median shape is taken. Without measurements both sides count as identified.
struct IdentifiedSides {
  bool bytes = true, flops = true;
  double bytes_strength = 0, flops_strength = 0;  // the largest such ratio over the shapes (how well identified)
  double median_intensity = 0;                    // FLOP per byte of the median shape; 0 without measurements
};
IdentifiedSides identified_sides(const EfficiencyFit& f, const std::vector<Sample>& samples, const Hardware& measured);

// The fits measured on chip `measured` carried to chip `target` by datasheet ratios: each side's
// achieved fraction of the measured chip's bandwidth or peak (of the fit's dtype), applied to the
// target's; launch_us and p kept. An unidentified side is first folded into the identified one at
// the median measured shape (the fitted time there is kept), then takes its fraction from the
// best-identified class of its kind: FLOP/s from an attention class (attention kernels, same
// dtype) or the GEMM fit of the dtype (GEMMs, MoE), else the measured GEMM ceiling; bandwidth from
// the measured copy; never below the rate the kernel itself reached on that side ("own floor").
// The FLOP/s side is split where both chips publish a non-tensor FP32 peak: the part of the
// compute time that a saturated tensor pipe (the GEMM fit's fraction) would not take scales with
// that FP32 peak instead of the tensor peak.
// The measured copy and GEMM ceilings scale the same way; samples are dropped.
// Carrying to the measured chip itself returns `c` unchanged. See docs/calibration.md.
Calibration carry_calibration(const Calibration& c, const Hardware& measured, const Hardware& target);

// The chip as the kernels really run it: bandwidth from the attention fits (memory-bound
// decode attention), FLOP/s from the GEMM fits; every analysis then uses achieved rates.
Hardware apply_calibration(const Hardware& hw, const Calibration& c);

}  // namespace decodesim
