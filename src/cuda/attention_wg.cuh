// Hopper decode attention on warpgroup MMA (wgmma, sm_90a): MLA (one shared 576-wide latent),
// MFA and GQA, with BF16 or FP8 (e4m3) KV.
//
// One block of two warpgroups owns (request, KV head, 64 query heads, a split of the context).
// The context is walked in pairs of 32-token tiles; NP pairs are in flight (cp.async into
// 128/64/32-byte swizzled shared memory, the layouts wgmma reads directly). Per pair, warpgroup w:
//   1. S_w = Q K_w^T for its own tile (64 heads x 32 tokens, the full qk width);
//   2. exchanges row maxima with the other warpgroup, so both use one running maximum;
//   3. P_w = exp2(S_w - m) stays in registers as the A operand, and is also stored to shared memory
//      for the other warpgroup;
//   4. O_w += P_w V_w + P_other V_other over its half of the value columns (MLA: 256 of 512).
// Both warpgroups thus share the score work of a pair evenly and each owns half of the output, the
// division FlashMLA's published design uses, in a simpler lock-step schedule.
//
// FP8 KV: Q is quantised per row to e4m3 in the kernel; S and PV both run as e4m3 products (twice
// the BF16 tensor rate). e4m3 operands must be K-major and V arrives token-major, so PV is computed
// transposed, O^T += V^T P^T: V^T is the register operand (ldmatrix.trans of dim pairs, then byte
// permutes), P^T is read from shared memory. P is rounded to e4m3 after scaling by 256 (its values
// are in [0, 1]). Per-tensor K and V scales are applied in fp32.
//
// Splits of the context write normalised partials and log2-sum-exp, and attn_merge_kernel, launched
// after the attention kernel as its programmatic dependent, merges them in split order
// (deterministic), spread over many blocks.
#pragma once
#include <cuda.h>

#include "attention.cuh"
#include "e2m1.hpp"
#include "wgmma.cuh"

namespace decodesim::gpu::detail {

// TMA_: tiles arrive by the bulk tensor copy engine (one thread issues a 64-column box per chunk,
// completion on an mbarrier) instead of cp.async issued by every thread.
// TN_: tokens per warpgroup tile (32 or 64; a 64-token page holds whole tiles); MINB_: blocks per
// SM the register budget is cut for (two blocks hide each other's per-pair latencies).
// SPREAD_ (TMA): the copies of a pair are issued by lane 0 of every warp, a few boxes each, not all
// by thread 0: issuing one takes its warp tens of cycles, and the warp that issues them all holds
// its warpgroup's products, and in lock step the whole block, back.
// LAZY_ (BF16 KV): the running maximum of a row moves only when a pair's maximum exceeds it by more
// than 8 (log2 domain), so that after the first pairs the O rescale (128 multiplies per thread,
// with the tensor pipe idle) is skipped by whole warps. P is then at most 2^8, which BF16 holds
// with the same relative precision; the final normalisation uses the same maximum, so the result
// is unchanged up to rounding.
// POST_: the next pair's copies are issued behind the score product (its wgmmas already queued)
// rather than before it. Where issuing the copies delays the product more than the copies need
// their lead (FP8 MLA, the GQA TP4 shape), this is faster; BF16 MLA needs the lead.
// MQ_: built for several query tokens per request (HeadBlock: the rows' causal limits and layout).
// FP4_ (with FP8_): the cache holds 4-bit e2m1 values ("low-bit storage, high-bit compute"): the
// ring holds the 4-bit tiles as they arrive, and each warpgroup expands its own tile into an e4m3
// staging tile of the FP8 layout, whose products then run as for an FP8 cache: Fp4Expand says when.
enum class Fp4Expand {
  none,      // not a 4-bit cache
  in_place,  // just before the pair's score product (on its critical path)
  ahead,     // one pair ahead, while the tensor cores run the value products of the pair before, into
             // a second set of staging tiles (NP >= 3, so that the next pair has landed by then)
};
template <int DQK_, int DV_, bool SHARED_, bool FP8_, int NP_, bool TMA_ = false, int TN_ = 32, int MINB_ = 1,
          bool SPREAD_ = false, bool LAZY_ = false, bool POST_ = false, bool MQ_ = false, Fp4Expand FP4_ = Fp4Expand::none>
struct WgCfg {
  static constexpr int DQK = DQK_, DV = DV_, NP = NP_, TN = TN_, MINB = MINB_;
  static constexpr bool MQ = MQ_, FP4 = FP4_ != Fp4Expand::none, AHEAD = FP4_ == Fp4Expand::ahead;
  static constexpr int PAGE_TOKENS = TN;  // a tile's rows are consecutive cache rows
  static constexpr bool SHARED = SHARED_, FP8 = FP8_, TMA = TMA_, SPREAD = SPREAD_, LAZY = LAZY_, POST = POST_;
  static constexpr float LAZY_LOG2 = LAZY ? 8.f : 0.f;
  static constexpr int G = 64, THREADS = 256;
  static constexpr int ES = FP8 ? 1 : 2;
  static constexpr int KV_BITS = FP4 ? 4 : 8 * ES;  // a cache value as stored
  static constexpr int CB = 64 * ES;            // bytes per row of a 64-column chunk = swizzle span
  static constexpr int QC = DQK / 64, VC = DV / 64;
  static constexpr int CHUNK = TN * CB;         // one 64-column chunk of a 32-token tile
  static constexpr int K_TILE = QC * CHUNK;
  static constexpr int V_TILE = SHARED ? 0 : VC * CHUNK;
  static constexpr int TILE = K_TILE + V_TILE;        // a tile as the products read it
  static constexpr int CHUNK4 = TN * 32;              // FP4: one 64-column chunk of a tile as stored (32-byte rows)
  static constexpr int RING_TILE = FP4 ? TILE / 2 : TILE;  // a tile as it arrives
  static constexpr int NBUF = 2 * NP;
  static constexpr int HALF = DV / 2;           // value columns per warpgroup
  static constexpr int NO = HALF / 64;          // 64-column accumulator blocks per warpgroup
  static constexpr int PSPAN = TN * ES;         // bytes per row of P (= its swizzle span)
  static constexpr int P_BYTES = 64 * PSPAN;
  static constexpr int Q_BYTES = QC * 64 * CB;
  static constexpr int OFF_T = Q_BYTES;
  static constexpr int OFF_STAGE = OFF_T + NBUF * RING_TILE;  // FP4: the two warpgroups' e4m3 tiles (AHEAD: two pairs')
  static constexpr int OFF_P = OFF_STAGE + (FP4 ? (AHEAD ? 4 : 2) * TILE : 0);
  static constexpr int OFF_RED = OFF_P + 2 * P_BYTES;  // max[2][64], sum[2][64], q scale[64], alpha[64]
  static constexpr int OFF_BAR = OFF_RED + 6 * 64 * 4;   // one mbarrier per pair slot (TMA)
  static constexpr int SMEM = OFF_BAR + 8 * NP + 1024;   // + room to align the base to 1024
  static_assert(DQK % 64 == 0 && DV % 128 == 0, "dims");
  static_assert(!SHARED || DV <= DQK, "shared K/V");
  static_assert(NP >= 2, "pipeline");
  static_assert(TN == 32 || TN == 64, "tile tokens");
  static_assert(K_TILE % 1024 == 0 || FP8, "128-byte swizzle needs 1024-byte aligned tiles");
  static_assert(!SPREAD || TMA, "spread issue of tensor copies");
  static_assert(!LAZY || !FP8, "e4m3 P needs P <= 1");
  static_assert(!FP4 || (FP8 && !TMA && !MQ), "4-bit KV: e4m3 products, cp.async copies, one query token");
  static_assert(!AHEAD || NP >= 3, "expanding a pair ahead needs it landed while the one before is computed");
};

namespace wg_dev {

__device__ __forceinline__ void st_shared_u32(uint32_t addr, uint32_t v) {
  asm volatile("st.shared.u32 [%0], %1;\n" ::"r"(addr), "r"(v) : "memory");
}
__device__ __forceinline__ void st_shared_u16(uint32_t addr, uint16_t v) {
  asm volatile("st.shared.u16 [%0], %1;\n" ::"r"(addr), "h"(v) : "memory");
}
__device__ __forceinline__ void st_shared_u8(uint32_t addr, uint8_t v) {
  asm volatile("st.shared.u8 [%0], %1;\n" ::"r"(addr), "h"(uint16_t(v)) : "memory");
}
__device__ __forceinline__ void st_shared_v4(uint32_t addr, uint4 v) {
  asm volatile("st.shared.v4.u32 [%0], {%1, %2, %3, %4};\n" ::"r"(addr), "r"(v.x), "r"(v.y), "r"(v.z), "r"(v.w) : "memory");
}
__device__ __forceinline__ void ldsm_x4_trans(uint32_t (&r)[4], uint32_t addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}
// Four 8x8 matrices of 16-bit elements to shared memory (lane l: row l % 8 of matrix l / 8).
__device__ __forceinline__ void stsm_x4(uint32_t addr, const uint32_t (&r)[4]) {
  asm volatile("stmatrix.sync.aligned.m8n8.x4.shared.b16 [%0], {%1, %2, %3, %4};\n" ::"r"(addr), "r"(r[0]), "r"(r[1]), "r"(r[2]),
               "r"(r[3])
               : "memory");
}
__device__ __forceinline__ uint32_t ld_shared_u32(uint32_t addr) {
  uint32_t v;
  asm volatile("ld.shared.u32 %0, [%1];\n" : "=r"(v) : "r"(addr) : "memory");
  return v;
}
__device__ __forceinline__ uint4 ld_shared_v4(uint32_t addr) {
  uint4 v;
  asm volatile("ld.shared.v4.u32 {%0, %1, %2, %3}, [%4];\n" : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w) : "r"(addr) : "memory");
  return v;
}
// 4-bit tiles. A tile as it arrives: 64-column chunks of TN rows x 32 bytes, 32-byte swizzle; its
// 16-byte unit u of row r (values 32u .. 32u + 31) at e2m1_unit_offset. The e4m3 tile the products
// read (the FP8 layout): chunks of TN rows x 64 bytes, 64-byte swizzle; unit u (values 16u .. 16u
// + 15) at e4m3_unit_offset. The copies, the expansion and the host test (tests/cuda_host) share them.
template <int TN>
__host__ __device__ __forceinline__ uint32_t e2m1_unit_offset(int r, int u) {
  return uint32_t((u / 2) * (TN * 32)) + wg::swz<32>(r, (u % 2) * 16);
}
template <int TN>
__host__ __device__ __forceinline__ uint32_t e4m3_unit_offset(int r, int u) {
  return uint32_t((u / 4) * (TN * 64)) + wg::swz<64>(r, (u % 4) * 16);
}
// One 4-bit unit (32 values) -> its two e4m3 units (e2m1::to_e4m3x8, exact: the value times 2^-6).
__host__ __device__ __forceinline__ void expand_e2m1_unit(const uint32_t (&x)[4], uint32_t (&first)[4], uint32_t (&second)[4]) {
  const e2m1::E4m3x8 a = e2m1::to_e4m3x8(x[0]), b = e2m1::to_e4m3x8(x[1]), d = e2m1::to_e4m3x8(x[2]), e = e2m1::to_e4m3x8(x[3]);
  first[0] = a.lo, first[1] = a.hi, first[2] = b.lo, first[3] = b.hi;
  second[0] = d.lo, second[1] = d.hi, second[2] = e.lo, second[3] = e.hi;
}
// UNITS 4-bit units -> their e4m3 units, by NT threads (this one: t), unit w read at src(w) and its
// two halves written at dst(w, 0) and dst(w, 1): the layouts are the caller's.
template <int UNITS, int NT, class Src, class Dst>
__device__ __forceinline__ void expand_e2m1_units(int t, Src src, Dst dst) {
#pragma unroll 4
  for (int w = t; w < UNITS; w += NT) {
    const uint4 v = ld_shared_v4(src(w));
    const uint32_t x[4] = {v.x, v.y, v.z, v.w};
    uint32_t first[4], second[4];
    expand_e2m1_unit(x, first, second);
    st_shared_v4(dst(w, 0), make_uint4(first[0], first[1], first[2], first[3]));
    st_shared_v4(dst(w, 1), make_uint4(second[0], second[1], second[2], second[3]));
  }
}
// A 4-bit tile of CHUNKS chunks -> its e4m3 tile, by the 128 threads of a warpgroup (wtid). Eight
// consecutive threads take one unit of eight consecutive rows: both the loads and the stores then
// fall on distinct banks.
template <int TN, int CHUNKS>
__device__ __forceinline__ void expand_e2m1_tile(uint32_t src, uint32_t dst, int wtid) {
  expand_e2m1_units<CHUNKS * TN * 2, 128>(
      wtid, [&](int w) { return src + e2m1_unit_offset<TN>(w % TN, w / TN); },
      [&](int w, int half) { return dst + e4m3_unit_offset<TN>(w % TN, 2 * (w / TN) + half); });
}

// Bytes of a V^T fragment word (vt_e4m3_fragment: positions 4t..4t+3 of a k32 step, or 16+4t..
// when `upper`) that hold tokens before `valid`; the others are zeroed, as a tile past the context
// holds other rows (TMA copies whole boxes) and P = 0 must not meet a non-finite value.
__device__ __forceinline__ uint32_t valid_bytes(int tok0, int t4, bool upper, int valid) {
  const int t = tok0 + (upper ? 16 : 0) + 2 * t4;
  return (t < valid ? 0xFFu : 0u) | (t + 1 < valid ? 0xFF00u : 0u) | (t + 8 < valid ? 0xFF0000u : 0u) |
         (t + 9 < valid ? 0xFF000000u : 0u);
}
// P (64 heads x TN tokens, as the S accumulator after softmax) -> shared memory, as the K-major
// operand of the other products: bf16 rows of 2*TN bytes, swizzled with that span.
template <int TN>
__device__ __forceinline__ void store_p_bf16(uint32_t sP, const float (&s)[TN / 2], int row_a, int row_b, int t4) {
#pragma unroll
  for (int j = 0; j < TN / 8; ++j) {
    const int colb = 2 * (8 * j + 2 * t4);  // byte offset of the pair in the row
    st_shared_u32(sP + wg::swz<2 * TN>(row_a, colb), wg::pack_bf16(s[4 * j], s[4 * j + 1]));
    st_shared_u32(sP + wg::swz<2 * TN>(row_b, colb), wg::pack_bf16(s[4 * j + 2], s[4 * j + 3]));
  }
}
// The same for e4m3: k32 step kk's fragment registers, rows of TN bytes, in the fragment's permuted
// k order (wg::kperm8 within each 32-token step).
template <int TN>
__device__ __forceinline__ void store_p_e4m3(uint32_t sP, const uint32_t (&pa)[4], int kk, int row_a, int row_b, int t4) {
  st_shared_u32(sP + wg::swz<TN>(row_a, 32 * kk + 4 * t4), pa[0]);
  st_shared_u32(sP + wg::swz<TN>(row_b, 32 * kk + 4 * t4), pa[1]);
  st_shared_u32(sP + wg::swz<TN>(row_a, 32 * kk + 16 + 4 * t4), pa[2]);
  st_shared_u32(sP + wg::swz<TN>(row_b, 32 * kk + 16 + 4 * t4), pa[3]);
}
// Its inverse: the e4m3 A fragment of k32 step kk back from P stored that way.
template <int TN>
__device__ __forceinline__ void load_p_e4m3(uint32_t sP, int kk, int row_a, int row_b, int t4, uint32_t (&pa)[4]) {
  pa[0] = ld_shared_u32(sP + wg::swz<TN>(row_a, 32 * kk + 4 * t4));
  pa[1] = ld_shared_u32(sP + wg::swz<TN>(row_b, 32 * kk + 4 * t4));
  pa[2] = ld_shared_u32(sP + wg::swz<TN>(row_a, 32 * kk + 16 + 4 * t4));
  pa[3] = ld_shared_u32(sP + wg::swz<TN>(row_b, 32 * kk + 16 + 4 * t4));
}
// The register A fragment of k16 step kk of a bf16 operand stored K-major in shared memory (rows
// of SPAN bytes, swizzled with that span): the thread's rows row_a, row_b, columns 16kk + 2t4 (+8).
template <int SPAN>
__device__ __forceinline__ void bf16_a_fragment_smem(uint32_t addr, int kk, int row_a, int row_b, int t4, uint32_t (&a)[4]) {
  a[0] = ld_shared_u32(addr + wg::swz<SPAN>(row_a, 2 * (16 * kk + 2 * t4)));
  a[1] = ld_shared_u32(addr + wg::swz<SPAN>(row_b, 2 * (16 * kk + 2 * t4)));
  a[2] = ld_shared_u32(addr + wg::swz<SPAN>(row_a, 2 * (16 * kk + 8 + 2 * t4)));
  a[3] = ld_shared_u32(addr + wg::swz<SPAN>(row_b, 2 * (16 * kk + 8 + 2 * t4)));
}
// Accumulator blocks set to zero before the first product.
template <int NO>
__device__ __forceinline__ void zero_acc(float (&o)[NO][32]) {
#pragma unroll
  for (int j = 0; j < NO; ++j)
#pragma unroll
    for (int i = 0; i < 32; ++i) o[j][i] = 0.f;
}
// O (rows are the thread's two heads: registers 4i, 4i+1 row a, 4i+2, 4i+3 row b) times a factor per row.
template <int NO>
__device__ __forceinline__ void rescale_rows(float (&o)[NO][32], float f_a, float f_b) {
#pragma unroll
  for (int j = 0; j < NO; ++j)
#pragma unroll
    for (int i = 0; i < 32; i += 4) o[j][i] *= f_a, o[j][i + 1] *= f_a, o[j][i + 2] *= f_b, o[j][i + 3] *= f_b;
}
// The same, skipped by warps where every factor is 1 (most tiles once the running maxima settle).
template <int NO>
__device__ __forceinline__ void rescale_rows_moved(float (&o)[NO][32], float f_a, float f_b) {
  if (__any_sync(0xffffffffu, f_a != 1.f || f_b != 1.f)) rescale_rows(o, f_a, f_b);
}
// The A fragment of V^T for O^T += V^T P^T with e4m3 operands: 16 dims (this warp's) x 32 tokens,
// from this lane's token row at `addr` (V token-major, 64-byte swizzle). ldmatrix.trans moves
// 16-bit pairs of dims; two byte permutes per register then give rows 2g and 2g+1 (see the note at
// the top of this file on the k order).
__device__ __forceinline__ void vt_e4m3_fragment(uint32_t addr, uint32_t (&a)[4]) {
  uint32_t r[4];
  ldsm_x4_trans(r, addr);
  a[0] = __byte_perm(r[0], r[1], 0x6420), a[1] = __byte_perm(r[0], r[1], 0x7531);
  a[2] = __byte_perm(r[2], r[3], 0x6420), a[3] = __byte_perm(r[2], r[3], 0x7531);
}
// Values [dim_lo, dim_lo + DIMS) of a 64-token e4m3 tile (token-major 64-dim chunks of CHUNK
// bytes, 64-byte swizzle, at src) -> V^T rows at dst + dim * 64 (64 tokens each, 64-byte swizzle,
// in the fragment k order of wg::e4m3_a_fragment, so that P goes from the score accumulators
// straight to the A operand), by NW warps (this one: w), in units of 16 dims x 32 tokens: one
// ldmatrix.trans (lane l: token row l of the unit) and one stmatrix, whose four 8x8 matrices are
// the even and odd dims of the unit's rows, tokens 0-15 and 16-31 of the fragment order. Both
// addresses are the 64-byte swizzle worked out per lane once (a row's swizzle phase does not
// depend on the unit). Tokens at or past `valid` are written as zero.
template <int CHUNK, int DIMS, int NW>
__device__ __forceinline__ void transpose_v_e4m3(uint32_t src, uint32_t dst, int dim_lo, int valid, int w, int lane) {
  constexpr int UNITS = DIMS / 8;
  const int sr = lane & 7, sm = lane >> 3, t4 = lane & 3;
  const uint32_t ld_lane = lane * 64, ld_x = ((lane >> 1) & 3) << 4;
  // A warp's units step by an even count, so each of its two units in flight keeps one k step.
  auto st_lane = [&](int kk) -> uint32_t { return (2 * sr + (sm & 1)) * 64 + ((((kk << 1) | (sm >> 1)) ^ (sr & 3)) << 4); };
  const uint32_t st_a = st_lane(w & 1), st_b = st_lane((w + NW) & 1);
  auto load = [&](int u, uint32_t(&a)[4]) {
    const int dim0 = dim_lo + 16 * (u >> 1);
    vt_e4m3_fragment(src + (dim0 >> 6) * CHUNK + (u & 1) * 2048 + ld_lane + ((dim0 & 63) ^ ld_x), a);
  };
  auto store = [&](int u, uint32_t st, uint32_t(&a)[4]) {
    const int dim0 = dim_lo + 16 * (u >> 1), kk = u & 1;
    if (valid < 64) {
      const uint32_t lo = valid_bytes(32 * kk, t4, false, valid), hi = valid_bytes(32 * kk, t4, true, valid);
      a[0] &= lo, a[1] &= lo, a[2] &= hi, a[3] &= hi;
    }
    stsm_x4(dst + dim0 * 64 + st, a);
  };
  // Two units in flight per warp: both loads before either store.
#pragma unroll 1
  for (int u = w; u < UNITS; u += 2 * NW) {
    const int u2 = u + NW;
    uint32_t a[4], b[4];
    load(u, a);
    if (u2 < UNITS) load(u2, b);
    store(u, st_a, a);
    if (u2 < UNITS) store(u2, st_b, b);
  }
  wg::fence_proxy_async();
  __syncwarp();
}
// O^T (the e4m3 products' accumulators: a thread's columns are heads 8jj + 2t4 + {0, 1}) times a
// factor per head from shared memory.
template <int NO>
__device__ __forceinline__ void rescale_ot(float (&o)[NO][32], const float* f, int t4) {
#pragma unroll
  for (int jj = 0; jj < 8; ++jj) {
    const float2 al = *reinterpret_cast<const float2*>(f + 8 * jj + 2 * t4);
#pragma unroll
    for (int j = 0; j < NO; ++j) o[j][4 * jj] *= al.x, o[j][4 * jj + 1] *= al.y, o[j][4 * jj + 2] *= al.x, o[j][4 * jj + 3] *= al.y;
  }
}
// The thread's part of a score tile to the log2 domain and its two rows' maxima over its own
// columns: each row times its factor (sc_a, sc_b), tokens at or past the row's limit (lim_a, lim_b)
// masked to -inf; PER_ROW false: one limit (lim_a) serves both rows, one compare per column.
template <int NJ, bool PER_ROW>
__device__ __forceinline__ void scale_mask_max(float (&s)[4 * NJ], int tok0, int lim_a, int lim_b, float sc_a, float sc_b,
                                               float& mx_a, float& mx_b) {
#pragma unroll
  for (int j = 0; j < NJ; ++j) {
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const int lim = PER_ROW && e >= 2 ? lim_b : lim_a;
      s[4 * j + e] = tok0 + 8 * j + (e & 1) < lim ? s[4 * j + e] * (e < 2 ? sc_a : sc_b) : -INFINITY;
    }
    mx_a = fmaxf(mx_a, fmaxf(s[4 * j], s[4 * j + 1]));
    mx_b = fmaxf(mx_b, fmaxf(s[4 * j + 2], s[4 * j + 3]));
  }
}
// A score tile (64 heads x 8*NJ tokens, the m64 accumulator) to the log2 domain: each of the
// thread's two rows times its factor (sc_a, sc_b), tokens at or past the row's limit (lim_a, lim_b:
// HeadBlock::limit; one token, MQ false: both are the split's end, one compare per column serves
// both rows; tok0: the token of the thread's first column) masked to -inf; returns both rows'
// maxima over the quad. MQ: lim_lo, the block's least limit (its first row's): columns all before
// it need no row's own limit, so every tile but the last few takes the one-token mask. The threads
// of a quad may choose differently at the boundary; both choices give the same scores, and the
// shuffles below are one instruction for all of them.
template <int NJ, bool MQ>
__device__ __forceinline__ void scale_mask_rowmax(float (&s)[4 * NJ], int tok0, int lim_a, int lim_b, float sc_a, float sc_b,
                                                  float& mx_a, float& mx_b, int lim_lo = 0) {
  mx_a = -INFINITY, mx_b = -INFINITY;
  if (MQ && tok0 + 8 * NJ > lim_lo) scale_mask_max<NJ, true>(s, tok0, lim_a, lim_b, sc_a, sc_b, mx_a, mx_b);
  else scale_mask_max<NJ, false>(s, tok0, MQ ? lim_lo : lim_a, lim_b, sc_a, sc_b, mx_a, mx_b);
  mx_a = fmaxf(mx_a, __shfl_xor_sync(0xffffffffu, mx_a, 1));
  mx_a = fmaxf(mx_a, __shfl_xor_sync(0xffffffffu, mx_a, 2));
  mx_b = fmaxf(mx_b, __shfl_xor_sync(0xffffffffu, mx_b, 1));
  mx_b = fmaxf(mx_b, __shfl_xor_sync(0xffffffffu, mx_b, 2));
}
// The thread's two score rows to P = exp2(S - m) in place (mn_a, mn_b: the rows' maxima), and
// their running sums moved to the new maximum (factors f_a, f_b) plus the tile's P.
template <int NJ>
__device__ __forceinline__ void exp2_rows(float (&s)[4 * NJ], float mn_a, float mn_b, float f_a, float f_b, float (&l_run)[2]) {
  float ls_a = 0.f, ls_b = 0.f;
#pragma unroll
  for (int j = 0; j < NJ; ++j) {
    s[4 * j + 0] = exp2f(s[4 * j + 0] - mn_a), s[4 * j + 1] = exp2f(s[4 * j + 1] - mn_a);
    s[4 * j + 2] = exp2f(s[4 * j + 2] - mn_b), s[4 * j + 3] = exp2f(s[4 * j + 3] - mn_b);
    ls_a += s[4 * j] + s[4 * j + 1], ls_b += s[4 * j + 2] + s[4 * j + 3];
  }
  l_run[0] = l_run[0] * f_a + ls_a;
  l_run[1] = l_run[1] * f_b + ls_b;
}
__device__ __forceinline__ void mbar_init(uint32_t bar, int count) {
  asm volatile("mbarrier.init.shared.b64 [%0], %1;\n" ::"r"(bar), "r"(count) : "memory");
}
__device__ __forceinline__ void mbar_expect_tx(uint32_t bar, uint32_t bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared.b64 _, [%0], %1;\n" ::"r"(bar), "r"(bytes) : "memory");
}
__device__ __forceinline__ void mbar_arrive(uint32_t bar) {
  asm volatile("mbarrier.arrive.shared.b64 _, [%0];\n" ::"r"(bar) : "memory");
}
__device__ __forceinline__ void mbar_wait(uint32_t bar, uint32_t parity) {
  asm volatile(
      "{\n.reg .pred done;\nwait_%=:\n"
      "mbarrier.try_wait.parity.shared.b64 done, [%0], %1;\n"
      "@!done bra wait_%=;\n}\n" ::"r"(bar), "r"(parity) : "memory");
}
// One 2D box (64 columns x 32 rows) of a tensor map into shared memory, completing on `bar`.
__device__ __forceinline__ void tma_load_2d(uint32_t dst, const CUtensorMap* map, int col, int row, uint32_t bar) {
  asm volatile(
      "cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3}], [%4];\n" ::"r"(dst),
      "l"(reinterpret_cast<uint64_t>(map)), "r"(col), "r"(row), "r"(bar)
      : "memory");
}

}  // namespace wg_dev

// Most splits of one context: the merge keeps a weight per (split, head) in the freed tile buffers.
constexpr int kMaxSplits = 64;

// Tensor maps of the K and V caches (V unused for MLA), passed by value as a kernel parameter.
struct WgMaps {
  CUtensorMap k, v;
};

// Who a block of a warpgroup kernel is (request, KV head, block of G rows, split of the context) and
// which two accumulator rows its thread holds: G 64, both warpgroups the same rows; G 128 (the rows
// kernel), warpgroup w rows 64w .. 64w + 63.
template <bool MQ, int G = 64>
struct WgBlock : BlockWork<MQ> {
  static_assert(G == 64 || G == 128, "a warpgroup MMA's 64 rows, shared or one set per warpgroup");
  int tid, wgi, lane, wq, g, t4, row_a, row_b;
  __device__ explicit WgBlock(const AttnParams& p) : BlockWork<MQ>(p, G) {
    tid = threadIdx.x, wgi = tid >> 7, lane = tid & 31, wq = (tid >> 5) & 3;
    g = lane >> 2, t4 = lane & 3;
    row_a = (G == 128 ? 64 * wgi : 0) + wq * 16 + g, row_b = row_a + 8;
  }
};

// Rows [valid, TN) of the CHUNKS 64-column chunks of a tile at v (rows of SPAN bytes, CHUNK bytes a
// chunk) set to zero by NT threads (this one: tid): a tile past the context holds other rows (TMA
// copies whole boxes), which P = 0 must not meet.
template <int CHUNKS, int TN, int SPAN, int CHUNK, int NT>
__device__ __forceinline__ void zero_tile_rows(uint32_t v, int valid, int tid) {
  constexpr int UNITS = SPAN / 16;  // 16-byte units a row
  for (int u = tid; u < CHUNKS * TN * UNITS; u += NT) {
    const int c = u / (TN * UNITS), r = (u / UNITS) % TN, x = u % UNITS;
    if (r >= valid) wg_dev::st_shared_v4(v + c * CHUNK + r * SPAN + x * 16, make_uint4(0, 0, 0, 0));
  }
}

// Q of the block's ROWS rows (heads) -> shared memory as DQK/64 chunks of ROWS rows x 64 bf16 columns
// (128-byte swizzle, the K-major layout wgmma reads), by threads 0-255; rows past the group are
// zero. Every load is issued before the first store: the stores (asm with a memory clobber) keep
// their order against loads, so a loop of load-then-store waits out one global load's latency per
// unit at the launch's start.
template <int DQK, int ROWS = 64, class Blk>
__device__ __forceinline__ void load_q_bf16(const AttnParams& p, const Blk& blk, uint32_t dst) {
  constexpr int QU = DQK / 8, N = ROWS * QU / 256;  // 16-byte units per row, per thread
  static_assert(ROWS * QU % 256 == 0, "whole units per thread");
  uint4 v[N];
#pragma unroll
  for (int i = 0; i < N; ++i) {
    const int u = blk.tid + 256 * i, r = u / QU, cu = u % QU;
    v[i] = r < blk.n_rows ? __ldg(reinterpret_cast<const uint4*>(p.q + blk.row(p, r) * DQK) + cu) : make_uint4(0, 0, 0, 0);
  }
#pragma unroll
  for (int i = 0; i < N; ++i) {
    const int u = blk.tid + 256 * i, r = u / QU, cu = u % QU;
    wg_dev::st_shared_v4(dst + (cu / 8) * (ROWS * 128) + wg::swz<128>(r, (cu % 8) * 16), v[i]);
  }
}

// Q rows 0..ROWS-1 of a head block quantised to e4m3, row r by warp r % warps: the row's largest
// magnitude sets its scale, stored in sQs[r] (the products are scaled back by it); rows past the
// block's real heads are zero. dst(r, c): the shared-memory address of row r's element c. A warp
// loads four of its rows before it stores any (the stores keep their order against loads; see
// load_q_bf16). CHAN: K has a scale per channel (p.k_chan_scale), multiplied into Q first.
template <int DQK, int ROWS, bool CHAN = false, class Dst, class Blk>
__device__ __forceinline__ void quantize_q_e4m3(const AttnParams& p, const Blk& hb, int warp, int warps, int lane, Dst dst,
                                                float* sQs) {
  constexpr int PER = DQK / 32, RB = 4;
  float kc[PER];
#pragma unroll
  for (int k = 0; k < PER; ++k) kc[k] = CHAN ? __ldg(p.k_chan_scale + (long long)hb.kvh * DQK + lane + 32 * k) : 1.f;
  for (int r0 = warp; r0 < ROWS; r0 += RB * warps) {
    float x[RB][PER];
#pragma unroll
    for (int i = 0; i < RB; ++i) {
      const int r = r0 + i * warps;
#pragma unroll
      for (int k = 0; k < PER; ++k)
        x[i][k] = r < ROWS && r < hb.n_rows ? __bfloat162float(p.q[hb.row(p, r) * DQK + lane + 32 * k]) * kc[k] : 0.f;
    }
#pragma unroll
    for (int i = 0; i < RB; ++i) {
      const int r = r0 + i * warps;
      if (r >= ROWS) break;
      float amax = 0.f;
#pragma unroll
      for (int k = 0; k < PER; ++k) amax = fmaxf(amax, fabsf(x[i][k]));
#pragma unroll
      for (int o = 16; o; o >>= 1) amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, o));
      const float sc = amax > 0.f ? amax / 448.f : 1.f, inv = 1.f / sc;
#pragma unroll
      for (int k = 0; k < PER; ++k) {
        const int c = lane + 32 * k;
        wg_dev::st_shared_u8(dst(r, c), __nv_cvt_float_to_fp8(x[i][k] * inv, __NV_SATFINITE, __NV_E4M3));
      }
      if (lane == 0) sQs[r] = sc;
    }
  }
}
// The block's 64 rows in the warpgroup layout: 64-byte rows per 64-column chunk, 64-byte swizzle.
template <int DQK, bool CHAN = false, class Blk>
__device__ __forceinline__ void load_q_e4m3(const AttnParams& p, const Blk& blk, uint32_t dst, float* sQs) {
  quantize_q_e4m3<DQK, 64, CHAN>(p, blk, blk.tid >> 5, 8, blk.lane,
                           [&](int r, int c) { return dst + (c / 64) * (64 * 64) + wg::swz<64>(r, c % 64); }, sQs);
}

// The merge weights of a (request, KV head, head block)'s splits: thread h < 64 writes, for each
// split s, exp2(lse[h][s] - max_s) / sum_s into sW[s * 64 + h] (0 for rows past the group).
// part_row(h): head h's first row of partials (its splits follow). The log2-sum-exps are loaded
// once, all in flight together.
template <class PartRow>
__device__ __forceinline__ void split_weights(const AttnParams& p, PartRow part_row, int tid, int n_rows, float* sW) {
  if (tid < 64) {
    if (tid < n_rows) {
#pragma unroll 8
      for (int s2 = 0; s2 < p.splits; ++s2) sW[s2 * 64 + tid] = __ldcg(p.lse_part + part_row(tid) + s2);
      float mx = -INFINITY, sum = 0.f;
      for (int s2 = 0; s2 < p.splits; ++s2) mx = fmaxf(mx, sW[s2 * 64 + tid]);
      for (int s2 = 0; s2 < p.splits; ++s2) sum += (sW[s2 * 64 + tid] = exp2f(sW[s2 * 64 + tid] - mx));
      const float inv = 1.f / sum;
      for (int s2 = 0; s2 < p.splits; ++s2) sW[s2 * 64 + tid] *= inv;
    } else {
      for (int s2 = 0; s2 < p.splits; ++s2) sW[s2 * 64 + tid] = 0.f;
    }
  }
}

// The end of a warpgroup kernel: row sums over the quad and both warpgroups give each head's 1/L and
// log2-sum-exp; one split stores the normalised output, several write partials for
// attn_merge_kernel.
// o: this warpgroup's NO 64-column output blocks (OT: transposed, O^T, as the FP8 lock-step kernel
// keeps it); l_run, m_run: the running sum and maximum of the thread's two rows (both warpgroups at
// the same maximum). FP8: P was scaled by 256 before rounding to e4m3. BAR: 0 when the block is
// the two warpgroups, else the id of a named barrier over them alone (other warps have left).
// Shared memory free by now: sRed (256 floats). CHAN: V has a scale per channel (p.v_chan_scale),
// applied to the outputs and the partials alike (the merge is linear in them).
template <bool FP8, int NO, bool OT = FP8, int BAR = 0, bool CHAN = false, class Blk>
__device__ __forceinline__ void wg_finish(const AttnParams& p, const Blk& blk, float (&o)[NO][32], float (&l_run)[2],
                                          const float (&m_run)[2], float* sRed) {
  constexpr int HALF = 64 * NO, DV = 2 * HALF;
  const int tid = blk.tid, wgi = blk.wgi, wq = blk.wq, g = blk.g, t4 = blk.t4, row_a = blk.row_a, row_b = blk.row_b;
  const int n_rows = blk.n_rows;
  auto sync = [] {
    if constexpr (BAR == 0) __syncthreads();
    else wg::named_barrier(BAR, 256);
  };
  float* sSum = sRed + 128;  // [2][64]
  quad_sum(l_run);
  sync();
  if (t4 == 0) sSum[wgi * 64 + row_a] = l_run[0], sSum[wgi * 64 + row_b] = l_run[1];
  sync();
  float* sInv = sRed;       // [64]
  float* sLse = sRed + 64;  // [64]
  if (wgi == 0 && t4 == 0) {
    const float pscale = FP8 ? 1.f / 256.f : 1.f;  // P was scaled by 256 before rounding to e4m3
    const float L_a = sSum[row_a] + sSum[64 + row_a], L_b = sSum[row_b] + sSum[64 + row_b];
    sInv[row_a] = pscale / L_a, sInv[row_b] = pscale / L_b;
    sLse[row_a] = m_run[0] + __log2f(L_a), sLse[row_b] = m_run[1] + __log2f(L_b);
  }
  sync();

  // Output pairs (one head, two adjacent value columns) of accumulator block j, q = 0..15:
  // O holds rows = heads, columns = dims; O^T rows = dims (2g, 2g+1), columns = heads.
  struct Pair {
    int i0, i1, head, dim;
  };
  auto pair_of = [&](int j, int q) -> Pair {
    if constexpr (OT) {
      const int i0 = 4 * (q >> 1) + (q & 1);
      return {i0, i0 + 2, 8 * (i0 >> 2) + 2 * t4 + (i0 & 1), wgi * HALF + 64 * j + 16 * wq + 2 * g};
    } else {
      const int i0 = 2 * q;
      return {i0, i0 + 1, (i0 & 2) ? row_b : row_a, wgi * HALF + 64 * j + 8 * (i0 >> 2) + 2 * t4};
    }
  };
  auto store_out = [&](int head, int dim, float x0, float x1) { store_out_pair(p, blk.row(p, head) * DV + dim, x0, x1); };
  auto chan = [&](int dim) -> float2 {
    if constexpr (CHAN) return __ldg(reinterpret_cast<const float2*>(p.v_chan_scale + (long long)blk.kvh * DV + dim));
    else return make_float2(1.f, 1.f);
  };

  // fn(pair, x0, x1) for each output pair of a real head (rows past the group are padding).
  auto each_pair = [&](auto&& fn) {
#pragma unroll
    for (int j = 0; j < NO; ++j)
#pragma unroll
      for (int q = 0; q < 16; ++q) {
        const Pair e = pair_of(j, q);
        if (e.head < n_rows) {
          const float2 c = chan(e.dim);
          fn(e, o[j][e.i0] * c.x, o[j][e.i1] * c.y);
        }
      }
  };

  if (p.splits == 1) {
    each_pair([&](const Pair& e, float x0, float x1) {
      const float w = sInv[e.head] * p.v_scale;
      store_out(e.head, e.dim, x0 * w, x1 * w);
    });
    return;
  }

  // ---- split partials: every block writes its normalised O and log2-sum-exp.
  auto part_row = [&](int head) { return blk.row(p, head) * p.splits + blk.split; };
  each_pair([&](const Pair& e, float x0, float x1) {
    const float w = sInv[e.head];
    __stcg(reinterpret_cast<float2*>(p.o_part + part_row(e.head) * DV + e.dim), make_float2(x0 * w, x1 * w));
  });
  if (tid < n_rows) __stcg(p.lse_part + part_row(tid), sLse[tid]);
}

template <class Cfg>
__global__ void __launch_bounds__(256, Cfg::MINB) attn_wg_kernel(const AttnParams p, const __grid_constant__ WgMaps maps) {
  using namespace wg_dev;
  constexpr int TN = Cfg::TN, DQK = Cfg::DQK, DV = Cfg::DV, NP = Cfg::NP, CB = Cfg::CB, ES = Cfg::ES;
  constexpr int NO = Cfg::NO, HALF = Cfg::HALF, NJ = TN / 8;  // 8-token blocks of a tile
  constexpr bool FP8 = Cfg::FP8;
  extern __shared__ unsigned char smem_raw[];
  const uint32_t raw_addr = wg::smem_addr(smem_raw);
  const uint32_t base = (raw_addr + 1023u) & ~1023u;  // swizzle patterns repeat every 1024 bytes
  unsigned char* smem = smem_raw + (base - raw_addr);
  float* sMax = reinterpret_cast<float*>(smem + Cfg::OFF_RED);  // [2][64]
  float* sQs = sMax + 256;                                      // [64]
  float* sAlpha = sMax + 256 + 64;                              // [64] rescale factors of the pair (fp8)

  const WgBlock<Cfg::MQ> blk(p);
  if constexpr (Cfg::MQ)
    if (blk.empty()) return;  // variable length: past the request's rows or context
  const int tid = blk.tid, wgi = blk.wgi, lane = blk.lane, wq = blk.wq, t4 = blk.t4;
  const int row_a = blk.row_a, row_b = blk.row_b, kvh = blk.kvh, b = blk.b;
  const int t_begin = blk.t_begin, t_end = blk.t_end;
  const int ntiles = (t_end - t_begin + TN - 1) / TN;
  const int npairs = (ntiles + 1) / 2;

  auto cache_bytes = [](long long elems) { return cache_bytes_of(elems, Cfg::KV_BITS); };
  const unsigned char* kbase = static_cast<const unsigned char*>(p.k) + cache_bytes(kvh * p.k_head_stride);
  const unsigned char* vbase = static_cast<const unsigned char*>(Cfg::SHARED ? p.k : p.v) +
                               cache_bytes(kvh * (Cfg::SHARED ? p.k_head_stride : p.v_head_stride));
  const long long krs = cache_bytes(p.k_row_stride), vrs = cache_bytes(Cfg::SHARED ? p.k_row_stride : p.v_row_stride);

  // First cache row of the tile starting at token t0 (a 32-token tile never crosses a 64-token page).
  auto tile_row0 = [&](int t0) -> long long {
    if (t0 >= t_end) return 0;
    if (p.block_table) {
      const int page = __ldg(p.block_table + (long long)b * p.max_pages + t0 / p.page_size);
      return (long long)page * p.page_size + (t0 % p.page_size);
    }
    return (long long)b * p.ctx_rows + t0;
  };
  auto tile_addr = [&](int slot) -> uint32_t { return base + Cfg::OFF_T + slot * Cfg::RING_TILE; };
  // The tile of pair slot `slot` the products read: the ring's, or (FP4) warpgroup slot % 2's e4m3 staging
  // tile (AHEAD: of pair `pair`'s parity).
  auto read_tile = [&](int slot, int pair) -> uint32_t {
    const int stage = (Cfg::AHEAD ? 2 * (pair & 1) : 0) + (slot & 1);
    return Cfg::FP4 ? base + Cfg::OFF_STAGE + stage * Cfg::TILE : tile_addr(slot);
  };

  // Copies of one tile (K, then V unless shared) into slot; cp.async zero-fills rows past t_end.
  auto load_tile = [&](int slot, int t0, long long row0) {
    const uint32_t dst = tile_addr(slot);
    if constexpr (Cfg::TMA) {
      const uint32_t bar = base + Cfg::OFF_BAR + 8 * (slot / 2 % NP);
      const int row = int(row0);
#pragma unroll
      for (int c = 0; c < Cfg::QC; ++c) tma_load_2d(dst + c * Cfg::CHUNK, &maps.k, int(kvh * p.k_head_stride) + 64 * c, row, bar);
      if constexpr (!Cfg::SHARED)
#pragma unroll
        for (int c = 0; c < Cfg::VC; ++c)
          tma_load_2d(dst + Cfg::K_TILE + c * Cfg::CHUNK, &maps.v, int(kvh * p.v_head_stride) + 64 * c, row, bar);
      return;
    }
    if constexpr (Cfg::FP4) {
      // 4-bit rows: a 16-byte unit is 32 values, half of a 64-column chunk's 32-byte row
      auto copy = [&](const unsigned char* from, long long stride, int units, uint32_t to) {
#pragma unroll 2
        for (int u = tid; u < TN * units; u += 256) {
          const int r = u / units, cu = u % units;
          const bool ok = t0 + r < t_end;
          wg::cp_async16(to + e2m1_unit_offset<TN>(r, cu), from + (ok ? (row0 + r) * stride : 0) + cu * 16, ok);
        }
      };
      copy(kbase, krs, DQK / 32, dst);
      if constexpr (!Cfg::SHARED) copy(vbase, vrs, DV / 32, dst + Cfg::QC * Cfg::CHUNK4);  // V's chunks follow K's
      return;
    }
    constexpr int KU = DQK * ES / 16, UPC = CB / 16;  // 16-byte units per row, per chunk row
#pragma unroll 2
    for (int u = tid; u < TN * KU; u += 256) {
      const int r = u / KU, cu = u % KU;
      const bool ok = t0 + r < t_end;
      const unsigned char* src = kbase + (ok ? (row0 + r) * krs : 0) + cu * 16;
      wg::cp_async16(dst + (cu / UPC) * Cfg::CHUNK + wg::swz<CB>(r, (cu % UPC) * 16), src, ok);
    }
    if constexpr (!Cfg::SHARED) {
      constexpr int VU = DV * ES / 16;
#pragma unroll 2
      for (int u = tid; u < TN * VU; u += 256) {
        const int r = u / VU, cu = u % VU;
        const bool ok = t0 + r < t_end;
        const unsigned char* src = vbase + (ok ? (row0 + r) * vrs : 0) + cu * 16;
        wg::cp_async16(dst + Cfg::K_TILE + (cu / UPC) * Cfg::CHUNK + wg::swz<CB>(r, (cu % UPC) * 16), src, ok);
      }
    }
  };
  // Both tiles of pair `pair` into its slots (TMA: thread 0 alone, with the pair's byte count).
  auto load_pair = [&](int pair, const long long (&rows)[2]) {
    if (pair < npairs && (!Cfg::TMA || tid == 0)) {
      if constexpr (Cfg::TMA) mbar_expect_tx(base + Cfg::OFF_BAR + 8 * (pair % NP), 2 * Cfg::TILE);
      for (int tt = 0; tt < 2; ++tt) load_tile(2 * (pair % NP) + tt, t_begin + (2 * pair + tt) * TN, rows[tt]);
    }
    if constexpr (!Cfg::TMA) wg::cp_commit();
  };
  // SPREAD: the boxes of pair `pair` (K chunks, then V's, of tile 0, then tile 1), box i by warp
  // i % 8; the pair's byte count was announced on its barrier before the block barrier.
  auto load_pair_spread = [&](int pair, const long long (&rows)[2]) {
    constexpr int PER_TILE = Cfg::QC + (Cfg::SHARED ? 0 : Cfg::VC);
    if (pair >= npairs || lane != 0) return;
    const uint32_t bar = base + Cfg::OFF_BAR + 8 * (pair % NP);
    for (int i = tid >> 5; i < 2 * PER_TILE; i += 8) {
      const int tt = i / PER_TILE, c = i % PER_TILE;
      const uint32_t dst = tile_addr(2 * (pair % NP) + tt) + c * Cfg::CHUNK;
      if (c < Cfg::QC) tma_load_2d(dst, &maps.k, int(kvh * p.k_head_stride) + 64 * c, int(rows[tt]), bar);
      else tma_load_2d(dst, &maps.v, int(kvh * p.v_head_stride) + 64 * (c - Cfg::QC), int(rows[tt]), bar);
    }
  };
  // Rows of a tile past the context hold other data (TMA copies whole boxes): zero them in V, so
  // that P = 0 there cannot meet a non-finite value. Only the last tiles of a split have any.
  auto zero_tail = [&](int pair) {
    for (int tt = 0; tt < 2; ++tt) {
      const int valid = blk.tile_valid(t_begin + (2 * pair + tt) * TN, TN);
      if (valid == TN) continue;
      zero_tile_rows<Cfg::VC, TN, CB, Cfg::CHUNK, 256>(tile_addr(2 * (pair % NP) + tt) + (Cfg::SHARED ? 0 : Cfg::K_TILE), valid, tid);
    }
  };

  if constexpr (Cfg::TMA) {
    if (tid == 0) {
      for (int i = 0; i < NP; ++i) mbar_init(base + Cfg::OFF_BAR + 8 * i, 1);
      asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
    }
    __syncthreads();
  }
  // Prologue: the first NP-1 pairs; cache rows of the next pair are looked up one pair ahead.
  const bool row_owner = !Cfg::TMA || tid == 0 || (Cfg::SPREAD && lane == 0);  // who needs the page table lookups
  long long next_rows[2] = {0, 0};
#pragma unroll 1
  for (int s = 0; s < NP - 1; ++s) {
    long long rows[2] = {0, 0};
    if (row_owner)
      for (int tt = 0; tt < 2; ++tt) rows[tt] = tile_row0(t_begin + (2 * s + tt) * TN);
    load_pair(s, rows);
  }
  if (row_owner)
    for (int tt = 0; tt < 2; ++tt) next_rows[tt] = tile_row0(t_begin + (2 * (NP - 1) + tt) * TN);

  // Q of the 64 heads -> shared memory (rows past n_rows are zero).
  const float* q_scale = sQs;
  if constexpr (!FP8) {
    load_q_bf16<DQK>(p, blk, base);
    if (tid < 64) sQs[tid] = 1.f;
  } else {
    load_q_e4m3<DQK, Cfg::FP4>(p, blk, base, sQs);
  }
  wg::fence_proxy_async();
  __syncthreads();

  float o[NO][32];
  zero_acc(o);
  float m_run[2] = {-INFINITY, -INFINITY}, l_run[2] = {0.f, 0.f};
  const float qs_a = q_scale[row_a], qs_b = q_scale[row_b];
  const int lim_a = blk.limit(p, row_a, t_end), lim_b = blk.limit(p, row_b, t_end);
  const int lim_lo = blk.limit(p, 0, t_end);
  const float sc_a = p.scale_log2 * qs_a, sc_b = p.scale_log2 * qs_b;

  const uint32_t sP_own = base + Cfg::OFF_P + wgi * Cfg::P_BYTES, sP_other = base + Cfg::OFF_P + (1 - wgi) * Cfg::P_BYTES;

#pragma unroll 1
  for (int pi = 0; pi < npairs; ++pi) {
    if constexpr (Cfg::TMA) {
      mbar_wait(base + Cfg::OFF_BAR + 8 * (pi % NP), (pi / NP) & 1);
      if (t_begin + (2 * pi + 2) * TN > t_end) zero_tail(pi);
    } else {
      wg::cp_wait<NP - 2>();
    }
    wg::fence_proxy_async();
    if constexpr (Cfg::SPREAD)
      if (tid == 0 && pi + NP - 1 < npairs) mbar_expect_tx(base + Cfg::OFF_BAR + 8 * ((pi + NP - 1) % NP), 2 * Cfg::TILE);
    __syncthreads();  // pair pi is in shared memory; everyone is done with pair pi-1
    auto issue_next = [&] {
      const int nxt = pi + NP - 1;
      if constexpr (Cfg::SPREAD) load_pair_spread(nxt, next_rows);
      else load_pair(nxt, next_rows);
      if (row_owner)
        for (int tt = 0; tt < 2; ++tt) next_rows[tt] = tile_row0(t_begin + (2 * (nxt + 1) + tt) * TN);
    };
    if constexpr (!Cfg::POST) issue_next();
    const int slot_own = 2 * (pi % NP) + wgi, slot_other = 2 * (pi % NP) + 1 - wgi;
    const uint32_t t_own = read_tile(slot_own, pi), t_other = read_tile(slot_other, pi);
    constexpr int EXPAND_CHUNKS = Cfg::QC + (Cfg::SHARED ? 0 : Cfg::VC);
    if constexpr (Cfg::FP4)
      if (!Cfg::AHEAD || pi == 0) {
        // this warpgroup's tile to e4m3 (its K for its own scores, its V for both warpgroups' PV,
        // which waits at the P exchange barrier below); AHEAD: only the first pair here
        expand_e2m1_tile<TN, EXPAND_CHUNKS>(tile_addr(slot_own), t_own, tid & 127);
        wg::fence_proxy_async();
        wg::named_barrier(3 + wgi, 128);
      }

    // ---- S = Q K^T for this warpgroup's tile (64 heads x TN tokens)
    float s[TN / 2];
#pragma unroll
    for (int i = 0; i < TN / 2; ++i) s[i] = 0.f;
    wg::fence();
#pragma unroll
    for (int c = 0; c < DQK / 64; ++c) {
      const uint64_t dq = wg::desc_k_major<CB>(base + c * (64 * CB));
      const uint64_t dk = wg::desc_k_major<CB>(t_own + c * Cfg::CHUNK);
#pragma unroll
      for (int ks = 0; ks < CB / 32; ++ks) {
        if constexpr (FP8 && TN == 32) wg::wgmma_e4m3_ss_n32(s, dq + 2 * ks, dk + 2 * ks, (c | ks) != 0);
        else if constexpr (FP8) wg::wgmma_e4m3_ss_n64(s, dq + 2 * ks, dk + 2 * ks, (c | ks) != 0);
        else if constexpr (TN == 32) wg::wgmma_bf16_ss_n32(s, dq + 2 * ks, dk + 2 * ks, (c | ks) != 0);
        else wg::wgmma_bf16_ss_n64(s, dq + 2 * ks, dk + 2 * ks, (c | ks) != 0);
      }
    }
    wg::commit();
    if constexpr (Cfg::POST) issue_next();  // while the score product runs
    wg::wait<0>();
    wg::fence_regs(s);

    // ---- online softmax in the log2 domain, one running maximum shared by both warpgroups
    float mx_a, mx_b;
    scale_mask_rowmax<NJ, Cfg::MQ>(s, t_begin + (2 * pi + wgi) * TN + 2 * t4, lim_a, lim_b, sc_a, sc_b, mx_a, mx_b, lim_lo);
    if (t4 == 0) sMax[wgi * 64 + row_a] = mx_a, sMax[wgi * 64 + row_b] = mx_b;
    wg::named_barrier(1, 256);
    // The pair's first tile always holds a valid token, so its maximum is finite (and the first
    // pair always moves the running maximum off -inf).
    const float pm_a = fmaxf(sMax[row_a], sMax[64 + row_a]), pm_b = fmaxf(sMax[row_b], sMax[64 + row_b]);
    const bool up_a = pm_a > m_run[0] + Cfg::LAZY_LOG2, up_b = pm_b > m_run[1] + Cfg::LAZY_LOG2;
    const float mn_a = up_a ? pm_a : m_run[0], mn_b = up_b ? pm_b : m_run[1];
    const float al_a = up_a ? exp2f(m_run[0] - mn_a) : 1.f, al_b = up_b ? exp2f(m_run[1] - mn_b) : 1.f;
    m_run[0] = mn_a, m_run[1] = mn_b;
    exp2_rows<NJ>(s, mn_a, mn_b, al_a, al_b, l_run);

    if constexpr (FP8) {
      // ---- O^T += V^T P^T: e4m3 operands must be K-major, and V arrives token-major, so V^T is
      // the A operand, built in registers: ldmatrix.trans over 16-bit pairs of dims, then byte
      // permutes. A thread's two fragment rows g and g+8 are the dims 2g and 2g+1 of its warp's 16,
      // and its fragment k order is that of wg::kperm8, the order in which P is stored: B = P^T is
      // read from shared memory for both tiles, each warpgroup's P written by itself.
#pragma unroll
      for (int kk = 0; kk < TN / 32; ++kk) {
        uint32_t pa[4];
        wg::e4m3_a_fragment(s, kk, 256.f, pa);  // P is in [0, 1]: scaled by 256 before rounding
        store_p_e4m3<TN>(sP_own, pa, kk, row_a, row_b, t4);
      }
      if (wgi == 0 && t4 == 0) sAlpha[row_a] = al_a, sAlpha[row_b] = al_b;
      if constexpr (Cfg::AHEAD) wg::cp_wait<NP - 2>();  // the next pair's 4-bit tiles too, visible after the barrier
      wg::fence_proxy_async();
      wg::named_barrier(2, 256);  // both warpgroups' P and the rescale factors visible
      rescale_ot(o, sAlpha, t4);
#pragma unroll
      for (int tt = 0; tt < 2; ++tt)
#pragma unroll
        for (int kk = 0; kk < TN / 32; ++kk) {
          const uint32_t tile_v = read_tile(2 * (pi % NP) + tt, pi) + (Cfg::SHARED ? 0 : Cfg::K_TILE);
          const uint64_t dp = wg::desc_k_major<TN>(base + Cfg::OFF_P + tt * Cfg::P_BYTES) + 2 * kk;
          uint32_t a[NO][4];  // all of a step's fragments first, then one fence for the products
#pragma unroll
          for (int j = 0; j < NO; ++j) {
            const int dim0 = wgi * HALF + 64 * j + 16 * wq;
            vt_e4m3_fragment(tile_v + (dim0 / 64) * Cfg::CHUNK + wg::swz<64>(32 * kk + lane, dim0 % 64), a[j]);
          }
          wg::fence();
#pragma unroll
          for (int j = 0; j < NO; ++j) wg::wgmma_e4m3_rs_n64(o[j], a[j], dp, 1);
        }
      wg::commit();
      if constexpr (Cfg::AHEAD)
        if (pi + 1 < npairs) {
          // the next pair's tile to e4m3 while the tensor cores run this pair's value products (the
          // V^T fragments are in registers by now; the other staging buffer is the next pair's)
          const int next_own = 2 * ((pi + 1) % NP) + wgi;
          expand_e2m1_tile<TN, EXPAND_CHUNKS>(tile_addr(next_own), read_tile(next_own, pi + 1), tid & 127);
          wg::fence_proxy_async();
        }
      wg::wait<0>();
#pragma unroll
      for (int j = 0; j < NO; ++j) wg::fence_regs(o[j]);
    } else {
      // ---- O += P V over this warpgroup's value columns. The own tile's product needs only this
      // warpgroup's P (in registers) and is issued before the exchange barrier; the other
      // warpgroup's P comes back as this thread's own fragment positions (both warpgroups hold
      // the same rows), so both products take A from registers.
      uint32_t pa[TN / 16][4];
#pragma unroll
      for (int kk = 0; kk < TN / 16; ++kk) wg::bf16_a_fragment(s, kk, pa[kk]);
      store_p_bf16<TN>(sP_own, s, row_a, row_b, t4);
      if (!Cfg::LAZY || __any_sync(0xffffffffu, up_a || up_b)) rescale_rows(o, al_a, al_b);
      // O += P V over one tile: this warpgroup's value columns of the tile at t. N = 64 is one
      // 64-element block of V's rows, so only the 8-row K-group stride (1024) is read; both
      // descriptor fields carry it.
      auto pv = [&](const uint32_t(&pf)[TN / 16][4], uint32_t t) {
        wg::fence();
#pragma unroll
        for (int j = 0; j < NO; ++j) {
          const uint32_t v = t + (Cfg::SHARED ? 0 : Cfg::K_TILE) + (wgi * NO + j) * Cfg::CHUNK;
#pragma unroll
          for (int kk = 0; kk < TN / 16; ++kk)
            wg::wgmma_bf16_rs_n64_tb(o[j], pf[kk], wg::desc_mn_major128(v + kk * 2048, 1024, 1024, false), 1);
        }
        wg::commit();
      };
      pv(pa, t_own);
      wg::named_barrier(2, 256);  // both warpgroups' P visible
      uint32_t po[TN / 16][4];
#pragma unroll
      for (int kk = 0; kk < TN / 16; ++kk) bf16_a_fragment_smem<2 * TN>(sP_other, kk, row_a, row_b, t4, po[kk]);
      pv(po, t_other);
      wg::wait<0>();
#pragma unroll
      for (int j = 0; j < NO; ++j) wg::fence_regs(o[j]);
    }
  }
  wg::cp_wait<0>();

  wg_finish<FP8, NO, FP8, 0, Cfg::FP4>(p, blk, o, l_run, m_run, sMax);
}

// Merges a launch's split partials (every warpgroup kernel's, and the e4m3 warp-split kernel's). The
// last block of a (request, KV head, head block) to finish could merge them itself, but its serial
// tail (partials written and fenced, a counter, every split read back through L2) outlasts this
// kernel's: by about 4 us of a 117 us launch at 2 splits (FP8 MFA, 64 requests, 8K, H100) and about
// 20 us at 16. Each output is the sum over
// splits, in split order, of the split's normalised partial weighted by exp2(lse_s - max) / sum, as
// wg_finish computes it. Launched as a programmatic dependent of the attention kernel
// (griddepcontrol.wait below). Grid: (request, KV head, head block of G heads, 64-column block);
// 256 threads, each four float4 columns of one head x 64 values (threads past G heads idle).

template <int DV, int G = 64, bool MQ = false>
__global__ void __launch_bounds__(256) attn_merge_kernel(const AttnParams p) {
  static_assert(G <= 64, "one thread row per head");
  asm volatile("griddepcontrol.wait;\n" ::: "memory");
  __shared__ float sW[kMaxSplits * 64];
  int bid = blockIdx.x;
  const int cb = bid % (DV / 64);
  bid /= DV / 64;
  const int hb = bid % p.head_blocks;
  bid /= p.head_blocks;
  const HeadBlock<MQ> blk(p, G, hb, bid % p.kv_heads, bid / p.kv_heads);
  const int n_rows = blk.n_rows;
  const int tid = threadIdx.x;
  auto part_row = [&](int head) { return blk.row(p, head) * p.splits; };
  split_weights(p, part_row, tid, n_rows, sW);
  __syncthreads();
  // Thread t: head t / 4, columns 16 (t % 4) .. +15 of this 64-column block.
  const int h = tid >> 2, c0 = cb * 64 + 16 * (tid & 3);
  if (h >= n_rows) return;
  float4 acc[4] = {};
  const float* src = p.o_part + part_row(h) * DV + c0;
#pragma unroll 4
  for (int s = 0; s < p.splits; ++s) {
    const float w = sW[s * 64 + h];
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      const float4 x = __ldcg(reinterpret_cast<const float4*>(src + (long long)s * DV) + k);
      acc[k].x += w * x.x, acc[k].y += w * x.y, acc[k].z += w * x.z, acc[k].w += w * x.w;
    }
  }
  const long long out = blk.row(p, h) * DV + c0;
#pragma unroll
  for (int k = 0; k < 4; ++k) {
    store_out_pair(p, out + 4 * k, acc[k].x * p.v_scale, acc[k].y * p.v_scale);
    store_out_pair(p, out + 4 * k + 2, acc[k].z * p.v_scale, acc[k].w * p.v_scale);
  }
}

}  // namespace decodesim::gpu::detail
