// Registry of compiled attention kernel variants (one template instance each).
#pragma once
#include <stdexcept>
#include <string>
#include <vector>

#include "attention.cuh"
#include "attention_e4m3.cuh"
#include "attention_mla_e4m3.cuh"
#include "attention_rows.cuh"
#include "attention_wg.cuh"
#include "common.cuh"

namespace decodesim::gpu::detail {

struct AttnVariant {
  std::string name;
  int dqk = 0, dv = 0;
  bool fp8 = false, shared = false;
  bool fp4 = false;  // reads a 4-bit cache (and computes in e4m3: fp8 is set too)
  int g_blk = 0, tn = 0, threads = 0, smem = 0;
  // Eligible whatever the group size: its blocks take a fixed slice of the group (64 heads for the
  // warpgroup kernels, rows past the group padding; 16 for the e4m3 warp-split kernel, the group
  // spread over several head blocks). The other mma.sync variants are chosen by head-block size.
  bool any_group = false;
  bool multi_token = false;  // built for several query tokens per request (Cfg::MQ); the others take one
  int page_tokens = 0;       // tokens a tile reads from one page: a paged cache's pages hold whole tiles
  void (*launch)(const AttnParams&, int grid, cudaStream_t) = nullptr;
  int (*blocks_per_sm)() = nullptr;  // 0 when it cannot run on this device
};

// Raises a kernel's dynamic shared memory limit once; false when the device has too little.
bool prepare_kernel(const void* fn, int smem);

// A compiled kernel (a template instance) and its launch resources: the shared memory limit raised
// once per device, and the blocks an SM holds (0 when it cannot run on this device).
template <class Cfg, auto KERNEL>
struct KernelSlot {
  static bool prepare() {
    return per_device<bool>([] { return prepare_kernel(reinterpret_cast<const void*>(KERNEL), Cfg::SMEM); });
  }
  static void require(const AttnParams& p, bool merges_splits) {
    if (!prepare()) throw std::runtime_error("attention variant needs more shared memory than this device has");
    if (merges_splits && p.splits > kMaxSplits)
      throw std::runtime_error("attention merges at most " + std::to_string(kMaxSplits) + " splits of a context");
    if (p.block_table && p.page_size % Cfg::PAGE_TOKENS)
      throw std::runtime_error("attention variant needs pages of whole " + std::to_string(Cfg::PAGE_TOKENS) + "-token tiles");
  }
  static int blocks_per_sm() {
    if (!prepare()) return 0;
    int n = 0;
    DS_CUDA(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&n, KERNEL, Cfg::THREADS, Cfg::SMEM));
    return n;
  }
};

// The split partials of an attention launch of `grid` blocks merged by attn_merge_kernel (heads in
// blocks of G), launched as a programmatic dependent of it.
template <int DV, int G, bool MQ = false>
void launch_split_merge(const AttnParams& p, int grid, cudaStream_t s) {
  launch_dependent(attn_merge_kernel<DV, G, MQ>, grid / p.splits * (DV / 64), 256, 0, s, p);
  DS_LAUNCHED("attention merge kernel");
}

// One mma.sync kernel behind the variant's pointers. With MERGE, split partials are combined by
// attn_merge_kernel rather than by the kernel's last block.
template <class Cfg, void (*KERNEL)(AttnParams), bool MERGE = false>
struct MmaKernel : KernelSlot<Cfg, KERNEL> {
  static void launch(const AttnParams& p, int grid, cudaStream_t s) {
    MmaKernel::require(p, MERGE);
    KERNEL<<<grid, Cfg::THREADS, Cfg::SMEM, s>>>(p);
    DS_LAUNCHED("attention mma.sync kernel");
    if constexpr (MERGE)
      if (p.splits > 1) launch_split_merge<Cfg::DV, Cfg::G, Cfg::MQ>(p, grid, s);
  }
};

// Tensor maps of the caches for the TMA variants: 64-column x 32-row boxes with the swizzle the
// kernel's shared layout uses (128 bytes for bf16 rows, 64 for e4m3).
WgMaps make_wg_maps(const AttnParams& p, bool fp8, bool shared, int box_rows);

// A warpgroup kernel (Cfg's instance of KERNEL) behind the variant's pointers.
template <class Cfg, void (*KERNEL)(AttnParams, WgMaps)>
struct WgKernel : KernelSlot<Cfg, KERNEL> {
  static void launch(const AttnParams& p, int grid, cudaStream_t s) {
    WgKernel::require(p, true);
    WgMaps maps = Cfg::TMA ? make_wg_maps(p, Cfg::FP8, Cfg::SHARED, Cfg::TN) : WgMaps{};
    AttnParams args = p;
    void* argv[] = {&args, &maps};
    DS_CUDA(cudaLaunchKernel(reinterpret_cast<const void*>(KERNEL), dim3(grid), dim3(Cfg::THREADS), argv, Cfg::SMEM, s));
    DS_LAUNCHED("attention warpgroup kernel");
    if (p.splits <= 1) return;
    if constexpr (Cfg::G <= 64) {
      launch_split_merge<Cfg::DV, Cfg::G, Cfg::MQ>(p, grid, s);
    } else {
      // blocks of more rows than a merge block takes: the partials are per row, so merge them in
      // blocks of 64
      AttnParams m = p;
      m.head_blocks = (p.group + 63) / 64;
      launch_split_merge<Cfg::DV, 64, Cfg::MQ>(m, grid / p.head_blocks * m.head_blocks, s);
    }
  }
};

// The fields every variant shares; K is its kernel's launcher. tn: the tokens a split is a multiple of.
template <class Cfg, class K>
AttnVariant variant_of(std::string name, int tn, bool any_group) {
  AttnVariant v;
  v.name = std::move(name);
  v.dqk = Cfg::DQK, v.dv = Cfg::DV, v.fp8 = Cfg::FP8, v.shared = Cfg::SHARED;
  v.g_blk = Cfg::G, v.tn = tn, v.threads = Cfg::THREADS, v.smem = Cfg::SMEM;
  v.any_group = any_group;
  v.multi_token = Cfg::MQ;
  v.page_tokens = Cfg::PAGE_TOKENS;
  if (Cfg::MQ) v.name += "mq";
  v.launch = &K::launch;
  v.blocks_per_sm = &K::blocks_per_sm;
  return v;
}
template <class Cfg>
AttnVariant attn_variant() {
  return variant_of<Cfg, MmaKernel<Cfg, &attn_decode_kernel<Cfg>>>(
      "mt" + std::to_string(Cfg::MT) + "c" + std::to_string(Cfg::C) + "tn" + std::to_string(Cfg::TN) + "s" +
          std::to_string(Cfg::STAGES) + (Cfg::QREG ? "q" : "") + "b" + std::to_string(Cfg::MINB),
      Cfg::TN, false);
}
// e4m3 tensor-core variants for small groups (warp-split streams): 16 heads per block, any group.
template <class Cfg>
AttnVariant e4m3_variant() {
  AttnVariant v = variant_of<Cfg, MmaKernel<Cfg, &attn_e4m3_kernel<Cfg>, true>>(
      "e4w" + std::to_string(Cfg::W) + "c" + std::to_string(Cfg::TPW) + "s" + std::to_string(Cfg::S) + "b" + std::to_string(Cfg::MINB) +
          (Cfg::FP4 ? "e2m1" : ""),
      Cfg::TN, true);
  v.fp4 = Cfg::FP4;
  return v;
}

// Warpgroup (wgmma) variants.
// Warpgroup variants take 64 heads per block whatever the group (rows past it padding) and split
// contexts at pairs of tiles.
template <class Cfg>
AttnVariant wg_variant() {
  AttnVariant v = variant_of<Cfg, WgKernel<Cfg, &attn_wg_kernel<Cfg>>>(
      "wg" + std::to_string(Cfg::TN) + "x2p" + std::to_string(Cfg::NP) + (Cfg::TMA ? "tma" : "") +
          (Cfg::MINB > 1 ? "b" + std::to_string(Cfg::MINB) : "") + (Cfg::SPREAD ? "sp" : "") + (Cfg::LAZY ? "lz" : "") +
          (Cfg::POST ? "po" : "") + (Cfg::FP4 ? "e2m1" : "") + (Cfg::AHEAD ? "ah" : ""),
      2 * Cfg::TN, true);
  v.fp4 = Cfg::FP4;
  return v;
}
// Rows variants (attention_rows.cuh): 128 rows per block, a producer warpgroup, NS tiles in the ring.
template <class Cfg>
AttnVariant rows_variant() {
  return variant_of<Cfg, WgKernel<Cfg, &attn_rows_kernel<Cfg>>>("rw" + std::to_string(Cfg::TN) + "x" + std::to_string(Cfg::NS) +
                                                                     (Cfg::PP ? "pp" : ""),
                                                                 Cfg::TN, true);
}
template <class Cfg>
AttnVariant seesaw_variant() {
  return variant_of<Cfg, WgKernel<Cfg, &attn_mla_seesaw_kernel<Cfg>>>(std::string("ss64x2tma") + (Cfg::LAZY ? "lz" : ""), 2 * Cfg::TN,
                                                                         true);
}

// The FP8 seesaw with its producer warpgroup; r, v: the depths of its rings of cache tiles and of V^T.
template <class Cfg>
AttnVariant seesaw_e4m3_variant() {
  return variant_of<Cfg, WgKernel<Cfg, &attn_mla_seesaw_e4m3_kernel<Cfg>>>("ss64x2e4r" + std::to_string(Cfg::NS) + "v" + std::to_string(Cfg::NVT), 2 * Cfg::TN, true);
}

void register_attn_d256(std::vector<AttnVariant>& out);
void register_attn_d128(std::vector<AttnVariant>& out);
void register_attn_mla(std::vector<AttnVariant>& out);
void register_attn_wg(std::vector<AttnVariant>& out);
void register_attn_seesaw(std::vector<AttnVariant>& out);
void register_attn_rows(std::vector<AttnVariant>& out);
const std::vector<AttnVariant>& attn_registry();

}  // namespace decodesim::gpu::detail
