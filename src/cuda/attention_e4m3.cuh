// FP8 (e4m3) KV decode attention for small groups (GQA: up to 16 query heads per KV head) on
// e4m3 tensor cores, mma.sync m16n8k32, with each warp an independent flash-decoding stream.
//
// One block owns (request, KV head, 16 query heads, split of the context). Its W warps share Q and
// nothing else while the context streams: warp w takes the context's TPW-token chunks w, w+W,
// w+2W, ... into its own S-deep cp.async ring (K and V rows, 16-byte units XOR-swizzled within
// 128-byte spans so that ldmatrix reads them without bank conflicts), with its own running maximum
// and sum. No barrier, no exchange of maxima and no P in shared memory: the warpgroup kernels'
// per-tile latency chain (product, maxima exchange, P exchange, product) is what held their e4m3
// GQA at three quarters of copy bandwidth, and it is gone. The warps meet once, at the end, to
// combine their partial softmaxes.
//
// Per chunk, for 16 heads x TPW tokens:
//   S = Q K^T: Q (per-head e4m3 scale, in registers) times K fragments by ldmatrix: the 16-byte
//     rows ldmatrix moves are exactly the four consecutive k of an 8-bit B fragment;
//   online softmax in the log2 domain; O is rescaled only when a row's maximum moved;
//   O += P V: P (scaled by 256 before rounding to e4m3; it is at most 1) comes straight from the S
//     accumulators in the permuted k order of wg::e4m3_a_fragment; V, token-major, is transposed
//     into B fragments by ldmatrix.trans and byte permutes (vt_e4m3_fragment): its even and odd
//     dims of a 16-dim block are two n8 products, so a thread's outputs are 4 adjacent dims.
// Splits of the context write normalised partials; attn_merge_kernel combines them.
//
// FP4 (a 4-bit e2m1 cache, computed at e4m3: "low-bit storage, high-bit compute"): the chunks
// arrive as stored, half the bytes. K needs no staging: a thread's 16-byte load of a token's
// 4-bit row holds four k-steps' B fragments, each word's even values one register and its odd
// values the other (e2m1::to_e4m3_pairs: shifts and masks, no byte permutes), and Q is written in
// the k order those fragments take (e2m1_k_slot; the products sum over k in any order). V is expanded into
// an e4m3 chunk of the warp's own, which the transposing reads above take as they take an FP8
// chunk. Per-channel K scales go into Q, V's onto the output.
#pragma once
#include "attention_wg.cuh"

namespace decodesim::gpu::detail {

// W warps per block, TPW tokens per warp chunk (32 or 64), S chunks in each warp's ring, MINB
// blocks per SM the register budget is cut for.
// MQ_: several query tokens (HeadBlock); FP4_: a 4-bit cache.
template <int DQK_, int DV_, int W_, int TPW_, int S_, int MINB_, bool MQ_ = false, bool FP4_ = false>
struct E4m3Cfg {
  static constexpr int DQK = DQK_, DV = DV_, W = W_, TPW = TPW_, S = S_, MINB = MINB_;
  static constexpr bool MQ = MQ_, FP4 = FP4_;
  static constexpr int G = 16, THREADS = 32 * W;
  static constexpr bool FP8 = true, SHARED = false;
  static constexpr int KV_BITS = FP4 ? 4 : 8;  // a cache value as stored
  static constexpr int TN = W * TPW;             // tokens of one round of all warps (the split unit)
  static constexpr int PAGE_TOKENS = TPW;        // a chunk's rows are consecutive cache rows
  static constexpr int CHUNK = int(cache_bytes_of(TPW * (DQK + DV), KV_BITS));  // K rows then V rows of one chunk as stored
  static constexpr int STAGE = FP4 ? TPW * DV : 0;  // FP4: the warp's V chunk expanded to e4m3, after its ring
  static constexpr int RING = S * CHUNK + STAGE;    // one warp's ring (and staging)
  static constexpr int OSTRIDE = DV + 4;         // floats per row of a warp's O in the final combine
  static constexpr int Q_BYTES = G * DQK;
  static constexpr int OFF_QS = Q_BYTES;                  // per-head Q scales [16]
  static constexpr int OFF_RED = OFF_QS + G * 4;          // per warp and head: max [W][16], sum [W][16]
  static constexpr int OFF_RING = (OFF_RED + 2 * W * G * 4 + 127) / 128 * 128;  // warp w's ring at + w * RING
  static constexpr int SMEM = OFF_RING + W * RING;
  static_assert(DQK % 128 == 0 && DV % 128 == 0, "rows of whole 128-byte swizzle spans");
  static_assert(TPW == 32 || TPW == 64, "chunk tokens");
  static_assert(S >= 2, "ring");
  static_assert(G * OSTRIDE * 4 <= RING, "a warp's O fits its ring for the combine");
  // 4-bit rows of 64 bytes: 8 threads' 16-byte loads cover two whole rows, no swizzle needed
  static_assert(!FP4 || (DQK == 128 && DV == 128 && !MQ), "4-bit: heads of 128, one query token");
};

namespace e4m3_dev {

__device__ __forceinline__ void mma_16832(float* d, const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k32.row.col.f32.e4m3.e4m3.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
// Byte offset of 16-byte unit c of row r in rows of ROW bytes: units XOR-swizzled by the row's low
// three bits, so the 8 rows of an ldmatrix read fall on distinct banks.
template <int ROW>
__host__ __device__ __forceinline__ uint32_t swz16(int r, int c) {
  return uint32_t(r * ROW + ((c ^ (r & 7)) << 4));
}
// Unit c of row r of a ring chunk's rows of ROW bytes: 8-bit rows swizzled (swz16); 4-bit rows as
// stored (eight threads' 16-byte loads cover two whole 64-byte rows, on distinct banks already).
template <int ROW, bool FP4>
__device__ __forceinline__ uint32_t chunk_unit(int r, int c) {
  return FP4 ? uint32_t(r * ROW + 16 * c) : swz16<ROW>(r, c);
}
// 4-bit K: thread t4's B fragments of k-step kk are word kk % 4 of 16-byte unit e2m1_k_unit(kk, t4)
// of a token's 4-bit row (channels 32 x unit .. +31), its even values the first register (k 4t4 ..
// 4t4 + 3 of the step) and its odd values the second (k 16 + 4t4 ..). Q's channel c goes to k
// position e2m1_k_slot(c) (32 x step + position within the step), where those fragments meet it.
__host__ __device__ __forceinline__ int e2m1_k_unit(int kk, int t4) { return (kk / 4) * 4 + t4; }
__host__ __device__ __forceinline__ int e2m1_k_slot(int c) {
  const int u = c / 32, w = (c % 32) / 8, e = c % 8;  // unit, word of it, value of the word
  const int kk = (u / 4) * 4 + w, t4 = u % 4;
  return 32 * kk + 16 * (e % 2) + 4 * t4 + e / 2;
}

}  // namespace e4m3_dev

template <class Cfg>
__global__ void __launch_bounds__(Cfg::THREADS, Cfg::MINB) attn_e4m3_kernel(const AttnParams p) {
  using namespace e4m3_dev;
  using namespace wg_dev;
  using attn_dev::ldsm_x4;
  constexpr int DQK = Cfg::DQK, DV = Cfg::DV, W = Cfg::W, TPW = Cfg::TPW, S = Cfg::S, G = Cfg::G;
  constexpr int NJ = TPW / 8;  // n8 score tiles of a chunk
  extern __shared__ __align__(128) unsigned char smem[];
  const uint32_t base = wg::smem_addr(smem);
  float* sQs = reinterpret_cast<float*>(smem + Cfg::OFF_QS);
  float* sMax = reinterpret_cast<float*>(smem + Cfg::OFF_RED);  // [W][16]
  float* sSum = sMax + W * G;                                   // [W][16]

  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, g = lane >> 2, t4 = lane & 3;
  const BlockWork<Cfg::MQ> work(p, G);
  if constexpr (Cfg::MQ)
    if (work.empty()) return;  // variable length: past the request's rows or context
  const int split = work.split, kvh = work.kvh, b = work.b, n_rows = work.n_rows;
  const int t_begin = work.t_begin, t_end = work.t_end;
  const int nchunks = (t_end - t_begin + TPW - 1) / TPW;
  const int mine = nchunks > warp ? (nchunks - warp + W - 1) / W : 0;  // chunks warp, warp + W, ...

  auto cache_bytes = [](long long elems) { return cache_bytes_of(elems, Cfg::KV_BITS); };
  const unsigned char* kbase = static_cast<const unsigned char*>(p.k) + cache_bytes((long long)kvh * p.k_head_stride);
  const unsigned char* vbase = static_cast<const unsigned char*>(p.v) + cache_bytes((long long)kvh * p.v_head_stride);
  const long long krs = cache_bytes(p.k_row_stride), vrs = cache_bytes(p.v_row_stride);
  const uint32_t ring = base + Cfg::OFF_RING + warp * Cfg::RING;

  // First cache row of chunk i of this warp (a chunk never crosses a page: pages hold whole chunks).
  auto chunk_t0 = [&](int i) { return t_begin + (warp + i * W) * TPW; };
  auto chunk_row0 = [&](int i) -> long long {
    const int t0 = chunk_t0(i);
    if (i >= mine) return 0;
    if (p.block_table) {
      const int page = __ldg(p.block_table + (long long)b * p.max_pages + t0 / p.page_size);
      return (long long)page * p.page_size + (t0 % p.page_size);
    }
    return (long long)b * p.ctx_rows + t0;
  };
  // Chunk i into ring slot i % S; rows past t_end are zero-filled.
  // Bytes of a K and a V row as stored (chunk_unit places their 16-byte units).
  constexpr int KROW = int(cache_bytes_of(DQK, Cfg::KV_BITS)), VROW = int(cache_bytes_of(DV, Cfg::KV_BITS));
  auto load_chunk = [&](int i, long long row0) {
    if (i >= mine) return;
    const int t0 = chunk_t0(i);
    const uint32_t k_dst = ring + (i % S) * Cfg::CHUNK, v_dst = k_dst + TPW * KROW;
    constexpr int KU = KROW / 16, VU = VROW / 16;  // 16-byte units per row
#pragma unroll 4
    for (int u = lane; u < TPW * KU; u += 32) {
      const int r = u / KU, c = u % KU;
      const bool ok = t0 + r < t_end;
      wg::cp_async16(k_dst + chunk_unit<KROW, Cfg::FP4>(r, c), kbase + (ok ? (row0 + r) * krs : 0) + c * 16, ok);
    }
#pragma unroll 4
    for (int u = lane; u < TPW * VU; u += 32) {
      const int r = u / VU, c = u % VU;
      const bool ok = t0 + r < t_end;
      wg::cp_async16(v_dst + chunk_unit<VROW, Cfg::FP4>(r, c), vbase + (ok ? (row0 + r) * vrs : 0) + c * 16, ok);
    }
  };

  // Each warp starts its ring before Q is touched, so the first chunks are in flight early.
#pragma unroll
  for (int i = 0; i < S - 1; ++i) {
    load_chunk(i, chunk_row0(i));
    wg::cp_commit();
  }
  long long row_next = chunk_row0(S - 1);

  quantize_q_e4m3<DQK, G, Cfg::FP4>(p, work, warp, W, lane, [&](int r, int c) {
    const int k = Cfg::FP4 ? e2m1_k_slot(c) : c;  // FP4: the k order of the expanded K fragments
    return base + swz16<DQK>(r, k / 16) + k % 16;
  }, sQs);
  __syncthreads();
  uint32_t qf[DQK / 32][4];
#pragma unroll
  for (int kk = 0; kk < DQK / 32; ++kk) ldsm_x4(qf[kk], base + swz16<DQK>(lane & 15, 2 * kk + (lane >> 4)));
  const float sc_a = p.scale_log2 * sQs[g], sc_b = p.scale_log2 * sQs[g + 8];
  const int lim_a = work.limit(p, g, t_end), lim_b = work.limit(p, g + 8, t_end);
  const int lim_lo = work.limit(p, 0, t_end);

  // n8 tiles 2c (dims 16c + 2n) and 2c + 1 (dims 16c + 2n + 1) of each 16-dim block c, 4 floats
  // each, in the rows-a-then-b layout rescale_rows takes
  float o[DV / 64][32];
  float* const of = &o[0][0];
  zero_acc(o);
  float m_run[2] = {-INFINITY, -INFINITY}, l_run[2] = {0.f, 0.f};

#pragma unroll 1
  for (int i = 0; i < mine; ++i) {
    wg::cp_wait<S - 2>();
    __syncwarp();
    load_chunk(i + S - 1, row_next);
    wg::cp_commit();
    row_next = chunk_row0(i + S);
    const uint32_t k_t = ring + (i % S) * Cfg::CHUNK, stage = ring + S * Cfg::CHUNK;
    const uint32_t v_t = Cfg::FP4 ? stage : k_t + TPW * KROW;
    if constexpr (Cfg::FP4) {
      // this chunk's 4-bit V rows -> e4m3 rows of the FP8 chunk's layout in the warp's staging
      // (the last chunk's reads of it are behind the __syncwarp above)
      const uint32_t v4 = k_t + TPW * KROW;
      constexpr int VU4 = VROW / 16;  // 16-byte units of a 4-bit row
      expand_e2m1_units<TPW * VU4, 32>(
          lane, [&](int u) { return v4 + chunk_unit<VROW, true>(u / VU4, u % VU4); },
          [&](int u, int half) { return stage + swz16<DV>(u / VU4, 2 * (u % VU4) + half); });
      __syncwarp();
    }

    // ---- S = Q K^T, 16 heads x TPW tokens
    float s[4 * NJ];
#pragma unroll
    for (int e = 0; e < 4 * NJ; ++e) s[e] = 0.f;
    if constexpr (Cfg::FP4) {
      // a thread's token 8j + g: one 16-byte load gives four k-steps' fragments
#pragma unroll
      for (int j = 0; j < NJ; ++j)
#pragma unroll
        for (int kg = 0; kg < DQK / 128; ++kg) {
          const uint4 x = ld_shared_v4(k_t + chunk_unit<KROW, true>(8 * j + g, e2m1_k_unit(4 * kg, t4)));
          const uint32_t xw[4] = {x.x, x.y, x.z, x.w};
#pragma unroll
          for (int w = 0; w < 4; ++w) {
            const e2m1::E4m3Pairs b = e2m1::to_e4m3_pairs(xw[w]);
            mma_16832(s + 4 * j, qf[4 * kg + w], b.even, b.odd);
          }
        }
    } else {
#pragma unroll
      for (int kk = 0; kk < DQK / 32; ++kk)
#pragma unroll
        for (int j = 0; j < NJ; j += 2) {
          uint32_t kb[4];
          ldsm_x4(kb, k_t + swz16<DQK>(8 * j + (lane & 7) + ((lane >> 4) << 3), 2 * kk + ((lane >> 3) & 1)));
          mma_16832(s + 4 * j, qf[kk], kb[0], kb[1]);
          mma_16832(s + 4 * j + 4, qf[kk], kb[2], kb[3]);
        }
    }

    // ---- online softmax (log2 domain). A chunk holds a valid token for the block, but with several
    // query tokens a row's causal limit can fall before it: a row that has seen nothing yet keeps a
    // maximum of -inf and subtracts 0 instead, so its P and factor are 0, not NaN.
    float mx_a, mx_b;
    scale_mask_rowmax<NJ, Cfg::MQ>(s, chunk_t0(i) + 2 * t4, lim_a, lim_b, sc_a, sc_b, mx_a, mx_b, lim_lo);
    const float mn_a = fmaxf(m_run[0], mx_a), mn_b = fmaxf(m_run[1], mx_b);
    const float mu_a = Cfg::MQ && mn_a == -INFINITY ? 0.f : mn_a, mu_b = Cfg::MQ && mn_b == -INFINITY ? 0.f : mn_b;
    const float al_a = exp2f(m_run[0] - mu_a), al_b = exp2f(m_run[1] - mu_b);
    m_run[0] = mn_a, m_run[1] = mn_b;
    exp2_rows<NJ>(s, mu_a, mu_b, al_a, al_b, l_run);
    rescale_rows_moved(o, al_a, al_b);

    // ---- O += P V, one k32 step per 32 tokens
#pragma unroll
    for (int q = 0; q < TPW / 32; ++q) {
      uint32_t pa[4];
      wg::e4m3_a_fragment(s, q, 256.f, pa);
#pragma unroll
      for (int c = 0; c < DV / 16; ++c) {
        uint32_t vb[4];
        vt_e4m3_fragment(v_t + swz16<DV>(32 * q + lane, c), vb);
        mma_16832(of + 8 * c, pa, vb[0], vb[2]);
        mma_16832(of + 8 * c + 4, pa, vb[1], vb[3]);
      }
    }
  }
  wg::cp_wait<0>();

  // ---- combine the warps: each leaves its maxima, sums and unnormalised O (in its own ring)
  quad_sum(l_run);
  if (t4 == 0) {
    sMax[warp * G + g] = m_run[0], sMax[warp * G + g + 8] = m_run[1];
    sSum[warp * G + g] = l_run[0], sSum[warp * G + g + 8] = l_run[1];
  }
  float* sO = reinterpret_cast<float*>(smem + Cfg::OFF_RING);
  {
    float* mine_o = sO + warp * (Cfg::RING / 4);
#pragma unroll
    for (int c = 0; c < DV / 16; ++c) {
      // a thread's dims of block c: 16c + 4t4 .. +3 (even tile: +0, +2; odd tile: +1, +3)
      const float* x = of + 8 * c;
      *reinterpret_cast<float4*>(mine_o + g * Cfg::OSTRIDE + 16 * c + 4 * t4) = make_float4(x[0], x[4], x[1], x[5]);
      *reinterpret_cast<float4*>(mine_o + (g + 8) * Cfg::OSTRIDE + 16 * c + 4 * t4) = make_float4(x[2], x[6], x[3], x[7]);
    }
  }
  __syncthreads();

  // Thread: head `row`, 4 adjacent dims per step. Warps that had no chunk hold max -inf, weight 0.
  const long long part_row0 = work.row(p, 0) * p.splits;
  for (int u = tid; u < G * DV / 4; u += Cfg::THREADS) {
    const int row = u / (DV / 4), dim = 4 * (u % (DV / 4));
    if (row >= n_rows) continue;
    float mx = -INFINITY;
#pragma unroll
    for (int w = 0; w < W; ++w) mx = fmaxf(mx, sMax[w * G + row]);
    float L = 0.f;
    float4 acc = make_float4(0.f, 0.f, 0.f, 0.f);
#pragma unroll
    for (int w = 0; w < W; ++w) {
      const float f = exp2f(sMax[w * G + row] - mx);
      L += f * sSum[w * G + row];
      const float4 x = *reinterpret_cast<const float4*>(sO + w * (Cfg::RING / 4) + row * Cfg::OSTRIDE + dim);
      acc.x += f * x.x, acc.y += f * x.y, acc.z += f * x.z, acc.w += f * x.w;
    }
    if constexpr (Cfg::FP4) {  // V's scale per channel, on the outputs and partials alike (the merge is linear)
      const float4 cs = __ldg(reinterpret_cast<const float4*>(p.v_chan_scale + (long long)kvh * DV + dim));
      acc.x *= cs.x, acc.y *= cs.y, acc.z *= cs.z, acc.w *= cs.w;
    }
    const float inv = 1.f / (256.f * L);  // P was scaled by 256 before rounding to e4m3
    if (p.splits == 1) {
      const long long out = work.row(p, row) * DV + dim;
      const float w = inv * p.v_scale;
      store_out_pair(p, out, acc.x * w, acc.y * w);
      store_out_pair(p, out + 2, acc.z * w, acc.w * w);
    } else {
      const long long prow = part_row0 + (long long)row * p.splits + split;
      __stcg(reinterpret_cast<float4*>(p.o_part + prow * DV + dim), make_float4(acc.x * inv, acc.y * inv, acc.z * inv, acc.w * inv));
      if (dim == 0) __stcg(p.lse_part + prow, mx + __log2f(L));
    }
  }
}

}  // namespace decodesim::gpu::detail
