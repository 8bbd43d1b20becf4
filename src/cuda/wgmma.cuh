// Hopper warpgroup MMA (wgmma) building blocks: shared-memory matrix descriptors, the swizzled
// layouts they describe, fences, and the register fragments the kernels move between products.
// Needs sm_90a. Notation: a warpgroup is 4 consecutive warps (128 threads); one wgmma computes a
// 64 x N tile; each thread holds rows (warp*16 + lane/4) and +8 of it.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>

#include <cstdint>

#include "wgmma_ops.cuh"

namespace decodesim::gpu::detail::wg {

// ---- Swizzled shared-memory layouts ------------------------------------------------------
// A tile is stored in rows of SPAN bytes (32, 64 or 128); the 16-byte unit u of row r sits at
// unit u ^ ((r / (128 / SPAN)) % (SPAN / 16)), which is the hardware's address-bit swizzle
// (bits [4, 4+log2(SPAN/16)) xor bits [7, ...)) for a tile whose base is aligned to 8 rows.
template <int SPAN>
__host__ __device__ __forceinline__ uint32_t swz(uint32_t row, uint32_t byte_in_row) {
  static_assert(SPAN == 32 || SPAN == 64 || SPAN == 128, "swizzle span");
  const uint32_t off = row * SPAN + byte_in_row;
  constexpr uint32_t mask = SPAN / 16 - 1;  // 1, 3 or 7
  return off ^ (((off >> 7) & mask) << 4);
}

// Swizzle mode field of a descriptor (bits 62-63).
template <int SPAN>
__host__ __device__ constexpr uint64_t swizzle_mode() {
  return SPAN == 128 ? 1ull : SPAN == 64 ? 2ull : 3ull;
}

// Descriptor of a K-major operand (rows of the M or N dimension, K contiguous) stored with
// swizzle SPAN: 8-row groups SPAN*8 bytes apart; advancing K by one wgmma step (32 bytes) adds 32
// to the start address.
template <int SPAN>
__device__ __forceinline__ uint64_t desc_k_major(uint32_t smem_addr) {
  uint64_t d = 0;
  d |= uint64_t((smem_addr & 0x3FFFF) >> 4);
  d |= uint64_t(1) << 16;                      // leading byte offset: unused for swizzled K-major
  d |= uint64_t((SPAN * 8) >> 4) << 32;        // stride byte offset: next 8 rows
  d |= swizzle_mode<SPAN>() << 62;
  return d;
}

// Descriptor of an MN-major 16-bit operand with 128-byte swizzle: rows are K (tokens), 64
// elements of N contiguous per row. `k_group_bytes` is the distance between 8-row K groups (1024
// within one tile chunk); `mn_block_bytes` the distance between consecutive 64-element N blocks.
// Which descriptor field holds which of the two is the one convention the PTX text leaves
// implicit for transposed operands; `swap` exchanges them (chosen by the layout probe).
__device__ __forceinline__ uint64_t desc_mn_major128(uint32_t smem_addr, uint32_t k_group_bytes, uint32_t mn_block_bytes,
                                                     bool swap) {
  const uint32_t lead = swap ? k_group_bytes : mn_block_bytes;
  const uint32_t stride = swap ? mn_block_bytes : k_group_bytes;
  uint64_t d = 0;
  d |= uint64_t((smem_addr & 0x3FFFF) >> 4);
  d |= uint64_t((lead >> 4) & 0x3FFF) << 16;
  d |= uint64_t((stride >> 4) & 0x3FFF) << 32;
  d |= swizzle_mode<128>() << 62;
  return d;
}

__device__ __forceinline__ uint32_t smem_addr(const void* p) { return static_cast<uint32_t>(__cvta_generic_to_shared(p)); }

// ---- Ordering ----------------------------------------------------------------------------
__device__ __forceinline__ void fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
template <int N>
__device__ __forceinline__ void wait() {
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
}
// Keeps the compiler from moving reads or writes of an accumulator across a wait.
template <int R>
__device__ __forceinline__ void fence_regs(float (&d)[R]) {
#pragma unroll
  for (int i = 0; i < R; ++i) asm volatile("" : "+f"(d[i])::"memory");
}
template <int R>
__device__ __forceinline__ void fence_regs(uint32_t (&d)[R]) {
#pragma unroll
  for (int i = 0; i < R; ++i) asm volatile("" : "+r"(d[i])::"memory");
}
// Shared memory written by ordinary stores and read next by wgmma (the async proxy).
__device__ __forceinline__ void fence_proxy_async() { asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory"); }
// A warpgroup's registers per thread moved to N (a multiple of 8, 24..256): a producer
// warpgroup gives some back, a consumer takes them; the block's total stays what it launched with.
template <int N>
__device__ __forceinline__ void setmaxnreg_inc() {
  asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(N));
}
template <int N>
__device__ __forceinline__ void setmaxnreg_dec() {
  asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(N));
}
// Barrier among `threads` threads of the block (ids 1..15; 0 is __syncthreads).
__device__ __forceinline__ void named_barrier(int id, int threads) {
  asm volatile("bar.sync %0, %1;\n" ::"r"(id), "r"(threads) : "memory");
}

// ---- Fragments ---------------------------------------------------------------------------
__device__ __forceinline__ uint32_t pack_bf16(float lo, float hi) {
  __nv_bfloat162 h = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<uint32_t*>(&h);
}
__device__ __forceinline__ uint32_t pack_half2(float lo, float hi) {
  const __half2 h = __floats2half2_rn(lo, hi);
  return *reinterpret_cast<const uint32_t*>(&h);
}
__device__ __forceinline__ float2 unpack_half2(uint32_t v) { return __half22float2(*reinterpret_cast<const __half2*>(&v)); }
// Four floats -> four e4m3 bytes (element 0 in the lowest byte), saturating.
__device__ __forceinline__ uint32_t pack_e4m3(float a, float b, float c, float d) {
  const uint32_t lo = __nv_cvt_float2_to_fp8x2(make_float2(a, b), __NV_SATFINITE, __NV_E4M3);
  const uint32_t hi = __nv_cvt_float2_to_fp8x2(make_float2(c, d), __NV_SATFINITE, __NV_E4M3);
  return lo | (hi << 16);
}

// Accumulator layout of m64nN (f32): register 4j+e of a thread holds row (warp%4)*16 + lane/4
// (+8 for e >= 2), column 8j + 2*(lane%4) + (e & 1).
//
// A fragment of one 16-bit k16 step from the accumulator columns [16kk, 16kk+16): the
// accumulator layout of two adjacent 8-column blocks is the A-operand layout.
template <int R>
__device__ __forceinline__ void bf16_a_fragment(const float (&s)[R], int kk, uint32_t (&a)[4]) {
  a[0] = pack_bf16(s[8 * kk + 0], s[8 * kk + 1]);
  a[1] = pack_bf16(s[8 * kk + 2], s[8 * kk + 3]);
  a[2] = pack_bf16(s[8 * kk + 4], s[8 * kk + 5]);
  a[3] = pack_bf16(s[8 * kk + 6], s[8 * kk + 7]);
}
// A fragment of one 8-bit k32 step from accumulator columns [32kk, 32kk+32). The 8-bit fragment
// wants four consecutive k per register where the accumulator holds pairs, so the k order inside
// the step is permuted: accumulator column 8j + 2t + e (j = 0..3 within the step, t = lane%4)
// becomes k = 16*(j/2) + 4t + 2*(j%2) + e. The B operand (V^T) is written in the same order
// (kperm8 below), which leaves the product unchanged. `mul` scales before rounding.
template <int R>
__device__ __forceinline__ void e4m3_a_fragment(const float (&s)[R], int kk, float mul, uint32_t (&a)[4]) {
  const float* x = s + 16 * kk;
  a[0] = pack_e4m3(x[0] * mul, x[1] * mul, x[4] * mul, x[5] * mul);     // row g:   j=0, j=1
  a[1] = pack_e4m3(x[2] * mul, x[3] * mul, x[6] * mul, x[7] * mul);     // row g+8: j=0, j=1
  a[2] = pack_e4m3(x[8] * mul, x[9] * mul, x[12] * mul, x[13] * mul);   // row g:   j=2, j=3
  a[3] = pack_e4m3(x[10] * mul, x[11] * mul, x[14] * mul, x[15] * mul); // row g+8: j=2, j=3
}
// Position of token column c (0..31) of an 8-bit k32 step in the permuted k order above.
__host__ __device__ __forceinline__ int kperm8(int c) {
  const int j = c >> 3, t = (c >> 1) & 3, e = c & 1;
  return 16 * (j >> 1) + 4 * t + 2 * (j & 1) + e;
}

// 16-byte asynchronous copy global -> shared (zero-filled when !valid), and its group fences.
__device__ __forceinline__ void cp_async16(uint32_t dst, const void* src, bool valid) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(valid ? 16 : 0));
}
__device__ __forceinline__ void cp_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void cp_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}

}  // namespace decodesim::gpu::detail::wg
