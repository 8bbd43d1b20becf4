// Hopper attention for several query tokens per request (MTP verification, prefill) where a KV head
// has more rows than one warpgroup MMA holds: 128 rows (query tokens x heads of the group) share
// each cache tile, 64 per consumer warpgroup.
//
// attn_wg_kernel gives a block 64 rows and both its warpgroups the same rows (each scores its own
// tile of a pair, then they exchange row maxima and P). With two query tokens of MFA's 64 heads
// that is two blocks, each reading every tile of the context, and each tile's softmax done in lock
// step across the block. Here one block owns 128 rows, and the warpgroups never wait for each
// other: warpgroup w owns rows 64w .. 64w + 63 and all value columns, walks the same ring of TN-token
// tiles, and keeps its own running maxima. A producer warpgroup feeds the ring:
//   warp 8 (one lane): TMA copies of each tile (K's chunks, then V's) into an NS-deep ring, one
//     mbarrier each way per stage;
//   FP8, warps 9-11: each landed tile's values -> V^T (transpose_v_e4m3), since e4m3 products take
//     both operands K-major, into NVT slots with their own barriers.
// Each consumer, per tile k, with P_k already in registers: S_{k+1} = Q K_{k+1}^T issued, then
// O += P_k V_k behind it; once the score product is done, the softmax of S_{k+1} runs while the
// value product does, and O is rescaled after it (FlashAttention-3's overlap within a warpgroup;
// across the two, the warp schedulers interleave one's softmax with the other's products).
//
// PP: the two warpgroups take turns to issue their products (FlashAttention-3's ping-pong, forced
// by two named barriers: a warpgroup waits for its turn, issues, and hands the turn over), so that
// one's softmax runs while the other's products do instead of both at once.
//
// Tiles of TN tokens: 64, or 128 for BF16 heads of at most 128 value columns, where a 64-token
// score product (m64n64k16, 4 KB of shared operands per 32 cycles of tensor work) would run at
// shared memory's 128 bytes a cycle; at 128 tokens B's share of that halves.
//
// Registers: 384 threads leave 168 each at launch; the producer gives back to 56, the consumers
// take 224 (setmaxnreg): O is DV/2 per thread (128 for MFA's 256 columns), S TN/2, P TN/4 (BF16)
// or TN/8 (FP8), live together while the value product runs.
//
// Splits of the context and their merge are the warpgroup kernels' (attn_merge_kernel, 64 rows a
// merge block).
#pragma once
#include "attention_mla_seesaw.cuh"

namespace decodesim::gpu::detail {

// FP8_: e4m3 cache and products (Q quantised per row in the kernel, P scaled by 256 before rounding).
// NS_: cache tiles in the ring; TN_: tokens a tile (64; 128 for BF16); NVT_ (FP8): V^T slots;
// PP_: the warpgroups issue their products in turn.
template <int DQK_, int DV_, bool FP8_, int NS_, int TN_ = 64, int NVT_ = 2, bool PP_ = false>
struct RowsCfg {
  static constexpr int DQK = DQK_, DV = DV_, NS = NS_, NVT = NVT_, TN = TN_;
  static constexpr bool FP8 = FP8_, MQ = true, SHARED = false, TMA = true, FP4 = false, PP = PP_;
  static constexpr int G = 128, THREADS = 384, MINB = 1, PAGE_TOKENS = TN;
  static constexpr int NJ = TN / 8;             // 8-column groups of a score tile: S is 4 NJ floats a thread
  static constexpr int ES = FP8 ? 1 : 2;
  static constexpr int CB = 64 * ES;            // bytes per row of a 64-column chunk = swizzle span
  static constexpr int QC = DQK / 64, VC = DV / 64, NO = VC;  // NO: the 64-column output blocks, one per value chunk
  static constexpr int CHUNK = TN * CB;         // one 64-column chunk of a tile (the TMA box)
  static constexpr int Q_CHUNK = G * CB;        // one 64-column chunk of Q's 128 rows
  static constexpr int K_TILE = QC * CHUNK, TILE = K_TILE + VC * CHUNK;
  static constexpr int VT = FP8 ? DV * TN : 0;  // V^T of one tile: DV rows x 64 tokens (e4m3)
  static constexpr int OFF_Q = 0;
  static constexpr int OFF_T = OFF_Q + QC * Q_CHUNK;  // ring stage i at OFF_T + i * TILE
  static constexpr int OFF_VT = OFF_T + NS * TILE;    // V^T slot v at OFF_VT + v * VT
  static constexpr int OFF_RED = OFF_VT + NVT * VT;   // Q's e4m3 scale per row [128]
  static constexpr int OFF_BAR = OFF_RED + G * 4;
  static constexpr int NBAR = 2 * NS + (FP8 ? 2 * NVT : 0);  // full[NS], empty[NS], vt_full[NVT], vt_empty[NVT]
  static constexpr int SMEM = OFF_BAR + NBAR * 8 + 1024;     // + room to align the base to 1024
  static constexpr int TRANSPOSERS = 3;                      // warps 9-11 (FP8)
  static constexpr int REG_PRODUCER = 56, REG_CONSUMER = 224;
  static_assert(2 * REG_CONSUMER + REG_PRODUCER <= 3 * (65536 / THREADS / 8 * 8), "register budget of the block");
  static_assert(DQK % 64 == 0 && DV % 64 == 0 && NS >= 2 && (!FP8 || NVT >= 2), "shape");
  // the V^T transposers and the e4m3 value product take 64-token tiles; O, S and P fit 224 registers
  static_assert(TN == 64 || (TN == 128 && !FP8 && DV <= 128), "128-token tiles: BF16, at most 128 value columns");
  static_assert(SMEM <= 227 * 1024, "one block per SM on Hopper");
};

// A block of the rows kernel: 128 rows, warpgroup w (of the two consumers) rows 64w ...
using RowsBlock = WgBlock<true, 128>;

// The end of a consumer warpgroup of the rows kernel: its rows are its own, so the quad's sums give
// each row's 1/L and log2-sum-exp; one split stores the normalised output, several write partials
// (the layout attn_merge_kernel reads). o_scale: what O is multiplied by besides 1/L (FP8: P was
// scaled by 256 before rounding).
template <int NO>
__device__ __forceinline__ void rows_finish(const AttnParams& p, const RowsBlock& blk, float (&o)[NO][32], float (&l_run)[2],
                                            const float (&m_run)[2], float o_scale) {
  constexpr int DV = 64 * NO;
  quad_sum(l_run);
  // Row h (0: row_a, 1: row_b) of the thread: accumulator registers 4i + 2h, 4i + 2h + 1.
  auto finish_row = [&](int r, int h) {
    if (r >= blk.n_rows) return;  // padding past the group
    const float inv = o_scale / l_run[h];
    const long long row = blk.row(p, r);
    if (p.splits == 1) {
#pragma unroll
      for (int j = 0; j < NO; ++j)
#pragma unroll
        for (int i = 0; i < 8; ++i) {
          const float w = inv * p.v_scale;
          store_out_pair(p, row * DV + 64 * j + 8 * i + 2 * blk.t4, o[j][4 * i + 2 * h] * w, o[j][4 * i + 2 * h + 1] * w);
        }
      return;
    }
    const long long prow = row * p.splits + blk.split;
#pragma unroll
    for (int j = 0; j < NO; ++j)
#pragma unroll
      for (int i = 0; i < 8; ++i)
        __stcg(reinterpret_cast<float2*>(p.o_part + prow * DV + 64 * j + 8 * i + 2 * blk.t4),
               make_float2(o[j][4 * i + 2 * h] * inv, o[j][4 * i + 2 * h + 1] * inv));
    if (blk.t4 == 0) __stcg(p.lse_part + prow, m_run[h] + __log2f(l_run[h]));
  };
  finish_row(blk.row_a, 0);
  finish_row(blk.row_b, 1);
}

template <class Cfg>
__global__ void __launch_bounds__(384, 1) attn_rows_kernel(const AttnParams p, const __grid_constant__ WgMaps maps) {
  using namespace wg_dev;
  constexpr int CHUNK = Cfg::CHUNK, QC = Cfg::QC, VC = Cfg::VC, NO = Cfg::NO, NS = Cfg::NS, CB = Cfg::CB;
  constexpr bool FP8 = Cfg::FP8;
  extern __shared__ unsigned char smem_raw[];
  const uint32_t raw_addr = wg::smem_addr(smem_raw);
  const uint32_t base = (raw_addr + 1023u) & ~1023u;  // swizzle patterns repeat every 1024 bytes
  float* sQs = reinterpret_cast<float*>(smem_raw + (base - raw_addr) + Cfg::OFF_RED);

  const RowsBlock blk(p);
  const int t_begin = blk.t_begin, t_end = blk.t_end;
  const int ntiles = (t_end - t_begin + Cfg::TN - 1) / Cfg::TN;
  // variable length: past the request's rows or context; and never a ring with no tile to wait for
  if (blk.empty() || ntiles <= 0) return;
  const int tid = blk.tid, wgi = blk.wgi, lane = blk.lane, t4 = blk.t4;

  auto full = [&](int k) -> uint32_t { return base + Cfg::OFF_BAR + 8 * (k % NS); };
  auto empty = [&](int k) -> uint32_t { return base + Cfg::OFF_BAR + 8 * (NS + k % NS); };
  auto vt_full = [&](int k) -> uint32_t { return base + Cfg::OFF_BAR + 8 * (2 * NS + k % Cfg::NVT); };
  auto vt_empty = [&](int k) -> uint32_t { return base + Cfg::OFF_BAR + 8 * (2 * NS + Cfg::NVT + k % Cfg::NVT); };
  auto stage = [&](uint32_t from, int k) -> uint32_t { return from + Cfg::OFF_T + (k % NS) * Cfg::TILE; };
  auto vt_slot = [&](uint32_t from, int k) -> uint32_t { return from + Cfg::OFF_VT + (k % Cfg::NVT) * Cfg::VT; };
  auto valid_of = [&](int k) { return blk.tile_valid(t_begin + Cfg::TN * k, Cfg::TN); };

  if (tid == 0) {
    // empty: every consumer warp once it is done with the stage (FP8: with K; the transposers with V)
    for (int i = 0; i < NS; ++i) mbar_init(full(i), 1), mbar_init(empty(i), 8 + (FP8 ? Cfg::TRANSPOSERS : 0));
    if constexpr (FP8)
      for (int i = 0; i < Cfg::NVT; ++i) mbar_init(vt_full(i), Cfg::TRANSPOSERS), mbar_init(vt_empty(i), 8);
    asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
  }
  // Q of the 128 rows (rows past the group zero): 64-column chunks of 128 rows, K-major.
  if (wgi < 2) {
    if constexpr (FP8) {
      quantize_q_e4m3<Cfg::DQK, 128>(p, blk, tid >> 5, 8, lane,
                                     [&](int r, int c) { return base + (c / 64) * Cfg::Q_CHUNK + wg::swz<64>(r, c % 64); }, sQs);
    } else {
      load_q_bf16<Cfg::DQK, 128>(p, blk, base);
      if (tid < 128) sQs[tid] = 1.f;
    }
  }
  wg::fence_proxy_async();
  __syncthreads();

  // ---------------------------------------------------------------- producer warpgroup
  if (wgi == 2) {
    auto feed = [&] {
      seesaw_dev::feed_ring<NS, Cfg::TN>(p, blk, ntiles, Cfg::TILE, full, empty, [&](int k, int row) {
        const uint32_t dst = stage(base, k);
        for (int c = 0; c < QC; ++c) tma_load_2d(dst + c * CHUNK, &maps.k, int(blk.kvh * p.k_head_stride) + 64 * c, row, full(k));
        for (int c = 0; c < VC; ++c)
          tma_load_2d(dst + Cfg::K_TILE + c * CHUNK, &maps.v, int(blk.kvh * p.v_head_stride) + 64 * c, row, full(k));
      });
    };
    // FP8: each landed tile's values -> V^T; BF16 reads V as it lands
    auto transpose = [&](int w) {
      if constexpr (FP8) {
#pragma unroll 1
        for (int k = 0; k < ntiles; ++k) {
          mbar_wait(full(k), (k / NS) & 1);
          mbar_wait(vt_empty(k), ((k / Cfg::NVT) & 1) ^ 1);
          transpose_v_e4m3<CHUNK, Cfg::DV, Cfg::TRANSPOSERS>(stage(base, k) + Cfg::K_TILE, vt_slot(base, k), 0, valid_of(k), w, lane);
          if (lane == 0) mbar_arrive(vt_full(k)), mbar_arrive(empty(k));
        }
      }
    };
    seesaw_dev::producer_warpgroup<Cfg::REG_PRODUCER>(tid, lane, feed, transpose);
    return;
  }

  // ---------------------------------------------------------------- consumer warpgroups
  wg::setmaxnreg_inc<Cfg::REG_CONSUMER>();
  const int row_a = blk.row_a, row_b = blk.row_b;
  const float sc_a = p.scale_log2 * sQs[row_a], sc_b = p.scale_log2 * sQs[row_b];
  const int lim_a = blk.limit(p, row_a, t_end), lim_b = blk.limit(p, row_b, t_end);
  const int lim_lo = blk.limit(p, 64 * wgi, t_end);  // the warpgroup's least limit (its first row's)
  // Shared addresses derive from sb, which each tile takes afresh from an opaque copy of base: left
  // to itself the compiler hoists every product's descriptors out of the loop and spills them.
  uint32_t sb = base;
  auto fresh_sb = [&] { asm volatile("mov.u32 %0, %1;\n" : "=r"(sb) : "r"(base)); };
  auto release = [&](uint32_t bar) {
    if (lane == 0) mbar_arrive(bar);
  };

  constexpr int NJ = Cfg::NJ;
  float s[4 * NJ], o[NO][32];
  zero_acc(o);
  float m_run[2] = {-INFINITY, -INFINITY}, l_run[2] = {0.f, 0.f};

  // S = Q K^T over tile k, this warpgroup's 64 rows; one commit group.
  auto score = [&](int k) {
    mbar_wait(full(k), (k / NS) & 1);
    wg::fence();
    const uint32_t t = stage(sb, k), q = sb + Cfg::OFF_Q + wgi * 64 * CB;
#pragma unroll
    for (int c = 0; c < QC; ++c) {
      const uint64_t dq = wg::desc_k_major<CB>(q + c * Cfg::Q_CHUNK), dk = wg::desc_k_major<CB>(t + c * CHUNK);
#pragma unroll
      for (int ks = 0; ks < CB / 32; ++ks) {
        if constexpr (FP8) wg::wgmma_e4m3_ss_n64(s, dq + 2 * ks, dk + 2 * ks, (c | ks) != 0);
        else if constexpr (Cfg::TN == 128) wg::wgmma_bf16_ss_n128(s, dq + 2 * ks, dk + 2 * ks, (c | ks) != 0);
        else wg::wgmma_bf16_ss_n64(s, dq + 2 * ks, dk + 2 * ks, (c | ks) != 0);
      }
    }
    wg::commit();
  };
  // Online softmax of tile k in the log2 domain, this warpgroup's rows alone: S -> P in place, the
  // running sums moved; returns in al_* the factor O must be moved by.
  float al_a, al_b;
  auto softmax = [&](int k) {
    float mx_a, mx_b;
    scale_mask_rowmax<NJ, true>(s, t_begin + Cfg::TN * k + 2 * t4, lim_a, lim_b, sc_a, sc_b, mx_a, mx_b, lim_lo);
    // Every row sees a token of the split's first tile, so the maxima are finite from tile 0 on.
    const float mn_a = fmaxf(m_run[0], mx_a), mn_b = fmaxf(m_run[1], mx_b);
    al_a = exp2f(m_run[0] - mn_a), al_b = exp2f(m_run[1] - mn_b);
    m_run[0] = mn_a, m_run[1] = mn_b;
    exp2_rows<NJ>(s, mn_a, mn_b, al_a, al_b, l_run);
  };

  // PP: warpgroup w issues after waiting on barrier kTurn + w (its 128 threads and the other's
  // 128 arrivals) and then hands the turn to the other; warpgroup 1 starts by handing it to 0, so
  // its hand-over after the last tile is left out and every barrier's arrivals match its waits.
  constexpr int kTurn = 2;  // barriers 2 and 3 (1: the last tile's zeroing)
  auto my_turn = [&] {
    if constexpr (Cfg::PP) wg::named_barrier(kTurn + wgi, 256);
  };
  auto hand_over = [&](bool last = false) {
    if constexpr (Cfg::PP)
      if (wgi == 0 || !last) seesaw_dev::bar_arrive(kTurn + 1 - wgi, 256);
  };
  if constexpr (Cfg::PP)
    if (wgi == 1) seesaw_dev::bar_arrive(kTurn, 256);

  my_turn();
  score(0);
  hand_over();
  wg::wait<0>();
  wg::fence_regs(s);
  if constexpr (FP8) release(empty(0));  // K read; the transposers release V
  softmax(0);                            // O is zero: nothing to move

  // P fragments of the tile in S: the value product's A operand, held until it completes.
  constexpr int PK = FP8 ? Cfg::TN / 32 : Cfg::TN / 16;
  uint32_t pa[PK][4];
  auto make_p = [&] {
#pragma unroll
    for (int kk = 0; kk < PK; ++kk) {
      if constexpr (FP8) wg::e4m3_a_fragment(s, kk, 256.f, pa[kk]);  // P <= 1: scaled before rounding
      else wg::bf16_a_fragment(s, kk, pa[kk]);
    }
  };
  // O += P_k V_k over all value columns, P from registers; one commit group.
  auto value_product = [&](int k) {
    if constexpr (FP8) {
      mbar_wait(vt_full(k), (k / Cfg::NVT) & 1);
      wg::fence();
      const uint32_t vt = vt_slot(sb, k);
#pragma unroll
      for (int j = 0; j < NO; ++j)
#pragma unroll
        for (int kk = 0; kk < PK; ++kk) wg::wgmma_e4m3_rs_n64(o[j], pa[kk], wg::desc_k_major<64>(vt + j * 64 * 64) + 2 * kk, 1);
    } else {
      wg::fence();
      const uint32_t v = stage(sb, k) + Cfg::K_TILE;
      // N = 64 is one 64-element block of V's rows, so only the 8-row K-group stride (1024) is read
#pragma unroll
      for (int j = 0; j < NO; ++j)
#pragma unroll
        for (int kk = 0; kk < PK; ++kk)
          wg::wgmma_bf16_rs_n64_tb(o[j], pa[kk], wg::desc_mn_major128(v + j * CHUNK + kk * 2048, 1024, 1024, false), 1);
    }
    wg::commit();
  };
  auto value_done = [&](int k) {
    release(FP8 ? vt_empty(k) : empty(k));
#pragma unroll
    for (int j = 0; j < NO; ++j) wg::fence_regs(o[j]);
  };

  // Every tile but the last: the next tile's scores first (S is free once P is in registers), this
  // tile's value product behind them, and the next tile's softmax while the value product runs.
  // Groups complete in order, so wait<1> is the score product alone; nothing reads O or P before
  // wait<0>. The last tile is peeled off: with the score product issued under a condition instead,
  // ptxas (CUDA 13.0) reports C7515 and serialises the products.
#pragma unroll 1
  for (int k = 0; k + 1 < ntiles; ++k) {
    fresh_sb();
    make_p();
    my_turn();
    score(k + 1);
    value_product(k);
    hand_over();
    wg::wait<1>();
    wg::fence_regs(s);
    if constexpr (FP8) release(empty(k + 1));  // K read; the transposers release V
    softmax(k + 1);
    wg::wait<0>();
    value_done(k);
    rescale_rows_moved(o, al_a, al_b);
  }
  fresh_sb();
  if constexpr (!FP8) {
    const int valid = valid_of(ntiles - 1);
    if (valid < Cfg::TN) {
      // the split's last tile: its rows past the context hold other data (TMA copies whole boxes),
      // which P = 0 must not meet; both warpgroups are here, done with every earlier tile's
      // values, and neither holds the turn (FP8: the transposers zero them)
      wg::named_barrier(1, 256);
      zero_tile_rows<VC, Cfg::TN, CB, CHUNK, 256>(stage(sb, ntiles - 1) + Cfg::K_TILE, valid, tid);
      wg::fence_proxy_async();
      wg::named_barrier(1, 256);
    }
  }
  make_p();
  my_turn();
  value_product(ntiles - 1);
  hand_over(true);
  wg::wait<0>();
  value_done(ntiles - 1);

  rows_finish(p, blk, o, l_run, m_run, FP8 ? 1.f / 256.f : 1.f);
}

}  // namespace decodesim::gpu::detail
