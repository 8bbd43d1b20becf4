// Chip description: pure data, filled by the loader.
#pragma once
#include <optional>
#include <string>

#include "decodesim/model.hpp"

namespace decodesim {

// Achievable-rate and fixed-cost parameters of the network model (docs/network.md), the
// optional "network" object of a chip file. Absent keys take these defaults, each sourced in
// docs/schema.md; a value <= 0 where a rate is optional means "derive it".
struct NetworkParams {
  // Achieved / line rate of the scale-out NICs for DeepEP-sized (7-14 KB) RDMA writes: 44 GB/s
  // of a 400 Gb/s CX7 (DeepEP-CX7 low-latency cells of Perplexity's fabric-lib table, EP16-64).
  double rdma_efficiency = 0.88;
  double rdma_messages_per_s = 3.3e8;  // per NIC (ConnectX-7: up to 330-370 M messages/s)
  // Achieved / one-direction NVLink rate in an all-to-all: DeepEP intranode 153-158 GB/s of
  // H800's 200 GB/s.
  double nvlink_efficiency = 0.775;
  int gpus_per_node = 8;
  double a2a_fixed_us = 33;  // one DeepEP dispatch or combine kernel's fixed cost
  // SMs DeepEP's normal (prefill) kernels hold while they run: deep_ep Buffer.num_sms, 20 by
  // default; the DeepSeek-V3 report (arXiv 2412.19437, 3.2.2) saturates IB and NVLink with 20 of
  // H800's 132. The low-latency kernels hold none once their RDMA writes are issued.
  int a2a_normal_sms = 20;
  // NCCL large-message bus bandwidth inside the node; <= 0: 0.8 x intra_node_bytes_per_s
  // (8x A100 NVLink busbw 230-250 GB/s of 300 GB/s).
  double collective_bus_bytes_per_s = 0;
  // NCCL tuning model, ring LL protocol: base latency and NVLink latency per ring step.
  double collective_base_us = 6.6;
  double collective_step_us = 0.6;
};

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
  // Special-function unit results per second (exp2, the softmax's exponentials): SMs x SFU results
  // per clock per SM (CUDA C++ Programming Guide, arithmetic instruction throughput) x clock. Absent
  // where not derived.
  std::optional<double> sfu_ops_per_s;
  // M rows of the MMA tile into which this chip's decode attention kernels pack the query rows that
  // share one KV head (query heads per KV head x query tokens), padding the rest: the tensor cores
  // multiply whole tiles (the optional "attention_tile" object; docs/calibration.md, "Kernel work as
  // issued"). 1 where not given: every packed row is a useful one.
  int attention_tile_rows = 1;
  double mem_bytes_per_s = 0;
  double mem_capacity_bytes = 0;
  int nic_count = 0;
  double nic_gbps = 0;  // per NIC, gigabits per second
  double intra_node_bytes_per_s = 0;
  double link_latency_us = 0;  // fixed time of one GPU-to-GPU message, whatever its size
  int sm_count = 0;            // streaming multiprocessors; 0: not given (no SM sharing modelled)
  NetworkParams network;       // the network model's parameters (collectives.hpp)

  // Peak used for a model computing in `compute`: fp8 falls back to bf16 on chips without
  // FP8 (the report costs A800 and 910B at BF16 peak although they have INT8 units).
  double peak_flops_per_s(Dtype compute) const;
  double net_bytes_per_s() const { return nic_count * nic_gbps * 1e9 / 8.0; }
  double roofline_flops_per_byte(Dtype compute) const { return peak_flops_per_s(compute) / mem_bytes_per_s; }
};

}  // namespace decodesim
