// GEMMs through cuBLASLt: projections, dense FFN, peak rate. Host code only (g++).
#include <algorithm>
#include <cmath>
#include <sstream>
#include <stdexcept>

#include "gemm_host.hpp"

namespace decodesim::gpu::detail {

void throw_cublas(cublasStatus_t st, const char* what, const char* file, int line) {
  throw std::runtime_error(std::string("cuBLAS error ") + std::to_string(int(st)) + " (" + cublasLtGetStatusName(st) + ": " +
                           cublasLtGetStatusString(st) + ") in " + what + " at " + file + ":" + std::to_string(line));
}

namespace {
constexpr size_t kWorkspace = size_t(32) << 20;
void* workspace() {
  return per_device<void*>([] {
    void* p = nullptr;  // lives as long as the process, like the device's context
    DS_CUDA(cudaMalloc(&p, kWorkspace));
    return p;
  });
}
}  // namespace

cublasLtHandle_t lt_handle() {
  return per_device<cublasLtHandle_t>([] {
    cublasLtHandle_t x;
    DS_CUBLAS(cublasLtCreate(&x));
    return x;
  });
}

LtMatmul::LtMatmul(int m, int n, int k, bool fp8, const float* w_scale_dev, const float* x_scale_dev)
    : m_(m), n_(n), k_(k), fp8_(fp8) {
  if (m <= 0 || n <= 0 || k <= 0) throw std::runtime_error("GEMM with a non-positive dimension");
  if (fp8 && (k % 16 || n % 16))
    throw std::runtime_error("fp8 GEMM needs k and n multiples of 16 (k=" + std::to_string(k) + ", n=" + std::to_string(n) + ")");
  const cudaDataType_t ab = fp8 ? CUDA_R_8F_E4M3 : CUDA_R_16BF;
  DS_CUBLAS(cublasLtMatmulDescCreate(&op_, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  const cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
  DS_CUBLAS(cublasLtMatmulDescSetAttribute(op_, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof(ta)));
  DS_CUBLAS(cublasLtMatmulDescSetAttribute(op_, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof(tb)));
  if (fp8) {
    if (!w_scale_dev || !x_scale_dev) throw std::runtime_error("fp8 GEMM needs scale pointers");
    DS_CUBLAS(cublasLtMatmulDescSetAttribute(op_, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &w_scale_dev, sizeof(w_scale_dev)));
    DS_CUBLAS(cublasLtMatmulDescSetAttribute(op_, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, &x_scale_dev, sizeof(x_scale_dev)));
  }
  DS_CUBLAS(cublasLtMatrixLayoutCreate(&a_, ab, k, n, k));
  DS_CUBLAS(cublasLtMatrixLayoutCreate(&b_, ab, k, m, k));
  DS_CUBLAS(cublasLtMatrixLayoutCreate(&c_, CUDA_R_16BF, n, m, n));
  cublasLtMatmulPreference_t pref;
  DS_CUBLAS(cublasLtMatmulPreferenceCreate(&pref));
  const size_t ws = kWorkspace;
  DS_CUBLAS(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws)));
  algos_.resize(32);  // thin decode GEMMs: the first heuristic pick is often far from the best
  int got = 0;
  const cublasStatus_t st =
      cublasLtMatmulAlgoGetHeuristic(lt_handle(), op_, a_, b_, c_, c_, pref, int(algos_.size()), algos_.data(), &got);
  cublasLtMatmulPreferenceDestroy(pref);
  if (st != CUBLAS_STATUS_SUCCESS || got == 0) {
    std::ostringstream e;
    e << "cuBLASLt has no algorithm for " << (fp8 ? "fp8" : "bf16") << " GEMM m=" << m << " n=" << n << " k=" << k
      << " (status " << int(st) << ")";
    throw std::runtime_error(e.str());
  }
  algos_.resize(got);
}

LtMatmul::~LtMatmul() {
  if (a_) cublasLtMatrixLayoutDestroy(a_);
  if (b_) cublasLtMatrixLayoutDestroy(b_);
  if (c_) cublasLtMatrixLayoutDestroy(c_);
  if (op_) cublasLtMatmulDescDestroy(op_);
}

void LtMatmul::run(const void* w, const void* x, void* y, cudaStream_t s) const {
  const float alpha = 1.f, beta = 0.f;
  DS_CUBLAS(cublasLtMatmul(lt_handle(), op_, &alpha, w, a_, x, b_, &beta, y, c_, y, c_, &algos_[chosen_].algo, workspace(),
                           kWorkspace, s));
}

// Decode GEMMs last 5-50 us, as long as the host takes to issue one: each is timed inside a graph.
constexpr int kRunsPerGraph = 8;

void LtMatmul::tune(const std::function<void(int)>& run_i, int reps) {
  if (algos_.size() <= 1) return;
  double best = INFINITY;
  int best_i = 0;
  for (int a = 0; a < int(algos_.size()); ++a) {
    chosen_ = a;
    double t;
    try {
      t = graph_time_us(run_i, kRunsPerGraph, 1, reps);
    } catch (const std::exception&) {
      cudaGetLastError();
      continue;  // an algorithm that fails to run is skipped
    }
    if (t < best) best = t, best_i = a;
  }
  chosen_ = best_i;
}

GemmData::GemmData(int m_, int n_, int k_, bool fp8_, int sets_wanted) : m(m_), n(n_), k(k_), fp8(fp8_) {
  const double set_bytes = w_bytes() + x_bytes() + y_bytes();
  size_t free_b = 0, total_b = 0;
  DS_CUDA(cudaMemGetInfo(&free_b, &total_b));
  sets = sets_wanted > 0 ? sets_wanted : std::min(rotation_sets(set_bytes, 32), std::max(1, int(0.6 * free_b / set_bytes)));
  const float amp_w = float(std::sqrt(3.0 / k));  // var(w) = 1/k
  if (fp8) {
    w_scale = amp_w / 16.f, x_scale = 1.f / 16.f;  // codes uniform in (-16, 16)
    // cuBLASLt checks the alignment of the scale pointers at run time (a scale 4 bytes into an
    // allocation gave CUBLAS_STATUS_NOT_SUPPORTED for every fp8 algorithm on H100): 256 bytes apart.
    scales.alloc(2 * kScaleStride * sizeof(float));
    std::vector<float> hs(2 * kScaleStride, 0.f);
    hs[0] = w_scale, hs[kScaleStride] = x_scale;
    DS_CUDA(cudaMemcpy(scales.get(), hs.data(), hs.size() * sizeof(float), cudaMemcpyHostToDevice));
  }
  w.resize(sets), x.resize(sets), y.resize(sets);
  for (int i = 0; i < sets; ++i) {
    w[i].alloc(size_t(w_bytes()));
    x[i].alloc(size_t(x_bytes()));
    y[i].alloc(size_t(y_bytes()));
    if (fp8) {
      fill_fp8(w[i].get(), size_t(n) * k, next_seed(), 16.f, stream());
      fill_fp8(x[i].get(), size_t(m) * k, next_seed(), 16.f, stream());
    } else {
      fill_bf16(w[i].get(), size_t(n) * k, next_seed(), -amp_w, amp_w, stream());
      fill_bf16(x[i].get(), size_t(m) * k, next_seed(), -1.f, 1.f, stream());
    }
    fill_bf16(y[i].get(), size_t(m) * n, next_seed(), -1.f, 1.f, stream());
  }
  DS_CUDA(cudaStreamSynchronize(stream()));
}

// Host copy of a matrix of `elems` bf16 or e4m3 values, decoded to float and scaled.
std::vector<float> host_values(const void* dev, size_t elems, bool fp8, float scale) {
  std::vector<float> f(elems);
  if (fp8) {
    const std::vector<uint8_t> r = to_host<uint8_t>(dev, elems);
    parallel_for((elems + 65535) / 65536, [&](size_t c) {
      for (size_t i = c * 65536; i < std::min(elems, (c + 1) * 65536); ++i) f[i] = fp8_to_float(r[i]) * scale;
    });
  } else {
    const std::vector<uint16_t> r = to_host<uint16_t>(dev, elems);
    parallel_for((elems + 65535) / 65536, [&](size_t c) {
      for (size_t i = c * 65536; i < std::min(elems, (c + 1) * 65536); ++i) f[i] = bf16_to_float(r[i]) * scale;
    });
  }
  return f;
}

static std::vector<int> sample_rows(int m, double macs_per_row) {
  std::vector<int> rows;
  const int want = macs_per_row * m <= 4e8 ? m : std::max(1, std::min(m, int(4e8 / macs_per_row)));
  const int n = std::min(m, std::max(1, std::min(want, 16)));
  if (want == m) {
    for (int i = 0; i < m; ++i) rows.push_back(i);
    return rows;
  }
  for (int i = 0; i < n; ++i) rows.push_back(n == 1 ? 0 : int((long long)i * (m - 1) / (n - 1)));
  rows.erase(std::unique(rows.begin(), rows.end()), rows.end());
  return rows;
}

double check_gemm(const GemmData& d) {
  const std::vector<float> W = host_values(d.w[0].get(), size_t(d.n) * d.k, d.fp8, d.w_scale);
  const std::vector<float> X = host_values(d.x[0].get(), size_t(d.m) * d.k, d.fp8, d.x_scale);
  const std::vector<uint16_t> Y = to_host<uint16_t>(d.y[0].get(), size_t(d.m) * d.n);
  for (uint16_t v : Y)
    if (!std::isfinite(bf16_to_float(v))) return INFINITY;
  const std::vector<int> rows = sample_rows(d.m, double(d.n) * d.k);
  std::vector<double> ref(rows.size() * size_t(d.n)), got(ref.size());
  parallel_for(rows.size() * size_t((d.n + 63) / 64), [&](size_t job) {
    const size_t ri = job / ((d.n + 63) / 64);
    const int j0 = int(job % ((d.n + 63) / 64)) * 64;
    const float* xr = X.data() + size_t(rows[ri]) * d.k;
    for (int j = j0; j < std::min(d.n, j0 + 64); ++j) {
      const float* wr = W.data() + size_t(j) * d.k;
      double a = 0;
      for (int i = 0; i < d.k; ++i) a += double(xr[i]) * wr[i];
      ref[ri * d.n + j] = a;
      got[ri * d.n + j] = bf16_to_float(Y[size_t(rows[ri]) * d.n + j]);
    }
  });
  return rel_error(got, ref);
}

double gemm_tolerance(bool fp8) { return fp8 ? 5e-2 : 1e-2; }

Measurement measure_gemm(const GemmShape& g, const Options& o) {
  GemmData d(g.m, g.n, g.k, g.fp8);
  LtMatmul mm(g.m, g.n, g.k, g.fp8, d.w_scale_dev(), d.x_scale_dev());
  auto run = [&](int i) {
    const int s = i % d.sets;
    mm.run(d.w[s].get(), d.x[s].get(), d.y[s].get(), stream());
  };
  if (o.autotune) mm.tune(run);
  Measurement r = gemm_measurement(g);
  if (o.check) {
    poison(d.y[0].get(), d.y[0].bytes(), stream());
    run(0);
    DS_CUDA(cudaStreamSynchronize(stream()));
    r.rel_error = check_gemm(d);
  }
  r.time_us = graph_time_us(run, kRunsPerGraph, o.warmup, o.repeats);
  return r;
}

}  // namespace decodesim::gpu::detail

namespace decodesim::gpu {

Measurement measure_peak_gemm(bool fp8) {
  using namespace detail;
  const int N = 8192;
  GemmData d(N, N, N, fp8, 1);
  LtMatmul mm(N, N, N, fp8, d.w_scale_dev(), d.x_scale_dev());
  auto run = [&](int) { mm.run(d.w[0].get(), d.x[0].get(), d.y[0].get(), stream()); };
  mm.tune(run, 5);
  GemmShape g{"peak", N, N, N, fp8};
  Measurement r = gemm_measurement(g);
  r.label = std::string("peak GEMM 8192^3 ") + (fp8 ? "fp8 e4m3" : "bf16") + " (cuBLASLt)";
  poison(d.y[0].get(), d.y[0].bytes(), stream());
  run(0);
  DS_CUDA(cudaStreamSynchronize(stream()));
  r.rel_error = check_gemm(d);
  r.time_us = median(time_runs(5, 20, run));
  return r;
}

}  // namespace decodesim::gpu
