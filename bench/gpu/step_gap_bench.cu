// decodesim_step_gap_bench: what a decode step costs around its kernels, measured on the GPU: the
// gaps the calibration cannot see because it times each kernel (or graph) alone between two events
// (src/cuda/common.cu, time_runs). Self-contained (CUDA runtime only), for the serving-stack
// parameters of docs/pipeline.md ("Serving overheads"):
//   sample_us      one small graph timed as the calibration times it: event, cudaGraphLaunch, event
//   b2b_us         the same graph replayed back to back, 400 replays between two events, per replay
//   wait_us        as b2b, but each replay preceded by cudaStreamWaitEvent on an event another GPU
//                  (or stream, with one GPU) completed long ago, and followed by cudaEventRecord, the
//                  pipeline bench's issue pattern (bench/gpu/pipeline_bench.cu, Signals); 1 and 4 waits
//   sync_step_us   a step graph of 400 such kernels launched, then cudaStreamSynchronize, per step, host
//                  wall clock (a stack that waits for each step's token before issuing the next)
//   step_b2b_us    the same step graph replayed back to back (a stack that issues step n+1 before
//                  step n ends, as the overlap schedulers do)
//   launch_cpu_us  host time of one cudaGraphLaunch of the step graph
//   build/decodesim_step_gap_bench          (built with the CUDA backend; CUDA runtime only)
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#define CK(x)                                                                              \
  do {                                                                                     \
    cudaError_t e_ = (x);                                                                  \
    if (e_ != cudaSuccess) {                                                               \
      std::fprintf(stderr, "%s:%d %s: %s\n", __FILE__, __LINE__, #x, cudaGetErrorString(e_)); \
      std::exit(1);                                                                        \
    }                                                                                      \
  } while (0)

// A row copy like the bench's element-wise kernels: 128 rows of 7168 BF16 (1.8 MB).
__global__ void rows_kernel(const uint4* in, uint4* out, int n) {
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) out[i] = in[i];
}

namespace {
double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

cudaGraphExec_t capture(cudaStream_t s, int kernels, const uint4* a, uint4* b, int n) {
  cudaGraph_t g;
  CK(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
  for (int k = 0; k < kernels; ++k) rows_kernel<<<132, 256, 0, s>>>(k % 2 ? b : a, k % 2 ? const_cast<uint4*>(a) : b, n);
  CK(cudaStreamEndCapture(s, &g));
  cudaGraphExec_t e;
  CK(cudaGraphInstantiate(&e, g, 0));
  CK(cudaGraphDestroy(g));
  return e;
}

float elapsed_us(cudaEvent_t a, cudaEvent_t b) {
  float ms = 0;
  CK(cudaEventElapsedTime(&ms, a, b));
  return ms * 1e3f;
}
}  // namespace

int main() {
  int gpus = 0;
  CK(cudaGetDeviceCount(&gpus));
  cudaDeviceProp p;
  CK(cudaGetDeviceProperties(&p, 0));
  int rt = 0, drv = 0;
  CK(cudaRuntimeGetVersion(&rt));
  CK(cudaDriverGetVersion(&drv));
  std::printf("device: %s, %d GPU(s), runtime %d, driver %d\n", p.name, gpus, rt, drv);

  // The waited-on event: recorded on another GPU where there is one (the bench's cross-GPU signal).
  const int other = gpus > 1 ? 1 : 0;
  CK(cudaSetDevice(other));
  cudaStream_t os;
  CK(cudaStreamCreateWithFlags(&os, cudaStreamNonBlocking));
  std::vector<cudaEvent_t> remote(4);
  for (auto& e : remote) {
    CK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
    CK(cudaEventRecord(e, os));
  }
  CK(cudaStreamSynchronize(os));

  CK(cudaSetDevice(0));
  const int n = 128 * 7168 * 2 / 16;
  uint4 *a, *b;
  CK(cudaMalloc(&a, n * 16));
  CK(cudaMalloc(&b, n * 16));
  CK(cudaMemset(a, 0, n * 16));
  cudaStream_t s;
  CK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  const cudaGraphExec_t g1 = capture(s, 1, a, b, n), g3 = capture(s, 3, a, b, n), step = capture(s, 400, a, b, n);
  cudaEvent_t e0, e1, rec;
  CK(cudaEventCreate(&e0));
  CK(cudaEventCreate(&e1));
  CK(cudaEventCreateWithFlags(&rec, cudaEventDisableTiming));
  const int R = 400;

  for (cudaGraphExec_t g : {g1, g3}) {
    const int kernels = g == g1 ? 1 : 3;
    for (int w = 0; w < 50; ++w) CK(cudaGraphLaunch(g, s));
    // As the calibration: one replay between two events, median of R.
    std::vector<cudaEvent_t> ev(2 * R);
    for (auto& e : ev) CK(cudaEventCreate(&e));
    for (int r = 0; r < R; ++r) {
      CK(cudaEventRecord(ev[2 * r], s));
      CK(cudaGraphLaunch(g, s));
      CK(cudaEventRecord(ev[2 * r + 1], s));
    }
    CK(cudaStreamSynchronize(s));
    std::vector<double> t;
    for (int r = 0; r < R; ++r) t.push_back(elapsed_us(ev[2 * r], ev[2 * r + 1]));
    for (auto e : ev) CK(cudaEventDestroy(e));
    const double sample = median(t);
    auto per_replay = [&](int waits) {
      std::vector<double> v;
      for (int rep = 0; rep < 7; ++rep) {
        CK(cudaEventRecord(e0, s));
        for (int r = 0; r < R; ++r) {
          for (int w = 0; w < waits; ++w) CK(cudaStreamWaitEvent(s, remote[w], 0));
          CK(cudaGraphLaunch(g, s));
          if (waits > 0) CK(cudaEventRecord(rec, s));
        }
        CK(cudaEventRecord(e1, s));
        CK(cudaStreamSynchronize(s));
        v.push_back(elapsed_us(e0, e1) / R);
      }
      return median(v);
    };
    const double b2b = per_replay(0), w1 = per_replay(1), w4 = per_replay(4);
    std::printf("graph of %d kernel(s): sample_us %.3f b2b_us %.3f wait1_us %.3f wait4_us %.3f (waits on GPU %d)\n", kernels, sample, b2b,
                w1, w4, other);
  }

  // A whole step as one graph: issued back to back, or one host synchronisation per step.
  for (int w = 0; w < 5; ++w) CK(cudaGraphLaunch(step, s));
  CK(cudaStreamSynchronize(s));
  const int S = 50;
  std::vector<double> b2b, sync, launch;
  for (int rep = 0; rep < 5; ++rep) {
    CK(cudaEventRecord(e0, s));
    for (int r = 0; r < S; ++r) CK(cudaGraphLaunch(step, s));
    CK(cudaEventRecord(e1, s));
    CK(cudaStreamSynchronize(s));
    b2b.push_back(elapsed_us(e0, e1) / S);
    const auto t0 = std::chrono::steady_clock::now();
    for (int r = 0; r < S; ++r) {
      const auto l0 = std::chrono::steady_clock::now();
      CK(cudaGraphLaunch(step, s));
      launch.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - l0).count());
      CK(cudaStreamSynchronize(s));
    }
    sync.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() / S);
  }
  std::printf("step graph of 400 kernels: step_b2b_us %.2f sync_step_us %.2f (gap %.2f) launch_cpu_us %.2f\n", median(b2b), median(sync),
              median(sync) - median(b2b), median(launch));
  return 0;
}
