// Prefill: the forward passes that read a prompt and write its KV, for any deployment (TP, EP,
// DP attention, AFD) and with chunked prefill. Each forward is put through the decode pipeline's
// event engine (attention, dispatch, FFN, combine per layer and micro-batch), with the attention
// stage timed over the prompt (causal) and every other stage taken from the decode pipeline's own
// stage times at the forward's token count (layer_stage_times): one formula, one home
// (docs/prefill.md).
#pragma once
#include <string>
#include <vector>

#include "decodesim/pipeline.hpp"
#include "decodesim/traffic.hpp"

namespace decodesim {

// (query, key) score pairs of causal attention for the queries at positions [begin, end) of one
// sequence, keys from position 0: global layers see keys 0..q (so a whole prompt of N has
// N (N + 1) / 2, "half the square"), sliding-window layers the last W, chunked layers their own
// chunk of W. Linear layers keep a state instead: 0.
double causal_scores(const AttentionSpec& a, double begin, double end);

// Widths of one head's score and value products in prefill: MLA runs un-absorbed (per-head keys of
// nope + rope dims, values of v_head_dim), the others as in decode.
struct HeadDims {
  double qk = 0, v = 0;
};
HeadDims prefill_head_dims(const AttentionSpec& a);

// The attention core of prefill for one layer: `tokens` new query tokens of `prompts` prompts,
// each prompt's queries at [prefix, prefix + tokens / prompts), on a GPU holding `q_heads` query
// heads (and the KV share of a TP group of `tp`). FLOPs are 2 (qk + v) per head and score (score
// and value products); bytes the BF16 queries, outputs and keys/values read once. MLA runs
// un-absorbed in prefill (as DeepSeek's and SGLang's prefill do: per-head K and V expanded from
// the latent by kv_b, then MHA with qk = nope + rope, v = v_head_dim), so it is timed as an MHA
// kernel (the gqa fit).
Op prefill_core_op(const Model& m, int layer, double prompts, double tokens, double prefix, int tp);

struct PrefillConfig {
  Deployment deployment;
  StepKernels kernels;             // the serving stack's element-wise kernels; the LM head on the last token of each prompt
  double input_tokens = 4096;      // prompt length
  // Tokens per forward pass of one data-parallel attention group (chunked prefill when below the
  // prompt: the prompt takes ceil(N / T) forwards, each attending to the chunks before it); 0: one
  // whole prompt per forward.
  double batch_tokens = 0;
  int micro_batches = 2;           // DeepSeek's prefill: two micro-batches, one computing while the other communicates
  // The network and routing (the decode pipeline's model); an ideal transport unless set.
  Transport transport{.nic_efficiency = 1.0, .fanout = Fanout::per_instance, .routing = {}};
};

// A prefill configuration that runs on the network and routing of a decode one: its transport
// (the deployment, prompt and batch are the caller's).
PrefillConfig prefill_config(const PipelineConfig& decode);

// One forward-pass shape: every data-parallel group runs one in lockstep (the MoE layers join them).
struct PrefillForward {
  double prompts = 0;        // prompts per group in it (fractional: a chunk of one)
  double prefix_tokens = 0;  // tokens of each of those prompts already in the KV cache
  double new_tokens = 0;     // tokens per group
  double period_us = 0;      // back to back with the next forward (steady state)
  double latency_us = 0;     // from start to its last micro-batch's last layer, alone
  std::vector<LayerGroup> groups;  // stage times per layer group for one micro-batch
  double head_us = 0;
  double flops = 0, bytes = 0;  // all GPUs, the whole forward
  double network_busy_us = 0;   // the busiest link resource per forward
};

struct PrefillResult {
  PrefillConfig config;
  std::string model, attention_hw, ffn_hw, timing;
  std::vector<PrefillForward> forwards;  // one shape (whole prompts), or one per chunk of a prompt
  double input_tokens_per_s = 0, input_tokens_per_s_per_gpu = 0;
  double ttft_ms = 0;        // one prompt alone (one per data-parallel group): its forwards one after another, nothing queued
  double work_ms = 0;        // the deployment's time per prompt when forwards run back to back (= input / rate)
  double usd_per_mtok = 0;   // per 1M input tokens
  double compute_util = 0;   // FLOPs / (time x GPUs x peak at the model's compute precision)
  double memory_util = 0;    // bytes / (time x GPUs x memory bandwidth)
  double network_util = 0;   // the busiest link resource's busy share
  double flops_per_token = 0;
  MemoryCheck memory;        // weights and the KV of a forward's prompts at the prompt length
};

// EP and TP run everything on `attention`; `ffn` is then ignored. Throws InputError on bad input.
PrefillResult simulate_prefill(const Model& m, const Pool& attention, const Pool& ffn, const PrefillConfig& c);

Table prefill_table(const std::vector<PrefillResult>& results);

// ---- Prefill in served traffic ---------------------------------------------------------------

// The link a prompt's KV crosses from the prefill tier to the decode tier: one attention GPU's
// NICs on each side (times the smaller attention TP, whose GPUs send their shares side by side),
// the slower side's, at `nic_efficiency`; the larger of the two chips' link latencies.
struct KvLink {
  double bytes_per_s = 0, latency_s = 0;
};
KvLink kv_link(const Pool& prefill, const Deployment& prefill_deployment, const Pool& decode, const Deployment& decode_deployment,
               double nic_efficiency);
// What a prompt of `input_tokens` leaves in the KV cache (the census's resident bytes at that context).
double kv_transfer_bytes(const Model& m, double input_tokens);

// simulate_prefill() at a prompt length, cached on the traffic step timer's grid of lengths
// (every integer to 32, then 1/32 apart geometrically) and interpolated linearly; the KV transfer
// exact. Not thread-safe: one per thread.
class PrefillPromptTimer final : public PrefillTimer {
 public:
  PrefillPromptTimer(const Model& m, const Pool& attention, const Pool& ffn, const PrefillConfig& c, KvLink link);
  PromptTimes prompt(long input_tokens) const override;
  PrefillResult at(double input_tokens) const;  // simulate_prefill at that length, uncached
  long simulations() const { return simulations_; }

 private:
  PromptTimes node(long i) const;
  Model model_;
  Pool attention_, ffn_;
  PrefillConfig config_;
  KvLink link_;
  mutable std::vector<PromptTimes> nodes_;
  mutable std::vector<char> have_;
  mutable long simulations_ = 0;
};

// Colocated (chunked) prefill's cost in a decode step: `chunk_tokens` prompt tokens of the whole
// deployment at the per-token time of forwards back to back (simulate_prefill at the mean prompt,
// chunks of chunk_tokens / data-parallel groups), added to the decode step: an upper bound, since the
// chunk's GEMMs would share the step's weight reads (docs/prefill.md).
std::function<double(double)> colocated_chunk_ms(const Model& m, const Pool& attention, const Pool& ffn, PrefillConfig c,
                                                 double mean_input_tokens, double chunk_tokens);

}  // namespace decodesim
