// How long one kernel takes on one GPU: the timer family (roofline at datasheet peaks, or the
// kernels as measured by `decodesim calibrate`), behind one interface.
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "decodesim/calibration.hpp"
#include "decodesim/hardware.hpp"
#include "decodesim/model.hpp"

namespace decodesim {

// elementwise: the small memory-bound kernels around the products (norms, rotary and cache
// writes, router top-k, packing and combining the dispatched tokens); bytes only.
// prefill_attention: attention over a prompt or chunk (causal, compute-bound), fitted apart from
// decode attention where the calibration measured it (prefill_attention_<kind>).
enum class OpClass { gemm, moe_ffn, attention, prefill_attention, elementwise };
struct Op {
  OpClass cls = OpClass::gemm;
  double flops = 0;
  double bytes = 0;  // fewest bytes the kernel must move through device memory
  AttentionKind attention = AttentionKind::gqa;  // which attention fit, for the attention classes
  std::optional<Dtype> cache = std::nullopt;  // attention: the cache's precision (none: the timer's model default)
};

class OpTimer {
 public:
  virtual ~OpTimer() = default;
  virtual double time_us(const Op& op) const = 0;
  virtual std::string name() const = 0;
};

// max(bytes / bandwidth, FLOPs / peak): no kernel beats it, so the simulated throughput is an
// upper bound on what the deployment can serve. An attention core over a 16-bit cache runs its
// products in BF16, so it takes the BF16 peak where the chip is given.
class RooflineTimer final : public OpTimer {
 public:
  RooflineTimer(double bytes_per_s, double flops_per_s)
      : bytes_per_s_(bytes_per_s), flops_per_s_(flops_per_s), wide_cache_flops_per_s_(flops_per_s) {}
  RooflineTimer(const Hardware& hw, Dtype compute)
      : bytes_per_s_(hw.mem_bytes_per_s),
        flops_per_s_(hw.peak_flops_per_s(compute)),
        wide_cache_flops_per_s_(hw.peak_flops_per_s(Dtype::bf16)) {}
  double time_us(const Op& op) const override;
  std::string name() const override { return "roofline"; }

 private:
  double bytes_per_s_, flops_per_s_, wide_cache_flops_per_s_;
};

// Kernels as measured by `decodesim calibrate`: gemm (projections, dense FFN, shared experts),
// moe_ffn (routed experts), attention_<kind>; dtype fp8 for 8-bit weights / KV (each layer's
// own cache precision), else bf16.
// A class the calibration lacks falls back to a roofline at its measured copy and GEMM rates
// (the chip's peaks where the calibration has none).
// Its name, "calibrated:<chip>", says which chip the kernels were measured on.
class CalibratedTimer final : public OpTimer {
 public:
  CalibratedTimer(const Hardware& hw, const Quantization& q, const Calibration& c);
  double time_us(const Op& op) const override;
  std::string name() const override { return "calibrated:" + measured_on_; }
  // The fit used for an op, nullptr where it falls back to the roofline; attention fits by the
  // cache's precision (none: the model's KV precision).
  const EfficiencyFit* fit_for(OpClass cls, AttentionKind kind = AttentionKind::gqa,
                               std::optional<Dtype> cache = std::nullopt) const;

 private:
  Dtype default_cache_;
  std::string measured_on_;
  // gemm, moe_ffn, attention_gqa/mfa/mla/linear x (8-bit, 16-bit cache) (op_class empty: absent)
  std::vector<EfficiencyFit> fits_;
  RooflineTimer weights_fallback_;
  RooflineTimer cache_fallback_[2];  // 8-bit, 16-bit cache
  // Element-wise kernels: a small kernel's measured fixed cost plus their bytes at copy bandwidth.
  double copy_bytes_per_s_ = 0;
};

// One pool of identical chips and how its kernels are timed (roofline at peak when null).
struct Pool {
  Hardware hw;
  std::shared_ptr<const OpTimer> timer;
};
// The pools' timing as one name: "roofline", "calibrated:h100", or "A/F" where the two differ.
std::string timing_name(const Pool& attention, const Pool& ffn);

// m tokens through a k -> n weight of `weight_bytes` per element: the weights once, 8-bit GEMMs
// take 8-bit inputs, BF16 out (the calibration's byte count).
Op gemm_op(double m, double k, double n, double weight_bytes);

}  // namespace decodesim
