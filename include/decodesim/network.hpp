// MoE sparsity against the network (report sections 5.3-5.4): how large a batch an FFN needs
// to be compute-bound, and the sparsest MoE a chip can run while hiding the network.
#pragma once
#include "decodesim/hardware.hpp"
#include "decodesim/model.hpp"

namespace decodesim {

struct PipelineSla {
  double tpot_ms = 50;
  int stages = 3;            // attention, communication, FFN
  double nic_efficiency = 1.0;  // achieved / line rate (report: about 0.8 in practice)
  // Cards of one FFN instance: a micro-batch reaches the instance through all their NICs
  // (the report's 8 NICs x 400 Gb/s per H800 node).
  int instance_gpus = 8;
  double stage_ms() const { return tpot_ms / stages; }
};

// Fraction of FFN parameters a token activates in a MoE layer: (top_k + shared) / (routed + shared)
// weighted by expert width. Dense models give 1.
double model_sparsity(const Model& m);

struct SparsityRow {
  double b_dense_tokens = 0;  // batch at which a dense FFN becomes compute-bound
  double b_moe_tokens = 0;    // the same for the model's sparsity
  double comm_bytes_per_layer = 0;   // dispatch + combine at b_moe
  double comm_ms_all_layers = 0;     // for all layers at the chip's (efficiency-scaled) NIC rate
  double min_sparsity = 0;    // S_min for this chip, H, L, SLA
  bool sustains_model = false;  // model_sparsity >= min_sparsity
};

SparsityRow sparsity_limits(const Hardware& hw, const Quantization& q, long hidden_size,
                            int layers, double model_sparsity, const PipelineSla& sla);

}  // namespace decodesim
