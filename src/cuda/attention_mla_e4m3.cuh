// Hopper decode attention for absorbed MLA with an e4m3 (FP8) KV cache: the seesaw schedule of
// attention_mla_seesaw.cuh with e4m3 products in both GEMMs, and a third warpgroup that feeds them.
//
// e4m3 wgmma operands must be K-major. The score product S = Q K^T reads the cache tile as it
// arrives (tokens are rows, the latent contiguous). The value product O = P V contracts over tokens,
// so V must be stored transposed, V^T (rows are the 512 value dims, 64 tokens contiguous), and that
// transposition is the producer warpgroup's job, off the two consumer warpgroups' critical path:
//   warp 8 (one lane): TMA copies of 64-token tiles into an NS-deep ring (one mbarrier each way);
//   warps 9-11: each landed tile's values -> V^T (ldmatrix.trans over 16-bit dim pairs, byte
//     permutes, stmatrix into a 64-byte swizzled K-major layout), in the fragment k order of
//     wg::e4m3_a_fragment, so that P goes from the score accumulators straight to the A operand.
// V^T lives in NVT slots, each in two halves with their own barriers: the left half (value dims
// 0-255) is read by warpgroup 0 only, the right half by warpgroup 1 only, and each half is
// transposed again as soon as its one reader is done with it.
//
// The consumers run the seesaw: warpgroup 0 scores tile A of a pair, warpgroup 1 tile B, and each
// owns half of O (256 value columns, 128 registers) over both tiles.
//   WG0: softmax(S_A) against m -> m_A; P_A (fp16, at m_A) to shared memory;  O_L += P_A V_A,L
//   WG1:      softmax(S_B) against m_A -> m_B;  O_R += P_A' V_A,R (P_A scaled to m_B here);
//             P_B to shared memory;  O_R += P_B V_B,R
//   WG0: O_L rescaled to m_B;  O_L += P_B V_B,L
// Warpgroup 1 scales P_A itself (the BF16 seesaw has warpgroup 0 send it at m_B), so its product with
// tile A comes first and the right half of that tile's V^T is free early in the pair: with two
// slots, only the left half of tile B is then transposed on the pair's critical path. P is scaled
// by 256 before rounding to e4m3 (its values are at most 1). Q is quantised per head to e4m3 in the
// kernel (scale folded into the score scale); the cache's K and V scales are per tensor.
//
// Registers: 384 threads leave 168 each at launch; the producer gives back to 56 and the consumers
// take 224 (setmaxnreg), which O, S and P need.
#pragma once
#include "attention_mla_seesaw.cuh"

namespace decodesim::gpu::detail {

template <int NS_, int NVT_, bool MQ_ = false>  // MQ_: several query tokens per request (HeadBlock)
struct SeesawE4Cfg {
  static constexpr int DQK = 576, DV = 512, TN = 64, G = 64, THREADS = 384, MINB = 1, NS = NS_, NVT = NVT_;
  static constexpr bool MQ = MQ_;
  static constexpr int PAGE_TOKENS = TN;
  static constexpr bool FP8 = true, SHARED = true, TMA = true;
  static constexpr int QC = DQK / 64;        // 64-byte column chunks of Q and of a tile
  static constexpr int CHUNK = TN * 64;      // 64 rows x 64 e4m3 columns (64-byte swizzle)
  static constexpr int TILE = QC * CHUNK;    // one cache tile as the TMA boxes write it
  static constexpr int VT = DV * TN;         // V^T of one tile: 512 rows x 64 tokens
  static constexpr int P_BYTES = 64 * TN;    // P_B: 64 heads x 64 tokens, e4m3
  static constexpr int PA_BYTES = 128 * 32 * 2;  // P_A: each thread's 32 scores, fp16
  static constexpr int OFF_Q = 0;
  static constexpr int OFF_T = OFF_Q + QC * 64 * 64;  // ring stage i at OFF_T + i * TILE
  static constexpr int OFF_VT = OFF_T + NS * TILE;    // V^T slot v at OFF_VT + v * VT (left half, right half)
  static constexpr int OFF_P = OFF_VT + NVT * VT;     // P_A, then P_B
  static constexpr int OFF_RED = OFF_P + PA_BYTES + P_BYTES;  // m[64], scale_A[64], scale_B[64], q scale[64]
  static constexpr int OFF_BAR = OFF_RED + 4 * 64 * 4;
  static constexpr int NBAR = 2 * NS + 4 * NVT;       // full[NS], empty[NS], vt_full[NVT][2], vt_empty[NVT][2]
  static constexpr int SMEM = OFF_BAR + NBAR * 8 + 1024;  // + room to align the base to 1024
  static constexpr int TRANSPOSERS = 3;               // warps 9-11
  // setmaxnreg moves registers between the block's own warps: at launch each of the 12 holds 168
  // (65536 / 384, in steps of 8), so two consumer warpgroups can take only what the producer gives.
  static constexpr int REG_PRODUCER = 56, REG_CONSUMER = 224;
  static_assert(2 * REG_CONSUMER + REG_PRODUCER <= 3 * (65536 / THREADS / 8 * 8), "register budget of the block");
  static_assert(NS >= 2 && NVT >= 2, "the rings hold at least one pair");
  static_assert(SMEM <= 227 * 1024, "one block per SM on Hopper");
  static_assert(256 * 4 <= TILE, "wg_finish's scratch fits a ring stage");
};

namespace seesaw_dev {

// Named barrier over both consumer warpgroups, for the end of the kernel (ids 1-4 are the seesaw's).
enum : int { kConsumers = 7 };

}  // namespace seesaw_dev

template <class Cfg>
__global__ void __launch_bounds__(384, 1) attn_mla_seesaw_e4m3_kernel(const AttnParams p, const __grid_constant__ WgMaps maps) {
  using namespace wg_dev;
  using namespace seesaw_dev;
  constexpr int CHUNK = Cfg::CHUNK, QC = Cfg::QC, NS = Cfg::NS;
  extern __shared__ unsigned char smem_raw[];
  const SeesawShared sh(smem_raw, Cfg::OFF_RED);
  const uint32_t base = sh.base;
  unsigned char* smem = sh.smem;
  float *sM = sh.sM, *sScaleA = sh.sScaleA, *sScaleB = sh.sScaleB;
  float* sQs = sM + 192;  // Q's e4m3 scale per head

  const WgBlock<Cfg::MQ> blk(p);
  if constexpr (Cfg::MQ)
    if (blk.empty()) return;  // variable length: past the request's rows or context
  const int tid = blk.tid, wgi = blk.wgi, lane = blk.lane, t4 = blk.t4, row_a = blk.row_a, row_b = blk.row_b;
  const int t_begin = blk.t_begin, t_end = blk.t_end;
  const int lim_a = blk.limit(p, row_a, t_end), lim_b = blk.limit(p, row_b, t_end);
  const int lim_lo = blk.limit(p, 0, t_end);
  const int npairs = seesaw_pairs(blk);
  const int ntiles = 2 * npairs;  // the odd tile of a last pair is all past the context

  auto full = [&](int st) -> uint32_t { return base + Cfg::OFF_BAR + 8 * st; };
  auto empty = [&](int st) -> uint32_t { return base + Cfg::OFF_BAR + 8 * (NS + st); };
  // Half h of tile k's V^T sits in slot k % NVT (phase k / NVT): each half has one reader, which
  // takes tile A before tile B, so every half-ring is filled, read and freed in tile order.
  auto vt_full = [&](int k, int h) -> uint32_t { return base + Cfg::OFF_BAR + 8 * (2 * NS + 2 * (k % Cfg::NVT) + h); };
  auto vt_empty = [&](int k, int h) -> uint32_t { return base + Cfg::OFF_BAR + 8 * (2 * NS + 2 * Cfg::NVT + 2 * (k % Cfg::NVT) + h); };
  auto vt_half = [&](uint32_t from, int k, int h) -> uint32_t { return from + Cfg::OFF_VT + (k % Cfg::NVT) * Cfg::VT + h * 256 * 64; };
  auto stage = [&](uint32_t from, int k) -> uint32_t { return from + Cfg::OFF_T + (k % NS) * Cfg::TILE; };

  if (tid == 0) {
    for (int i = 0; i < NS; ++i) mbar_init(full(i), 1), mbar_init(empty(i), 4 + Cfg::TRANSPOSERS);
    for (int i = 0; i < 2 * Cfg::NVT; ++i) mbar_init(vt_full(i / 2, i % 2), Cfg::TRANSPOSERS), mbar_init(vt_empty(i / 2, i % 2), 4);
    asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
  }
  if (wgi < 2) {
    load_q_e4m3<Cfg::DQK>(p, blk, base + Cfg::OFF_Q, sQs);
    if (tid < 64) sM[tid] = -1e30f;  // finite: the first rescale factor is exp2(-1e30 - m) = 0, not NaN
  }
  wg::fence_proxy_async();
  __syncthreads();

  // ---------------------------------------------------------------- producer warpgroup
  if (wgi == 2) {
    const int col0 = int(blk.kvh * p.k_head_stride);
    auto feed = [&] {
      auto full_k = [&](int k) { return full(k % NS); };
      auto empty_k = [&](int k) { return empty(k % NS); };
      feed_ring<NS>(p, blk, ntiles, Cfg::TILE, full_k, empty_k, [&](int k, int row) {
        for (int c = 0; c < QC; ++c) tma_load_2d(stage(base, k) + c * CHUNK, &maps.k, col0 + 64 * c, row, full(k % NS));
      });
    };
    auto transpose = [&](int w) {
      auto transpose_half = [&](int k, int h, bool release_tile) {
        mbar_wait(full(k % NS), (k / NS) & 1);
        mbar_wait(vt_empty(k, h), ((k / Cfg::NVT) & 1) ^ 1);
        const int valid = blk.tile_valid(t_begin + 64 * k, 64);
        transpose_v_e4m3<CHUNK, 256, Cfg::TRANSPOSERS>(stage(base, k), vt_half(base, k, 0), 256 * h, valid, w, lane);
        if (lane == 0) {
          mbar_arrive(vt_full(k, h));
          if (release_tile) mbar_arrive(empty(k % NS));
        }
      };
#pragma unroll 1
      for (int it = 0; it < npairs; ++it) {
        transpose_half(2 * it, 0, false);
        transpose_half(2 * it, 1, true);
        transpose_half(2 * it + 1, 1, false);
        transpose_half(2 * it + 1, 0, true);
      }
    };
    producer_warpgroup<Cfg::REG_PRODUCER>(tid, lane, feed, transpose);
    return;
  }

  // ---------------------------------------------------------------- consumer warpgroups
  wg::setmaxnreg_inc<Cfg::REG_CONSUMER>();
  const float sc_a = p.scale_log2 * sQs[row_a], sc_b = p.scale_log2 * sQs[row_b];
  // Shared addresses derive from sb, which each pair takes afresh from an opaque copy of base: left
  // to itself the compiler hoists every product's descriptors out of the loop and spills them.
  uint32_t sb = base;
  const uint32_t oPA = Cfg::OFF_P + 4 * (tid & 127), oPB = Cfg::OFF_P + Cfg::PA_BYTES;  // P_A: this thread's word 0

  float s[32], o[4][32];
  zero_acc(o);
  float l_run[2] = {0.f, 0.f};

  // S = Q K^T over tile k (its ring stage once landed); one commit group.
  auto score = [&](int k) {
    mbar_wait(full(k % NS), (k / NS) & 1);
    wg::fence();
    const uint32_t t = stage(sb, k);
#pragma unroll
    for (int c = 0; c < QC; ++c) {
      const uint64_t dq = wg::desc_k_major<64>(sb + Cfg::OFF_Q + c * CHUNK), dk = wg::desc_k_major<64>(t + c * CHUNK);
#pragma unroll
      for (int ks = 0; ks < 2; ++ks) wg::wgmma_e4m3_ss_n64(s, dq + 2 * ks, dk + 2 * ks, (c | ks) != 0);
    }
    wg::commit();
  };
  auto release = [&](uint32_t bar) {
    if (lane == 0) mbar_arrive(bar);
  };
  // O += P V over this warpgroup's 256 value columns of tile k (half wgi of its V^T slot), the P
  // fragments in registers (the other warpgroup's P loaded from shared memory first); one commit group.
  auto pv_regs = [&](const uint32_t(&pa)[2][4], int k) {
    mbar_wait(vt_full(k, wgi), (k / Cfg::NVT) & 1);
    wg::fence();
    const uint32_t v = vt_half(sb, k, wgi);
#pragma unroll
    for (int j = 0; j < 4; ++j)
#pragma unroll
      for (int kk = 0; kk < 2; ++kk) wg::wgmma_e4m3_rs_n64(o[j], pa[kk], wg::desc_k_major<64>(v + j * 64 * 64) + 2 * kk, 1);
    wg::commit();
  };

  score(wgi);
  wg::wait<0>();
  wg::fence_regs(s);
  release(empty(wgi % NS));

#pragma unroll 1
  for (int it = 0; it < npairs; ++it) {
    asm volatile("mov.u32 %0, %1;\n" : "=r"(sb) : "r"(base));
    const bool more = it + 1 < npairs;
    const int kA = 2 * it, kB = 2 * it + 1;

    float mx_a, mx_b;
    scale_mask_rowmax<8, Cfg::MQ>(s, t_begin + 64 * (kA + wgi) + 2 * t4, lim_a, lim_b, sc_a, sc_b, mx_a, mx_b, lim_lo);
    if (wgi == 0) {
      // m -> m_A; P_A at m_A to shared memory (fp16, for WG1, which scales it to m_B itself).
      const float mo_a = sM[row_a], mo_b = sM[row_b];
      const float mn_a = fmaxf(mx_a, mo_a), mn_b = fmaxf(mx_b, mo_b);
      const float f_a = exp2f(mo_a - mn_a), f_b = exp2f(mo_b - mn_b);
      __syncwarp();  // the quad has read sM before its first thread writes it
      if (t4 == 0) sM[row_a] = mn_a, sM[row_b] = mn_b, sScaleA[row_a] = f_a, sScaleA[row_b] = f_b;
      exp2_rows<8>(s, mn_a, mn_b, f_a, f_b, l_run);
#pragma unroll
      for (int i = 0; i < 16; ++i) st_shared_u32(sb + oPA + 512 * i, wg::pack_half2(s[2 * i], s[2 * i + 1]));
      bar_arrive(kScaleA, 256);
      rescale_rows_moved(o, f_a, f_b);
      uint32_t pa[2][4];
#pragma unroll
      for (int kk = 0; kk < 2; ++kk) wg::e4m3_a_fragment(s, kk, 256.f, pa[kk]);
      pv_regs(pa, kA);  // O_L += P_A V_A,L
      wg::wait<0>();
#pragma unroll
      for (int j = 0; j < 4; ++j) wg::fence_regs(o[j]);
      release(vt_empty(kA, 0));
      wg::named_barrier(kScaleB, 256);  // m_B, exp2(m_A - m_B) and P_B from WG1
      const float fb_a = sScaleB[row_a], fb_b = sScaleB[row_b];
      l_run[0] *= fb_a, l_run[1] *= fb_b;
      rescale_rows_moved(o, fb_a, fb_b);
      uint32_t po[2][4];
#pragma unroll
      for (int kk = 0; kk < 2; ++kk) load_p_e4m3<64>(sb + oPB, kk, row_a, row_b, t4, po[kk]);
      pv_regs(po, kB);  // O_L += P_B V_B,L
      if (more) {
        score(kA + 2);
        wg::wait<1>();
      } else {
        wg::wait<0>();
      }
      release(vt_empty(kB, 0));
    } else {
      wg::named_barrier(kScaleA, 256);  // m_A, exp2(m - m_A) and P_A from WG0
      const float ma_a = sM[row_a], ma_b = sM[row_b];
      const float mn_a = fmaxf(mx_a, ma_a), mn_b = fmaxf(mx_b, ma_b);  // tile A holds a valid token: finite
      const float fab_a = exp2f(ma_a - mn_a), fab_b = exp2f(ma_b - mn_b);
      __syncwarp();
      if (t4 == 0) sM[row_a] = mn_a, sM[row_b] = mn_b, sScaleB[row_a] = fab_a, sScaleB[row_b] = fab_b;
      // O_R and this warpgroup's sum are still at the maximum before m_A.
      const float f_a = sScaleA[row_a] * fab_a, f_b = sScaleA[row_b] * fab_b;
      exp2_rows<8>(s, mn_a, mn_b, f_a, f_b, l_run);
      rescale_rows_moved(o, f_a, f_b);
      // P_A, scaled from m_A to m_B here, then O_R += P_A V_A,R: this warpgroup's half of tile A is
      // read first, so the producer may transpose the next tile A's right half early.
      uint32_t po[2][4];
#pragma unroll
      for (int kk = 0; kk < 2; ++kk) {
        float x[16];
#pragma unroll
        for (int i = 0; i < 8; ++i) {
          const float2 v = wg::unpack_half2(ld_shared_u32(sb + oPA + 512 * (8 * kk + i)));
          const float f = (i & 1) ? fab_b : fab_a;  // word i holds accumulator elements 2i, 2i+1: row b when i is odd
          x[2 * i] = v.x * f, x[2 * i + 1] = v.y * f;
        }
        wg::e4m3_a_fragment(x, 0, 256.f, po[kk]);
      }
      pv_regs(po, kA);
      uint32_t pa[2][4];
#pragma unroll
      for (int kk = 0; kk < 2; ++kk) {
        wg::e4m3_a_fragment(s, kk, 256.f, pa[kk]);
        store_p_e4m3<64>(sb + oPB, pa[kk], kk, row_a, row_b, t4);  // P_B, for WG0
      }
      bar_arrive(kScaleB, 256);
      pv_regs(pa, kB);  // O_R += P_B V_B,R
      if (more) {
        score(kB + 2);
        wg::wait<2>();
        release(vt_empty(kA, 1));
        wg::wait<1>();
      } else {
        wg::wait<1>();
        release(vt_empty(kA, 1));
        wg::wait<0>();
      }
      release(vt_empty(kB, 1));
    }
    wg::wait<0>();
    wg::fence_regs(s);
#pragma unroll
    for (int j = 0; j < 4; ++j) wg::fence_regs(o[j]);
    if (more) release(empty((kA + 2 + wgi) % NS));
  }

  wg::named_barrier(kConsumers, 256);
  const float m_run[2] = {sM[row_a], sM[row_b]};
  // wg_finish's scratch: ring stage 0, free by now (every copy has landed and been read).
  wg_finish<true, 4, false, kConsumers>(p, blk, o, l_run, m_run, reinterpret_cast<float*>(smem + Cfg::OFF_T));
}

}  // namespace decodesim::gpu::detail
