// The `layer` view (report Table 9): one attention layer of a model on one GPU of a deployment,
// per attention design, kernel by kernel, timed with the pipeline's own attention code.
#pragma once
#include <string>
#include <vector>

#include "decodesim/pipeline.hpp"
#include "decodesim/table.hpp"

namespace decodesim {

enum class AttentionParallel { dp, tp };
const char* attention_parallel_name(AttentionParallel p);

struct LayerShape {
  double batch = 256;  // requests over all the GPUs
  int gpus = 4;
  AttentionParallel parallel = AttentionParallel::dp;  // dp: batch/gpus requests per GPU; tp: heads split
  // GPUs sharing one request's heads, in gpus/attention_tp data-parallel groups; 0: as `parallel`
  // says (dp: 1, tp: all the GPUs).
  int attention_tp = 0;
  double context_tokens = 8192;
  int query_tokens = 1;  // per request (MTP with K drafts: K+1)
  int tp() const { return attention_tp > 0 ? attention_tp : parallel == AttentionParallel::tp ? gpus : 1; }
};

struct LayerResult {
  std::string model, hardware, timing, attention_type;
  Dtype kv_dtype = Dtype::fp8;  // this design's cache precision
  int layers = 0;               // layers of this design
  LayerShape shape;
  double requests_per_gpu = 0;
  AttentionLayerTime time;
  std::vector<LayerOp> ops;
};

// One result per attention design of `m`, on one GPU of `pool` (roofline at peak when it has no
// timer). The router is its MoE layers' gate, timed apart and not part of the attention layer.
// Throws InputError for a shape that cannot be served: no requests or GPUs, or TP over more GPUs
// than split the heads evenly.
std::vector<LayerResult> layer_times(const Model& m, const Pool& pool, const LayerShape& shape);

Table layer_table(const std::vector<LayerResult>& results);
Table layer_ops_table(const std::vector<LayerResult>& results);

}  // namespace decodesim
