// Registry of compiled attention kernel variants (one template instance each).
#pragma once
#include <stdexcept>
#include <string>
#include <vector>

#include "attention.cuh"
#include "attention_e4m3.cuh"
#include "attention_mla_seesaw.cuh"
#include "attention_wg.cuh"
#include "common.cuh"

namespace decodesim::gpu::detail {

struct AttnVariant {
  std::string name;
  int dqk = 0, dv = 0;
  bool fp8 = false, shared = false;
  int g_blk = 0, tn = 0, threads = 0, smem = 0;
  // Eligible whatever the group size: its blocks take a fixed slice of the group (64 heads for the
  // warpgroup kernels, rows past the group padding; 16 for the e4m3 warp-split kernel, the group
  // spread over several head blocks). The other mma.sync variants are chosen by head-block size.
  bool any_group = false;
  void (*launch)(const AttnParams&, int grid, cudaStream_t) = nullptr;
  int (*blocks_per_sm)() = nullptr;  // 0 when it cannot run on this device
};

// Raises a kernel's dynamic shared memory limit once; false when the device has too little.
bool prepare_kernel(const void* fn, int smem);

// One compiled mma.sync kernel (a template instance, KERNEL) behind the variant's pointers. With
// MERGE, split partials are combined by attn_merge_kernel, launched as a dependent, rather than by
// the kernel's last block.
template <class Cfg, void (*KERNEL)(AttnParams), bool MERGE = false>
struct MmaKernel {
  static bool prepare() {
    return per_device<bool>([] { return prepare_kernel(reinterpret_cast<const void*>(KERNEL), Cfg::SMEM); });
  }
  static void launch(const AttnParams& p, int grid, cudaStream_t s) {
    if (!prepare()) throw std::runtime_error("attention variant needs more shared memory than this device has");
    if (p.block_table && p.page_size % Cfg::PAGE_TOKENS)
      throw std::runtime_error("attention variant needs pages of whole " + std::to_string(Cfg::PAGE_TOKENS) + "-token tiles");
    KERNEL<<<grid, Cfg::THREADS, Cfg::SMEM, s>>>(p);
    DS_LAUNCHED("attention mma.sync kernel");
    if constexpr (MERGE) {
      if (p.splits > 1) {
        if (p.splits > kMaxSplits) throw std::runtime_error("attention merges at most " + std::to_string(kMaxSplits) + " splits of a context");
        launch_dependent(attn_merge_kernel<Cfg::DV, Cfg::G>, grid / p.splits * (Cfg::DV / 64), 256, 0, s, p);
        DS_LAUNCHED("attention merge kernel");
      }
    }
  }
  static int blocks_per_sm() {
    if (!prepare()) return 0;
    int n = 0;
    DS_CUDA(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&n, KERNEL, Cfg::THREADS, Cfg::SMEM));
    return n;
  }
};

// Tensor maps of the caches for the TMA variants: 64-column x 32-row boxes with the swizzle the
// kernel's shared layout uses (128 bytes for bf16 rows, 64 for e4m3).
WgMaps make_wg_maps(const AttnParams& p, bool fp8, bool shared, int box_rows);

// A warpgroup kernel (Cfg's instance of KERNEL) behind the variant's pointers.
template <class Cfg, void (*KERNEL)(AttnParams, WgMaps)>
struct WgKernel {
  static bool prepare() {
    return per_device<bool>([] { return prepare_kernel(reinterpret_cast<const void*>(KERNEL), Cfg::SMEM); });
  }
  static void launch(const AttnParams& p, int grid, cudaStream_t s) {
    if (!prepare()) throw std::runtime_error("attention variant needs more shared memory than this device has");
    if (p.splits > kMaxSplits) throw std::runtime_error("warpgroup attention merges at most " + std::to_string(kMaxSplits) + " splits of a context");
    if (p.block_table && p.page_size % Cfg::TN) throw std::runtime_error("warpgroup attention needs pages of whole tiles");
    WgMaps maps = Cfg::TMA ? make_wg_maps(p, Cfg::FP8, Cfg::SHARED, Cfg::TN) : WgMaps{};
    AttnParams args = p;
    void* argv[] = {&args, &maps};
    DS_CUDA(cudaLaunchKernel(reinterpret_cast<const void*>(KERNEL), dim3(grid), dim3(Cfg::THREADS), argv, Cfg::SMEM, s));
    DS_LAUNCHED("attention warpgroup kernel");
    if (merged_apart(p.splits)) {
      launch_dependent(attn_merge_kernel<Cfg::DV>, grid / p.splits * (Cfg::DV / 64), 256, 0, s, args);
      DS_LAUNCHED("attention merge kernel");
    }
  }
  static int blocks_per_sm() {
    if (!prepare()) return 0;
    int n = 0;
    DS_CUDA(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&n, KERNEL, Cfg::THREADS, Cfg::SMEM));
    return n;
  }
  // The fields every warpgroup variant shares: 64 heads per block, contexts split at pairs of tiles.
  static AttnVariant variant(std::string name) {
    AttnVariant v;
    v.name = std::move(name);
    v.dqk = Cfg::DQK, v.dv = Cfg::DV, v.fp8 = Cfg::FP8, v.shared = Cfg::SHARED;
    v.g_blk = Cfg::G, v.tn = 2 * Cfg::TN, v.threads = Cfg::THREADS, v.smem = Cfg::SMEM;
    v.any_group = true;
    v.launch = &launch;
    v.blocks_per_sm = &blocks_per_sm;
    return v;
  }
};

// The fields every mma.sync variant shares.
template <class Cfg, class K>
AttnVariant mma_variant(std::string name) {
  AttnVariant v;
  v.name = std::move(name);
  v.dqk = Cfg::DQK, v.dv = Cfg::DV, v.fp8 = Cfg::FP8, v.shared = Cfg::SHARED;
  v.g_blk = Cfg::G, v.tn = Cfg::TN, v.threads = Cfg::THREADS, v.smem = Cfg::SMEM;
  v.launch = &K::launch;
  v.blocks_per_sm = &K::blocks_per_sm;
  return v;
}
template <class Cfg>
AttnVariant attn_variant() {
  return mma_variant<Cfg, MmaKernel<Cfg, &attn_decode_kernel<Cfg>>>(
      "mt" + std::to_string(Cfg::MT) + "c" + std::to_string(Cfg::C) + "tn" + std::to_string(Cfg::TN) + "s" +
      std::to_string(Cfg::STAGES) + (Cfg::QREG ? "q" : "") + "b" + std::to_string(Cfg::MINB));
}
// e4m3 tensor-core variants for small groups (warp-split streams).
template <class Cfg>
AttnVariant e4m3_variant() {
  AttnVariant v = mma_variant<Cfg, MmaKernel<Cfg, &attn_e4m3_kernel<Cfg>, true>>(
      "e4w" + std::to_string(Cfg::W) + "c" + std::to_string(Cfg::TPW) + "s" + std::to_string(Cfg::S) + "b" + std::to_string(Cfg::MINB));
  v.any_group = true;
  return v;
}

// Warpgroup (wgmma) variants.
template <class Cfg>
AttnVariant wg_variant() {
  return WgKernel<Cfg, &attn_wg_kernel<Cfg>>::variant(
      "wg" + std::to_string(Cfg::TN) + "x2p" + std::to_string(Cfg::NP) + (Cfg::TMA ? "tma" : "") +
      (Cfg::MINB > 1 ? "b" + std::to_string(Cfg::MINB) : "") + (Cfg::SPREAD ? "sp" : "") + (Cfg::LAZY ? "lz" : "") + (Cfg::POST ? "po" : ""));
}
template <class Cfg>
AttnVariant seesaw_variant() {
  return WgKernel<Cfg, &attn_mla_seesaw_kernel<Cfg>>::variant(std::string("ss64x2tma") + (Cfg::LAZY ? "lz" : ""));
}

void register_attn_d256(std::vector<AttnVariant>& out);
void register_attn_d128(std::vector<AttnVariant>& out);
void register_attn_mla(std::vector<AttnVariant>& out);
void register_attn_wg(std::vector<AttnVariant>& out);
void register_attn_seesaw(std::vector<AttnVariant>& out);
const std::vector<AttnVariant>& attn_registry();

}  // namespace decodesim::gpu::detail
