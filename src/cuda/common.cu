// Device discovery, error handling, buffers, random fill, copy and read bandwidth.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "common.cuh"

namespace decodesim::gpu::detail {

void throw_cuda(cudaError_t e, const char* what, const char* file, int line) {
  throw std::runtime_error(std::string("CUDA error ") + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ") in " +
                           what + " at " + file + ":" + std::to_string(line));
}

void check_launch(const char* what, const char* file, int line) {
  const cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) throw_cuda(e, what, file, line);
}

void DeviceBuffer::alloc(size_t bytes) {
  reset();
  if (bytes == 0) return;
  const cudaError_t e = cudaMalloc(&p_, bytes);
  if (e != cudaSuccess) {
    p_ = nullptr;
    size_t free_b = 0, total_b = 0;
    cudaGetLastError();
    cudaMemGetInfo(&free_b, &total_b);
    throw std::runtime_error("cudaMalloc of " + std::to_string(bytes / 1e6) + " MB failed (" + cudaGetErrorString(e) +
                             "), " + std::to_string(free_b / 1e6) + " MB free");
  }
  n_ = bytes;
}

void DeviceBuffer::reset() noexcept {
  if (p_) cudaFree(p_);
  p_ = nullptr, n_ = 0;
}

EventPair::EventPair() {
  DS_CUDA(cudaEventCreate(&a_));
  DS_CUDA(cudaEventCreate(&b_));
}
EventPair::~EventPair() {
  if (a_) cudaEventDestroy(a_);
  if (b_) cudaEventDestroy(b_);
}
void EventPair::start(cudaStream_t s) { DS_CUDA(cudaEventRecord(a_, s)); }
void EventPair::stop(cudaStream_t s) { DS_CUDA(cudaEventRecord(b_, s)); }
float EventPair::ms() {
  DS_CUDA(cudaEventSynchronize(b_));
  float t = 0;
  DS_CUDA(cudaEventElapsedTime(&t, a_, b_));
  return t;
}

int current_device() {
  int d = 0;
  DS_CUDA(cudaGetDevice(&d));
  if (d < 0 || d >= kMaxDevices) throw std::runtime_error("device index " + std::to_string(d) + " beyond " + std::to_string(kMaxDevices));
  return d;
}

cudaStream_t stream() {
  return per_device<cudaStream_t>([] {
    cudaStream_t x;
    DS_CUDA(cudaStreamCreateWithFlags(&x, cudaStreamNonBlocking));
    return x;
  });
}

const cudaDeviceProp& props() {
  return per_device<cudaDeviceProp>([] {
    cudaDeviceProp x{};
    DS_CUDA(cudaGetDeviceProperties(&x, current_device()));
    return x;
  });
}

namespace {

__device__ __forceinline__ uint64_t mix64(uint64_t z) {
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
__device__ __forceinline__ float uniform01(uint64_t seed, uint64_t i) {
  return float(mix64(seed ^ mix64(i)) >> 40) * (1.0f / 16777216.0f);
}

__global__ void fill_bf16_kernel(__nv_bfloat16* p, size_t n, uint64_t seed, float lo, float hi) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x)
    p[i] = __float2bfloat16_rn(lo + (hi - lo) * uniform01(seed, i));
}
__global__ void fill_f32_kernel(float* p, size_t n, uint64_t seed, float lo, float hi) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x)
    p[i] = lo + (hi - lo) * uniform01(seed, i);
}
__global__ void fill_fp8_kernel(unsigned char* p, size_t n, uint64_t seed, float amp) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x)
    p[i] = __nv_cvt_float_to_fp8(amp * (2.f * uniform01(seed, i) - 1.f), __NV_SATFINITE, __NV_E4M3);
}
__global__ void fill_bytes_kernel(unsigned char* p, size_t n, uint64_t seed) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x)
    p[i] = static_cast<unsigned char>(mix64(seed ^ mix64(i)) >> 56);
}
__global__ void read_kernel(const uint4* __restrict__ p, size_t n, unsigned* sink) {
  unsigned acc = 0;
  const size_t stride = size_t(gridDim.x) * blockDim.x;
  size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x;
  for (; i + 3 * stride < n; i += 4 * stride) {
    const uint4 a = __ldcs(p + i), b = __ldcs(p + i + stride), c = __ldcs(p + i + 2 * stride), d = __ldcs(p + i + 3 * stride);
    acc ^= a.x ^ a.y ^ a.z ^ a.w ^ b.x ^ b.y ^ b.z ^ b.w ^ c.x ^ c.y ^ c.z ^ c.w ^ d.x ^ d.y ^ d.z ^ d.w;
  }
  for (; i < n; i += stride) {
    const uint4 a = __ldcs(p + i);
    acc ^= a.x ^ a.y ^ a.z ^ a.w;
  }
  if (acc == 0x12345678u) *sink = acc;  // keeps the loads; practically never stores
}

int fill_grid(size_t n) { return int(std::min<size_t>((n + 255) / 256, size_t(props().multiProcessorCount) * 16)); }

}  // namespace

void fill_bf16(void* p, size_t n, uint64_t seed, float lo, float hi, cudaStream_t s) {
  if (!n) return;
  fill_bf16_kernel<<<fill_grid(n), 256, 0, s>>>(static_cast<__nv_bfloat16*>(p), n, seed, lo, hi);
  DS_LAUNCHED("fill_bf16");
}
void fill_f32(void* p, size_t n, uint64_t seed, float lo, float hi, cudaStream_t s) {
  if (!n) return;
  fill_f32_kernel<<<fill_grid(n), 256, 0, s>>>(static_cast<float*>(p), n, seed, lo, hi);
  DS_LAUNCHED("fill_f32");
}
void fill_fp8(void* p, size_t n, uint64_t seed, float amp, cudaStream_t s) {
  if (!n) return;
  fill_fp8_kernel<<<fill_grid(n), 256, 0, s>>>(static_cast<unsigned char*>(p), n, seed, amp);
  DS_LAUNCHED("fill_fp8");
}
void fill_bytes(void* p, size_t bytes, uint64_t seed, cudaStream_t s) {
  if (!bytes) return;
  fill_bytes_kernel<<<fill_grid(bytes), 256, 0, s>>>(static_cast<unsigned char*>(p), bytes, seed);
  DS_LAUNCHED("fill_bytes");
}
void poison(void* p, size_t bytes, cudaStream_t s) { DS_CUDA(cudaMemsetAsync(p, 0xFF, bytes, s)); }

uint64_t next_seed() {
  static std::atomic<uint64_t> c{0x5EEDull};
  return c.fetch_add(0x9E3779B97F4A7C15ull);
}

float fp8_to_float(uint8_t b) {
  static const std::vector<float> lut = [] {
    std::vector<float> t(256);
    for (int i = 0; i < 256; ++i) {
      const __half_raw h = __nv_cvt_fp8_to_halfraw(static_cast<__nv_fp8_storage_t>(i), __NV_E4M3);
      t[i] = __half2float(__half(h));
    }
    return t;
  }();
  return lut[b];
}
uint8_t float_to_fp8(float f) { return __nv_cvt_float_to_fp8(f, __NV_SATFINITE, __NV_E4M3); }
uint16_t float_to_bf16(float f) {
  const __nv_bfloat16 h = __float2bfloat16_rn(f);
  uint16_t u;
  memcpy(&u, &h, 2);
  return u;
}

double rel_error(const std::vector<double>& a, const std::vector<double>& ref) {
  if (a.size() != ref.size() || ref.empty()) return INFINITY;
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!std::isfinite(a[i])) return INFINITY;
    num += (a[i] - ref[i]) * (a[i] - ref[i]);
    den += ref[i] * ref[i];
  }
  return den > 0 ? std::sqrt(num / den) : (num > 0 ? INFINITY : 0.0);
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

int rotation_sets(double bytes_per_set, int cap) {
  const double l2 = props().l2CacheSize;
  if (bytes_per_set <= 0) return 1;
  return std::clamp(int(std::ceil(3.0 * l2 / bytes_per_set)), 1, cap);
}

void parallel_for(size_t n, const std::function<void(size_t)>& f) {
  const size_t nt = std::max<size_t>(1, std::min<size_t>(n, std::thread::hardware_concurrency()));
  if (nt <= 1) {
    for (size_t i = 0; i < n; ++i) f(i);
    return;
  }
  std::atomic<size_t> next{0};
  std::exception_ptr err;
  std::mutex mu;
  std::vector<std::thread> ts;
  for (size_t t = 0; t < nt; ++t)
    ts.emplace_back([&] {
      try {
        for (size_t i; (i = next.fetch_add(1)) < n;) f(i);
      } catch (...) {
        std::lock_guard<std::mutex> lk(mu);
        if (!err) err = std::current_exception();
      }
    });
  for (auto& t : ts) t.join();
  if (err) std::rethrow_exception(err);
}

Options options_of(const SweepPlan& p) {
  Options o;
  o.warmup = std::max(1, p.warmup);
  o.repeats = std::max(1, p.repeats);
  o.check = p.check;
  return o;
}

namespace {
__global__ void probe_kernel(int* x) {
  if (x) *x = 1;
}
}  // namespace

Measurement measure_read() {
  const size_t bytes = size_t(4) << 30;
  DeviceBuffer buf(bytes), sink(sizeof(unsigned));
  fill_f32(buf.get(), bytes / 4, next_seed(), -1.f, 1.f, stream());
  const size_t n = bytes / 16;
  const int grid = props().multiProcessorCount * 8;
  EventPair ev;
  std::vector<double> t;
  for (int r = 0; r < 23; ++r) {
    ev.start(stream());
    read_kernel<<<grid, 512, 0, stream()>>>(buf.get<uint4>(), n, sink.get<unsigned>());
    DS_LAUNCHED("read_kernel");
    ev.stop(stream());
    const double ms = ev.ms();
    if (r >= 3) t.push_back(ms * 1e3);
  }
  Measurement m;
  m.op_class = "read";
  m.label = "streaming read 4 GiB";
  m.dtype = "bytes";
  m.bytes = double(bytes);
  m.time_us = median(t);
  return m;
}

}  // namespace decodesim::gpu::detail

namespace decodesim::gpu {

using namespace detail;

bool available(std::string* why_not) {
  int n = 0;
  cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    if (why_not) *why_not = std::string("no usable CUDA driver/device: ") + cudaGetErrorString(e);
    cudaGetLastError();
    return false;
  }
  if (n == 0) {
    if (why_not) *why_not = "no CUDA device found";
    return false;
  }
  cudaFuncAttributes fa{};
  e = cudaFuncGetAttributes(&fa, probe_kernel);
  if (e != cudaSuccess) {
    cudaDeviceProp p{};
    cudaGetDeviceProperties(&p, 0);
    if (why_not)
      *why_not = std::string("device 0 (") + p.name + ", sm_" + std::to_string(p.major) + std::to_string(p.minor) +
                 ") cannot run this build's kernels: " + cudaGetErrorString(e);
    cudaGetLastError();
    return false;
  }
  cudaDeviceProp p{};
  cudaGetDeviceProperties(&p, 0);
  if (p.major < 9) {
    if (why_not) *why_not = std::string(p.name) + " is older than sm_90; this backend targets Hopper";
    return false;
  }
  if (why_not) why_not->clear();
  return true;
}

DeviceInfo device_info() {
  std::string why;
  if (!available(&why)) throw std::runtime_error(why);
  const cudaDeviceProp& p = props();
  DeviceInfo d;
  d.name = p.name;
  d.sm_count = p.multiProcessorCount;
  d.cc_major = p.major, d.cc_minor = p.minor;
  d.l2_bytes = p.l2CacheSize;
  d.mem_bytes = double(p.totalGlobalMem);
  return d;
}

Measurement measure_copy() {
  const size_t bytes = size_t(2) << 30;
  DeviceBuffer a(bytes), b(bytes);
  fill_f32(a.get(), bytes / 4, next_seed(), -1.f, 1.f, stream());
  fill_f32(b.get(), bytes / 4, next_seed(), -1.f, 1.f, stream());
  EventPair ev;
  std::vector<double> t;
  for (int r = 0; r < 23; ++r) {
    ev.start(stream());
    DS_CUDA(cudaMemcpyAsync(b.get(), a.get(), bytes, cudaMemcpyDeviceToDevice, stream()));
    ev.stop(stream());
    const double ms = ev.ms();
    if (r >= 3) t.push_back(ms * 1e3);
  }
  // the copy must be exact: compare a sample
  std::vector<uint32_t> ha(1 << 20), hb(1 << 20);
  DS_CUDA(cudaMemcpy(ha.data(), a.get<char>() + bytes / 2, ha.size() * 4, cudaMemcpyDeviceToHost));
  DS_CUDA(cudaMemcpy(hb.data(), b.get<char>() + bytes / 2, hb.size() * 4, cudaMemcpyDeviceToHost));
  Measurement m;
  m.op_class = "copy";
  m.label = "device-to-device copy 2 GiB";
  m.dtype = "bytes";
  m.bytes = 2.0 * double(bytes);
  m.time_us = median(t);
  m.rel_error = ha == hb ? 0.0 : 1.0;
  return m;
}

}  // namespace decodesim::gpu

namespace decodesim::gpu::detail {

std::vector<double> time_runs(int warmup, int repeats, const std::function<void(int)>& run) {
  for (int w = 0; w < warmup; ++w) run(w);
  std::vector<cudaEvent_t> ev(2 * size_t(repeats) + 1, nullptr);
  std::vector<double> t;
  try {
    for (auto& e : ev) DS_CUDA(cudaEventCreate(&e));
    for (int r = 0; r < repeats; ++r) {
      DS_CUDA(cudaEventRecord(ev[2 * r], stream()));
      run(warmup + r);
      DS_CUDA(cudaEventRecord(ev[2 * r + 1], stream()));
    }
    DS_CUDA(cudaEventSynchronize(ev[2 * size_t(repeats) - 1]));
    DS_CUDA(cudaGetLastError());
    for (int r = 0; r < repeats; ++r) {
      float ms = 0;
      DS_CUDA(cudaEventElapsedTime(&ms, ev[2 * r], ev[2 * r + 1]));
      t.push_back(ms * 1e3);
    }
  } catch (...) {
    for (auto e : ev)
      if (e) cudaEventDestroy(e);
    throw;
  }
  for (auto e : ev)
    if (e) cudaEventDestroy(e);
  return t;
}

}  // namespace decodesim::gpu::detail
