// Flash-decoding attention, tensor cores (mma.sync m16n8k16).
//
// Query tokens: a request brings q_tokens query tokens (1 for plain decode; 2-5 to verify MTP drafts;
// a whole prompt or chunk for prefill), the last q_tokens positions of its context, each seeing the
// context up to itself (causal). The kernels see them as more heads: a KV head's rows are its
// q_group query heads for each query token (token-major), so the warpgroup kernels run them
// unchanged but for the per-row causal limit (HeadBlock::limit) and the block's last token
// (BlockWork::t_end), in instances built for it (Cfg::MQ); this mma.sync kernel takes one token.
//
// One block owns (request, KV head, head block of 16*MT query heads, split of the context). All query
// heads of a KV head that fit the block read each KV tile from shared memory, so each KV byte comes
// from device memory once per head block (once in total when the group fits one block).
// Warps: MT row tiles of 16 heads x C column groups. Per KV tile of TN tokens:
//   S = Q K^T: warp (m, c) computes 16 heads x TN/C tokens; row maxima are exchanged through shared
//   memory so every warp uses the same running maximum; P (bf16 / fp16) goes to shared memory.
//   O += P V: warp (m, c) accumulates 16 heads x DV/C columns over all TN tokens.
// Tiles arrive through a STAGES-deep cp.async pipeline. FP8 (e4m3) KV is staged as bytes and widened
// to fp16 in shared memory (exact), then runs the fp16 MMA; per-tensor scales are applied in fp32.
// The split partials (normalised O and log2-sum-exp) are merged by the last block of each
// (request, KV head, head block) to finish (atomic ticket), so there is no second launch.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>

#include <cstdint>

namespace decodesim::gpu::detail {

// Bytes of `elems` cache values of `bits` bits each (a 4-bit cache holds two a byte): offsets and
// strides in AttnParams count values, the kernels and the host's buffers bytes.
__host__ __device__ constexpr long long cache_bytes_of(long long elems, int bits) { return elems * bits / 8; }

struct AttnParams {
  const __nv_bfloat16* q;  // [B][Hq][DQK]
  const void* k;           // element (row, kv head, d) at k + row*k_row_stride + head*k_head_stride + d
  const void* v;           // same for V (ignored when K and V share rows: MLA)
  // Variable length (several-token kernels): request b's context ctx_lens[b] and query tokens
  // q_start[b + 1] - q_start[b], its Q and output rows from q_start[b] on ([sum of q][Hq][D]).
  // nullptr: every request has `context` and `q_tokens`. Launched with one split.
  const int* ctx_lens;
  const int* q_start;
  long long k_row_stride, v_row_stride, k_head_stride, v_head_stride;  // in elements
  const int* block_table;  // [B][max_pages] page ids, or nullptr for contiguous rows b*ctx_rows + t
  int max_pages, page_size;
  long long ctx_rows;
  long long cache_rows;  // rows of the whole K (and V) cache, for the TMA bounds
  int context, batch, q_heads, kv_heads, head_blocks;
  int group;     // rows per KV head: q_group * q_tokens
  int q_group;   // query heads per KV head
  int q_tokens;  // query tokens per request (the last q_tokens of its context; causal among them)
  int splits, tokens_per_split;
  float scale_log2;  // softmax scale * log2(e) * k_scale
  float v_scale;     // applied to the output
  // 4-bit caches: a scale per (KV head, channel) of K and of V ([kv_heads][DQK], [kv_heads][DV]),
  // K's multiplied into Q and V's into the output; unused (nullptr) otherwise.
  const float* k_chan_scale;
  const float* v_chan_scale;
  float out_scale_inv;
  float* o_part;      // [B][Hq][splits][DV] (normalised per split)
  float* lse_part;    // [B][Hq][splits] (log2 domain)
  void* out;          // [B][Hq][DV], bf16 or e4m3 (out_fp8)
  int out_fp8;
  unsigned* counters;  // [B][kv_heads][head_blocks], zero between launches
};

template <int MT_, int C_, int DQK_, int DV_, int TN_, int STAGES_, bool FP8_, bool SHARED_, bool QREG_, int MINB_>
struct AttnCfg {
  static constexpr int MT = MT_, C = C_, DQK = DQK_, DV = DV_, TN = TN_, STAGES = STAGES_, MINB = MINB_;
  static constexpr bool FP8 = FP8_, SHARED = SHARED_, QREG = QREG_;
  static constexpr bool MQ = false;  // one query token per request
  static constexpr int G = 16 * MT;              // heads per block
  static constexpr int PAGE_TOKENS = TN;         // a tile's rows are consecutive cache rows
  static constexpr int THREADS = 32 * MT * C;
  static constexpr int TNC = TN / C;             // tokens per warp in S
  static constexpr int NTS = TNC / 8;            // n-tiles per warp in S
  static constexpr int DVC = DV / C;             // output columns per warp
  static constexpr int NTO = DVC / 8;
  static constexpr int KS = DQK + 8, VS = DV + 8, PS = TN + 8;  // padded row strides (elements, 16-bit)
  // shared memory carve-up, bytes
  static constexpr int Q_BYTES = G * KS * 2;
  static constexpr int KT_BYTES = TN * KS * 2;             // one 16-bit K tile
  static constexpr int VT_BYTES = SHARED ? 0 : TN * VS * 2;
  static constexpr int STG_K = TN * DQK, STG_V = SHARED ? 0 : TN * DV;  // fp8 staging, bytes
  static constexpr int STAGE_BYTES = FP8 ? (STG_K + STG_V) : (KT_BYTES + VT_BYTES);
  static constexpr int PIPE_BYTES = STAGES * STAGE_BYTES;
  static constexpr int COMP_BYTES = FP8 ? (KT_BYTES + VT_BYTES) : 0;
  // C == 1: P stays in registers (no P buffer, no row-max exchange), and with Q in registers the Q
  // staging area borrows a buffer that is first written after Q has been read (the fp16 tile for fp8,
  // else the last pipeline stage, which the prologue does not fill).
  static constexpr bool PREG = C == 1;
  static constexpr bool QALIAS = PREG && QREG && (FP8 ? COMP_BYTES >= Q_BYTES : STAGE_BYTES >= Q_BYTES);
  static constexpr int P_BYTES = PREG ? 0 : G * PS * 2;
  static constexpr int RED_BYTES = PREG ? 0 : C * G * 4;
  static constexpr int OFF_PIPE = QALIAS ? 0 : Q_BYTES;
  static constexpr int OFF_COMP = OFF_PIPE + PIPE_BYTES;
  static constexpr int OFF_Q = !QALIAS ? 0 : (FP8 ? OFF_COMP : OFF_PIPE + (STAGES - 1) * STAGE_BYTES);
  static constexpr int OFF_P = OFF_COMP + COMP_BYTES;
  static constexpr int OFF_RED = OFF_P + P_BYTES;
  static constexpr int OFF_FLAG = OFF_RED + RED_BYTES;
  static constexpr int SMEM = OFF_FLAG + 16;
  static_assert(TNC % 8 == 0 && DVC % 16 == 0 && TN % 16 == 0 && DQK % 16 == 0 && DV % 16 == 0, "tile shape");
  static_assert(!SHARED || DV <= DQK, "shared K/V needs DV <= DQK");
  static_assert(STAGES >= 2, "pipeline");
  static_assert(!PREG || NTS % 2 == 0, "P in registers needs whole 16-token k-steps");
  static_assert(NTO % (NTO < 8 ? NTO : 8) == 0, "merge chunks");
};

// A head block: request b, KV head kvh, head block hb of G rows of the KV head from row0 (rows:
// query token t, query head g, at t * q_group + g), n_rows of them real. MQ: the kernel is built
// for several query tokens (Cfg::MQ); a one-token kernel keeps the one-token arithmetic and masks,
// so adding the several-token kernels costs it nothing. Variable length (MQ, p.q_start set): the
// request's own context and query tokens, its Q and output rows packed after the requests before it;
// the blocks past its rows have none (n_rows <= 0).
// A read-only load: through the texture path on the device, plain on the host (HeadBlock's index
// arithmetic is also checked on the host, tests/cuda_host).
__host__ __device__ __forceinline__ int ld_ro(const int* p) {
#ifdef __CUDA_ARCH__
  return __ldg(p);
#else
  return *p;
#endif
}

template <bool MQ>
struct HeadBlock {
  int hb, kvh, b, row0, n_rows;
  int context, q_tokens, group;  // the request's (MQ)
  long long q_row0;              // its first query token's row (MQ)
  __host__ __device__ HeadBlock(const AttnParams& p, int G, int hb_, int kvh_, int b_) : hb(hb_), kvh(kvh_), b(b_) {
    row0 = hb * G;
    context = p.context, q_tokens = p.q_tokens, group = p.group, q_row0 = (long long)b * p.q_tokens;
    if constexpr (MQ)
      if (p.q_start) {
        const int q0 = ld_ro(p.q_start + b);
        context = ld_ro(p.ctx_lens + b), q_tokens = ld_ro(p.q_start + b + 1) - q0, group = q_tokens * p.q_group, q_row0 = q0;
      }
    n_rows = min(G, group - row0);
  }
  // Row r's index among all (request, query token, query head) rows, [B][q_tokens][q_heads]: the
  // index of its Q, output and partials.
  __host__ __device__ long long row(const AttnParams& p, int r) const {
    if constexpr (!MQ) {
      return (long long)b * p.q_heads + kvh * p.group + row0 + r;
    } else {
      const int t = (row0 + r) / p.q_group, g = (row0 + r) - t * p.q_group;
      return (q_row0 + t) * p.q_heads + kvh * p.q_group + g;
    }
  }
  // Tokens row r sees: its query token's position + 1 (causal), of at most t_end.
  __host__ __device__ int limit(const AttnParams& p, int r, int t_end) const {
    if constexpr (!MQ) {
      return t_end;
    } else {
      const int t = min(row0 + r, group - 1) / p.q_group;
      return min(t_end, context - (q_tokens - 1 - t));
    }
  }
};

// What an attention block owns: a head block and a split of the context [t_begin, t_end). The head
// block runs fastest in the block index, so that blocks sharing KV run side by side.
template <bool MQ>
struct BlockWork : HeadBlock<MQ> {
  int split, t_begin, t_end;
  __device__ BlockWork(const AttnParams& p, int G) : BlockWork(p, G, ids(p)) {}
  // Nothing to do: a block past its request's rows or context (variable length; one split).
  __device__ bool empty() const { return this->n_rows <= 0 || t_begin >= this->context; }
  // Tokens of the tile of `tn` starting at t0 that lie inside the split (the rest hold other rows).
  __device__ int tile_valid(int t0, int tn) const { return max(0, min(tn, t_end - t0)); }

 private:
  struct Ids {
    int hb, split, kvh, b;
  };
  __device__ static Ids ids(const AttnParams& p) {
    int bid = blockIdx.x;
    Ids d;
    d.hb = bid % p.head_blocks;
    // Several query tokens: the last head blocks see the most context, so they start first.
    if constexpr (MQ) d.hb = p.head_blocks - 1 - d.hb;
    bid /= p.head_blocks;
    d.split = bid % p.splits;
    bid /= p.splits;
    d.kvh = bid % p.kv_heads;
    d.b = bid / p.kv_heads;
    return d;
  }
  __device__ BlockWork(const AttnParams& p, int G, Ids d) : HeadBlock<MQ>(p, G, d.hb, d.kvh, d.b), split(d.split) {
    t_begin = split * p.tokens_per_split;
    t_end = this->limit(p, max(this->n_rows, 1) - 1, min(this->context, t_begin + p.tokens_per_split));
  }
};

// The thread's two row values summed over its quad (the four threads that hold a row of an
// m16/m64 accumulator between them).
__device__ __forceinline__ void quad_sum(float (&v)[2]) {
  v[0] += __shfl_xor_sync(0xffffffffu, v[0], 1);
  v[0] += __shfl_xor_sync(0xffffffffu, v[0], 2);
  v[1] += __shfl_xor_sync(0xffffffffu, v[1], 1);
  v[1] += __shfl_xor_sync(0xffffffffu, v[1], 2);
}

// Two adjacent output values at element idx, as BF16 or (scaled) e4m3.
__device__ __forceinline__ void store_out_pair(const AttnParams& p, long long idx, float x0, float x1) {
  if (p.out_fp8) {
    const __nv_fp8x2_storage_t v =
        __nv_cvt_float2_to_fp8x2(make_float2(x0 * p.out_scale_inv, x1 * p.out_scale_inv), __NV_SATFINITE, __NV_E4M3);
    *reinterpret_cast<__nv_fp8x2_storage_t*>(static_cast<unsigned char*>(p.out) + idx) = v;
  } else {
    *reinterpret_cast<__nv_bfloat162*>(static_cast<__nv_bfloat16*>(p.out) + idx) = __floats2bfloat162_rn(x0, x1);
  }
}

namespace attn_dev {

__device__ __forceinline__ unsigned smem_u32(const void* p) {
  return static_cast<unsigned>(__cvta_generic_to_shared(p));
}
__device__ __forceinline__ void cp_async16(void* smem, const void* gmem, bool valid) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_u32(smem)), "l"(gmem),
               "r"(valid ? 16 : 0));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}
__device__ __forceinline__ void ldsm_x4(unsigned (&r)[4], unsigned addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}
__device__ __forceinline__ void ldsm_x4(unsigned (&r)[4], const void* p) { ldsm_x4(r, smem_u32(p)); }
__device__ __forceinline__ void ldsm_x2(unsigned& r0, unsigned& r1, const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x2.shared.b16 {%0,%1}, [%2];\n" : "=r"(r0), "=r"(r1) : "r"(smem_u32(p)));
}
__device__ __forceinline__ void ldsm_x4_t(unsigned (&r)[4], const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_u32(p)));
}
template <bool F16>
__device__ __forceinline__ void mma16816(float (&d)[4], const unsigned (&a)[4], unsigned b0, unsigned b1) {
  if constexpr (F16) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  } else {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  }
}
template <bool F16>
__device__ __forceinline__ unsigned pack2(float lo, float hi) {
  if constexpr (F16) {
    __half2 h = __floats2half2_rn(lo, hi);
    return *reinterpret_cast<unsigned*>(&h);
  } else {
    __nv_bfloat162 h = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<unsigned*>(&h);
  }
}
template <bool F16>
__device__ __forceinline__ unsigned short from_float(float x) {
  if constexpr (F16) {
    __half h = __float2half_rn(x);
    return *reinterpret_cast<unsigned short*>(&h);
  } else {
    __nv_bfloat16 h = __float2bfloat16_rn(x);
    return *reinterpret_cast<unsigned short*>(&h);
  }
}
// 8 e4m3 bytes -> 8 fp16 (exact)
__device__ __forceinline__ uint4 fp8x8_to_f16x8(uint2 v) {
  uint4 r;
  __half2_raw h;
  h = __nv_cvt_fp8x2_to_halfraw2(static_cast<__nv_fp8x2_storage_t>(v.x & 0xFFFF), __NV_E4M3);
  r.x = uint32_t(h.x) | (uint32_t(h.y) << 16);
  h = __nv_cvt_fp8x2_to_halfraw2(static_cast<__nv_fp8x2_storage_t>(v.x >> 16), __NV_E4M3);
  r.y = uint32_t(h.x) | (uint32_t(h.y) << 16);
  h = __nv_cvt_fp8x2_to_halfraw2(static_cast<__nv_fp8x2_storage_t>(v.y & 0xFFFF), __NV_E4M3);
  r.z = uint32_t(h.x) | (uint32_t(h.y) << 16);
  h = __nv_cvt_fp8x2_to_halfraw2(static_cast<__nv_fp8x2_storage_t>(v.y >> 16), __NV_E4M3);
  r.w = uint32_t(h.x) | (uint32_t(h.y) << 16);
  return r;
}

}  // namespace attn_dev

template <class Cfg>
__global__ void __launch_bounds__(Cfg::THREADS, Cfg::MINB) attn_decode_kernel(const AttnParams p) {
  using namespace attn_dev;
  constexpr bool F16 = Cfg::FP8;  // fp8 KV computes in fp16, bf16 KV in bf16
  constexpr int G = Cfg::G, C = Cfg::C, TN = Cfg::TN, DQK = Cfg::DQK, DV = Cfg::DV, S = Cfg::STAGES;
  constexpr int KS = Cfg::KS, VS = Cfg::VS, PS = Cfg::PS, THREADS = Cfg::THREADS;
  constexpr int TNC = Cfg::TNC, NTS = Cfg::NTS, DVC = Cfg::DVC, NTO = Cfg::NTO;
  constexpr int ESZ = Cfg::FP8 ? 1 : 2;  // bytes per KV element in device memory
  extern __shared__ __align__(128) unsigned char smem[];
  unsigned short* sQ = reinterpret_cast<unsigned short*>(smem + Cfg::OFF_Q);
  unsigned char* sPipe = smem + Cfg::OFF_PIPE;
  unsigned short* sP = reinterpret_cast<unsigned short*>(smem + Cfg::OFF_P);
  float* sRed = reinterpret_cast<float*>(smem + Cfg::OFF_RED);
  int* sFlag = reinterpret_cast<int*>(smem + Cfg::OFF_FLAG);

  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int wm = warp % Cfg::MT, wc = warp / Cfg::MT;
  const int g = lane >> 2, t4 = lane & 3;

  const BlockWork<false> work(p, G);  // one query token per request (the MQ kernels are the warpgroup ones)
  const int hb = work.hb, split = work.split, kvh = work.kvh, b = work.b, n_rows = work.n_rows;
  const int t_begin = work.t_begin, t_end = work.t_end;
  const int ntiles = (t_end - t_begin + TN - 1) / TN;

  const unsigned char* kbase =
      static_cast<const unsigned char*>(p.k) + (long long)kvh * p.k_head_stride * ESZ;
  const unsigned char* vbase =
      static_cast<const unsigned char*>(Cfg::SHARED ? p.k : p.v) + (long long)kvh * (Cfg::SHARED ? p.k_head_stride : p.v_head_stride) * ESZ;

  auto tile_row0 = [&](int t0) -> long long {
    if (p.block_table) {
      const int page = __ldg(p.block_table + (long long)b * p.max_pages + t0 / p.page_size);
      return (long long)page * p.page_size + (t0 % p.page_size);
    }
    return (long long)b * p.ctx_rows + t0;
  };

  auto load_tile = [&](int i, long long row0) {
    const int t0 = t_begin + i * TN;
    unsigned char* st = sPipe + (i % S) * Cfg::STAGE_BYTES;
    const unsigned char* kg = kbase + row0 * p.k_row_stride * ESZ;
    const unsigned char* vg = vbase + row0 * (Cfg::SHARED ? p.k_row_stride : p.v_row_stride) * ESZ;
    const long long krs = p.k_row_stride * ESZ, vrs = (Cfg::SHARED ? p.k_row_stride : p.v_row_stride) * ESZ;
    if constexpr (!Cfg::FP8) {
      constexpr int KCH = DQK * 2 / 16;  // 16-byte chunks per K row
#pragma unroll 4
      for (int c = tid; c < TN * KCH; c += THREADS) {
        const int r = c / KCH, cc = c % KCH;
        const bool ok = t0 + r < t_end;
        cp_async16(st + (r * KS + cc * 8) * 2, (ok ? kg + r * krs : kg) + cc * 16, ok);
      }
      if constexpr (!Cfg::SHARED) {
        constexpr int VCH = DV * 2 / 16;
        unsigned char* sv = st + Cfg::KT_BYTES;
#pragma unroll 4
        for (int c = tid; c < TN * VCH; c += THREADS) {
          const int r = c / VCH, cc = c % VCH;
          const bool ok = t0 + r < t_end;
          cp_async16(sv + (r * VS + cc * 8) * 2, (ok ? vg + r * vrs : vg) + cc * 16, ok);
        }
      }
    } else {
      constexpr int KCH = DQK / 16;
#pragma unroll 4
      for (int c = tid; c < TN * KCH; c += THREADS) {
        const int r = c / KCH, cc = c % KCH;
        const bool ok = t0 + r < t_end;
        cp_async16(st + r * DQK + cc * 16, (ok ? kg + r * krs : kg) + cc * 16, ok);
      }
      if constexpr (!Cfg::SHARED) {
        constexpr int VCH = DV / 16;
        unsigned char* sv = st + Cfg::STG_K;
#pragma unroll 4
        for (int c = tid; c < TN * VCH; c += THREADS) {
          const int r = c / VCH, cc = c % VCH;
          const bool ok = t0 + r < t_end;
          cp_async16(sv + r * DV + cc * 16, (ok ? vg + r * vrs : vg) + cc * 16, ok);
        }
      }
    }
  };

  // Start the pipeline before touching Q so the first tiles are in flight early.
#pragma unroll
  for (int s = 0; s < S - 1; ++s) {
    if (s < ntiles) load_tile(s, tile_row0(t_begin + s * TN));
    cp_async_commit();
  }
  // Row of the next tile to issue, looked up one iteration ahead (a page-table read would otherwise
  // stall the issue of every tile's copies).
  long long row_next = (S - 1 < ntiles) ? tile_row0(t_begin + (S - 1) * TN) : 0;

  // Q rows of this head block -> shared (bf16, or fp16 for the fp8 path); missing rows are zero.
  // All of a thread's loads are issued before its first store.
  {
    constexpr int QCH = DQK / 8;  // 8 elements per 16-byte step
    constexpr int QIT = (G * QCH + THREADS - 1) / THREADS;
    uint4 qv[QIT];
#pragma unroll
    for (int it = 0; it < QIT; ++it) {
      const int c = tid + it * THREADS, r = c / QCH, cc = c % QCH;
      qv[it] = make_uint4(0, 0, 0, 0);
      if (c < G * QCH && r < n_rows)
        qv[it] = __ldg(reinterpret_cast<const uint4*>(p.q + work.row(p, r) * DQK + cc * 8));
    }
#pragma unroll
    for (int it = 0; it < QIT; ++it) {
      const int c = tid + it * THREADS, r = c / QCH, cc = c % QCH;
      if (c >= G * QCH) continue;
      uint4 v = qv[it];
      if constexpr (F16) {
        const __nv_bfloat162* h = reinterpret_cast<const __nv_bfloat162*>(&v);
        uint4 w;
        unsigned* wp = reinterpret_cast<unsigned*>(&w);
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const float2 f = __bfloat1622float2(h[e]);
          wp[e] = pack2<true>(f.x, f.y);
        }
        v = w;
      }
      *reinterpret_cast<uint4*>(sQ + r * KS + cc * 8) = v;
    }
  }
  __syncthreads();

  unsigned qf[Cfg::QREG ? DQK / 16 : 1][4];
  if constexpr (Cfg::QREG) {
#pragma unroll
    for (int kk = 0; kk < DQK / 16; ++kk)
      ldsm_x4(qf[kk], sQ + (wm * 16 + (lane & 15)) * KS + kk * 16 + (lane >> 4) * 8);
  }

  float o[NTO][4];
#pragma unroll
  for (int j = 0; j < NTO; ++j) o[j][0] = o[j][1] = o[j][2] = o[j][3] = 0.f;
  float m_run[2] = {-INFINITY, -INFINITY}, l_run[2] = {0.f, 0.f};
  const int row_a = wm * 16 + g, row_b = row_a + 8;  // the two rows this thread holds

  for (int i = 0; i < ntiles; ++i) {
    cp_async_wait<S - 2>();
    __syncthreads();  // tile i landed for all threads; everyone is done with tile i-1
    if (i + S - 1 < ntiles) load_tile(i + S - 1, row_next);
    cp_async_commit();
    if (i + S < ntiles) row_next = tile_row0(t_begin + (i + S) * TN);

    const unsigned short* Kt;
    const unsigned short* Vt;
    if constexpr (Cfg::FP8) {
      const unsigned char* st = sPipe + (i % S) * Cfg::STAGE_BYTES;
      unsigned short* ck = reinterpret_cast<unsigned short*>(smem + Cfg::OFF_COMP);
      unsigned short* cv = reinterpret_cast<unsigned short*>(smem + Cfg::OFF_COMP + Cfg::KT_BYTES);
      constexpr int KCH = DQK / 8;
#pragma unroll 4
      for (int c = tid; c < TN * KCH; c += THREADS) {
        const int r = c / KCH, cc = c % KCH;
        const uint2 raw = *reinterpret_cast<const uint2*>(st + r * DQK + cc * 8);
        *reinterpret_cast<uint4*>(ck + r * KS + cc * 8) = fp8x8_to_f16x8(raw);
      }
      if constexpr (!Cfg::SHARED) {
        constexpr int VCH = DV / 8;
#pragma unroll 4
        for (int c = tid; c < TN * VCH; c += THREADS) {
          const int r = c / VCH, cc = c % VCH;
          const uint2 raw = *reinterpret_cast<const uint2*>(st + Cfg::STG_K + r * DV + cc * 8);
          *reinterpret_cast<uint4*>(cv + r * VS + cc * 8) = fp8x8_to_f16x8(raw);
        }
      }
      __syncthreads();
      Kt = ck;
      Vt = Cfg::SHARED ? ck : cv;
    } else {
      Kt = reinterpret_cast<const unsigned short*>(sPipe + (i % S) * Cfg::STAGE_BYTES);
      Vt = Cfg::SHARED ? Kt : reinterpret_cast<const unsigned short*>(sPipe + (i % S) * Cfg::STAGE_BYTES + Cfg::KT_BYTES);
    }
    constexpr int VSTR = Cfg::SHARED ? KS : VS;

    // ---- S = Q K^T for 16 heads x TNC tokens
    float s[NTS][4];
#pragma unroll
    for (int j = 0; j < NTS; ++j) s[j][0] = s[j][1] = s[j][2] = s[j][3] = 0.f;
    const unsigned short* kw = Kt + (wc * TNC) * KS;
#pragma unroll
    for (int kk = 0; kk < DQK / 16; ++kk) {
      unsigned a[4];
      if constexpr (Cfg::QREG) {
        a[0] = qf[kk][0], a[1] = qf[kk][1], a[2] = qf[kk][2], a[3] = qf[kk][3];
      } else {
        ldsm_x4(a, sQ + (wm * 16 + (lane & 15)) * KS + kk * 16 + (lane >> 4) * 8);
      }
#pragma unroll
      for (int j = 0; j < NTS; j += 2) {
        if (j + 1 < NTS) {
          unsigned bb[4];
          ldsm_x4(bb, kw + (j * 8 + ((lane >> 4) << 3) + (lane & 7)) * KS + kk * 16 + ((lane >> 3) & 1) * 8);
          mma16816<F16>(s[j], a, bb[0], bb[1]);
          mma16816<F16>(s[j + 1], a, bb[2], bb[3]);
        } else {
          unsigned b0, b1;
          ldsm_x2(b0, b1, kw + (j * 8 + (lane & 7)) * KS + kk * 16 + ((lane >> 3) & 1) * 8);
          mma16816<F16>(s[j], a, b0, b1);
        }
      }
    }

    // ---- online softmax (log2 domain)
    const int tok0 = t_begin + i * TN + wc * TNC + 2 * t4;
    float mx0 = -INFINITY, mx1 = -INFINITY;
#pragma unroll
    for (int j = 0; j < NTS; ++j) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int tok = tok0 + j * 8 + (e & 1);
        const float v = tok < t_end ? s[j][e] * p.scale_log2 : -INFINITY;
        s[j][e] = v;
      }
      mx0 = fmaxf(mx0, fmaxf(s[j][0], s[j][1]));
      mx1 = fmaxf(mx1, fmaxf(s[j][2], s[j][3]));
    }
    mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 1));
    mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 2));
    mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 1));
    mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 2));
    if constexpr (C > 1) {
      if (t4 == 0) sRed[wc * G + row_a] = mx0, sRed[wc * G + row_b] = mx1;
      __syncthreads();
#pragma unroll
      for (int c = 0; c < C; ++c) mx0 = fmaxf(mx0, sRed[c * G + row_a]), mx1 = fmaxf(mx1, sRed[c * G + row_b]);
    }
    const float mn0 = fmaxf(m_run[0], mx0), mn1 = fmaxf(m_run[1], mx1);
    // a tile slice of a warp may be all masked, but never the whole tile: mn is finite
    const float al0 = exp2f(m_run[0] - mn0), al1 = exp2f(m_run[1] - mn1);
    m_run[0] = mn0, m_run[1] = mn1;
    float ls0 = 0.f, ls1 = 0.f;
    unsigned pf[Cfg::PREG ? NTS : 1][2];  // P as bf16/fp16 pairs: [n-tile][row a, row b]
#pragma unroll
    for (int j = 0; j < NTS; ++j) {
      const float p0 = exp2f(s[j][0] - mn0), p1 = exp2f(s[j][1] - mn0);
      const float p2 = exp2f(s[j][2] - mn1), p3 = exp2f(s[j][3] - mn1);
      ls0 += p0 + p1, ls1 += p2 + p3;
      if constexpr (Cfg::PREG) {
        pf[j][0] = pack2<F16>(p0, p1);
        pf[j][1] = pack2<F16>(p2, p3);
      } else {
        const int col = wc * TNC + j * 8 + 2 * t4;
        *reinterpret_cast<unsigned*>(sP + row_a * PS + col) = pack2<F16>(p0, p1);
        *reinterpret_cast<unsigned*>(sP + row_b * PS + col) = pack2<F16>(p2, p3);
      }
    }
    l_run[0] = l_run[0] * al0 + ls0;
    l_run[1] = l_run[1] * al1 + ls1;
#pragma unroll
    for (int j = 0; j < NTO; ++j) o[j][0] *= al0, o[j][1] *= al0, o[j][2] *= al1, o[j][3] *= al1;
    if constexpr (!Cfg::PREG) __syncthreads();  // P of all column groups visible

    // ---- O += P V for 16 heads x DVC columns
    const unsigned short* vw = Vt + wc * DVC;
#pragma unroll
    for (int kk = 0; kk < TN / 16; ++kk) {
      unsigned a[4];
      if constexpr (Cfg::PREG) {
        // the S accumulator layout of n-tiles 2kk, 2kk+1 is the A-operand layout of k-step kk
        a[0] = pf[2 * kk][0], a[1] = pf[2 * kk][1], a[2] = pf[2 * kk + 1][0], a[3] = pf[2 * kk + 1][1];
      } else {
        ldsm_x4(a, sP + (wm * 16 + (lane & 15)) * PS + kk * 16 + (lane >> 4) * 8);
      }
#pragma unroll
      for (int j = 0; j < NTO; j += 2) {
        unsigned bb[4];
        ldsm_x4_t(bb, vw + (kk * 16 + ((lane >> 3) & 1) * 8 + (lane & 7)) * VSTR + j * 8 + (lane >> 4) * 8);
        mma16816<F16>(o[j], a, bb[0], bb[1]);
        mma16816<F16>(o[j + 1], a, bb[2], bb[3]);
      }
    }
  }
  cp_async_wait<0>();

  // ---- finish: row sums over the quad, then over column groups
  quad_sum(l_run);
  float L0 = l_run[0], L1 = l_run[1];
  if constexpr (C > 1) {
    __syncthreads();  // everyone is past the last read of sRed (maxima)
    if (t4 == 0) sRed[wc * G + row_a] = L0, sRed[wc * G + row_b] = L1;
    __syncthreads();
    L0 = 0.f, L1 = 0.f;
#pragma unroll
    for (int c = 0; c < C; ++c) L0 += sRed[c * G + row_a], L1 += sRed[c * G + row_b];
  }
  const float inv0 = 1.f / L0, inv1 = 1.f / L1;

  auto store_out = [&](int row, int col, float x0, float x1) {
    store_out_pair(p, work.row(p, row) * DV + col, x0, x1);
  };

  if (p.splits == 1) {
#pragma unroll
    for (int j = 0; j < NTO; ++j) {
      const int col = wc * DVC + j * 8 + 2 * t4;
      if (row_a < n_rows) store_out(row_a, col, o[j][0] * inv0 * p.v_scale, o[j][1] * inv0 * p.v_scale);
      if (row_b < n_rows) store_out(row_b, col, o[j][2] * inv1 * p.v_scale, o[j][3] * inv1 * p.v_scale);
    }
    return;
  }

  // ---- split partials: every block writes its normalised O and log2-sum-exp; the last block of this
  // (request, KV head, head block) merges all splits into its own registers (all loads in flight at once)
  const long long base_a = work.row(p, row_a) * p.splits;
  const long long base_b = work.row(p, row_b) * p.splits;
  const float lse_a = m_run[0] + __log2f(L0), lse_b = m_run[1] + __log2f(L1);
#pragma unroll
  for (int j = 0; j < NTO; ++j) {
    const int col = wc * DVC + j * 8 + 2 * t4;
    if (row_a < n_rows) __stcg(reinterpret_cast<float2*>(p.o_part + (base_a + split) * DV + col), make_float2(o[j][0] * inv0, o[j][1] * inv0));
    if (row_b < n_rows) __stcg(reinterpret_cast<float2*>(p.o_part + (base_b + split) * DV + col), make_float2(o[j][2] * inv1, o[j][3] * inv1));
  }
  if (wc == 0 && t4 == 0) {
    if (row_a < n_rows) __stcg(p.lse_part + base_a + split, lse_a);
    if (row_b < n_rows) __stcg(p.lse_part + base_b + split, lse_b);
  }
  __threadfence();
  __syncthreads();
  unsigned* counter = p.counters + ((long long)b * p.kv_heads + kvh) * p.head_blocks + hb;
  if (tid == 0) {
    const unsigned prev = atomicAdd(counter, 1u);
    *sFlag = (prev == unsigned(p.splits - 1));
  }
  __syncthreads();
  if (!*sFlag) return;
  __threadfence();

  {
    const bool va = row_a < n_rows, vb = row_b < n_rows;
    float mxa = lse_a, mxb = lse_b;
    for (int s2 = 0; s2 < p.splits; ++s2) {
      if (va) mxa = fmaxf(mxa, __ldcg(p.lse_part + base_a + s2));
      if (vb) mxb = fmaxf(mxb, __ldcg(p.lse_part + base_b + s2));
    }
    float suma = 0.f, sumb = 0.f;
    for (int s2 = 0; s2 < p.splits; ++s2) {
      if (s2 == split) suma += exp2f(lse_a - mxa), sumb += exp2f(lse_b - mxb);
      else {
        if (va) suma += exp2f(__ldcg(p.lse_part + base_a + s2) - mxa);
        if (vb) sumb += exp2f(__ldcg(p.lse_part + base_b + s2) - mxb);
      }
    }
    // Sum over the splits in split order, each read back as stored (this block's own included), so the
    // result does not depend on which block arrived last.
#pragma unroll
    for (int j = 0; j < NTO; ++j) o[j][0] = o[j][1] = o[j][2] = o[j][3] = 0.f;
    for (int s2 = 0; s2 < p.splits; ++s2) {
      const float ws_a = va ? exp2f(__ldcg(p.lse_part + base_a + s2) - mxa) / suma : 0.f;
      const float ws_b = vb ? exp2f(__ldcg(p.lse_part + base_b + s2) - mxb) / sumb : 0.f;
      constexpr int CH = NTO < 8 ? NTO : 8;  // 2*CH loads in flight per thread
#pragma unroll
      for (int j0 = 0; j0 < NTO; j0 += CH) {
        float2 xa[CH], xb[CH];
#pragma unroll
        for (int j = 0; j < CH; ++j) {
          const int col = wc * DVC + (j0 + j) * 8 + 2 * t4;
          xa[j] = va ? __ldcg(reinterpret_cast<const float2*>(p.o_part + (base_a + s2) * DV + col)) : make_float2(0.f, 0.f);
          xb[j] = vb ? __ldcg(reinterpret_cast<const float2*>(p.o_part + (base_b + s2) * DV + col)) : make_float2(0.f, 0.f);
        }
#pragma unroll
        for (int j = 0; j < CH; ++j) {
          o[j0 + j][0] += ws_a * xa[j].x, o[j0 + j][1] += ws_a * xa[j].y;
          o[j0 + j][2] += ws_b * xb[j].x, o[j0 + j][3] += ws_b * xb[j].y;
        }
      }
    }
#pragma unroll
    for (int j = 0; j < NTO; ++j) {
      const int col = wc * DVC + j * 8 + 2 * t4;
      if (va) store_out(row_a, col, o[j][0] * p.v_scale, o[j][1] * p.v_scale);
      if (vb) store_out(row_b, col, o[j][2] * p.v_scale, o[j][3] * p.v_scale);
    }
  }
  if (tid == 0) *counter = 0u;  // ready for the next launch
}

}  // namespace decodesim::gpu::detail
