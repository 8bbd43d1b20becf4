// Grouped routed-expert FFN on warpgroup MMA (sm_90a): all local experts in one launch for gate+up
// (with SiLU(gate)*up fused into its epilogue) and one launch for down, whatever the routing.
//
// Decode feeds each expert few tokens, so the products are computed transposed ("swap AB"): the
// expert's weight rows are wgmma's 64-row M side and the expert's tokens its N side (16..128), so a
// handful of tokens does not waste a 64-row tile. Per-expert token counts and row offsets live on
// the device: a persistent grid walks a tile list computed from them (expert, 64 output features,
// token block), so uneven routing, empty experts and graph replay with new routing all work.
// Weights stream through a STAGES-deep cp.async pipeline of 128-byte K chunks, swizzled as wgmma
// reads them; one warpgroup per block, up to two blocks per SM.
#pragma once
#include "wgmma.cuh"

namespace decodesim::gpu::detail {

struct MoeParams {
  const int* counts;   // [E] tokens routed to each expert
  const int* offsets;  // [E] first row of each expert's tokens in x / act / y
  int experts;
  int hidden, inter;   // H, I
  const void* x;       // [rows][H]
  const void* w1;      // [E][2I][H]: gate rows, then up rows
  const void* w2;      // [E][H][I]
  void* act;           // [rows][I]
  __nv_bfloat16* y;    // [rows][H]
  float gate_up_scale;  // w1 scale * x scale
  float down_scale;     // w2 scale * act scale
  float act_inv_scale;  // 1 / act scale (fp8 activations)
};

template <bool FP8_, int NT_, int STAGES_>
struct MoeCfg {
  static constexpr bool FP8 = FP8_;
  static constexpr int NT = NT_, STAGES = STAGES_, THREADS = 128;
  static constexpr int ES = FP8 ? 1 : 2;
  static constexpr int KCH = 128 / ES;          // K elements per 128-byte chunk
  static constexpr int A_BYTES = 64 * 128;      // 64 weight rows x 128 bytes
  static constexpr int B_BYTES = NT * 128;
  // gate+up stage: gate rows, up rows, tokens; down stage: weight rows, tokens
  static constexpr int STAGE1 = 2 * A_BYTES + B_BYTES, STAGE2 = A_BYTES + B_BYTES;
  static constexpr int MAX_EXPERTS = 1024;
  static constexpr int OFF_TILES = STAGES * STAGE1;  // per-expert tile prefix (ints)
  static constexpr int SMEM = OFF_TILES + (MAX_EXPERTS + 1) * 4 + 1024;
  static_assert(NT == 16 || NT == 32 || NT == 64 || NT == 128, "token block");
};

namespace moe_dev {

template <bool FP8, int N>
__device__ __forceinline__ void mma_ss(float (&d)[N / 2], uint64_t da, uint64_t db, int scale_d) {
  if constexpr (FP8) {
    if constexpr (N == 16) wg::wgmma_e4m3_ss_n16(d, da, db, scale_d);
    else if constexpr (N == 32) wg::wgmma_e4m3_ss_n32(d, da, db, scale_d);
    else if constexpr (N == 64) wg::wgmma_e4m3_ss_n64(d, da, db, scale_d);
    else wg::wgmma_e4m3_ss_n128(d, da, db, scale_d);
  } else {
    if constexpr (N == 16) wg::wgmma_bf16_ss_n16(d, da, db, scale_d);
    else if constexpr (N == 32) wg::wgmma_bf16_ss_n32(d, da, db, scale_d);
    else if constexpr (N == 64) wg::wgmma_bf16_ss_n64(d, da, db, scale_d);
    else wg::wgmma_bf16_ss_n128(d, da, db, scale_d);
  }
}


// Tiles of expert e: (rows / 64 feature blocks) x ceil(count / NT) token blocks. Returns the total;
// prefix[e] is the first tile of expert e.
template <int NT>
__device__ int build_tile_prefix(const MoeParams& p, int feature_blocks, int* prefix) {
  __syncthreads();
  if (threadIdx.x == 0) {
    int acc = 0;
    for (int e = 0; e < p.experts; ++e) {
      prefix[e] = acc;
      acc += feature_blocks * ((__ldg(p.counts + e) + NT - 1) / NT);
    }
    prefix[p.experts] = acc;
  }
  __syncthreads();
  return prefix[p.experts];
}

}  // namespace moe_dev

// DOWN = false: act = silu(x W_gate^T) * (x W_up^T); DOWN = true: y = act W2^T.
template <class Cfg, bool DOWN>
__global__ void __launch_bounds__(128, 2) moe_grouped_kernel(const MoeParams p) {
  using namespace moe_dev;
  constexpr int NT = Cfg::NT, S = Cfg::STAGES, ES = Cfg::ES;
  constexpr int STAGE = DOWN ? Cfg::STAGE2 : Cfg::STAGE1;
  constexpr int NA = DOWN ? 1 : 2;  // weight tiles per stage
  extern __shared__ unsigned char smem_raw[];
  const uint32_t raw_addr = wg::smem_addr(smem_raw);
  const uint32_t base = (raw_addr + 1023u) & ~1023u;
  unsigned char* smem = smem_raw + (base - raw_addr);
  int* prefix = reinterpret_cast<int*>(smem + Cfg::OFF_TILES);

  const int tid = threadIdx.x, lane = tid & 31, wq = tid >> 5, g = lane >> 2, t4 = lane & 3;
  const int K = DOWN ? p.inter : p.hidden;            // reduction length
  const int rows_out = DOWN ? p.hidden : p.inter;     // output features per expert
  const int fblocks = rows_out / 64;
  const int nk = K / Cfg::KCH;
  const long long w_rows = DOWN ? p.hidden : 2LL * p.inter;  // weight rows per expert
  const unsigned char* W = static_cast<const unsigned char*>(DOWN ? p.w2 : p.w1);
  const unsigned char* X = static_cast<const unsigned char*>(DOWN ? p.act : p.x);
  // Programmatic dependent launch: gate+up lets the down kernel be scheduled at once; the down
  // kernel builds its tile list, then waits for gate+up's act (a no-op when launched plainly).
  if constexpr (!DOWN) asm volatile("griddepcontrol.launch_dependents;\n" ::: "memory");
  const int total = build_tile_prefix<NT>(p, fblocks, prefix);
  if constexpr (DOWN) asm volatile("griddepcontrol.wait;\n" ::: "memory");

#pragma unroll 1
  for (int tile = blockIdx.x; tile < total; tile += gridDim.x) {
    int lo = 0, hi = p.experts - 1;  // the expert whose tile range holds `tile`
    while (lo < hi) {
      const int mid = (lo + hi + 1) >> 1;
      if (prefix[mid] <= tile) lo = mid;
      else hi = mid - 1;
    }
    const int e = lo;
    const int local = tile - prefix[e];
    const int fb = local % fblocks, tb = local / fblocks;
    const int count = __ldg(p.counts + e), row0 = __ldg(p.offsets + e) + tb * NT;
    const int ntok = min(NT, count - tb * NT);
    const unsigned char* w_e = W + (long long)e * w_rows * K * ES;

    auto load_stage = [&](int kc) {
      const uint32_t st = base + (kc % S) * STAGE;
      const long long kb = (long long)kc * 128;  // byte offset of this K chunk in a row
      // weight rows: 64 (down) or 64 gate + 64 up, 8 units of 16 bytes each
      for (int u = tid; u < NA * 64 * 8; u += 128) {
        const int a = u / 512, r = (u / 8) % 64, c = u % 8;
        const long long wrow = DOWN ? fb * 64 + r : (a == 0 ? fb * 64 + r : p.inter + fb * 64 + r);
        wg::cp_async16(st + a * Cfg::A_BYTES + wg::swz<128>(r, c * 16), w_e + wrow * K * ES + kb + c * 16, true);
      }
      for (int u = tid; u < NT * 8; u += 128) {
        const int r = u / 8, c = u % 8;
        const bool ok = r < ntok;
        wg::cp_async16(st + NA * Cfg::A_BYTES + wg::swz<128>(r, c * 16), X + (ok ? (long long)(row0 + r) * K * ES : 0) + kb + c * 16, ok);
      }
    };

    float acc[NA][NT / 2];
#pragma unroll
    for (int a = 0; a < NA; ++a)
#pragma unroll
      for (int i = 0; i < NT / 2; ++i) acc[a][i] = 0.f;

#pragma unroll 1
    for (int s = 0; s < S - 1; ++s) {
      if (s < nk) load_stage(s);
      wg::cp_commit();
    }
#pragma unroll 1
    for (int kc = 0; kc < nk; ++kc) {
      wg::cp_wait<S - 2>();
      wg::fence_proxy_async();
      __syncthreads();
      const uint32_t st = base + (kc % S) * STAGE;
      wg::fence();
#pragma unroll
      for (int ks = 0; ks < 4; ++ks) {
        const uint64_t db = wg::desc_k_major<128>(st + NA * Cfg::A_BYTES) + 2 * ks;
#pragma unroll
        for (int a = 0; a < NA; ++a)
          mma_ss<Cfg::FP8, NT>(acc[a], wg::desc_k_major<128>(st + a * Cfg::A_BYTES) + 2 * ks, db, 1);
      }
      wg::commit();
      wg::wait<1>();  // the previous chunk's products are done: its stage may be refilled
      __syncthreads();
      if (kc + S - 1 < nk) load_stage(kc + S - 1);
      wg::cp_commit();
    }
    wg::wait<0>();
#pragma unroll
    for (int a = 0; a < NA; ++a) wg::fence_regs(acc[a]);
    wg::cp_wait<0>();
    __syncthreads();  // every stage is free: the epilogue stages its tile in stage 0

    // Epilogue: accumulator (feature row, token column) -> shared [token][64 features] -> rows.
    const int ra = wq * 16 + g, rb = ra + 8;
    unsigned char* stage0 = smem;
    constexpr int OUT_ES = DOWN ? 2 : ES;  // y is bf16; act is e4m3 or bf16
#pragma unroll
    for (int i = 0; i < NT / 2; ++i) {
      const int n = 8 * (i >> 2) + 2 * t4 + (i & 1);
      const int r = (i & 2) ? rb : ra;
      float v;
      if constexpr (DOWN) {
        v = acc[0][i] * p.down_scale;
      } else {
        const float gt = acc[0][i] * p.gate_up_scale, up = acc[1][i] * p.gate_up_scale;
        v = gt / (1.f + __expf(-gt)) * up;
      }
      if constexpr (OUT_ES == 2) {
        reinterpret_cast<__nv_bfloat16*>(stage0)[n * 64 + r] = __float2bfloat16_rn(v);
      } else {
        stage0[n * 64 + r] = __nv_cvt_float_to_fp8(v * p.act_inv_scale, __NV_SATFINITE, __NV_E4M3);
      }
    }
    __syncthreads();
    constexpr int UPR = 64 * OUT_ES / 16;  // 16-byte units per token row of the tile
    unsigned char* out = DOWN ? reinterpret_cast<unsigned char*>(p.y) : static_cast<unsigned char*>(p.act);
    for (int u = tid; u < ntok * UPR; u += 128) {
      const int n = u / UPR, c = u % UPR;
      const uint4 v = *reinterpret_cast<const uint4*>(stage0 + n * 64 * OUT_ES + c * 16);
      *reinterpret_cast<uint4*>(out + ((long long)(row0 + n) * rows_out + fb * 64) * OUT_ES + c * 16) = v;
    }
    __syncthreads();  // stage 0 is reloaded by the next tile
  }
}

}  // namespace decodesim::gpu::detail
