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
enum class OpClass { gemm, moe_ffn, attention, elementwise };
struct Op {
  OpClass cls = OpClass::gemm;
  double flops = 0;
  double bytes = 0;  // fewest bytes the kernel must move through device memory
  AttentionKind attention = AttentionKind::gqa;  // which attention fit, for the attention classes
  std::optional<Dtype> cache = std::nullopt;  // attention: the cache's precision (none: the timer's model default)
  // attention: the query rows that share one KV head's reads (query heads per KV head x query tokens
  // per request), which a decode kernel packs into the M rows of its MMA tiles; 0: not packed.
  double rows_per_kv_head = 0;
  // attention: query tokens per request, which pick the fit as the calibration sorts its shapes
  // (gpu::kMaxDecodeQueryTokens): one, attention_<kind>; a few (1 + MTP drafts), mtp_attention_<kind>;
  // more (a prompt or chunk), prefill_attention_<kind>; each where the calibration has it, else the
  // one-token fit (docs/calibration.md).
  double query_tokens = 1;
  // attention: the exponentials its softmax evaluates (one per query head and score). A prompt's
  // attention without a fit of its own runs them on the special function units (CalibratedTimer).
  double exps = 0;
  // An op that is the busiest GPU's share of work spread unevenly (routed experts under routing
  // skew): flops and bytes above are that GPU's, which set the time; these are the mean GPU's, which
  // count as the deployment's work (0: the same as flops, bytes).
  double mean_flops = 0, mean_bytes = 0;
};

// Issued over useful work of a kernel that packs `rows` query rows into M tiles of `tile_rows`:
// ceil(rows / tile_rows) * tile_rows / rows, at least 1; 1 for no rows (docs/calibration.md,
// "Kernel work as issued").
double tile_padding(double rows, int tile_rows);
// FLOPs the tensor cores issue for `op` on a chip whose decode attention tile has `tile_rows`:
// an attention core's FLOPs times its tile padding; every other op's FLOPs as counted.
double issued_flops(const Op& op, int tile_rows);

class OpTimer {
 public:
  virtual ~OpTimer() = default;
  virtual double time_us(const Op& op) const = 0;
  virtual std::string name() const = 0;
  // M rows of the chip's decode attention tile (Hardware::attention_tile_rows; 1: no padding).
  virtual int attention_tile_rows() const { return 1; }
};

// max(bytes / bandwidth, issued FLOPs / peak): no kernel of the chip's attention tile beats it, so
// the simulated throughput is an upper bound on what the deployment can serve. An attention core
// over a 16-bit cache runs its products in BF16, so it takes the BF16 peak where the chip is given.
// Built from bare rates it pads nothing.
class RooflineTimer final : public OpTimer {
 public:
  RooflineTimer(double bytes_per_s, double flops_per_s)
      : bytes_per_s_(bytes_per_s), flops_per_s_(flops_per_s), wide_cache_flops_per_s_(flops_per_s) {}
  RooflineTimer(const Hardware& hw, Dtype compute)
      : bytes_per_s_(hw.mem_bytes_per_s),
        flops_per_s_(hw.peak_flops_per_s(compute)),
        wide_cache_flops_per_s_(hw.peak_flops_per_s(Dtype::bf16)),
        tile_rows_(hw.attention_tile_rows) {}
  double time_us(const Op& op) const override;
  std::string name() const override { return "roofline"; }
  int attention_tile_rows() const override { return tile_rows_; }

 private:
  double bytes_per_s_, flops_per_s_, wide_cache_flops_per_s_;
  int tile_rows_ = 1;
};

// Kernels as measured by `decodesim calibrate`: gemm (projections, dense FFN, shared experts),
// moe_ffn (routed experts), attention_<kind>; dtype fp8 for 8-bit weights / KV (each layer's
// own cache precision), else bf16.
// A class the calibration lacks falls back to a roofline at its measured copy and GEMM rates
// (the chip's peaks where the calibration has none).
// Its name, "calibrated:<chip>", says which chip the kernels were measured on.
// An attention core's compute side takes the FLOPs the chip's attention tile issues (issued_flops).
class CalibratedTimer final : public OpTimer {
 public:
  CalibratedTimer(const Hardware& hw, const Quantization& q, const Calibration& c);
  double time_us(const Op& op) const override;
  std::string name() const override { return "calibrated:" + measured_on_; }
  int attention_tile_rows() const override { return tile_rows_; }
  // The fit used for an op, nullptr where it falls back to the roofline; attention fits by the
  // cache's precision (none: the model's KV precision).
  const EfficiencyFit* fit_for(OpClass cls, AttentionKind kind = AttentionKind::gqa,
                               std::optional<Dtype> cache = std::nullopt, double query_tokens = 1) const;

 private:
  Dtype default_cache_;
  std::string measured_on_;
  int tile_rows_ = 1;
  // gemm, moe_ffn, attention_gqa/mfa/mla/linear x (8-bit, 16-bit cache) (op_class empty: absent)
  std::vector<EfficiencyFit> fits_;
  RooflineTimer weights_fallback_;
  RooflineTimer cache_fallback_[2];  // 8-bit, 16-bit cache
  // Element-wise kernels: a small kernel's measured fixed cost plus their bytes at copy bandwidth.
  double copy_bytes_per_s_ = 0;
  // A prompt's attention without a prefill fit: its BF16 products at the measured GEMM rate, its
  // exponentials at the special function units' rate (0: not known, products alone).
  double prompt_products_flops_per_s_ = 0, sfu_ops_per_s_ = 0;
  double prompt_attention_us(const Op& op) const;
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
