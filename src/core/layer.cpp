#include "decodesim/layer.hpp"

#include <cmath>

#include <fmt/format.h>

#include "decodesim/errors.hpp"
#include "decodesim/limits.hpp"

namespace decodesim {

const char* attention_parallel_name(AttentionParallel p) { return p == AttentionParallel::dp ? "dp" : "tp"; }

namespace {

// TP gives every GPU the same number of query heads, and of KV heads where there are at least as
// many as GPUs (fewer are replicated, which needs the GPUs to divide evenly among them).
void check_tp(const Model& m, const AttentionSpec& a, int gpus) {
  auto fail = [&](const char* what, int heads) {
    throw InputError(fmt::format("--gpus {}: {}'s {} attention has {} {} heads, which tensor parallelism over {} GPUs cannot "
                                 "split evenly",
                                 gpus, m.id, a.name, heads, what, gpus));
  };
  if (a.q_heads % gpus != 0) fail("query", a.q_heads);
  if (a.kind != AttentionKind::mla && a.kv_heads % gpus != 0 && gpus % a.kv_heads != 0) fail("KV", a.kv_heads);
}

}  // namespace

std::vector<LayerResult> layer_times(const Model& m, const Pool& pool, const LayerShape& shape) {
  if (!(shape.batch > 0) || !std::isfinite(shape.batch)) throw InputError(fmt::format("--batch: expected a positive number of requests"));
  if (shape.gpus < 1) throw InputError(fmt::format("--gpus: expected at least one GPU, got {}", shape.gpus));
  if (!(shape.context_tokens > 0)) throw InputError("--context: expected a positive number of tokens");
  const int tp = shape.tp();
  if (tp < 1 || shape.gpus % tp != 0)
    throw InputError(fmt::format("--attention-tp {}: expected a divisor of the {} GPUs (--gpus)", tp, shape.gpus));
  // The layer's GPUs are one node: the TP all-reduce runs over NVLink.
  if (shape.query_tokens < 1 + limits::kMtpDraftTokens.lo || shape.query_tokens > 1 + limits::kMtpDraftTokens.hi)
    throw InputError(fmt::format("--mtp: expected draft tokens in {}, got {}", limits::to_string(limits::kMtpDraftTokens),
                                 shape.query_tokens - 1));
  const AttentionShard shard{shape.batch / (shape.gpus / tp), tp, tp > 1 ? group_link(pool.hw, tp, shape.gpus) : LinkProfile{},
                             shape.query_tokens};
  std::unique_ptr<OpTimer> roofline;
  if (!pool.timer) roofline = std::make_unique<RooflineTimer>(pool.hw, m.quant.compute);
  const OpTimer& timer = pool.timer ? *pool.timer : *roofline;

  std::vector<LayerResult> out;
  for (size_t type = 0; type < m.attention_types.size(); ++type) {
    // A layer of this design, an MoE one where there is one, so that its router is timed too.
    int layer = -1, layers = 0;
    for (int l = 0; l < m.num_layers(); ++l) {
      if (m.layer_attention[l] != int(type)) continue;
      ++layers;
      if (layer < 0 || (m.ffn(layer).kind != FfnKind::moe && m.ffn(l).kind == FfnKind::moe)) layer = l;
    }
    if (layer < 0) continue;
    const AttentionSpec& a = m.attention_types[type];
    if (tp > 1) check_tp(m, a, tp);
    LayerResult r;
    r.model = m.id;
    r.hardware = pool.hw.id;
    r.timing = timing_name(pool, pool);
    r.attention_type = a.name;
    r.kv_dtype = cache_dtype(a, m.quant);
    r.layers = layers;
    r.shape = shape;
    r.requests_per_gpu = shard.requests;
    r.time = attention_layer_time(m, layer, shape.context_tokens, shard, timer, &r.ops);
    out.push_back(std::move(r));
  }
  return out;
}

Table layer_table(const std::vector<LayerResult>& results) {
  Table t{"layer", "One attention layer on one GPU, per attention design (projections + core + TP all-reduce; the MoE router apart)",
          {}, {}, {}};
  t.columns = {{"model", ""},
               {"hardware", ""},
               {"timing", ""},
               {"context", "tokens"},
               {"batch", "requests"},
               {"gpus", ""},
               {"attention_parallel", ""},
               {"kv_dtype", ""},
               {"attention_type", ""},
               {"layers", ""},
               {"requests_per_gpu", "requests"},
               {"q_heads_per_gpu", ""},
               {"kv_heads_per_gpu", ""},
               {"attention_core_us", "us"},
               {"projections_us", "us"},
               {"allreduce_us", "us"},
               {"attention_layer_us", "us"},
               {"router_us", "us"},
               {"attention_tp", ""},
               {"query_tokens", ""}};
  bool any_tp = false, any_mla = false, any_mtp = false;
  for (const LayerResult& r : results) {
    any_tp = any_tp || r.shape.tp() > 1;
    for (const LayerOp& op : r.ops) any_mla = any_mla || op.name == "kv_b";
    t.add({r.model, r.hardware, r.timing, r.shape.context_tokens, r.shape.batch, double(r.shape.gpus),
           attention_parallel_name(r.shape.tp() > 1 ? AttentionParallel::tp : AttentionParallel::dp), dtype_name(r.kv_dtype), r.attention_type, double(r.layers),
           r.requests_per_gpu, r.time.q_heads, r.time.kv_heads, r.time.core_us, r.time.projections_us, r.time.allreduce_us,
           r.time.layer_us(), r.time.router_us, double(r.shape.tp()), double(r.shape.query_tokens)});
    any_mtp = any_mtp || r.shape.query_tokens > 1;
  }
  t.notes.push_back("dp: each GPU serves batch/gpus requests with every head and every projection. attention_layer_us = "
                    "projections_us + attention_core_us + allreduce_us; router_us (MoE layers' gate) is the MoE layer's.");
  if (any_tp)
    t.notes.push_back("tp: each GPU of a group of attention_tp serves the group's requests with q_heads/attention_tp query "
                      "heads and kv_heads/attention_tp KV heads (one, replicated, where there are fewer; MLA's latent is read "
                      "whole by every GPU); q, q_b, kv_b and kv split by output columns, o by input rows, q_a and kv_a whole; "
                      "o's BF16 output all-reduced over the chip's intra-node link as NCCL's ring does it (docs/pipeline.md).");
  if (any_mtp)
    t.notes.push_back("MTP (--mtp K): every request runs query_tokens = K+1 query tokens: the projections and router take K+1 "
                      "rows each, the core K+1 times the FLOPs and query/output bytes and reads the request's KV once.");
  if (any_mla) t.notes.push_back("MLA: kv_b timed as one GEMM of its weights (the absorbed decode form does the same FLOPs in two batched products).");
  return t;
}

Table layer_ops_table(const std::vector<LayerResult>& results) {
  Table t{"layer_ops", "Kernels of one attention layer on one GPU (GEMMs: m tokens through a k -> n weight)", {}, {}, {}};
  t.columns = {{"model", ""}, {"hardware", ""}, {"context", "tokens"}, {"attention_type", ""}, {"op", ""},
               {"m", ""},     {"k", ""},        {"n", ""},             {"flops", "FLOP"},      {"issued_flops", "FLOP"},
               {"bytes", "B"}, {"time_us", "us"}};
  bool padded = false;
  for (const LayerResult& r : results)
    for (const LayerOp& op : r.ops) {
      padded = padded || op.issued_flops > op.flops;
      t.add({r.model, r.hardware, r.shape.context_tokens, r.attention_type, op.name, op.m, op.k, op.n, op.flops,
             op.issued_flops, op.bytes, op.time_us});
    }
  if (padded)
    t.notes.push_back("issued_flops: the core's FLOPs with the query rows that share a KV head (times the query tokens) "
                      "padded to the chip's attention tile, which its compute time takes; flops are the useful ones "
                      "(docs/calibration.md, \"Kernel work as issued\").");
  return t;
}

}  // namespace decodesim
