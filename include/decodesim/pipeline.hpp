// Served decoding as a discrete-event pipeline (report sections 3, 6, 7): every micro-batch
// walks the layers through attention, dispatch, FFN and combine, each stage a FIFO resource,
// so the throughput, stalls and bubbles come from the schedule rather than a closed formula.
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "decodesim/calibration.hpp"
#include "decodesim/hardware.hpp"
#include "decodesim/model.hpp"
#include "decodesim/table.hpp"

namespace decodesim {

// ---- How long one kernel takes --------------------------------------------------------

// elementwise: the small memory-bound kernels around the products (norms, rotary and cache
// writes, router top-k, packing and combining the dispatched tokens); bytes only.
enum class OpClass { gemm, moe_ffn, attention, elementwise };
struct Op {
  OpClass cls = OpClass::gemm;
  double flops = 0;
  double bytes = 0;  // fewest bytes the kernel must move through device memory
  AttentionKind attention = AttentionKind::gqa;  // which attention fit, for OpClass::attention
  std::optional<Dtype> cache = std::nullopt;  // attention: the cache's precision (none: the timer's model default)
};

class OpTimer {
 public:
  virtual ~OpTimer() = default;
  virtual double time_us(const Op& op) const = 0;
  virtual std::string name() const = 0;
};

// max(bytes / bandwidth, FLOPs / peak): no kernel beats it, so the simulated throughput is an
// upper bound on what the deployment can serve. An attention core over a 16-bit cache runs its
// products in BF16, so it takes the BF16 peak where the chip is given.
class RooflineTimer final : public OpTimer {
 public:
  RooflineTimer(double bytes_per_s, double flops_per_s)
      : bytes_per_s_(bytes_per_s), flops_per_s_(flops_per_s), wide_cache_flops_per_s_(flops_per_s) {}
  RooflineTimer(const Hardware& hw, Dtype compute)
      : bytes_per_s_(hw.mem_bytes_per_s),
        flops_per_s_(hw.peak_flops_per_s(compute)),
        wide_cache_flops_per_s_(hw.peak_flops_per_s(Dtype::bf16)) {}
  double time_us(const Op& op) const override;
  std::string name() const override { return "roofline"; }

 private:
  double bytes_per_s_, flops_per_s_, wide_cache_flops_per_s_;
};

// Kernels as measured by `decodesim calibrate`: gemm (projections, dense FFN, shared experts),
// moe_ffn (routed experts), attention_<kind>; dtype fp8 for 8-bit weights / KV (each layer's
// own cache precision), else bf16.
// A class the calibration lacks falls back to a roofline at its measured copy and GEMM rates
// (the chip's peaks where the calibration has none).
// Its name, "calibrated:<chip>", says which chip the kernels were measured on.
class CalibratedTimer final : public OpTimer {
 public:
  CalibratedTimer(const Hardware& hw, const Quantization& q, const Calibration& c);
  double time_us(const Op& op) const override;
  std::string name() const override { return "calibrated:" + measured_on_; }
  // The fit used for an op, nullptr where it falls back to the roofline; attention fits by the
  // cache's precision (none: the model's KV precision).
  const EfficiencyFit* fit_for(OpClass cls, AttentionKind kind = AttentionKind::gqa,
                               std::optional<Dtype> cache = std::nullopt) const;

 private:
  Dtype default_cache_;
  std::string measured_on_;
  // gemm, moe_ffn, attention_gqa/mfa/mla/linear x (8-bit, 16-bit cache) (op_class empty: absent)
  std::vector<EfficiencyFit> fits_;
  RooflineTimer weights_fallback_;
  RooflineTimer cache_fallback_[2];  // 8-bit, 16-bit cache
  // Element-wise kernels: a small kernel's measured fixed cost plus their bytes at copy bandwidth.
  double copy_bytes_per_s_ = 0;
};

// One pool of identical chips and how its kernels are timed (roofline at peak when null).
struct Pool {
  Hardware hw;
  std::shared_ptr<const OpTimer> timer;
};
// The pools' timing as one name: "roofline", "calibrated:h100", or "A/F" where the two differ.
std::string timing_name(const Pool& attention, const Pool& ffn);

// ---- One attention layer on one GPU -------------------------------------------------------

// One GPU's share of an attention layer. Data parallel (tp = 1): its own requests with every head
// and every projection. Tensor parallel over tp GPUs: every request with q_heads/tp query heads
// and kv_heads/tp KV heads (one, replicated, where there are fewer KV heads than GPUs; MLA's
// latent is shared by all heads, so every GPU reads all of it); per-head projections split by
// output columns, o by input rows, low-rank down-projections (q_a, kv_a) whole on every GPU; then
// o's BF16 output is all-reduced over the GPUs.
struct AttentionShard {
  double requests = 0;               // requests whose tokens this GPU projects and attends
  int tp = 1;                        // GPUs sharing the heads
  double allreduce_bytes_per_s = 0;  // tp > 1: the link each GPU's share of the all-reduce crosses
};

// One kernel of the layer, for the layer view's op table.
struct LayerOp {
  std::string name;  // projection name, "core", "allreduce" or "router"
  double m = 0, k = 0, n = 0;  // GEMMs: m tokens through a k -> n weight
  double flops = 0, bytes = 0, time_us = 0;
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
// output. The all-reduce is a ring over `allreduce_bytes_per_s`: 2(tp-1)/tp of o's output.
// The attention stage of `simulate` and the `layer` view both time layers with this.
AttentionLayerTime attention_layer_time(const Model& m, int layer, double context_tokens, const AttentionShard& shard,
                                        const OpTimer& t, std::vector<LayerOp>* ops = nullptr);

// ---- What is deployed -------------------------------------------------------------------

enum class DeploymentKind { afd, ep };

struct Deployment {
  DeploymentKind kind = DeploymentKind::afd;
  int attention_instances = 1;  // AFD: x; EP: instances, each running attention and experts
  int ffn_instances = 1;        // AFD: y; ignored by EP
  int gpus_per_instance = 8;
  int attention_gpus() const { return attention_instances * gpus_per_instance; }
  int ffn_gpus() const { return kind == DeploymentKind::ep ? attention_gpus() : ffn_instances * gpus_per_instance; }
  int gpus() const { return kind == DeploymentKind::ep ? attention_gpus() : attention_gpus() + ffn_gpus(); }
  std::string name() const;  // "2A2F"; EP by GPU count as DeepSeek names it: "EP128"
};

// "2A2F" or "EP128" (a multiple of gpus_per_instance GPUs), instances in limits::kInstances.
// Throws InputError.
Deployment parse_deployment(const std::string& text, int gpus_per_instance = 8);

// Micro-batches in flight as serving systems run each kind: AFD the report's three-stage
// pipeline (attention, network, FFN), EP DeepSeek's two-micro-batch overlap.
int default_micro_batches(DeploymentKind kind);

// How often a token's hidden state crosses the scale-out network per layer and direction.
enum class Fanout {
  per_instance,  // once per distinct remote instance holding one of its experts (NVLink fans out inside)
  report,        // once, the report's section-5 convention (3*H bytes per token per layer)
};

// The kernels of a decode step besides the products and the attention core.
struct StepKernels {
  // Per layer and micro-batch, the element-wise kernels of a serving stack's decode layer (see
  // docs/pipeline.md); when false, exactly `attention` and `ffn` of them per layer (a bench that runs
  // only some, e.g. the pipeline bench's packing, expanding, reducing and combining).
  bool serving_stack = true;
  int attention = 0, ffn = 0;
  bool lm_head = true;  // the LM head, sampling and embedding: see step_head_us
};

struct PipelineConfig {
  Deployment deployment;
  StepKernels kernels;
  double context_tokens = 4096;  // average context of the requests in flight
  double batch = 0;              // requests decoding concurrently, whole deployment
  int micro_batches = 3;
  double tpot_sla_ms = 50;
  double nic_efficiency = 1.0;   // achieved / line rate of every NIC
  Fanout fanout = Fanout::per_instance;
  int steps = 4;                 // decode steps simulated ...
  int warmup_steps = 1;          // ... of which the first ones only fill the pipeline
};

// ---- The event engine on its own --------------------------------------------------------

// One micro-batch's time in each stage of one layer, on its own resource.
struct StageTimes {
  double attention_us = 0, dispatch_us = 0, ffn_us = 0, combine_us = 0;
};

// A layer's four tasks, in chain order.
enum class Stage { attention, dispatch, ffn, combine };
const char* stage_name(Stage s);

struct EventPipeline {
  std::vector<StageTimes> layers;  // per layer, identical for every micro-batch
  int micro_batches = 1;
  int steps = 4;
  int warmup_steps = 1;
  // EP: attention and FFN share the GPUs, dispatch and combine share the NICs (both directions).
  bool shared_resources = false;
};

struct EventRun {
  double tpot_mean_us = 0;  // a request's time between tokens after warm-up, mean over micro-batches
  double tpot_max_us = 0;   // the worst single step after warm-up
  double end_us = 0;        // when the last micro-batch finishes its last step
  std::vector<double> busy_us_per_step;  // per resource: attention, a2f, ffn, f2a (EP: gpu, network)
  long events = 0;
};

// One task as the engine ran it.
struct TaskRecord {
  int resource = 0;  // index into resource_names()
  int micro_batch = 0, step = 0, layer = 0;
  Stage stage = Stage::attention;
  double start_us = 0, end_us = 0;
};
// With `tasks`, also every task that took a turn on its resource, in order of completion.
EventRun run_events(const EventPipeline& p, std::vector<TaskRecord>* tasks = nullptr);
// The engine's resources by index: AFD attention, a2f, ffn, f2a; EP (shared) gpu, network.
std::vector<std::string> resource_names(bool shared_resources);

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
  double tpot_ms = 0, tpot_max_ms = 0;
  double tokens_per_s = 0;
  double tgs = 0;  // tokens per GPU per second, all GPUs of the deployment
  double usd_per_mtok = 0;
  bool sla_met = false;
  MemoryCheck memory;
  std::vector<ResourceUse> resources;
  std::vector<LayerGroup> groups;
  double head_us = 0;  // LM head, sampling and embedding per step and micro-batch, on each attention GPU
  long events = 0;
  bool feasible() const { return sla_met && memory.fits(); }
};

// Stage times of one layer for one micro-batch (exposed for tests and the stage table).
StageTimes layer_stage_times(const Model& m, int layer, const Pool& attention, const Pool& ffn, const PipelineConfig& c);
// Per step and micro-batch on each attention GPU: the LM head, sampling and the next token's
// embedding (0 when c.kernels.lm_head is off). The pipeline adds it to the first layer's attention.
double step_head_us(const Model& m, const Pool& attention, const PipelineConfig& c);
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
