// cuBLASLt GEMMs: out[m][n] (bf16) = x[m][k] * w[n][k]^T, bf16 or fp8 e4m3 operands with per-tensor scales.
// In cuBLASLt's column-major terms this is D(n x m) = op(A) * B with A = w (k x n, transposed: "TN", which
// fp8 requires), B = x (k x m), so weights are stored like a Linear layer's [out][in].
#pragma once
#include <cublasLt.h>

#include <vector>

#include "common.cuh"
#include "decodesim/gpu_measurement.hpp"

namespace decodesim::gpu::detail {

[[noreturn]] void throw_cublas(cublasStatus_t st, const char* what, const char* file, int line);
#define DS_CUBLAS(call)                                                                           \
  do {                                                                                            \
    cublasStatus_t ds_s_ = (call);                                                                \
    if (ds_s_ != CUBLAS_STATUS_SUCCESS) ::decodesim::gpu::detail::throw_cublas(ds_s_, #call, __FILE__, __LINE__); \
  } while (0)

cublasLtHandle_t lt_handle();

class LtMatmul {
 public:
  LtMatmul(int m, int n, int k, bool fp8, const float* w_scale_dev = nullptr, const float* x_scale_dev = nullptr);
  ~LtMatmul();
  LtMatmul(const LtMatmul&) = delete;
  LtMatmul& operator=(const LtMatmul&) = delete;
  void run(const void* w, const void* x, void* y, cudaStream_t s) const;
  void pick(int i) { chosen_ = i; }
  int chosen() const { return chosen_; }
  // Times every heuristic candidate on run(i) (which should call this->run) and keeps the fastest.
  void tune(const std::function<void(int)>& run_i, int reps = 8);

 private:
  int m_, n_, k_;
  bool fp8_;
  cublasLtMatmulDesc_t op_ = nullptr;
  cublasLtMatrixLayout_t a_ = nullptr, b_ = nullptr, c_ = nullptr;
  std::vector<cublasLtMatmulHeuristicResult_t> algos_;
  int chosen_ = 0;
};

// Device scale factors sit kScaleStride floats (256 bytes) apart: cuBLASLt wants them aligned.
constexpr int kScaleStride = 64;

// Weights, inputs and outputs of one GEMM shape, `sets` copies to rotate through.
struct GemmData {
  int m = 0, n = 0, k = 0;
  bool fp8 = false;
  int sets = 1;
  float w_scale = 1.f, x_scale = 1.f;
  std::vector<DeviceBuffer> w, x, y;
  DeviceBuffer scales;  // w_scale at 0, x_scale at kScaleStride (fp8)
  GemmData(int m, int n, int k, bool fp8, int sets_wanted = -1);
  double w_bytes() const { return double(n) * k * (fp8 ? 1 : 2); }
  double x_bytes() const { return double(m) * k * (fp8 ? 1 : 2); }
  double y_bytes() const { return double(m) * n * 2; }
  const float* w_scale_dev() const { return fp8 ? scales.get<float>() : nullptr; }
  const float* x_scale_dev() const { return fp8 ? scales.get<float>() + kScaleStride : nullptr; }
};

// rel error of y (set 0) against a float64 reference over sampled rows (all rows when cheap).
double check_gemm(const GemmData& d);
double gemm_tolerance(bool fp8);
// Host copy of `elems` bf16 or e4m3 values, decoded to float and multiplied by scale.
std::vector<float> host_values(const void* dev, size_t elems, bool fp8, float scale);

}  // namespace decodesim::gpu::detail
