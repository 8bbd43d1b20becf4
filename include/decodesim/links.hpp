// The links between GPUs a deployment uses, and the cost of a collective over them: NVLink inside
// a node, the scale-out NICs across nodes.
#pragma once
#include "decodesim/hardware.hpp"

namespace decodesim {

struct Link {
  double bytes_per_s = 0;  // one GPU's one-direction rate on it
  bool nvlink = true;      // inside one node; false: across nodes, through the NICs
};

// The link a group of `group_gpus` GPUs spans: NVLink while the group fits one node of
// `gpus_per_node`, else the GPU's NICs at `nic_efficiency` of their line rate. Throws InputError
// where the chip file lacks the rate.
Link group_link(const Hardware& hw, int group_gpus, int gpus_per_node, double nic_efficiency);

enum class Collective { all_reduce, all_gather, reduce_scatter };
const char* collective_name(Collective c);

// One collective over `gpus` GPUs of `bytes` per GPU (all-reduce: the tensor; all-gather: its
// output; reduce-scatter: its input), as NCCL runs it on a ring: the protocol (LL, LL128, Simple)
// of least time, each with NCCL's own latency model. 0 for one GPU.
double collective_us(Collective c, double bytes, int gpus, const Link& link);

}  // namespace decodesim
