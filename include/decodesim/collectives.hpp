// Network and routing model as pure functions (docs/network.md): MoE dispatch/combine as
// DeepEP's kernels run them, NCCL's ring collectives for tensor parallelism, and the busiest
// GPU's expert load. Hardware parameters are data (Hardware::network, hardware/*.json); the
// functions take a LinkProfile built from them and never read a file.
#pragma once
#include <optional>

#include "decodesim/hardware.hpp"

namespace decodesim {

// The rates and fixed costs one GPU sees, all "achievable" rather than line rates.
struct LinkProfile {
  double rdma_bytes_per_s = 0;      // one GPU's scale-out NICs together, at the measured efficiency
  double rdma_messages_per_s = 0;   // NIC message rate (all of a GPU's NICs); 0: unlimited
  double nvlink_a2a_bytes_per_s = 0;  // one GPU's NVLink rate in an all-to-all (DeepEP intranode)
  int gpus_per_node = 8;            // GPUs one NVLink domain joins
  double a2a_fixed_us = 0;          // one dispatch or combine kernel's fixed cost
  // NCCL collectives inside the NVLink domain (tensor parallelism).
  double collective_bus_bytes_per_s = 0;  // large-message bus bandwidth (nccl-tests busbw)
  double collective_base_us = 0;    // NCCL's per-call base latency, LL protocol (tuning model)
  double collective_step_us = 0;    // NCCL's per-ring-step NVLink latency, LL protocol
};

// The chip's profile: line rates from the data sheet fields, efficiencies and fixed costs from
// Hardware::network (defaults in NetworkParams).
LinkProfile link_profile(const Hardware& hw);

// ---- EP dispatch / combine --------------------------------------------------------------------

enum class A2aMode {
  low_latency,  // DeepEP low-latency kernels: one message per (token, selected expert)
  normal,       // DeepEP normal kernels: one RDMA copy per destination node, NVLink fan-out there
};

struct AllToAllShape {
  double tokens_per_gpu = 128;   // tokens one GPU dispatches (one micro-batch, one layer)
  long hidden = 7168;
  int top_k = 8;
  long experts = 256;            // routed experts (physical slots, redundant ones included)
  int ep_gpus = 8;               // GPUs of the EP group
  int gpus_per_node = 0;         // 0: the profile's
  // Bytes per hidden element on the wire. Dispatch FP8 with one float scale per 128 values;
  // combine BF16. scale_group 0: no scales.
  double dispatch_elem_bytes = 1.0;
  long dispatch_scale_group = 128;
  double combine_elem_bytes = 2.0;
  double message_header_bytes = 16;  // DeepEP's int4 of source index and reserved fields (dispatch)
  // Busiest GPU's received tokens over the mean (expert_imbalance); 1: balanced.
  double recv_imbalance = 1.0;
  // Node-limited routing: a token's experts lie on at most this many nodes (DeepSeek-V3: 4;
  // DeepEP's test_internode.py: min(nodes, 4)). 0: no limit. Changes normal mode only.
  int max_nodes_per_token = 0;
  A2aMode mode = A2aMode::low_latency;
};

struct AllToAllTime {
  double dispatch_us = 0, combine_us = 0;
  // What the model charged, per GPU and direction of the dispatch (combine scales with bytes).
  double dispatch_message_bytes = 0, combine_message_bytes = 0;
  double rdma_copies_per_token = 0;    // copies leaving the node
  double nvlink_copies_per_token = 0;  // copies to other GPUs of the node
  double local_copies_per_token = 0;   // copies that stay on the GPU
  double nodes_per_token = 0;          // distinct nodes a token reaches, its own included
  // The bandwidth DeepEP's tests print: low-latency, every selection's message over the time;
  // normal internode, one message per distinct node reached ("RDMA"); normal intranode, one per
  // (token, GPU) pair received ("NVL").
  double dispatch_logical_bytes_per_s = 0, combine_logical_bytes_per_s = 0;
};

// One layer, one micro-batch. Throws InputError on a shape outside its ranges.
AllToAllTime ep_all_to_all_us(const LinkProfile& links, const AllToAllShape& s);

// Compute of `compute_us` (at the whole GPU's rate) beside another micro-batch's dispatch and
// combine of `comm_us` through kernels that hold `comm_sms` of the GPU's `sms` SMs for as long as
// they run (DeepEP's normal kernels; the low-latency ones hold none): the overlapped part runs at
// (sms - comm_sms) / sms of the rate. Returns the compute's time; `compute_us` where either count
// is 0 or comm_sms >= sms.
double sm_shared_compute_us(double compute_us, double comm_us, int sms, int comm_sms);

// Probability that none of a token's k distinct experts (of E) falls among `held` of them.
double expert_miss_probability(double experts, double held, int top_k);

// ---- Tensor-parallel collectives (NCCL ring, in-node) ----------------------------------------

enum class NcclProtocol { ll, ll128, simple };
struct CollectiveTime {
  double us = 0;
  NcclProtocol protocol = NcclProtocol::simple;  // the fastest, as NCCL's tuner picks
};

// `bytes`: the buffer each GPU holds (nccl-tests' "size"): all-reduce's input, all-gather's
// output, reduce-scatter's input. gpus 1 costs nothing.
CollectiveTime allreduce_us(double bytes, int gpus, const LinkProfile& link);
CollectiveTime allgather_us(double bytes, int gpus, const LinkProfile& link);
CollectiveTime reduce_scatter_us(double bytes, int gpus, const LinkProfile& link);

// The profile a collective over `group_gpus` GPUs runs on: the chip's NVLink profile while the
// group fits one node of `gpus_per_node`, else its NICs (at `nic_efficiency` of their line rate,
// the chip's measured RDMA efficiency when <= 0) with NCCL's network latency per ring step.
// Throws InputError where the chip file lacks the rate.
LinkProfile group_link(const Hardware& hw, int group_gpus, int gpus_per_node, double nic_efficiency = 0);

enum class Collective { all_reduce, all_gather, reduce_scatter };
// One collective as the deployment charges it: allreduce_us, allgather_us or reduce_scatter_us.
double collective_us(Collective c, double bytes, int gpus, const LinkProfile& link);

// ---- Routing imbalance ------------------------------------------------------------------------

struct RoutingShape {
  double tokens = 128;       // tokens routed in one micro-batch, whole EP group
  int top_k = 8;
  long experts = 256;        // logical routed experts
  int ep_gpus = 32;
  long redundant_experts = 0;  // EPLB extra physical slots; 0: no EPLB
  // Coefficient of variation of the experts' long-run popularity (0: uniform routing).
  double expert_popularity_cv = kDefaultPopularityCv;
  // Part of the popularity skew EPLB leaves (placement from past statistics, drift).
  double eplb_residual = kDefaultEplbResidual;
  std::optional<double> override_ratio;  // a user's measured max/mean, returned as given

  static constexpr double kDefaultPopularityCv = 0.6;   // EPLB README example loads: CV 0.59, 0.68
  static constexpr double kDefaultEplbResidual = 0.25;  // an estimate (docs/network.md)
};

// Busiest GPU's routed (token, expert) pairs over the mean, >= 1.
double expert_imbalance(const RoutingShape& r);

}  // namespace decodesim
