// A stand-in for libdecodesim_cuda.so: the entry and table of a real backend, a machine without a
// device, and no kernels. Built twice: with this tree's interface hash and with another.
#include "decodesim/gpu_backend.hpp"

namespace {

bool no_device(std::string* why_not) {
  if (why_not) *why_not = "fake backend: no device";
  return false;
}

}  // namespace

extern "C" __attribute__((visibility("default"))) const decodesim::gpu::Backend* decodesim_gpu_backend() {
  static const decodesim::gpu::Backend table = [] {
    decodesim::gpu::Backend t{};  // every other entry null
    t.interface_hash = DECODESIM_GPU_INTERFACE;
    t.available = &no_device;
    return t;
  }();
  return &table;
}
