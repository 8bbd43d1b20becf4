// The CUDA backend as a shared library (libdecodesim_cuda.so), loaded on first use so that the
// analytical commands start without any GPU library. The backend exports one C entry returning a
// table of the gpu.hpp functions; the executable's gpu.hpp functions forward to it (src/gpu_loader).
#pragma once
#include "decodesim/gpu.hpp"

// Every gpu.hpp function but available() (which the loader answers itself when no backend loads),
// one line each: X(return type, name, (parameters), (arguments)). A function added to gpu.hpp is
// added here, and nowhere else.
#define DECODESIM_GPU_FUNCTIONS(X)                                                           \
  X(DeviceInfo, device_info, (), ())                                                         \
  X(Measurement, measure_copy, (), ())                                                       \
  X(Measurement, measure_peak_gemm, (bool fp8), (fp8))                                       \
  X(std::vector<Measurement>, measure, (const SweepPlan& plan, const Progress& progress), (plan, progress)) \
  X(double, paged_contiguous_max_diff, (const AttentionShape& s), (s))

namespace decodesim::gpu {

struct Backend {
  // The hash of gpu.hpp and this header the library was built from (DECODESIM_GPU_INTERFACE, set by
  // CMake): a library built from other headers lays its arguments out differently and is refused.
  const char* interface_hash;
  bool (*available)(std::string* why_not);
#define DECODESIM_GPU_POINTER(ret, name, params, args) ret(*name) params;
  DECODESIM_GPU_FUNCTIONS(DECODESIM_GPU_POINTER)
#undef DECODESIM_GPU_POINTER
};

}  // namespace decodesim::gpu

// The one symbol the library exports.
#define DECODESIM_GPU_ENTRY "decodesim_gpu_backend"
extern "C" const decodesim::gpu::Backend* decodesim_gpu_backend();
