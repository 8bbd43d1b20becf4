// Built when DECODESIM_CUDA is off: the interface exists, the device never does.
#include <stdexcept>

#include "decodesim/gpu.hpp"

namespace decodesim::gpu {

static const char* kNoCuda = "decodesim was built without CUDA (configure with -DDECODESIM_CUDA=ON where nvcc is installed)";

bool available(std::string* why_not) {
  if (why_not) *why_not = kNoCuda;
  return false;
}
DeviceInfo device_info() { throw std::runtime_error(kNoCuda); }
Measurement measure_copy() { throw std::runtime_error(kNoCuda); }
Measurement measure_peak_gemm(bool) { throw std::runtime_error(kNoCuda); }
std::vector<Measurement> measure(const SweepPlan&, const Progress&) { throw std::runtime_error(kNoCuda); }
double paged_contiguous_max_diff(const AttentionShape&) { throw std::runtime_error(kNoCuda); }

}  // namespace decodesim::gpu
