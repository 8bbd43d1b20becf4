// Hopper decode attention for absorbed MLA with BF16 KV (one 576-wide latent per token; the values
// are its first 512 columns), with the two warpgroups of a block taking turns: the "seesaw"
// schedule of FlashMLA's published design, written here from its description.
//
// One block owns (request, 64 query heads, a split of the context) and walks the context in pairs of
// 64-token tiles: tile A (even) in buffer 0, tile B (odd) in buffer 1. Warpgroup 0 computes
// S_A = Q K_A^T, warpgroup 1 S_B (m64n64k16: the full tensor rate, where the 32-token tiles of
// attn_wg_kernel run at 2/3 of it). Warpgroup 0 owns output columns [0, 256) (O_L), warpgroup 1
// [256, 512) (O_R). The running maximum m is handed from one to the other through shared memory:
//   WG0: softmax(S_A) against m -> m_A, P_A;  O_L += P_A V_A,L
//   WG1:      softmax(S_B) against m_A -> m_B, P_B;  O_R += P_B V_B,R;  O_R += P_A V_A,R
//   WG0: P_A (rescaled to m_B) -> shared memory for WG1;  O_L rescaled to m_B;  O_L += P_B V_B,L
// so each warpgroup's softmax runs while the other's products keep the tensor cores busy, and the
// next pair's score products start as soon as their chunks have landed.
//
// Shared memory: Q as 9 chunks of 64 heads x 64 columns (128-byte swizzle, K-major), two tile buffers
// of 9 such chunks (64 tokens each, the layout the TMA box writes), and P_A: 3 x 72 + 8 KB. P_B takes
// the place of Q's last chunk, which every thread first reads into registers (the A operand of that
// chunk's score product). Each chunk of a buffer has its own copy barrier and is copied again as soon
// as its last reader is done: V's left half (chunks 0-3) after WG0's products with it, chunks 4-8
// after WG1's. Two tiles of buffering thus overlap the next pair's copies with this pair's products
// at 8 KB granularity.
//
// Splits of the context and their merge are those of attn_wg_kernel (wg_finish).
#pragma once
#include "attention_wg.cuh"

namespace decodesim::gpu::detail {

// LAZY_: as WgCfg's LAZY (a row's running maximum moves only when a tile's maximum exceeds it by
// more than 8 in the log2 domain, so most O rescales are skipped by whole warps).
// MQ_: built for several query tokens per request (HeadBlock).
template <bool LAZY_ = false, bool MQ_ = false>
struct SeesawCfg {
  static constexpr bool LAZY = LAZY_, MQ = MQ_;
  static constexpr float LAZY_LOG2 = LAZY ? 8.f : 0.f;
  static constexpr int DQK = 576, DV = 512, TN = 64, G = 64, THREADS = 256, MINB = 1;
  static constexpr int PAGE_TOKENS = TN;  // a tile's rows are consecutive cache rows
  static constexpr bool FP8 = false, SHARED = true, TMA = true;
  static constexpr int QC = DQK / 64;                 // 64-column chunks of Q and of a tile
  static constexpr int CHUNK = 64 * 128;              // 64 rows x 64 bf16 columns
  static constexpr int TILE = QC * CHUNK;
  static constexpr int OFF_Q = 0;
  static constexpr int OFF_PB = OFF_Q + (QC - 1) * CHUNK;  // Q's last chunk, once read into registers
  static constexpr int OFF_T = OFF_Q + TILE;               // tile buffer i at OFF_T + i * TILE
  static constexpr int OFF_PA = OFF_T + 2 * TILE;
  static constexpr int OFF_RED = OFF_PA + CHUNK;           // m[64], scale_A[64], scale_B[64]
  static constexpr int OFF_BAR = OFF_RED + 3 * 64 * 4;     // a copy barrier per chunk of each buffer
  static constexpr int SMEM = OFF_BAR + 2 * QC * 8 + 1024;  // + room to align the base to 1024
  static_assert(SMEM <= 227 * 1024, "one block per SM on Hopper");
  static_assert(256 * 4 <= TILE, "wg_finish's scratch fits a tile buffer");
};

namespace seesaw_dev {

// Named barriers: one warpgroup arrives, the other waits (ids 5 and 6: one warpgroup alone).
enum : int { kScaleA = 1, kScaleB = 2, kPA = 3, kPB = 4, kOwn = 5 };

__device__ __forceinline__ void bar_arrive(int id, int threads) {
  asm volatile("bar.arrive %0, %1;\n" ::"r"(id), "r"(threads) : "memory");
}

// Dynamic shared memory aligned to 1024 bytes (swizzle patterns repeat every 1024), and the
// seesaw's per-head exchange at offset off_red: the running maximum (log2 domain) and the factors
// each warpgroup hands the other.
struct SeesawShared {
  uint32_t base;
  unsigned char* smem;
  float *sM, *sScaleA, *sScaleB;  // sScaleA: exp2(m_before - m_A), WG0 -> WG1; sScaleB: exp2(m_A - m_B), WG1 -> WG0
  __device__ SeesawShared(unsigned char* raw, int off_red) {
    const uint32_t raw_addr = wg::smem_addr(raw);
    base = (raw_addr + 1023u) & ~1023u;
    smem = raw + (base - raw_addr);
    sM = reinterpret_cast<float*>(smem + off_red);
    sScaleA = sM + 64, sScaleB = sM + 128;
  }
};
// Pairs of 64-token tiles in the block's split (the odd tile of a last pair may lie past it).
template <class Blk>
__device__ __forceinline__ int seesaw_pairs(const Blk& blk) { return ((blk.t_end - blk.t_begin + 63) / 64 + 1) / 2; }

// First cache row of TN-token tile `tile` of the block's split (a tile never crosses a page: pages
// are whole tiles). A tile past the context (the odd one of a last pair) reads any rows: all its
// tokens are masked.
template <int TN = 64, class Blk>
__device__ __forceinline__ int tile_row0(const AttnParams& p, const Blk& blk, int tile) {
  const int t0 = blk.t_begin + TN * tile;
  if (t0 >= blk.t_end) return 0;
  if (p.block_table) return __ldg(p.block_table + (long long)blk.b * p.max_pages + t0 / p.page_size) * p.page_size + t0 % p.page_size;
  return int((long long)blk.b * p.ctx_rows + t0);
}

// The copy lane of a producer warpgroup: tile k of the block's split into ring stage k % NS once its
// readers have released it (`empty(k)`, parity of the stage's previous use), its byte count
// announced on `full(k)`; copy(k, row) issues its boxes from cache row `row`.
template <int NS, int TN = 64, class Blk, class Full, class Empty, class Copy>
__device__ __forceinline__ void feed_ring(const AttnParams& p, const Blk& blk, int ntiles, int tile_bytes, Full full, Empty empty,
                                          Copy copy) {
#pragma unroll 1
  for (int k = 0; k < ntiles; ++k) {
    wg_dev::mbar_wait(empty(k), ((k / NS) & 1) ^ 1);
    const int row = tile_row0<TN>(p, blk, k);
    wg_dev::mbar_expect_tx(full(k), tile_bytes);
    copy(k, row);
  }
}

// The producer warpgroup of a kernel with such a ring: its registers given back to REG, warp 0's
// lane 0 runs feed() (the copies), warps 1-3 run others(w), w = 0, 1, 2 (FP8: the V^T transposers).
template <int REG, class Feed, class Others>
__device__ __forceinline__ void producer_warpgroup(int tid, int lane, Feed feed, Others others) {
  wg::setmaxnreg_dec<REG>();
  const int pw = (tid >> 5) & 3;
  if (pw == 0) {
    if (lane == 0) feed();
    return;
  }
  others(pw - 1);
}

}  // namespace seesaw_dev

template <class Cfg>
__global__ void __launch_bounds__(256, 1) attn_mla_seesaw_kernel(const AttnParams p, const __grid_constant__ WgMaps maps) {
  using namespace wg_dev;
  using namespace seesaw_dev;
  constexpr int CHUNK = Cfg::CHUNK, QC = Cfg::QC;
  extern __shared__ unsigned char smem_raw[];
  const SeesawShared sh(smem_raw, Cfg::OFF_RED);
  const uint32_t base = sh.base;
  unsigned char* smem = sh.smem;
  float *sM = sh.sM, *sScaleA = sh.sScaleA, *sScaleB = sh.sScaleB;

  const WgBlock<Cfg::MQ> blk(p);
  if constexpr (Cfg::MQ)
    if (blk.empty()) return;  // variable length: past the request's rows or context
  const int tid = blk.tid, wgi = blk.wgi, t4 = blk.t4, row_a = blk.row_a, row_b = blk.row_b;
  const int t_begin = blk.t_begin, t_end = blk.t_end;
  const int lim_a = blk.limit(p, row_a, t_end), lim_b = blk.limit(p, row_b, t_end);
  const int lim_lo = blk.limit(p, 0, t_end);
  const int npairs = seesaw_pairs(blk);
  const int col0 = int(blk.kvh * p.k_head_stride);
  const bool issuer = (tid & 127) == 0;  // each warpgroup's copy issuer

  auto tile_row0 = [&](int tile) { return seesaw_dev::tile_row0(p, blk, tile); };
  // Shared addresses derive from sb, which each pair takes afresh from an opaque copy of base: left
  // to itself the compiler hoists every product's descriptors out of the loop and spills them.
  uint32_t sb = base;
  auto buf = [&](int i) -> uint32_t { return sb + Cfg::OFF_T + i * Cfg::TILE; };
  auto bar = [&](int i, int c) -> uint32_t { return sb + Cfg::OFF_BAR + 8 * (i * QC + c); };
  // Chunks [c0, c1) of tile buffer i from cache row `row` on (one thread).
  auto copy_chunks = [&](int i, int c0, int c1, int row) {
    for (int c = c0; c < c1; ++c) {
      mbar_expect_tx(bar(i, c), CHUNK);
      tma_load_2d(buf(i) + c * CHUNK, &maps.k, col0 + 64 * c, row, bar(i, c));
    }
  };
  // Rows of a tile past the context hold other data (TMA copies whole boxes): zero them in this
  // warpgroup's half of V, so that P = 0 there cannot meet a non-finite value.
  auto zero_tail = [&](int i, int tile) {
    const int valid = blk.tile_valid(t_begin + 64 * tile, 64);
    if (valid == 64) return;
    zero_tile_rows<4, 64, 128, CHUNK, 128>(buf(i) + 4 * wgi * CHUNK, valid, tid & 127);
    wg::fence_proxy_async();
    wg::named_barrier(kOwn + wgi, 128);
  };

  if (tid == 0) {
    for (int i = 0; i < 2 * QC; ++i) mbar_init(base + Cfg::OFF_BAR + 8 * i, 1);
    asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
  }
  __syncthreads();
  if (tid == 0) {
    copy_chunks(0, 0, QC, tile_row0(0));
    copy_chunks(1, 0, QC, tile_row0(1));
  }
  load_q_bf16<Cfg::DQK>(p, blk, base + Cfg::OFF_Q);
  if (tid < 64) sM[tid] = -1e30f;  // finite: the first rescale factor is exp2(-1e30 - m) = 0, not NaN
  wg::fence_proxy_async();
  __syncthreads();
  // Q's last chunk -> registers, as the A fragments of its four k16 steps; P_B then takes its place.
  uint32_t q8[4][4];
#pragma unroll
  for (int kk = 0; kk < 4; ++kk) bf16_a_fragment_smem<128>(base + Cfg::OFF_PB, kk, row_a, row_b, t4, q8[kk]);
  __syncthreads();

  float s[32], o[4][32];
  zero_acc(o);
  float l_run[2] = {0.f, 0.f};

  // S (+)= Q K^T over chunk c of tile buffer i, issued once the chunk has landed; one commit group.
  auto score_chunk = [&](int i, int c, uint32_t parity, bool first) {
    mbar_wait(bar(i, c), parity);
    wg::fence();
    const uint64_t dk = wg::desc_k_major<128>(buf(i) + c * CHUNK);
    if (c < QC - 1) {
      const uint64_t dq = wg::desc_k_major<128>(sb + Cfg::OFF_Q + c * CHUNK);
#pragma unroll
      for (int ks = 0; ks < 4; ++ks) wg::wgmma_bf16_ss_n64(s, dq + 2 * ks, dk + 2 * ks, (first && ks == 0) ? 0 : 1);
    } else {
#pragma unroll
      for (int ks = 0; ks < 4; ++ks) wg::wgmma_bf16_rs_n64(s, q8[ks], dk + 2 * ks, (first && ks == 0) ? 0 : 1);
    }
    wg::commit();
  };
  // O += P V over this warpgroup's four 64-column blocks of V (chunks 4*wgi .. +3 of buffer i). V is
  // the MN-major B operand (tokens are its rows): 16 tokens per k16 step = 2048 bytes, 8-row groups
  // 1024 apart. P from registers (own tile) or from shared memory (the other warpgroup's).
  auto pv_regs = [&](const uint32_t(&pa)[4][4], int i) {
    wg::fence();
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const uint32_t v = buf(i) + (4 * wgi + j) * CHUNK;
#pragma unroll
      for (int kk = 0; kk < 4; ++kk) wg::wgmma_bf16_rs_n64_tb(o[j], pa[kk], wg::desc_mn_major128(v + kk * 2048, 1024, 1024, false), 1);
    }
    wg::commit();
  };
  auto pv_smem = [&](uint32_t sP, int i) {
    wg::fence();
    const uint64_t dp = wg::desc_k_major<128>(sP);
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const uint32_t v = buf(i) + (4 * wgi + j) * CHUNK;
#pragma unroll
      for (int kk = 0; kk < 4; ++kk) wg::wgmma_bf16_ss_n64_tb(o[j], dp + 2 * kk, wg::desc_mn_major128(v + kk * 2048, 1024, 1024, false), 1);
    }
    wg::commit();
  };

  // Scores of the first pair: tile 0 (WG0, buffer 0) and tile 1 (WG1, buffer 1).
#pragma unroll
  for (int c = 0; c < QC; ++c) score_chunk(wgi, c, 0, c == 0);
  wg::wait<0>();
  wg::fence_regs(s);

#pragma unroll 1
  for (int it = 0; it < npairs; ++it) {
    asm volatile("mov.u32 %0, %1;\n" : "=r"(sb) : "r"(base));
    const bool more = it + 1 < npairs;
    const uint32_t parity = (it + 1) & 1;  // of the next pair's copies
    // The copy issuer looks the next pair's rows up now: the page table's latency is hidden.
    int next_row[2] = {0, 0};
    if (issuer && more) next_row[0] = tile_row0(2 * it + 2), next_row[1] = tile_row0(2 * it + 3);

    // Scale to the log2 domain, mask tokens past the split, row maxima over the quad.
    float mx_a, mx_b;
    scale_mask_rowmax<8, Cfg::MQ>(s, t_begin + 64 * (2 * it + wgi) + 2 * t4, lim_a, lim_b, p.scale_log2, p.scale_log2, mx_a, mx_b, lim_lo);

    if (wgi == 1) wg::named_barrier(kScaleA, 256);  // m_A and WG0's factor are in shared memory
    // This warpgroup's step of the running maximum (WG0: m -> m_A; WG1: m_A -> m_B). Tile A always
    // holds a valid token, so m_A is finite; a tile B wholly past the context leaves it as it is.
    const float mo_a = sM[row_a], mo_b = sM[row_b];
    const float mn_a = mx_a > mo_a + Cfg::LAZY_LOG2 ? mx_a : mo_a, mn_b = mx_b > mo_b + Cfg::LAZY_LOG2 ? mx_b : mo_b;
    float f_a = exp2f(mo_a - mn_a), f_b = exp2f(mo_b - mn_b);
    // WG1's O and sum are still at the maximum before m_A
    const float fa_a = wgi == 1 ? sScaleA[row_a] : 1.f, fa_b = wgi == 1 ? sScaleA[row_b] : 1.f;
    __syncwarp();  // the quad has read sM before its first thread writes it
    if (t4 == 0) {
      sM[row_a] = mn_a, sM[row_b] = mn_b;
      float* sf = wgi == 0 ? sScaleA : sScaleB;
      sf[row_a] = f_a, sf[row_b] = f_b;
    }
    bar_arrive(wgi == 0 ? kScaleA : kScaleB, 256);  // the other warpgroup may go on
    f_a *= fa_a, f_b *= fa_b;
    exp2_rows<8>(s, mn_a, mn_b, f_a, f_b, l_run);
    rescale_rows_moved(o, f_a, f_b);
    uint32_t pa[4][4];
#pragma unroll
    for (int kk = 0; kk < 4; ++kk) wg::bf16_a_fragment(s, kk, pa[kk]);

    if (wgi == 0) {
      zero_tail(0, 2 * it);
      pv_regs(pa, 0);  // O_L += P_A V_A,L
      wg::wait<0>();
#pragma unroll
      for (int j = 0; j < 4; ++j) wg::fence_regs(o[j]);
      wg::named_barrier(kScaleB, 256);  // m_B and WG1's factor
      if (issuer && more) copy_chunks(0, 0, 4, next_row[0]);  // V_A,L is read
      const float fb_a = sScaleB[row_a], fb_b = sScaleB[row_b];
#pragma unroll
      for (int j = 0; j < 8; ++j) s[4 * j] *= fb_a, s[4 * j + 1] *= fb_a, s[4 * j + 2] *= fb_b, s[4 * j + 3] *= fb_b;
      store_p_bf16<64>(sb + Cfg::OFF_PA, s, row_a, row_b, t4);  // P_A at m_B, for WG1
      wg::fence_proxy_async();
      bar_arrive(kPA, 256);
      l_run[0] *= fb_a, l_run[1] *= fb_b;
      rescale_rows_moved(o, fb_a, fb_b);
      wg::named_barrier(kPB, 256);  // P_B stored and WG1's products issued
      zero_tail(1, 2 * it + 1);
      pv_smem(sb + Cfg::OFF_PB, 1);  // O_L += P_B V_B,L
      if (more) {
#pragma unroll
        for (int c = 0; c < 4; ++c) score_chunk(0, c, parity, c == 0);
        wg::wait<4>();  // O_L += P_B V_B,L is done: buffer 1's chunks 0-3 are free
        if (issuer) copy_chunks(1, 0, 4, next_row[1]);
#pragma unroll
        for (int c = 4; c < QC; ++c) score_chunk(0, c, parity, false);
      }
    } else {
      store_p_bf16<64>(sb + Cfg::OFF_PB, s, row_a, row_b, t4);  // P_B, for WG0
      zero_tail(1, 2 * it + 1);
      pv_regs(pa, 1);  // O_R += P_B V_B,R
      wg::fence_proxy_async();
      wg::named_barrier(kPA, 256);  // P_A
      zero_tail(0, 2 * it);
      pv_smem(sb + Cfg::OFF_PA, 0);  // O_R += P_A V_A,R
      bar_arrive(kPB, 256);
      if (more) {
        wg::wait<1>();  // O_R += P_B V_B,R is done: buffer 1's chunks 4-8 are free
        if (issuer) copy_chunks(1, 4, QC, next_row[1]);
        wg::wait<0>();  // O_R += P_A V_A,R is done: buffer 0's chunks 4-8 are free
        if (issuer) copy_chunks(0, 4, QC, next_row[0]);
#pragma unroll
        for (int c = 4; c < QC; ++c) score_chunk(1, c, parity, c == 4);
#pragma unroll
        for (int c = 0; c < 4; ++c) score_chunk(1, c, parity, false);
      }
    }
    wg::wait<0>();
    wg::fence_regs(s);
#pragma unroll
    for (int j = 0; j < 4; ++j) wg::fence_regs(o[j]);
  }

  __syncthreads();
  const float m_run[2] = {sM[row_a], sM[row_b]};
  // wg_finish's scratch: the first tile buffer, free by now (no copy is in flight after the last pair).
  wg_finish<false, 4>(p, blk, o, l_run, m_run, reinterpret_cast<float*>(smem + Cfg::OFF_T));
}

}  // namespace decodesim::gpu::detail
