// Row gathers (see rows.hpp): one block per output row, 8 elements per thread per step, 16-byte
// (bf16) or 8-byte (e4m3) accesses.
#include <cuda_bf16.h>
#include <cuda_fp8.h>

#include <stdexcept>

#include "common.cuh"
#include "rows.hpp"

namespace decodesim::gpu::detail {

namespace {

template <RowType IN>
__device__ __forceinline__ void load8(const void* row, int i, float (&x)[8], float scale) {
  if constexpr (IN == RowType::bf16) {
    const uint4 v = *reinterpret_cast<const uint4*>(static_cast<const __nv_bfloat16*>(row) + i);
    const __nv_bfloat162* h = reinterpret_cast<const __nv_bfloat162*>(&v);
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      const float2 f = __bfloat1622float2(h[k]);
      x[2 * k] = f.x, x[2 * k + 1] = f.y;
    }
  } else {
    const uint2 v = *reinterpret_cast<const uint2*>(static_cast<const unsigned char*>(row) + i);
    const unsigned w[2] = {v.x, v.y};
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      const __half2_raw h = __nv_cvt_fp8x2_to_halfraw2(static_cast<__nv_fp8x2_storage_t>((w[k / 2] >> (16 * (k % 2))) & 0xFFFF), __NV_E4M3);
      x[2 * k] = __half2float(__half(__half_raw{h.x})) * scale;
      x[2 * k + 1] = __half2float(__half(__half_raw{h.y})) * scale;
    }
  }
}

template <RowType OUT>
__device__ __forceinline__ void store8(void* row, int i, const float (&x)[8], float inv_scale) {
  if constexpr (OUT == RowType::bf16) {
    uint4 v;
    __nv_bfloat162* h = reinterpret_cast<__nv_bfloat162*>(&v);
#pragma unroll
    for (int k = 0; k < 4; ++k) h[k] = __floats2bfloat162_rn(x[2 * k], x[2 * k + 1]);
    *reinterpret_cast<uint4*>(static_cast<__nv_bfloat16*>(row) + i) = v;
  } else {
    unsigned w[2] = {0, 0};
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      const unsigned c = __nv_cvt_float2_to_fp8x2(make_float2(x[2 * k] * inv_scale, x[2 * k + 1] * inv_scale), __NV_SATFINITE, __NV_E4M3);
      w[k / 2] |= c << (16 * (k % 2));
    }
    *reinterpret_cast<uint2*>(static_cast<unsigned char*>(row) + i) = make_uint2(w[0], w[1]);
  }
}

template <RowType IN, RowType OUT>
__global__ void __launch_bounds__(256) gather_rows_kernel(const RowGather g) {
  const int r = blockIdx.x;
  const int t0 = g.start[r], t1 = g.start[r + 1];
  for (int i = threadIdx.x * 8; i < g.width; i += blockDim.x * 8) {
    float acc[8] = {0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f};
    for (int t = t0; t < t1; ++t) {
      float x[8];
      load8<IN>(g.src[t], i, x, g.in_scale);
      const float w = g.weight[t];
#pragma unroll
      for (int k = 0; k < 8; ++k) acc[k] += w * x[k];
    }
    store8<OUT>(g.out[r], i, acc, g.out_inv_scale);
  }
}

}  // namespace

void gather_rows(const RowGather& g, cudaStream_t s) {
  if (g.rows <= 0) return;
  if (g.width % 8) throw std::runtime_error("gather_rows: row width must be a multiple of 8");
  using R = RowType;
  if (g.in == R::bf16 && g.out_type == R::bf16) gather_rows_kernel<R::bf16, R::bf16><<<g.rows, 256, 0, s>>>(g);
  else if (g.in == R::bf16) gather_rows_kernel<R::bf16, R::e4m3><<<g.rows, 256, 0, s>>>(g);
  else if (g.out_type == R::bf16) gather_rows_kernel<R::e4m3, R::bf16><<<g.rows, 256, 0, s>>>(g);
  else gather_rows_kernel<R::e4m3, R::e4m3><<<g.rows, 256, 0, s>>>(g);
  DS_LAUNCHED("gather_rows_kernel");
}

}  // namespace decodesim::gpu::detail
