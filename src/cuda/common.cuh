// Shared helpers of the CUDA backend: error checks, device buffers, random fill, number formats.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <cstring>
#include <functional>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "internal.hpp"

namespace decodesim::gpu::detail {

[[noreturn]] void throw_cuda(cudaError_t e, const char* what, const char* file, int line);
void check_launch(const char* what, const char* file, int line);

#define DS_CUDA(call)                                                         \
  do {                                                                        \
    cudaError_t ds_e_ = (call);                                               \
    if (ds_e_ != cudaSuccess) ::decodesim::gpu::detail::throw_cuda(ds_e_, #call, __FILE__, __LINE__); \
  } while (0)
#define DS_LAUNCHED(what) ::decodesim::gpu::detail::check_launch(what, __FILE__, __LINE__)

// Launches `kernel` as a programmatic dependent of the work before it on the stream: its blocks may
// be scheduled as that work finishes, and wait for it in the kernel (griddepcontrol.wait).
template <class... Params, class... Args>
void launch_dependent(void (*kernel)(Params...), int grid, int threads, int smem, cudaStream_t s, Args&&... args) {
  cudaLaunchConfig_t cfg{};
  cfg.gridDim = dim3(grid);
  cfg.blockDim = dim3(threads);
  cfg.dynamicSmemBytes = size_t(smem);
  cfg.stream = s;
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[0].val.programmaticStreamSerializationAllowed = 1;
  cfg.attrs = attr;
  cfg.numAttrs = 1;
  DS_CUDA(cudaLaunchKernelEx(&cfg, kernel, std::forward<Args>(args)...));
}

// Device memory owned by one object; freed on scope exit (never throws from the destructor).
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t bytes) { alloc(bytes); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& o) noexcept : p_(o.p_), n_(o.n_) { o.p_ = nullptr, o.n_ = 0; }
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) { reset(); p_ = o.p_, n_ = o.n_, o.p_ = nullptr, o.n_ = 0; }
    return *this;
  }
  ~DeviceBuffer() { reset(); }
  void alloc(size_t bytes);
  void reset() noexcept;
  template <class T = void> T* get() const { return static_cast<T*>(p_); }
  size_t bytes() const { return n_; }

 private:
  void* p_ = nullptr;
  size_t n_ = 0;
};

// Events around device work; elapsed milliseconds.
class EventPair {
 public:
  EventPair();
  ~EventPair();
  EventPair(const EventPair&) = delete;
  EventPair& operator=(const EventPair&) = delete;
  void start(cudaStream_t s);
  void stop(cudaStream_t s);
  float ms();  // synchronizes on the stop event
 private:
  cudaEvent_t a_ = nullptr, b_ = nullptr;
};

// The current device, and one value per device made on first use there: the backend's handles,
// streams and kernel attributes are per device, so a process may drive several GPUs.
int current_device();
constexpr int kMaxDevices = 16;
template <class T, class Make>
T& per_device(Make&& make) {
  static T values[kMaxDevices];
  static std::once_flag made[kMaxDevices];
  const int d = current_device();
  std::call_once(made[d], [&] { values[d] = make(); });
  return values[d];
}

// One stream for all measurement work on the current device.
cudaStream_t stream();
const cudaDeviceProp& props();

// Random fill on the device (counter-based hash, reproducible from the seed).
void fill_bf16(void* p, size_t n, uint64_t seed, float lo, float hi, cudaStream_t s);
// e4m3 codes of uniform(-amp, amp); dequantized value = code * scale chosen by the caller.
void fill_fp8(void* p, size_t n, uint64_t seed, float amp, cudaStream_t s);
void fill_f32(void* p, size_t n, uint64_t seed, float lo, float hi, cudaStream_t s);
// Uniformly random bytes (4-bit caches: every e2m1 code is a finite value).
void fill_bytes(void* p, size_t bytes, uint64_t seed, cudaStream_t s);
// Poison: every 16-bit word 0xFFFF (a NaN in bf16 and fp16), every byte 0xFF for fp8 (a NaN in e4m3).
void poison(void* p, size_t bytes, cudaStream_t s);
uint64_t next_seed();

// Host-side number formats.
inline float bf16_to_float(uint16_t b) {
  uint32_t u = uint32_t(b) << 16;
  float f;
  memcpy(&f, &u, 4);
  return f;
}
float fp8_to_float(uint8_t b);     // e4m3
uint8_t float_to_fp8(float f);     // e4m3, round to nearest even, saturating
uint16_t float_to_bf16(float f);   // round to nearest even

// A device array's copy on the host, once the work queued on stream() has finished: that stream
// is non-blocking, so a plain cudaMemcpy (the legacy stream) does not wait for it.
template <class T>
std::vector<T> to_host(const void* dev, size_t n) {
  std::vector<T> h(n);
  DS_CUDA(cudaStreamSynchronize(stream()));
  DS_CUDA(cudaMemcpy(h.data(), dev, n * sizeof(T), cudaMemcpyDeviceToHost));
  return h;
}

// ||a - ref|| / ||ref||; NaN/inf anywhere in a gives +inf.
double rel_error(const std::vector<double>& a, const std::vector<double>& ref);

double median(std::vector<double> v);

// Runs run(i) for i in [0, warmup + repeats) back to back on stream(); returns the device time of
// each timed run in microseconds (events around each, one synchronisation at the end).
std::vector<double> time_runs(int warmup, int repeats, const std::function<void(int)>& run);

// How many input sets to rotate so that the working set exceeds the L2 several times.
int rotation_sets(double bytes_per_set, int cap = 16);

// Run f(i) for i in [0, n) on the host's cores.
void parallel_for(size_t n, const std::function<void(size_t)>& f);

// Executable CUDA graphs, destroyed with the set: one per rotated input set, replayed in turn.
struct GraphSet {
  std::vector<cudaGraphExec_t> g;
  GraphSet() = default;
  GraphSet(const GraphSet&) = delete;
  GraphSet& operator=(const GraphSet&) = delete;
  ~GraphSet() {
    for (auto e : g) cudaGraphExecDestroy(e);
  }
};

// Captures what body() launches on stream() into one more graph of the set.
template <class F>
void capture(GraphSet& gs, F&& body) {
  cudaGraph_t gr = nullptr;
  DS_CUDA(cudaStreamBeginCapture(stream(), cudaStreamCaptureModeThreadLocal));
  try {
    body();
  } catch (...) {
    cudaStreamEndCapture(stream(), &gr);
    if (gr) cudaGraphDestroy(gr);
    throw;
  }
  DS_CUDA(cudaStreamEndCapture(stream(), &gr));
  cudaGraphExec_t ex;
  const cudaError_t e = cudaGraphInstantiate(&ex, gr, 0);
  cudaGraphDestroy(gr);
  DS_CUDA(e);
  gs.g.push_back(ex);
}

// Median device time of one run(i), timed inside a CUDA graph of `per_graph` back-to-back runs and
// replayed: the host's launch cost (several microseconds a cuBLASLt call) stays out of the figure,
// as it does when a server replays its decode step as a graph.
inline double graph_time_us(const std::function<void(int)>& run, int per_graph, int warmup, int repeats) {
  GraphSet gs;
  capture(gs, [&] {
    for (int i = 0; i < per_graph; ++i) run(i);
  });
  return median(time_runs(warmup, repeats, [&](int) { DS_CUDA(cudaGraphLaunch(gs.g[0], stream())); })) / per_graph;
}

}  // namespace decodesim::gpu::detail
