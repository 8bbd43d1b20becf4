// Registry of compiled attention kernel variants (one template instance each).
#pragma once
#include <stdexcept>
#include <string>
#include <vector>

#include "attention.cuh"
#include "common.cuh"

namespace decodesim::gpu::detail {

struct AttnVariant {
  std::string name;
  int dqk = 0, dv = 0;
  bool fp8 = false, shared = false;
  int g_blk = 0, tn = 0, threads = 0, smem = 0;
  void (*launch)(const AttnParams&, int grid, cudaStream_t) = nullptr;
  int (*blocks_per_sm)() = nullptr;  // 0 when it cannot run on this device
};

template <class Cfg>
bool attn_prepare() {
  static const bool ok = [] {
    if (Cfg::SMEM > int(props().sharedMemPerBlockOptin)) return false;
    DS_CUDA(cudaFuncSetAttribute(attn_decode_kernel<Cfg>, cudaFuncAttributeMaxDynamicSharedMemorySize, Cfg::SMEM));
    return true;
  }();
  return ok;
}

template <class Cfg>
void attn_launch(const AttnParams& p, int grid, cudaStream_t s) {
  if (!attn_prepare<Cfg>()) throw std::runtime_error("attention variant needs more shared memory than this device has");
  attn_decode_kernel<Cfg><<<grid, Cfg::THREADS, Cfg::SMEM, s>>>(p);
  DS_LAUNCHED("attn_decode_kernel");
}

template <class Cfg>
int attn_blocks_per_sm() {
  if (!attn_prepare<Cfg>()) return 0;
  int n = 0;
  DS_CUDA(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&n, attn_decode_kernel<Cfg>, Cfg::THREADS, Cfg::SMEM));
  return n;
}

template <class Cfg>
AttnVariant attn_variant() {
  AttnVariant v;
  v.name = "mt" + std::to_string(Cfg::MT) + "c" + std::to_string(Cfg::C) + "tn" + std::to_string(Cfg::TN) + "s" +
           std::to_string(Cfg::STAGES) + (Cfg::QREG ? "q" : "") + "b" + std::to_string(Cfg::MINB);
  v.dqk = Cfg::DQK, v.dv = Cfg::DV, v.fp8 = Cfg::FP8, v.shared = Cfg::SHARED;
  v.g_blk = Cfg::G, v.tn = Cfg::TN, v.threads = Cfg::THREADS, v.smem = Cfg::SMEM;
  v.launch = &attn_launch<Cfg>;
  v.blocks_per_sm = &attn_blocks_per_sm<Cfg>;
  return v;
}

void register_attn_d256(std::vector<AttnVariant>& out);
void register_attn_d128(std::vector<AttnVariant>& out);
void register_attn_mla(std::vector<AttnVariant>& out);
const std::vector<AttnVariant>& attn_registry();

}  // namespace decodesim::gpu::detail
