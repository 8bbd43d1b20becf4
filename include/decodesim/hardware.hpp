// Chip description: pure data, filled by the loader.
#pragma once
#include <optional>
#include <string>

#include "decodesim/model.hpp"

namespace decodesim {

struct Hardware {
  std::string id;
  std::string name;
  std::string file;
  double usd_per_hour = 0;
  // Dense peak FLOP/s per dtype; absent where the chip has no such unit.
  std::optional<double> bf16_flops_per_s, fp8_flops_per_s, int8_flops_per_s;
  // Non-tensor FP32 peak (the data sheet's "FP32" row): the rate of a kernel's softmax, scaling and
  // conversion work, which does not scale with the tensor peak. Absent where not published.
  std::optional<double> fp32_flops_per_s;
  double mem_bytes_per_s = 0;
  double mem_capacity_bytes = 0;
  int nic_count = 0;
  double nic_gbps = 0;  // per NIC, gigabits per second
  double intra_node_bytes_per_s = 0;
  double link_latency_us = 0;  // fixed time of one GPU-to-GPU message, whatever its size

  // Peak used for a model computing in `compute`: fp8 falls back to bf16 on chips without
  // FP8 (the report costs A800 and 910B at BF16 peak although they have INT8 units).
  double peak_flops_per_s(Dtype compute) const;
  double net_bytes_per_s() const { return nic_count * nic_gbps * 1e9 / 8.0; }
  double roofline_flops_per_byte(Dtype compute) const { return peak_flops_per_s(compute) / mem_bytes_per_s; }
};

}  // namespace decodesim
