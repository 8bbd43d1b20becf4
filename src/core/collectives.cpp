#include "decodesim/collectives.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "decodesim/errors.hpp"

namespace decodesim {

LinkProfile link_profile(const Hardware& hw) {
  const NetworkParams& n = hw.network;
  LinkProfile p;
  p.rdma_bytes_per_s = hw.net_bytes_per_s() * n.rdma_efficiency;
  p.rdma_messages_per_s = n.rdma_messages_per_s * std::max(1, hw.nic_count);
  p.nvlink_a2a_bytes_per_s = hw.intra_node_bytes_per_s * n.nvlink_efficiency;
  p.gpus_per_node = n.gpus_per_node;
  p.a2a_fixed_us = n.a2a_fixed_us;
  p.collective_bus_bytes_per_s =
      n.collective_bus_bytes_per_s > 0 ? n.collective_bus_bytes_per_s : 0.8 * hw.intra_node_bytes_per_s;
  p.collective_base_us = n.collective_base_us;
  p.collective_step_us = n.collective_step_us;
  return p;
}

double sm_shared_compute_us(double compute_us, double comm_us, int sms, int comm_sms) {
  if (sms <= 0 || comm_sms <= 0 || comm_sms >= sms || compute_us <= 0 || comm_us <= 0) return compute_us;
  const double rate = double(sms - comm_sms) / sms;
  // All of it inside the window (at the reduced rate), or the window's worth at that rate and the
  // rest at the full rate after it.
  return compute_us <= comm_us * rate ? compute_us / rate : compute_us + comm_us * (1.0 - rate);
}

double expert_miss_probability(double E, double held, int k) {
  double p = 1.0;
  for (int i = 0; i < k; ++i) p *= std::max(0.0, E - held - i) / (E - i);
  return p;
}

namespace {

void require(bool ok, const std::string& what) {
  if (!ok) throw InputError("network model: " + what);
}

}  // namespace

AllToAllTime ep_all_to_all_us(const LinkProfile& links, const AllToAllShape& s) {
  require(s.tokens_per_gpu >= 0 && std::isfinite(s.tokens_per_gpu), "tokens_per_gpu must be a finite number >= 0");
  require(s.hidden >= 1, "hidden must be >= 1");
  require(s.experts >= 1, "experts must be >= 1");
  require(s.top_k >= 1 && s.top_k <= s.experts, "top_k must be in [1, experts]");
  require(s.ep_gpus >= 1, "ep_gpus must be >= 1");
  require(s.recv_imbalance >= 1 && std::isfinite(s.recv_imbalance), "recv_imbalance must be >= 1");
  require(s.dispatch_elem_bytes > 0 && s.combine_elem_bytes > 0, "element bytes must be > 0");
  const int node = std::min(s.gpus_per_node > 0 ? s.gpus_per_node : std::max(1, links.gpus_per_node), s.ep_gpus);
  const double G = s.ep_gpus, n = node, E = double(s.experts), H = double(s.hidden), T = s.tokens_per_gpu;
  const int k = s.top_k;

  AllToAllTime r;
  const double scales = s.dispatch_scale_group > 0 ? std::ceil(H / double(s.dispatch_scale_group)) * 4.0 : 0.0;
  r.dispatch_message_bytes = s.message_header_bytes + H * s.dispatch_elem_bytes + scales;
  r.combine_message_bytes = H * s.combine_elem_bytes;

  if (s.mode == A2aMode::low_latency) {
    // One message per (token, selected expert): experts sit evenly on the G GPUs, so each of the
    // k copies lands on a uniformly random GPU: its own, another of its node, or another node.
    r.local_copies_per_token = k / G;
    r.nvlink_copies_per_token = k * (n - 1) / G;
    r.rdma_copies_per_token = k * (G - n) / G;
    r.nodes_per_token = std::ceil(G / n) * (1.0 - expert_miss_probability(E, E * n / G, k));
  } else {
    // One RDMA copy per distinct remote node holding a selected expert (to the same-rail GPU),
    // then one NVLink copy per other selected GPU of each node reached. Node-limited routing
    // (DeepSeek-V3: at most 4 nodes) draws the k experts from M chosen nodes' experts only.
    const double nodes = std::ceil(G / n);
    // At least enough nodes to hold k experts.
    const double M = s.max_nodes_per_token > 0
                         ? std::min(nodes, std::max<double>(s.max_nodes_per_token, std::ceil(k * nodes / E)))
                         : nodes;
    const double pool = E * M / nodes;  // experts a token may choose from
    const double p_node = 1.0 - expert_miss_probability(pool, E / nodes, k);  // a chosen node is hit
    const double p_gpu = 1.0 - expert_miss_probability(pool, E / G, k);       // a GPU of a chosen node
    r.nodes_per_token = M * p_node;
    r.rdma_copies_per_token = M * p_node * (1.0 - 1.0 / nodes);  // its own node is one of M with chance M/nodes
    r.nvlink_copies_per_token = M * (n - 1) * p_gpu;
    r.local_copies_per_token = M / nodes * p_gpu;
  }

  // A GPU sends T tokens' copies and (balanced routing) receives as many; the busiest receiver
  // gets recv_imbalance times the mean. NICs and NVLink are full duplex and run side by side.
  const double load = T * std::max(1.0, s.recv_imbalance);
  auto link_us = [&](double message_bytes) {
    double rdma = 0, nvl = 0;
    if (r.rdma_copies_per_token > 0) {
      require(links.rdma_bytes_per_s > 0, "EP over several nodes needs a scale-out NIC rate");
      const double msgs = load * r.rdma_copies_per_token;
      rdma = msgs * message_bytes / links.rdma_bytes_per_s;
      if (links.rdma_messages_per_s > 0) rdma = std::max(rdma, msgs / links.rdma_messages_per_s);
    }
    if (r.nvlink_copies_per_token > 0) {
      require(links.nvlink_a2a_bytes_per_s > 0, "EP over several GPUs of a node needs an NVLink rate");
      nvl = load * r.nvlink_copies_per_token * message_bytes / links.nvlink_a2a_bytes_per_s;
    }
    return 1e6 * std::max(rdma, nvl);
  };
  if (T > 0 && s.ep_gpus > 1) {
    r.dispatch_us = links.a2a_fixed_us + link_us(r.dispatch_message_bytes);
    r.combine_us = links.a2a_fixed_us + link_us(r.combine_message_bytes);
    // DeepEP's figures: test_low_latency.py counts every selection's message (local ones too);
    // test_internode.py counts one message per distinct node a token reaches (its own too), and
    // test_intranode.py every (token, GPU) pair received.
    double counted = T * k;
    if (s.mode == A2aMode::normal)
      counted = G > n ? T * r.nodes_per_token : T * (r.nvlink_copies_per_token + r.local_copies_per_token);
    r.dispatch_logical_bytes_per_s = counted * r.dispatch_message_bytes / (r.dispatch_us * 1e-6);
    r.combine_logical_bytes_per_s = counted * r.combine_message_bytes / (r.combine_us * 1e-6);
  }
  return r;
}

// ---- NCCL ring collectives --------------------------------------------------------------------

namespace {

enum class Coll { allreduce, allgather, reduce_scatter };

// NCCL's tuning model (src/graph/tuning.cc of the Hopper-era releases, baseLat and
// hwLat[NVLINK][RING]): ring base latency and NVLink latency per step for LL, LL128, Simple, relative to LL (LinkProfile holds LL's); bus bandwidth factors LL 1/4
// (all-reduce) or 1/3 (in-node all-gather, reduce-scatter), LL128 0.92, Simple 1.
constexpr double kBaseLat[3] = {6.6, 14.0, 8.4};
constexpr double kStepLat[3] = {0.6, 1.9, 3.4};

CollectiveTime ring_us(Coll c, double bytes, int gpus, const LinkProfile& link) {
  require(bytes >= 0 && std::isfinite(bytes), "collective bytes must be a finite number >= 0");
  require(gpus >= 1, "collective gpus must be >= 1");
  CollectiveTime best;
  if (gpus == 1 || bytes == 0) return {0.0, NcclProtocol::ll};
  require(link.collective_bus_bytes_per_s > 0, "collectives need a bus bandwidth");
  const double n = gpus;
  const double steps = c == Coll::allreduce ? 2.0 * (n - 1) : n - 1;
  const double base_scale = link.collective_base_us / kBaseLat[0], step_scale = link.collective_step_us / kStepLat[0];
  best.us = INFINITY;
  for (int p = 0; p < 3; ++p) {
    double bus = link.collective_bus_bytes_per_s;
    if (p == 0) bus *= c == Coll::allreduce ? 0.25 : 1.0 / 3.0;
    if (p == 1) bus *= 0.92;
    const double alg = bus * n / steps;  // algorithm bandwidth: the buffer's bytes per second
    const double us = kBaseLat[p] * base_scale + steps * kStepLat[p] * step_scale + 1e6 * bytes / alg;
    if (us < best.us) best = {us, static_cast<NcclProtocol>(p)};
  }
  return best;
}

}  // namespace

CollectiveTime allreduce_us(double bytes, int gpus, const LinkProfile& link) { return ring_us(Coll::allreduce, bytes, gpus, link); }
CollectiveTime allgather_us(double bytes, int gpus, const LinkProfile& link) { return ring_us(Coll::allgather, bytes, gpus, link); }
CollectiveTime reduce_scatter_us(double bytes, int gpus, const LinkProfile& link) {
  return ring_us(Coll::reduce_scatter, bytes, gpus, link);
}

// NCCL's ring latency per step across nodes relative to NVLink, LL protocol (src/graph/tuning.cc,
// hwLat[NET][RING][LL] 2.7 us against hwLat[NVLINK][RING][LL] 0.6 us).
constexpr double kNetStepOverNvlink = 2.7 / 0.6;

LinkProfile group_link(const Hardware& hw, int group_gpus, int gpus_per_node, double nic_efficiency) {
  LinkProfile p = link_profile(hw);
  if (group_gpus <= gpus_per_node) {
    if (!(p.collective_bus_bytes_per_s > 0))
      throw InputError(fmt::format("{}: no intra-node bandwidth (intra_node_bytes_per_s) for a group of {} GPUs", hw.id, group_gpus));
    return p;
  }
  const double nic = hw.net_bytes_per_s() * (nic_efficiency > 0 ? nic_efficiency : hw.network.rdma_efficiency);
  if (!(nic > 0)) throw InputError(fmt::format("{}: no scale-out NIC bandwidth (nic_count, nic_gbps)", hw.id));
  p.collective_bus_bytes_per_s = nic;
  p.collective_step_us *= kNetStepOverNvlink;
  return p;
}

double collective_us(Collective c, double bytes, int gpus, const LinkProfile& link) {
  switch (c) {
    case Collective::all_reduce: return allreduce_us(bytes, gpus, link).us;
    case Collective::all_gather: return allgather_us(bytes, gpus, link).us;
    case Collective::reduce_scatter: return reduce_scatter_us(bytes, gpus, link).us;
  }
  return 0;
}

// ---- Routing imbalance ------------------------------------------------------------------------

namespace {

// Inverse standard normal CDF (Acklam's rational approximation, |error| < 1.2e-9).
double normal_quantile(double p) {
  static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
                             1.383577518672690e+02,  -3.066479806614716e+01, 2.506628277459239e+00};
  static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                             6.680131188771972e+01,  -1.328068155288572e+01};
  static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                             -2.549732539343734e+00, 4.374664141464968e+00,  2.938163982698783e+00};
  static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00};
  const double lo = 0.02425;
  if (p < lo) {
    const double q = std::sqrt(-2 * std::log(p));
    return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  if (p > 1 - lo) return -normal_quantile(1 - p);
  const double q = p - 0.5, r = q * q;
  return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
         (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}

// Expected largest of g independent standard normals (Blom's plotting position).
double expected_max_normal(int g) {
  if (g <= 1) return 0.0;
  return normal_quantile((g - 0.375) / (g + 0.25));
}

}  // namespace

double expert_imbalance(const RoutingShape& r) {
  if (r.override_ratio) {
    require(*r.override_ratio >= 1 && std::isfinite(*r.override_ratio), "imbalance override must be a number >= 1");
    return *r.override_ratio;
  }
  require(r.tokens >= 0 && std::isfinite(r.tokens), "routed tokens must be a finite number >= 0");
  require(r.experts >= 1 && r.top_k >= 1 && r.top_k <= r.experts, "top_k must be in [1, experts]");
  require(r.ep_gpus >= 1, "ep_gpus must be >= 1");
  require(r.redundant_experts >= 0, "redundant_experts must be >= 0");
  require(r.expert_popularity_cv >= 0 && std::isfinite(r.expert_popularity_cv), "expert_popularity_cv must be >= 0");
  require(r.eplb_residual >= 0 && r.eplb_residual <= 1, "eplb_residual must be in [0, 1]");
  const double G = r.ep_gpus;
  if (r.ep_gpus == 1) return 1.0;
  const double pairs = r.tokens * r.top_k;  // (token, expert) pairs routed
  if (pairs <= 0) return 1.0;
  const double mean = pairs / G;
  // Sampling: each pair lands on a GPU with probability 1/G (a GPU's share of the experts).
  const double var_sample = (1.0 - 1.0 / G) / mean;
  // Popularity skew: a GPU's long-run share is the mean of its E/G experts' shares (CV cv), so
  // its CV is cv / sqrt(E/G). EPLB's redundant slots place the hot experts' replicas by past
  // statistics and leave eplb_residual of it (drift between the statistics and the batch).
  const double physical = double(r.experts + r.redundant_experts);
  double cv_gpu = r.expert_popularity_cv / std::sqrt(std::max(1.0, physical / G));
  if (r.redundant_experts > 0) cv_gpu *= r.eplb_residual;
  const double ratio = 1.0 + expected_max_normal(r.ep_gpus) * std::sqrt(var_sample + cv_gpu * cv_gpu);
  // A GPU gets at most min(k, its experts) of a token's pairs.
  const double cap = G * std::min<double>(r.top_k, std::max(1.0, physical / G)) / r.top_k;
  return std::clamp(ratio, 1.0, std::max(1.0, cap));
}

}  // namespace decodesim
