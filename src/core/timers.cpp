#include "decodesim/timers.hpp"

#include <algorithm>
#include <cmath>

#include "decodesim/census.hpp"
#include "decodesim/gpu.hpp"

namespace decodesim {

namespace {
// Every 8-bit format runs on the fp8 path, and so does every narrower one: a 4-bit cache (fp4,
// 0.5625 bytes with its scales) is "low-bit storage, high-bit compute" (the Step-3 report), expanded
// to 8 bits and multiplied there. Its attention takes the calibration's fp4 fit where it has one,
// else the fp8 fit, at the bytes it actually reads (docs/calibration.md).
bool eight_bit(Dtype d) { return dtype_bytes(d) <= 1; }
bool sub_byte(Dtype d) { return dtype_bytes(d) < 1; }
}  // namespace

double tile_padding(double rows, int tile_rows) {
  if (!(rows > 0) || tile_rows <= 1) return 1.0;
  const double padded_rows = std::ceil(rows / tile_rows) * tile_rows;
  return std::max(1.0, padded_rows / rows);
}

double issued_flops(const Op& op, int tile_rows) {
  return op.cls == OpClass::attention ? op.flops * tile_padding(op.rows_per_kv_head, tile_rows) : op.flops;
}

double RooflineTimer::time_us(const Op& op) const {
  const bool wide_cache = op.cls == OpClass::attention && op.cache && !eight_bit(*op.cache);
  return 1e6 * std::max(op.bytes / bytes_per_s_,
                        issued_flops(op, tile_rows_) / (wide_cache ? wide_cache_flops_per_s_ : flops_per_s_));
}

namespace {

// The calibration's dtype name of a precision: fp4 for the sub-byte ones (their kernels expand to
// e4m3 and multiply at FP8), fp8 for the byte ones, bf16 above.
const char* calib_dtype(Dtype d) { return sub_byte(d) ? "fp4" : eight_bit(d) ? "fp8" : "bf16"; }

double fallback_flops(const Hardware& hw, const Calibration& c, Dtype d) {
  if (eight_bit(d)) {
    if (c.gemm_fp8_flops_per_s > 0) return c.gemm_fp8_flops_per_s;
    if (c.gemm_bf16_flops_per_s > 0 && !hw.fp8_flops_per_s) return c.gemm_bf16_flops_per_s;
    return hw.peak_flops_per_s(Dtype::fp8);
  }
  return c.gemm_bf16_flops_per_s > 0 ? c.gemm_bf16_flops_per_s : hw.peak_flops_per_s(Dtype::bf16);
}

double fallback_bytes(const Hardware& hw, const Calibration& c) {
  return c.copy_bytes_per_s > 0 ? c.copy_bytes_per_s : hw.mem_bytes_per_s;
}

// Fixed cost of one small element-wise kernel replayed in a CUDA graph: one-input row gathers of
// 1 to 128 rows of 4096 or 7168 BF16 values took 2.3-2.9 us on an H100 (bench/results/h100-wgmma-5
// at commit dc5f103, h100.json, measurements labelled "sum of 1"). Clock-bound rather than bandwidth-bound, so it is
// carried to other Hopper parts unchanged.
constexpr double kSmallKernelUs = 2.5;

// Attention fits: decode, then prefill, then several-token (MTP), each a slot per kind (4) and
// cache width (8-bit, 16-bit, sub-byte).
constexpr int kCacheWidths = 3, kPerSet = kCacheWidths * 4;
constexpr int kFitGemm = 0, kFitMoe = 1, kFitAttention = 2, kFitPrefill = kFitAttention + kPerSet, kFitMtp = kFitPrefill + kPerSet;
enum class AttentionFit { decode, prefill, mtp };
int attention_slot(AttentionKind k, Dtype cache, AttentionFit set = AttentionFit::decode) {
  const int base = set == AttentionFit::prefill ? kFitPrefill : set == AttentionFit::mtp ? kFitMtp : kFitAttention;
  const int width = sub_byte(cache) ? 2 : eight_bit(cache) ? 0 : 1;
  return base + kCacheWidths * static_cast<int>(k) + width;
}

}  // namespace

CalibratedTimer::CalibratedTimer(const Hardware& hw, const Quantization& q, const Calibration& c)
    : default_cache_(q.kv),
      measured_on_(c.measured_on()),
      tile_rows_(hw.attention_tile_rows),
      weights_fallback_(fallback_bytes(hw, c), fallback_flops(hw, c, q.weights)),
      cache_fallback_{RooflineTimer(fallback_bytes(hw, c), fallback_flops(hw, c, Dtype::fp8)),
                      RooflineTimer(fallback_bytes(hw, c), fallback_flops(hw, c, Dtype::bf16))},
      prompt_products_flops_per_s_(fallback_flops(hw, c, Dtype::bf16)),
      sfu_ops_per_s_(hw.sfu_ops_per_s.value_or(0)) {
  fits_.resize(kFitMtp + kPerSet);
  // A sub-byte precision without fits of its own takes the FP8 ones: same products, fewer bytes.
  auto take = [&](int slot, const std::string& cls, Dtype d) {
    const EfficiencyFit* f = c.find(cls, calib_dtype(d));
    if (!f && sub_byte(d)) f = c.find(cls, "fp8");
    if (f) fits_[slot] = *f;
  };
  take(kFitGemm, "gemm", q.weights);
  take(kFitMoe, "moe_ffn", q.weights);
  copy_bytes_per_s_ = fallback_bytes(hw, c);
  // Every cache width: a model may keep some layers' cache in 8 bits and others in 16.
  for (AttentionKind k : {AttentionKind::gqa, AttentionKind::mfa, AttentionKind::mla, AttentionKind::linear})
    for (Dtype d : {Dtype::fp8, Dtype::bf16, Dtype::fp4}) {
      take(attention_slot(k, d), std::string("attention_") + attention_kind_name(k), d);
      take(attention_slot(k, d, AttentionFit::prefill), std::string("prefill_attention_") + attention_kind_name(k), d);
      take(attention_slot(k, d, AttentionFit::mtp), std::string("mtp_attention_") + attention_kind_name(k), d);
    }
}

const EfficiencyFit* CalibratedTimer::fit_for(OpClass cls, AttentionKind kind, std::optional<Dtype> cache, double query_tokens) const {
  if (cls == OpClass::elementwise) return nullptr;
  const Dtype c = cache.value_or(default_cache_);
  // Several query tokens take their own fit, as the calibration sorted its shapes; a calibration
  // without them times them with its one-token fit.
  if (cls == OpClass::attention && query_tokens > 1) {
    const AttentionFit set = query_tokens > gpu::kMaxDecodeQueryTokens ? AttentionFit::prefill : AttentionFit::mtp;
    const EfficiencyFit& own = fits_[attention_slot(kind, c, set)];
    if (!own.op_class.empty()) return &own;
  }
  const int slot = cls == OpClass::gemm ? kFitGemm : cls == OpClass::moe_ffn ? kFitMoe : attention_slot(kind, c);
  return fits_[slot].op_class.empty() ? nullptr : &fits_[slot];
}

// A prompt's attention without a prefill fit. The decode fits' FLOP rates say nothing of a prompt's
// kernel: one query token per head leaves decode memory-bound, and where no decode shape pins the
// rate it sits at the fit's bound, above the chip's measured GEMM rate. A FlashAttention-style
// prompt kernel runs its products on the tensor cores, at best at the GEMM rate, and each score's
// exponential on the special function units, which FlashAttention-3 (arXiv 2407.08608)
// names as the other bound (H100 SXM5: 989 TFLOPS of matmul against 3.9 TFLOPS of special
// functions). The best measured prompt kernels take about the sum of the two (cuDNN on H100 at
// 4K-8K tokens within 10%: docs/prefill.md, "Timer"); launch and bytes are the decode fit's.
double CalibratedTimer::prompt_attention_us(const Op& op) const {
  const double compute_s = op.flops / prompt_products_flops_per_s_ + (sfu_ops_per_s_ > 0 ? op.exps / sfu_ops_per_s_ : 0.0);
  if (const EfficiencyFit* decode = fit_for(op.cls, op.attention, op.cache)) {
    EfficiencyFit g = *decode;
    if (compute_s > 0) g.flops_per_s = op.flops / compute_s;
    return g.predict_us(op.flops, op.bytes);
  }
  return 1e6 * std::max(op.bytes / copy_bytes_per_s_, compute_s);
}

double CalibratedTimer::time_us(const Op& counted) const {
  if (counted.flops <= 0 && counted.bytes <= 0) return 0;
  // The fits and the fallbacks below see the FLOPs the tiles issue, packed once.
  Op op = counted;
  op.flops = issued_flops(counted, tile_rows_);
  op.rows_per_kv_head = 0;
  if (op.cls == OpClass::elementwise) return kSmallKernelUs + 1e6 * op.bytes / copy_bytes_per_s_;
  if (op.cls == OpClass::attention && op.query_tokens > gpu::kMaxDecodeQueryTokens &&
      fits_[attention_slot(op.attention, op.cache.value_or(default_cache_), AttentionFit::prefill)].op_class.empty())
    return prompt_attention_us(op);
  if (const EfficiencyFit* f = fit_for(op.cls, op.attention, op.cache, op.query_tokens)) return f->predict_us(op.flops, op.bytes);
  if (op.cls != OpClass::attention) return weights_fallback_.time_us(op);
  return cache_fallback_[eight_bit(op.cache.value_or(default_cache_)) ? 0 : 1].time_us(op);
}

std::string timing_name(const Pool& attention, const Pool& ffn) {
  const std::string a = attention.timer ? attention.timer->name() : "roofline";
  const std::string f = ffn.timer ? ffn.timer->name() : "roofline";
  return a == f ? a : a + "/" + f;
}

Op gemm_op(double m, double k, double n, double weight_bytes) {
  return {OpClass::gemm, 2.0 * m * k * n, k * n * weight_bytes + m * k * weight_bytes + m * n * 2.0};
}

}  // namespace decodesim
