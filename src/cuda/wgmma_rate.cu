// Issue-rate ceilings of the warpgroup-MMA forms the attention kernels chain: every block (one per
// SM, two warpgroups, as the kernels run) issues the same form back to back from shared memory
// with nothing else to do. The rate a form reaches alone bounds any kernel phase made of it; the
// operand bytes it reads per cycle tell whether shared memory, not the tensor pipe, sets it (a
// 64 x N product reads A (2 KB per k16 step, unless A is in registers) and B (N x 32 bytes)).
#include "attention_wg.cuh"
#include "common.cuh"
#include "internal.hpp"

namespace decodesim::gpu::detail {

namespace {

// Forms: 0 bf16 SS m64n32k16, 1 bf16 SS m64n64k16, 2 bf16 SS m64n128k16, 3 bf16 RS m64n64k16 with
// B MN-major (the P V form), 4 e4m3 SS m64n32k32, 5 e4m3 SS m64n64k32.
constexpr int kForms = 6;
constexpr int kSteps = 36;  // one chain: the 576-wide MLA score product in k16 steps
constexpr int kSmem = 9 * 8192 + 9 * 16384;

struct FormInfo {
  const char* name;
  int n;
  bool fp8, a_in_regs;
};
constexpr FormInfo kInfo[kForms] = {{"bf16 SS m64n32k16 (MLA scores, per warpgroup)", 32, false, false},
                                    {"bf16 SS m64n64k16", 64, false, false},
                                    {"bf16 SS m64n128k16", 128, false, false},
                                    {"bf16 RS m64n64k16, B MN-major (P V)", 64, false, true},
                                    {"e4m3 SS m64n32k32 (FP8 MLA scores)", 32, true, false},
                                    {"e4m3 SS m64n64k32", 64, true, false}};

template <int FORM>
__global__ void __launch_bounds__(256, 1) rate_kernel(int iters, long long* cycles) {
  extern __shared__ unsigned char smem_raw[];
  const uint32_t raw = wg::smem_addr(smem_raw);
  const uint32_t base = (raw + 1023u) & ~1023u;
  // Finite operands (about 1.0 in bf16, small in e4m3), so that the tensor pipe does real work.
  for (int i = threadIdx.x; i < (kSmem - 1024) / 4; i += 256)
    wg_dev::st_shared_u32(base + 4 * i, 0x3F803F80u ^ (i & 0x00070007u));
  wg::fence_proxy_async();
  __syncthreads();
  const uint32_t sa = base, sb = base + 9 * 8192;
  float d[64];
#pragma unroll
  for (int i = 0; i < 64; ++i) d[i] = 0.f;
  uint32_t a[4] = {0x3F803F80u, 0x3F803F80u, 0x3F803F80u, 0x3F803F80u};
  const long long t0 = clock64();
#pragma unroll 1
  for (int it = 0; it < iters; ++it) {
    wg::fence();
#pragma unroll
    for (int k = 0; k < kSteps; ++k) {
      // 64-column chunk c of A (64 rows) and of B (N rows), k step ks inside it
      const int c = k / 4, ks = k % 4;
      const uint64_t da = wg::desc_k_major<128>(sa + c * 8192) + 2 * ks;
      const uint64_t db = wg::desc_k_major<128>(sb + c * kInfo[FORM].n * 128) + 2 * ks;
      if constexpr (FORM == 0) wg::wgmma_bf16_ss_n32(*reinterpret_cast<float(*)[16]>(d), da, db, 1);
      else if constexpr (FORM == 1) wg::wgmma_bf16_ss_n64(*reinterpret_cast<float(*)[32]>(d), da, db, 1);
      else if constexpr (FORM == 2) wg::wgmma_bf16_ss_n128(d, da, db, 1);
      else if constexpr (FORM == 3)
        wg::wgmma_bf16_rs_n64_tb(*reinterpret_cast<float(*)[32]>(d), a, wg::desc_mn_major128(sb + (k % 8) * 2048, 1024, 1024, false), 1);
      else if constexpr (FORM == 4) wg::wgmma_e4m3_ss_n32(*reinterpret_cast<float(*)[16]>(d), da, db, 1);
      else wg::wgmma_e4m3_ss_n64(*reinterpret_cast<float(*)[32]>(d), da, db, 1);
    }
    wg::commit();
    wg::wait<0>();
    wg::fence_regs(d);
  }
  const long long t1 = clock64();
  if (threadIdx.x == 0) cycles[blockIdx.x] = t1 - t0;
  float sum = 0.f;
#pragma unroll
  for (int i = 0; i < 64; ++i) sum += d[i];
  if (sum == 12345.678f) cycles[blockIdx.x] = 0;  // keeps the products live
}

template <int FORM>
WgmmaRate run_form(int sms) {
  auto fn = &rate_kernel<FORM>;
  DS_CUDA(cudaFuncSetAttribute(fn, cudaFuncAttributeMaxDynamicSharedMemorySize, kSmem));
  DeviceBuffer cyc(sizeof(long long) * sms);
  const int iters = 4000;
  fn<<<sms, 256, kSmem, stream()>>>(50, cyc.get<long long>());  // warm-up
  DS_LAUNCHED("rate_kernel");
  EventPair ev;
  ev.start(stream());
  fn<<<sms, 256, kSmem, stream()>>>(iters, cyc.get<long long>());
  DS_LAUNCHED("rate_kernel");
  ev.stop(stream());
  const float ms = ev.ms();
  const std::vector<long long> c = to_host<long long>(cyc.get(), sms);
  double mean_cycles = 0;
  for (long long x : c) mean_cycles += double(x) / sms;
  const FormInfo& f = kInfo[FORM];
  const int k = f.fp8 ? 32 : 16;
  const double per_instr_flops = 2.0 * 64 * f.n * k;
  const double per_instr_bytes = (f.a_in_regs ? 0 : 64 * 32) + f.n * 32;  // A 64 x 32 bytes, B N x 32 bytes
  const double instrs_per_sm = 2.0 * iters * kSteps;                     // two warpgroups
  WgmmaRate r;
  r.form = f.name;
  r.tflops = instrs_per_sm * sms * per_instr_flops / (ms * 1e-3) / 1e12;
  r.flops_per_clk_sm = instrs_per_sm * per_instr_flops / mean_cycles;
  r.operand_bytes_per_clk_sm = instrs_per_sm * per_instr_bytes / mean_cycles;
  return r;
}

}  // namespace

std::vector<WgmmaRate> wgmma_rates() {
  int dev = 0, sms = 0;
  DS_CUDA(cudaGetDevice(&dev));
  DS_CUDA(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev));
  return {run_form<0>(sms), run_form<1>(sms), run_form<2>(sms), run_form<3>(sms), run_form<4>(sms), run_form<5>(sms)};
}

}  // namespace decodesim::gpu::detail
