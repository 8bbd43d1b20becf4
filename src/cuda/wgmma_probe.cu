// Layout probe: each warpgroup-MMA form the attention and MoE kernels use, run alone by one warpgroup
// on random operands and compared with a float64 product. A failing kernel check then points at the
// one layout (descriptor, swizzle, fragment order) that is wrong.
#include <cmath>
#include <random>

#include "attention_wg.cuh"
#include "common.cuh"

namespace decodesim::gpu::detail {

namespace {

// Inputs (row-major, float, exactly representable in the operand type):
//   A  [64][128]: query-like rows (bf16 forms use the first 64 columns)
//   B  [32][128]: key/value-like rows (tokens)
//   P  [64][32]:  probabilities
// Outputs, row-major float:
//   0: S16 [64][32]  = A[:, :64] B[:, :64]^T   bf16, K-major, 128-byte swizzle
//   1: O16 [64][64]  = P B[:, :64]             bf16, P in registers, B MN-major (transposed)
//   2: S8 [64][32]   = A[:, :64] B[:, :64]^T   e4m3, K-major, 64-byte swizzle
//   3: O8T [64][64]  = (P B[:, :64])^T         e4m3, V^T in registers (ldmatrix.trans, byte permutes),
//                                              P^T from shared memory (32-byte swizzle, permuted k)
//   4: M8 [64][16]   = A B[:16]^T              e4m3, 128-byte swizzle, N = 16 (the MoE form)
constexpr int kOuts = 5;
__host__ __device__ constexpr int out_size(int w) {
  constexpr int s[kOuts] = {64 * 32, 64 * 64, 64 * 32, 64 * 64, 64 * 16};
  return s[w];
}

__global__ void __launch_bounds__(128, 1) probe_kernel(const float* A, const float* B, const float* P, float* out) {
  using namespace wg_dev;
  __shared__ __align__(1024) unsigned char sm[5 * 8192];
  const uint32_t s0 = wg::smem_addr(sm);  // bf16 A [64][64] (8 KB); e4m3 A [64][128] (8 KB)
  const uint32_t s1 = s0 + 8192;          // bf16 B [32][64] (4 KB), e4m3 B [32][64] (2 KB) at +4096
  const uint32_t s2 = s0 + 16384;         // P bf16 [64][32] (4 KB) ; P e4m3 (2 KB) at +4096
  const uint32_t s3 = s0 + 24576;         // e4m3 B [16][128] (2 KB) at +4096
  const uint32_t s4 = s0 + 32768;         // e4m3 A [64][128], 128-byte rows
  const int tid = threadIdx.x, lane = tid & 31, wq = tid >> 5, g = lane >> 2, t4 = lane & 3;
  const int ra = wq * 16 + g, rb = ra + 8;

  for (int i = tid; i < 64 * 64; i += 128) {
    const int r = i / 64, c = i % 64;
    const __nv_bfloat16 h = __float2bfloat16_rn(A[r * 128 + c]);
    st_shared_u16(s0 + wg::swz<128>(r, 2 * c), *reinterpret_cast<const uint16_t*>(&h));
  }
  for (int i = tid; i < 32 * 64; i += 128) {
    const int r = i / 64, c = i % 64;
    const __nv_bfloat16 h = __float2bfloat16_rn(B[r * 128 + c]);
    st_shared_u16(s1 + wg::swz<128>(r, 2 * c), *reinterpret_cast<const uint16_t*>(&h));
    st_shared_u8(s1 + 4096 + wg::swz<64>(r, c), __nv_cvt_float_to_fp8(B[r * 128 + c], __NV_SATFINITE, __NV_E4M3));
  }
  for (int i = tid; i < 64 * 128; i += 128) {
    const int r = i / 128, c = i % 128;
    const uint8_t code = __nv_cvt_float_to_fp8(A[i], __NV_SATFINITE, __NV_E4M3);
    st_shared_u8(s4 + wg::swz<128>(r, c), code);
  }
  // e4m3 B, first 16 tokens as 128-byte rows (the MoE form)
  for (int i = tid; i < 16 * 128; i += 128) {
    const int r = i / 128, c = i % 128;
    st_shared_u8(s3 + 4096 + wg::swz<128>(r, c), __nv_cvt_float_to_fp8(B[r * 128 + c], __NV_SATFINITE, __NV_E4M3));
  }
  // P as the accumulator layout of m64n32 (registers), as the kernels hold it after softmax.
  float p[16];
#pragma unroll
  for (int i = 0; i < 16; ++i) p[i] = P[((i & 2) ? rb : ra) * 32 + 8 * (i >> 2) + 2 * t4 + (i & 1)];
  uint32_t pa16[2][4], pa8[4];
  wg::bf16_a_fragment(p, 0, pa16[0]);
  wg::bf16_a_fragment(p, 1, pa16[1]);
  wg::e4m3_a_fragment(p, 0, 1.f, pa8);
  store_p_bf16<32>(s2, p, ra, rb, t4);
  store_p_e4m3<32>(s2 + 4096, pa8, 0, ra, rb, t4);
  wg::fence_proxy_async();
  __syncthreads();

  auto store = [&](int which, const float* d, int n) {
    float* o = out;
    for (int w = 0; w < which; ++w) o += out_size(w);
    for (int i = 0; i < n / 2; ++i) o[((i & 2) ? rb : ra) * n + 8 * (i >> 2) + 2 * t4 + (i & 1)] = d[i];
  };
  // O^T accumulator: fragment rows g, g+8 of warp wq are dims 16wq + 2g, +1; columns are heads.
  auto store_t = [&](int which, const float* d) {
    float* o = out;
    for (int w = 0; w < which; ++w) o += out_size(w);
    for (int i = 0; i < 32; ++i) o[(16 * wq + 2 * g + ((i & 2) ? 1 : 0)) * 64 + 8 * (i >> 2) + 2 * t4 + (i & 1)] = d[i];
  };
  {
    float d[16] = {};
    wg::fence();
    for (int ks = 0; ks < 4; ++ks) wg::wgmma_bf16_ss_n32(d, wg::desc_k_major<128>(s0) + 2 * ks, wg::desc_k_major<128>(s1) + 2 * ks, ks);
    wg::commit(), wg::wait<0>(), wg::fence_regs(d);
    store(0, d, 32);
  }
  {
    float d[32] = {};
    wg::fence();
    for (int kk = 0; kk < 2; ++kk) wg::wgmma_bf16_rs_n64_tb(d, pa16[kk], wg::desc_mn_major128(s1 + kk * 2048, 1024, 1024, false), kk);
    wg::commit(), wg::wait<0>(), wg::fence_regs(d);
    store(1, d, 64);
  }
  __syncthreads();
  // e4m3 A, first 64 columns as 64-byte rows (the S form) over the bf16 A, which is done.
  for (int i = tid; i < 64 * 64; i += 128) {
    const int r = i / 64, c = i % 64;
    st_shared_u8(s0 + wg::swz<64>(r, c), __nv_cvt_float_to_fp8(A[r * 128 + c], __NV_SATFINITE, __NV_E4M3));
  }
  wg::fence_proxy_async();
  __syncthreads();
  {
    float d[16] = {};
    wg::fence();
    for (int ks = 0; ks < 2; ++ks) wg::wgmma_e4m3_ss_n32(d, wg::desc_k_major<64>(s0) + 2 * ks, wg::desc_k_major<64>(s1 + 4096) + 2 * ks, ks);
    wg::commit(), wg::wait<0>(), wg::fence_regs(d);
    store(2, d, 32);
  }
  {
    float d[32] = {};
    uint32_t r[4], a[4];
    ldsm_x4_trans(r, s1 + 4096 + wg::swz<64>(lane, 16 * wq));
    a[0] = __byte_perm(r[0], r[1], 0x6420), a[1] = __byte_perm(r[0], r[1], 0x7531);
    a[2] = __byte_perm(r[2], r[3], 0x6420), a[3] = __byte_perm(r[2], r[3], 0x7531);
    wg::fence();
    wg::wgmma_e4m3_rs_n64(d, a, wg::desc_k_major<32>(s2 + 4096), 0);
    wg::commit(), wg::wait<0>(), wg::fence_regs(d);
    store_t(3, d);
  }
  {
    float d[8] = {};
    wg::fence();
    for (int ks = 0; ks < 4; ++ks) wg::wgmma_e4m3_ss_n16(d, wg::desc_k_major<128>(s4) + 2 * ks, wg::desc_k_major<128>(s3 + 4096) + 2 * ks, ks);
    wg::commit(), wg::wait<0>(), wg::fence_regs(d);
    store(4, d, 16);
  }
}

double round_to(float x, bool fp8) {
  return fp8 ? fp8_to_float(float_to_fp8(x)) : bf16_to_float(float_to_bf16(x));
}

}  // namespace

std::vector<std::pair<std::string, double>> wgmma_probe() {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-1.f, 1.f), up(0.f, 1.f);
  std::vector<float> A(64 * 128), B(32 * 128), P(64 * 32);
  // values exactly representable in e4m3 (and so in bf16): k / 8 for small integers k
  for (float& x : A) x = std::round(u(rng) * 16.f) / 8.f;
  for (float& x : B) x = std::round(u(rng) * 16.f) / 8.f;
  for (float& x : P) x = std::round(up(rng) * 16.f) / 16.f;
  DeviceBuffer dA(A.size() * 4), dB(B.size() * 4), dP(P.size() * 4), dO;
  size_t total = 0;
  for (int w = 0; w < kOuts; ++w) total += out_size(w);
  dO.alloc(total * 4);
  DS_CUDA(cudaMemcpy(dA.get(), A.data(), A.size() * 4, cudaMemcpyHostToDevice));
  DS_CUDA(cudaMemcpy(dB.get(), B.data(), B.size() * 4, cudaMemcpyHostToDevice));
  DS_CUDA(cudaMemcpy(dP.get(), P.data(), P.size() * 4, cudaMemcpyHostToDevice));
  DS_CUDA(cudaMemset(dO.get(), 0xFF, total * 4));
  probe_kernel<<<1, 128, 0, stream()>>>(dA.get<float>(), dB.get<float>(), dP.get<float>(), dO.get<float>());
  DS_LAUNCHED("probe_kernel");
  DS_CUDA(cudaStreamSynchronize(stream()));
  const std::vector<float> O = to_host<float>(dO.get(), total);

  auto s_ref = [&](bool fp8, int cols, int ncols_b) {
    std::vector<double> r(64 * size_t(ncols_b));
    for (int i = 0; i < 64; ++i)
      for (int j = 0; j < ncols_b; ++j) {
        double a = 0;
        for (int k = 0; k < cols; ++k) a += round_to(A[i * 128 + k], fp8) * round_to(B[j * 128 + k], fp8);
        r[i * ncols_b + j] = a;
      }
    return r;
  };
  auto o_ref = [&](bool fp8) {
    std::vector<double> r(64 * 64);
    for (int i = 0; i < 64; ++i)
      for (int j = 0; j < 64; ++j) {
        double a = 0;
        for (int k = 0; k < 32; ++k) a += round_to(P[i * 32 + k], fp8) * round_to(B[k * 128 + j], fp8);
        r[i * 64 + j] = a;
      }
    return r;
  };
  auto transposed = [](const std::vector<double>& m) {
    std::vector<double> t(m.size());
    for (int i = 0; i < 64; ++i)
      for (int j = 0; j < 64; ++j) t[j * 64 + i] = m[i * 64 + j];
    return t;
  };
  const std::vector<std::vector<double>> refs = {s_ref(false, 64, 32), o_ref(false), s_ref(true, 64, 32), transposed(o_ref(true)),
                                                 s_ref(true, 128, 16)};
  const char* names[kOuts] = {"bf16 S: K-major 128B swizzle, m64n32k16",
                              "bf16 PV: A in registers, B MN-major 128B swizzle, m64n64k16",
                              "e4m3 S: K-major 64B swizzle, m64n32k32",
                              "e4m3 PV^T: V^T in registers (ldmatrix.trans), P^T 32B swizzle, m64n64k32",
                              "e4m3 MoE: K-major 128B swizzle, m64n16k32"};
  std::vector<std::pair<std::string, double>> res;
  size_t off = 0;
  for (int w = 0; w < kOuts; ++w) {
    std::vector<double> got(O.begin() + off, O.begin() + off + out_size(w));
    res.emplace_back(names[w], rel_error(got, refs[w]));
    off += out_size(w);
  }
  return res;
}

}  // namespace decodesim::gpu::detail
