#include "decodesim/serving.hpp"

#include <algorithm>

namespace decodesim {

ServingStack no_serving_overhead() {
  ServingStack s;
  s.id = "none";
  s.sampler.clear();
  s.graph_gap_us = s.event_wait_us = s.host_step_us = s.sync_gap_us = 0;
  return s;
}

double sampler_bytes_per_logit(const ServingStack& s) {
  double bytes = 0;
  for (const SamplerPass& p : s.sampler) bytes += p.read_bytes_per_logit + p.write_bytes_per_logit;
  return bytes;
}

double served_step_us(double gpu_step_us, const ServingStack& s) {
  // One graph per step: the GPU idles for one graph gap before each step's graph starts, even when
  // the host queued it early; a per-stage gap is in every stage task instead (stage_gap_us).
  const double gpu_us = gpu_step_us + (s.graphs == GraphScope::step ? s.graph_gap_us : 0.0);
  // Overlapped, the host's work for step n+1 hides under the GPU's step n unless it is the longer;
  // otherwise the host waits for the step's tokens, schedules, and launches while the GPU idles.
  return s.overlap ? std::max(gpu_us, s.host_step_us) : gpu_us + s.sync_gap_us + s.host_step_us;
}

double stage_gap_us(const ServingStack& s, int events) {
  if (s.graphs != GraphScope::stage) return 0;
  return s.graph_gap_us + std::max(events, 0) * s.event_wait_us;
}

}  // namespace decodesim
