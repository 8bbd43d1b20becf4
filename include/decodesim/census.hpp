// Per-token census (report section 4.1): what decoding one token costs in FLOPs and bytes,
// summed over all layers, without the embedding table or LM head.
#pragma once
#include <array>

#include "decodesim/model.hpp"

namespace decodesim {

struct Census {
  double context_tokens = 0;
  // KV cache and linear-attention state moved per decoded token: the KV read, and the state
  // read and written back (report section 4.1 counts both for MiniMax-M1's lightning layers).
  double kv_bytes = 0;
  double kv_resident_bytes = 0; // what one request holds at this context: KV, and the state once
  double attention_flops = 0;   // score and value products only
  double linear_flops = 0;      // attention projections
  double ffn_flops = 0;         // activated FFN (dense + routed top-k + shared)
  double arithmetic_intensity() const { return kv_bytes > 0 ? attention_flops / kv_bytes : 0; }
};

// Per-layer pieces, exposed for the budget, network and pipeline analyses.
struct LayerCensus {
  double kv_bytes = 0, kv_resident_bytes = 0;  // as in Census, for one layer
  double attention_flops = 0, linear_params = 0, ffn_activated_params = 0, ffn_total_params = 0, router_params = 0;
};

LayerCensus layer_census(const Model& m, int layer, double context_tokens);
// At most kMaxModelTypes attention and FFN types per model (the loader enforces it).
inline constexpr int kMaxModelTypes = 16;
Census census(const Model& m, double context_tokens);

// KV (or state) bytes one request holds per context token, all layers (global layers only;
// windowed and state layers are bounded and reported by kv_bytes at a given context).
double kv_bytes_per_token(const Model& m);

struct ParamCount {
  double total = 0;      // embeddings + LM head + all layers (all experts)
  double activated = 0;  // embeddings + LM head + attention + activated FFN + routers
  double embedding = 0;  // embedding + LM head (once if tied)
  double attention = 0;  // all layers' attention projections
  double ffn_total = 0;
  double ffn_activated = 0;
};
ParamCount count_params(const Model& m);

// One projection around the attention core: a k -> n weight.
struct Projection {
  const char* name;  // q, q_a, q_b, kv, kv_a, kv_b, o, gate
  double k = 0, n = 0;
};
// The projections of one attention design in order (MLA un-absorbed); a fixed array, since the
// census evaluates this millions of times in a sweep.
struct Projections {
  std::array<Projection, 6> list{};
  int count = 0;
  void add(const char* name, double k, double n) { list[count++] = {name, k, n}; }
  const Projection* begin() const { return list.data(); }
  const Projection* end() const { return list.data() + count; }
};
Projections attention_projections(const AttentionSpec& a, long hidden_size);

// Projection parameters of one attention design: the sum of k * n over its projections.
double attention_linear_params(const AttentionSpec& a, long hidden_size);

}  // namespace decodesim
