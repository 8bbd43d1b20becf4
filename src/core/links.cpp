#include "decodesim/links.hpp"

#include <algorithm>
#include <limits>

#include <fmt/format.h>

#include "decodesim/errors.hpp"

namespace decodesim {

Link group_link(const Hardware& hw, int group_gpus, int gpus_per_node, double nic_efficiency) {
  if (group_gpus <= gpus_per_node) {
    if (!(hw.intra_node_bytes_per_s > 0))
      throw InputError(fmt::format("{}: no intra-node bandwidth (intra_node_bytes_per_s) for a group of {} GPUs", hw.id, group_gpus));
    return {hw.intra_node_bytes_per_s, true};
  }
  const double nic = hw.net_bytes_per_s() * nic_efficiency;
  if (!(nic > 0)) throw InputError(fmt::format("{}: no scale-out NIC bandwidth (nic_count, nic_gbps)", hw.id));
  return {nic, false};
}

const char* collective_name(Collective c) {
  switch (c) {
    case Collective::all_reduce: return "all-reduce";
    case Collective::all_gather: return "all-gather";
    case Collective::reduce_scatter: return "reduce-scatter";
  }
  return "?";
}

namespace {

// NCCL's cost model for the ring algorithm (src/graph/tuning.cc, NCCL 2.18-2.21): a launch's base
// latency per protocol, plus a per-step latency per protocol and link type, the ring taking
// 2(n-1) steps for an all-reduce and n-1 for an all-gather or reduce-scatter.
//                                   LL    LL128  Simple
constexpr double kBaseLatUs[3]    = {6.6,  14.0,  8.4};
constexpr double kNvlinkStepUs[3] = {0.6,  1.9,   3.4};
constexpr double kNetStepUs[3]    = {2.7,  4.0,   14.0};
// Payload per byte on the wire: LL sends 4 data bytes with each 4-byte flag; LL128 keeps 120 of
// every 128 bytes; Simple sends data only (NCCL's protocol definitions).
constexpr double kProtocolEfficiency[3] = {0.5, 120.0 / 128.0, 1.0};

}  // namespace

double collective_us(Collective c, double bytes, int gpus, const Link& link) {
  if (gpus <= 1 || !(bytes > 0)) return 0;
  const double n = gpus;
  const double steps = c == Collective::all_reduce ? 2.0 * (n - 1) : n - 1;
  // Each GPU sends (n-1)/n of the buffer per ring pass: twice for an all-reduce.
  const double wire_bytes = steps / n * bytes;
  double best = std::numeric_limits<double>::infinity();
  for (int p = 0; p < 3; ++p) {
    const double latency_us = kBaseLatUs[p] + steps * (link.nvlink ? kNvlinkStepUs[p] : kNetStepUs[p]);
    best = std::min(best, latency_us + 1e6 * wire_bytes / (link.bytes_per_s * kProtocolEfficiency[p]));
  }
  return best;
}

}  // namespace decodesim
