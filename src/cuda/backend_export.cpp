// libdecodesim_cuda.so's one exported symbol: the table of this backend's gpu.hpp functions.
// Everything else in the library is hidden (cuda_exports.map), so its gpu.hpp functions never
// meet the executable's forwarders of the same names.
#include "decodesim/gpu_backend.hpp"

extern "C" __attribute__((visibility("default"))) const decodesim::gpu::Backend* decodesim_gpu_backend() {
  using namespace decodesim::gpu;
#define DECODESIM_GPU_ADDRESS(ret, name, params, args) static_cast<ret(*) params>(&decodesim::gpu::name),
  static const Backend table{DECODESIM_GPU_INTERFACE, &available, DECODESIM_GPU_FUNCTIONS(DECODESIM_GPU_ADDRESS)};
#undef DECODESIM_GPU_ADDRESS
  return &table;
}
