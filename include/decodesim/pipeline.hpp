// Served decoding as a discrete-event pipeline (report sections 3, 6, 7): every micro-batch
// walks the layers through attention, dispatch, FFN and combine, each stage a FIFO resource,
// so the throughput, stalls and bubbles come from the schedule rather than a closed formula.
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "decodesim/deployment.hpp"
#include "decodesim/engine.hpp"
#include "decodesim/hardware.hpp"
#include "decodesim/collectives.hpp"
#include "decodesim/model.hpp"
#include "decodesim/serving.hpp"
#include "decodesim/table.hpp"
#include "decodesim/timers.hpp"

namespace decodesim {

// ---- One attention layer on one GPU -------------------------------------------------------

// One GPU's share of an attention layer. Data parallel (tp = 1): its own requests with every head
// and every projection. Tensor parallel over tp GPUs: every request with q_heads/tp query heads
// and kv_heads/tp KV heads (one, replicated, where there are fewer KV heads than GPUs; MLA's
// latent is shared by all heads, so every GPU reads all of it); per-head projections split by
// output columns, o by input rows, low-rank down-projections (q_a, kv_a) whole on every GPU; then
// o's BF16 output is all-reduced over the GPUs.
struct AttentionShard {
  double requests = 0;  // requests whose tokens this GPU projects and attends
  int tp = 1;           // GPUs sharing the heads
  LinkProfile link;     // tp > 1: the link the all-reduce of o's output runs over
  // Query tokens of each request this step (MTP: its last token and K drafts): the projections
  // take that many rows, the core that many times the FLOPs and query/output bytes, and reads
  // the request's KV once.
  int query_tokens = 1;
};

// One kernel of the layer, for the layer view's op table.
struct LayerOp {
  std::string name;  // projection name, "core", "allreduce" or "router"
  double m = 0, k = 0, n = 0;  // GEMMs: m tokens through a k -> n weight
  double flops = 0, bytes = 0, time_us = 0;
  double issued_flops = 0;  // what the tensor cores multiply: the attention core's FLOPs padded to whole tiles
};

struct AttentionLayerTime {
  double projections_us = 0, core_us = 0, allreduce_us = 0;
  double router_us = 0;              // MoE layers' gate: it runs beside attention but belongs to the MoE layer
  double q_heads = 0, kv_heads = 0;  // per GPU (MLA: its one latent, read by every GPU)
  double layer_us() const { return projections_us + core_us + allreduce_us; }
};
// Projections, core and all-reduce as separate kernels timed by `t`; a GEMM reads its weights
// once, its inputs in the weight precision and writes BF16 (the calibration's byte count); the
// core reads the KV (or a linear layer's state, and writes it back) and moves the BF16 query and
// output. The all-reduce of o's BF16 output runs over `shard.link` as NCCL runs it (collective_us).
// The attention stage of `simulate` and the `layer` view both time layers with this.
AttentionLayerTime attention_layer_time(const Model& m, int layer, double context_tokens, const AttentionShard& shard,
                                        const OpTimer& t, std::vector<LayerOp>* ops = nullptr);

// ---- What is deployed -------------------------------------------------------------------

// The deployment itself (stages, GPUs, parallelism) is data: decodesim/deployment.hpp.

// Micro-batches in flight as the report and DeepSeek run each kind: AFD the report's three-stage
// pipeline (attention, network, FFN), EP DeepSeek's two-micro-batch overlap. `--micro-batches auto`
// (the default) chooses instead; this is the schedule of the report's own runs.
int default_micro_batches(DeploymentKind kind);

// How a token's hidden state crosses between attention and the experts, per layer and direction.
enum class Fanout {
  // As the libraries run it (collectives.hpp): EP dispatch and combine as DeepEP's low-latency
  // kernels send them (one message per selected expert, NVLink inside a node, RDMA across, at the
  // NICs' measured rate and the kernels' fixed cost); AFD's transfers once per distinct FFN node,
  // at the same measured rate and fixed cost.
  library,
  // An ideal transport: once per distinct remote instance holding one of its experts (NVLink fans
  // out inside), at --nic-efficiency of the line rate plus the chip's link_latency_us (the
  // pipeline bench's own peer copies).
  per_instance,
  report,  // once, the report's section-5 convention (3*H bytes per token per layer), ideal transport
};

// Which experts a micro-batch's tokens pick: the busiest GPU's routed load over the mean sets each
// MoE step's FFN and its dispatch (expert_imbalance in collectives.hpp).
struct Routing {
  std::optional<double> imbalance;  // a measured max/mean load per GPU, used as given
  long redundant_experts = 0;       // EPLB's extra expert slots over the EP group (0: no EPLB)
  // The experts' long-run popularity spread (coefficient of variation); 0: uniformly random.
  double popularity_cv = RoutingShape::kDefaultPopularityCv;
};

// How a step's tokens cross the network and land on the experts: decode's and prefill's
// configurations hold the same one (prefill_config copies decode's).
struct Transport {
  double nic_efficiency = 1.0;  // achieved / line rate of every NIC (Fanout::per_instance, report)
  Fanout fanout = Fanout::library;
  Routing routing;
};

// The kernels of a decode step besides the products and the attention core.
struct StepKernels {
  // Per layer and micro-batch, the element-wise kernels of a serving stack's decode layer (see
  // docs/pipeline.md); when false, exactly `attention` and `ffn` of them per layer (a bench that runs
  // only some, e.g. the pipeline bench's packing, expanding, reducing and combining).
  bool serving_stack = true;
  int attention = 0, ffn = 0;
  bool lm_head = true;  // the LM head, the serving stack's sampler and the embedding: see step_head_us
};

// Multi-token prediction, i.e. speculative decoding with a draft module (docs/pipeline.md, "MTP"):
// every step each request runs its last token and K drafted ones through the model (K+1 query
// tokens, one KV read), the draft module runs K times (once per drafted token, sequentially), and
// the request gains 1 + the expected run of accepted drafts.
struct Mtp {
  int draft_tokens = 0;            // K; 0: plain decoding
  std::vector<double> acceptance;  // per draft position, each given the ones before accepted; one value: all
  int query_tokens() const { return 1 + draft_tokens; }
  // 1 + a_1 + a_1 a_2 + ... + a_1...a_K (one A: 1 + A + ... + A^K).
  double tokens_per_step() const;
};
// Throws InputError naming `option` unless 0 <= K <= limits::kMtpDraftTokens.hi and the acceptance
// is one value or K values, each in [0, 1].
void check_mtp(const Mtp& mtp, const char* option = "--mtp");
// The layer whose design a draft pass runs: the model's last MoE layer (DeepSeek-V3's MTP module is
// one more such layer), else its last layer.
int draft_layer(const Model& m);

struct PipelineConfig {
  Deployment deployment;
  Mtp mtp;
  StepKernels kernels;
  double context_tokens = 4096;  // average context of the requests in flight
  double batch = 0;              // requests decoding concurrently, whole deployment
  int micro_batches = 3;
  double tpot_sla_ms = 50;
  Transport transport;
  // Fanout::library's EP kernels: DeepEP's low-latency ones for decode, its normal (high-throughput)
  // ones for prefill, as DeepEP's README pairs them.
  A2aMode a2a_mode = A2aMode::low_latency;
  // The serving stack around the kernels: sampler, graph gaps, host scheduling (serving.hpp).
  ServingStack serving;
  int steps = 4;                 // decode steps simulated ...
  int warmup_steps = 1;          // ... of which the first ones only fill the pipeline
};


// ---- Served decoding ---------------------------------------------------------------------

// Per GPU; EP GPUs hold everything, so the attention figures then include the experts.
struct MemoryCheck {
  double attention_weight_bytes = 0, attention_kv_bytes = 0, attention_capacity_bytes = 0;
  double ffn_weight_bytes = 0, ffn_capacity_bytes = 0;
  bool attention_fits() const { return attention_weight_bytes + attention_kv_bytes <= attention_capacity_bytes; }
  bool ffn_fits() const { return ffn_weight_bytes <= ffn_capacity_bytes; }
  bool fits() const { return attention_fits() && ffn_fits(); }
};

struct LayerGroup {  // consecutive-or-not layers sharing one attention and one FFN design
  std::string attention_type, ffn_type;
  int layers = 0;
  StageTimes stage;  // one micro-batch, one layer
};

struct ResourceUse {
  std::string name;
  double busy_ms_per_step = 0;
  double utilisation = 0;  // busy / TPOT in steady state
};

struct PipelineResult {
  PipelineConfig config;
  std::string model, attention_hw, ffn_hw, timing;
  double requests_per_gpu_micro_batch = 0;  // per attention GPU
  // A decode step (MTP included: drafts and verification) and the tokens it gains per request;
  // TPOT is per accepted token, step / tokens_per_step, and the SLA applies to it.
  double step_ms = 0, tokens_per_step = 1;
  double gpu_step_ms = 0;  // the step as the GPUs' tasks schedule it, before the stack's per-step gap and host time
  double tpot_ms = 0, tpot_max_ms = 0;
  double tokens_per_s = 0;
  double tgs = 0;  // tokens per GPU per second, all GPUs of the deployment
  double usd_per_mtok = 0;
  bool sla_met = false;
  MemoryCheck memory;
  std::vector<ResourceUse> resources;
  std::vector<LayerGroup> groups;
  double head_us = 0;  // LM head, sampling and embedding per step and micro-batch, on each attention GPU
  StageTimes draft;    // MTP: one draft pass per micro-batch (its layer, its head in attention_us); run K times per step
  long events = 0;
  bool feasible() const { return sla_met && memory.fits(); }
};

// Stage times of one layer for one micro-batch (exposed for tests and the stage table).
StageTimes layer_stage_times(const Model& m, int layer, const Pool& attention, const Pool& ffn, const PipelineConfig& c);
// Per step and micro-batch on each attention GPU: the LM head, the serving stack's sampler passes
// over the logits and the next token's embedding (0 when c.kernels.lm_head is off). The pipeline adds it to the first layer's attention.
double step_head_us(const Model& m, const Pool& attention, const PipelineConfig& c);
// MTP: one pass of the draft module for one micro-batch, one token per request: the projection of
// [hidden; embedding] (2H -> H) and its LM head, sampling and embedding on the attention side, and
// a layer of draft_layer()'s design; zero without MTP. The pipeline runs it c.mtp.draft_tokens
// times per step, after the model's last layer.
StageTimes draft_pass_times(const Model& m, const Pool& attention, const Pool& ffn, const PipelineConfig& c);
// Element-wise kernels of one layer per micro-batch, on the attention GPUs and on the FFN GPUs
// (docs/pipeline.md, "Element-wise kernels"); shared with prefill (prefill.cpp).
struct LayerKernels {
  int attention = 0, ffn = 0;
};
LayerKernels layer_kernels(const Model& m, int layer, const PipelineConfig& c);
// An element-wise kernel that reads and writes `rows` BF16 hidden states once.
Op rows_op(double rows, double H);
// Memory per GPU for the configured batch.
MemoryCheck memory_check(const Model& m, const Pool& attention, const Pool& ffn, const PipelineConfig& c);
// What one simulation did, task by task (for `simulate --trace`).
struct Timeline {
  std::string title;                   // model, deployment, chips, batch, context
  std::vector<std::string> resources;  // resource_names() of the deployment
  std::vector<TaskRecord> tasks;
};

// EP runs everything on `attention`; `ffn` is then ignored. With `timeline`, also records every task.
PipelineResult simulate(const Model& m, const Pool& attention, const Pool& ffn, const PipelineConfig& c,
                        Timeline* timeline = nullptr);

Table simulate_table(const std::vector<PipelineResult>& results);
Table stage_table(const std::vector<PipelineResult>& results);

}  // namespace decodesim
