#include <map>

#include "decodesim/hardware.hpp"
#include "decodesim/model.hpp"

namespace decodesim {

namespace {
constexpr double kFp4ValueBits = 4, kFp4BlockValues = 16;  // NVFP4 (see dtype_bytes)
}  // namespace

double dtype_bytes(Dtype d) {
  switch (d) {
    case Dtype::fp32: return 4;
    case Dtype::bf16:
    case Dtype::fp16: return 2;
    case Dtype::fp8:
    case Dtype::int8: return 1;
    case Dtype::int4: return 0.5;
    // NVFP4: 4-bit E2M1 values plus one FP8 E4M3 scale per block of 16 (4 + 8/16 = 4.5 bits); the
    // per-tensor FP32 scale is amortised to nothing. NVIDIA, "Introducing NVFP4 for Efficient and
    // Accurate Low-Precision Inference" (developer.nvidia.com blog, June 2025).
    case Dtype::fp4: return kFp4ValueBits / 8.0 + 1.0 / kFp4BlockValues;
  }
  return 0;
}

const char* dtype_name(Dtype d) {
  switch (d) {
    case Dtype::fp32: return "fp32";
    case Dtype::bf16: return "bf16";
    case Dtype::fp16: return "fp16";
    case Dtype::fp8: return "fp8";
    case Dtype::int8: return "int8";
    case Dtype::int4: return "int4";
    case Dtype::fp4: return "fp4";
  }
  return "?";
}

const char* attention_kind_name(AttentionKind k) {
  switch (k) {
    case AttentionKind::gqa: return "gqa";
    case AttentionKind::mfa: return "mfa";
    case AttentionKind::mla: return "mla";
    case AttentionKind::linear: return "linear";
  }
  return "?";
}

Dtype cache_dtype(const AttentionSpec& a, const Quantization& q) {
  return a.cache_dtype.value_or(a.kind == AttentionKind::linear ? q.state : q.kv);
}

void set_kv_dtype(std::vector<AttentionSpec>& designs, Quantization& q, Dtype kv) {
  q.kv = kv;
  for (AttentionSpec& a : designs)
    if (a.kind != AttentionKind::linear) a.cache_dtype.reset();
}

LayerKinds layer_kinds(const Model& m) {
  LayerKinds k;
  std::map<std::pair<int, int>, int> index;
  for (int l = 0; l < m.num_layers(); ++l) {
    const auto [it, fresh] = index.emplace(std::make_pair(m.layer_attention[l], m.layer_ffn[l]), int(k.groups.size()));
    if (fresh) k.groups.push_back({l, 0});
    ++k.groups[it->second].layers;
    k.group_of.push_back(it->second);
  }
  return k;
}

double Hardware::peak_flops_per_s(Dtype compute) const {
  switch (compute) {
    case Dtype::fp8:
      if (fp8_flops_per_s) return *fp8_flops_per_s;
      break;
    case Dtype::fp4:  // low-bit storage, 8-bit compute (no Hopper or Ampere tensor core multiplies FP4)
      if (fp8_flops_per_s) return *fp8_flops_per_s;
      if (int8_flops_per_s) return *int8_flops_per_s;
      break;
    case Dtype::int8:
    case Dtype::int4:
      if (int8_flops_per_s) return *int8_flops_per_s;
      break;
    default:
      break;
  }
  // bf16 is the fallback every chip has (validated by the loader); fp16 runs at the bf16 rate.
  return bf16_flops_per_s.value_or(0.0);
}

}  // namespace decodesim
