#include "decodesim/pipeline.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <queue>
#include <string_view>

#include <fmt/format.h>

#include "decodesim/census.hpp"
#include "decodesim/errors.hpp"
#include "decodesim/limits.hpp"

namespace decodesim {

// ---- Op timing ---------------------------------------------------------------------------

namespace {
// The calibration sweeps bf16 and fp8 kernels only; every 8-bit format runs on the fp8 path.
bool eight_bit(Dtype d) { return dtype_bytes(d) <= 1; }
}  // namespace

double RooflineTimer::time_us(const Op& op) const {
  const bool wide_cache = op.cls == OpClass::attention && op.cache && !eight_bit(*op.cache);
  return 1e6 * std::max(op.bytes / bytes_per_s_, op.flops / (wide_cache ? wide_cache_flops_per_s_ : flops_per_s_));
}

namespace {

const char* calib_dtype(Dtype d) { return eight_bit(d) ? "fp8" : "bf16"; }

double fallback_flops(const Hardware& hw, const Calibration& c, Dtype d) {
  if (eight_bit(d)) {
    if (c.gemm_fp8_flops_per_s > 0) return c.gemm_fp8_flops_per_s;
    if (c.gemm_bf16_flops_per_s > 0 && !hw.fp8_flops_per_s) return c.gemm_bf16_flops_per_s;
    return hw.peak_flops_per_s(Dtype::fp8);
  }
  return c.gemm_bf16_flops_per_s > 0 ? c.gemm_bf16_flops_per_s : hw.peak_flops_per_s(Dtype::bf16);
}

double fallback_bytes(const Hardware& hw, const Calibration& c) {
  return c.copy_bytes_per_s > 0 ? c.copy_bytes_per_s : hw.mem_bytes_per_s;
}

// Fixed cost of one small element-wise kernel replayed in a CUDA graph: one-input row gathers of
// 1 to 128 rows of 4096 or 7168 BF16 values took 2.3-2.9 us on an H100 (bench/results/h100-wgmma-5,
// h100.json, measurements labelled "sum of 1"). Clock-bound rather than bandwidth-bound, so it is
// carried to other Hopper parts unchanged.
constexpr double kSmallKernelUs = 2.5;

constexpr int kFitGemm = 0, kFitMoe = 1, kFitAttention = 2;  // attention: + 2 * AttentionKind + (16-bit cache)
int attention_slot(AttentionKind k, Dtype cache) { return kFitAttention + 2 * static_cast<int>(k) + (eight_bit(cache) ? 0 : 1); }

}  // namespace

CalibratedTimer::CalibratedTimer(const Hardware& hw, const Quantization& q, const Calibration& c)
    : default_cache_(q.kv),
      measured_on_(c.measured_on()),
      weights_fallback_(fallback_bytes(hw, c), fallback_flops(hw, c, q.weights)),
      cache_fallback_{RooflineTimer(fallback_bytes(hw, c), fallback_flops(hw, c, Dtype::fp8)),
                      RooflineTimer(fallback_bytes(hw, c), fallback_flops(hw, c, Dtype::bf16))} {
  fits_.resize(kFitAttention + 2 * 4);
  auto take = [&](int slot, const std::string& cls, Dtype d) {
    if (const EfficiencyFit* f = c.find(cls, calib_dtype(d))) fits_[slot] = *f;
  };
  take(kFitGemm, "gemm", q.weights);
  take(kFitMoe, "moe_ffn", q.weights);
  copy_bytes_per_s_ = fallback_bytes(hw, c);
  // Both precisions: a model may keep some layers' cache in 8 bits and others in 16.
  for (AttentionKind k : {AttentionKind::gqa, AttentionKind::mfa, AttentionKind::mla, AttentionKind::linear})
    for (Dtype d : {Dtype::fp8, Dtype::bf16})
      take(attention_slot(k, d), std::string("attention_") + attention_kind_name(k), d);
}

const EfficiencyFit* CalibratedTimer::fit_for(OpClass cls, AttentionKind kind, std::optional<Dtype> cache) const {
  if (cls == OpClass::elementwise) return nullptr;
  const int slot = cls == OpClass::gemm      ? kFitGemm
                   : cls == OpClass::moe_ffn ? kFitMoe
                                             : attention_slot(kind, cache.value_or(default_cache_));
  return fits_[slot].op_class.empty() ? nullptr : &fits_[slot];
}

double CalibratedTimer::time_us(const Op& op) const {
  if (op.flops <= 0 && op.bytes <= 0) return 0;
  if (op.cls == OpClass::elementwise) return kSmallKernelUs + 1e6 * op.bytes / copy_bytes_per_s_;
  if (const EfficiencyFit* f = fit_for(op.cls, op.attention, op.cache)) return f->predict_us(op.flops, op.bytes);
  if (op.cls != OpClass::attention) return weights_fallback_.time_us(op);
  return cache_fallback_[eight_bit(op.cache.value_or(default_cache_)) ? 0 : 1].time_us(op);
}

std::string timing_name(const Pool& attention, const Pool& ffn) {
  const std::string a = attention.timer ? attention.timer->name() : "roofline";
  const std::string f = ffn.timer ? ffn.timer->name() : "roofline";
  return a == f ? a : a + "/" + f;
}

// ---- One attention layer on one GPU --------------------------------------------------------

namespace {

// m tokens through a k -> n weight: weights once, 8-bit GEMMs take 8-bit inputs, BF16 out.
Op gemm_op(double m, double k, double n, double weight_bytes) {
  return {OpClass::gemm, 2.0 * m * k * n, k * n * weight_bytes + m * k * weight_bytes + m * n * 2.0};
}

}  // namespace

AttentionLayerTime attention_layer_time(const Model& m, int layer, double context_tokens, const AttentionShard& shard,
                                        const OpTimer& t, std::vector<LayerOp>* ops) {
  const AttentionSpec& a = m.attention(layer);
  const FfnSpec& f = m.ffn(layer);
  const double H = double(m.hidden_size);
  const double wb = dtype_bytes(m.quant.weights);
  const double req = shard.requests;
  const double tp = shard.tp;
  AttentionLayerTime r;
  auto timed = [&](const char* name, const Op& op, double mm, double k, double n) {
    const double us = t.time_us(op);
    if (ops) ops->push_back({name, mm, k, n, op.flops, op.bytes, us});
    return us;
  };
  // Heads on this GPU. KV heads are split while there are enough to go round, else each GPU
  // keeps (and computes) one; MLA's latent serves every head; a linear layer's state is per query head.
  r.q_heads = a.q_heads / tp;
  const double kv_heads = a.kind == AttentionKind::mla ? 1.0 : double(a.kv_heads);
  r.kv_heads = a.kind == AttentionKind::mla ? 1.0 : std::max(1.0, kv_heads / tp);
  const double kv_share = a.kind == AttentionKind::linear ? 1.0 / tp : r.kv_heads / kv_heads;

  // Projections as separate GEMMs, MLA un-absorbed (its absorbed decode form multiplies the same weights).
  for (const Projection& g : attention_projections(a, m.hidden_size)) {
    const std::string_view name = g.name;
    double k = g.k, n = g.n;
    if (name == "o") k /= tp;                                    // by input rows
    else if (name == "kv") n *= r.kv_heads / kv_heads;           // by KV heads
    else if (name != "q_a" && name != "kv_a") n /= tp;           // per-head outputs by columns
    r.projections_us += timed(g.name, gemm_op(req, k, n, wb), req, k, n);
  }
  // The core reads the KV and moves the BF16 query and output (the calibration's convention).
  const LayerCensus lc = layer_census(m, layer, context_tokens);
  const double qk = a.kind == AttentionKind::mla ? a.kv_lora_rank + a.qk_rope_head_dim : a.head_dim;
  const double v = a.kind == AttentionKind::mla ? a.kv_lora_rank : a.head_dim;
  const double qo_bytes = a.kind == AttentionKind::linear ? 0.0 : 2.0 * r.q_heads * (qk + v);
  // The census counts MLA's 576-wide latent for the value product too (the report's convention);
  // the kernel, like the calibration's samples, multiplies only its 512 value columns.
  const double flops = a.kind == AttentionKind::mla ? lc.attention_flops * (qk + v) / (2.0 * qk) : lc.attention_flops;
  r.core_us = timed("core",
                    {OpClass::attention, req * flops / tp, req * (lc.kv_bytes * kv_share + qo_bytes), a.kind, cache_dtype(a, m.quant)},
                    req, 0, 0);
  if (shard.tp > 1) {
    if (!(shard.allreduce_bytes_per_s > 0)) throw InputError("attention all-reduce: no intra-node bandwidth");
    const double bytes = req * H * 2.0;  // o's BF16 output
    r.allreduce_us = 1e6 * 2.0 * (tp - 1) / tp * bytes / shard.allreduce_bytes_per_s;
    if (ops) ops->push_back({"allreduce", req, 0, H, 0, bytes, r.allreduce_us});
  }
  if (f.kind == FfnKind::moe) r.router_us = timed("router", gemm_op(req, H, f.routed_experts, wb), req, H, f.routed_experts);
  return r;
}

// ---- Deployment names --------------------------------------------------------------------

std::string Deployment::name() const {
  if (kind == DeploymentKind::ep) return fmt::format("EP{}", attention_gpus());
  return fmt::format("{}A{}F", attention_instances, ffn_instances);
}

Deployment parse_deployment(const std::string& text, int gpus_per_instance) {
  std::string t = text;
  t.erase(0, std::min(t.size(), t.find_first_not_of(" \t")));
  t.erase(t.find_last_not_of(" \t") + 1);
  for (char& ch : t) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  const limits::IntRange gpus{gpus_per_instance, limits::kInstances.hi * gpus_per_instance};
  Deployment d;
  d.gpus_per_instance = gpus_per_instance;
  if (t.starts_with("EP")) {
    const std::optional<long long> n = integer_in(t.substr(2), gpus);
    if (!n || *n % gpus_per_instance != 0)
      throw InputError(fmt::format("--deployment: '{}': EP counts GPUs, a positive multiple of {} up to {}", printable(text),
                                   gpus_per_instance, gpus.hi));
    d.kind = DeploymentKind::ep;
    d.attention_instances = d.ffn_instances = static_cast<int>(*n / gpus_per_instance);
    return d;
  }
  const size_t a = t.find('A');
  const std::optional<long long> x = a == std::string::npos ? std::nullopt : integer_in(t.substr(0, a), limits::kInstances);
  const std::optional<long long> y =
      a == std::string::npos || !t.ends_with('F') ? std::nullopt : integer_in(t.substr(a + 1, t.size() - a - 2), limits::kInstances);
  if (!x || !y)
    throw InputError(fmt::format("--deployment: '{}': expected xAyF (e.g. 2A2F) with x and y in {}, or EPn (e.g. EP128)",
                                 printable(text), limits::to_string(limits::kInstances)));
  d.kind = DeploymentKind::afd;
  d.attention_instances = static_cast<int>(*x);
  d.ffn_instances = static_cast<int>(*y);
  return d;
}

int default_micro_batches(DeploymentKind kind) {
  // Report section 3 (three stages: attention, communication, FFN); DeepSeek-V3 decode
  // (github.com/deepseek-ai/profile-data): two micro-batches, one computing while the other communicates.
  return kind == DeploymentKind::ep ? 2 : 3;
}

// ---- The event engine --------------------------------------------------------------------

const char* stage_name(Stage s) {
  switch (s) {
    case Stage::attention: return "attention";
    case Stage::dispatch: return "dispatch";
    case Stage::ffn: return "ffn";
    case Stage::combine: return "combine";
  }
  return "?";
}

std::vector<std::string> resource_names(bool shared_resources) {
  if (shared_resources) return {"gpu", "network"};
  return {"attention", "a2f", "ffn", "f2a"};
}

EventRun run_events(const EventPipeline& p, std::vector<TaskRecord>* tasks) {
  const int L = static_cast<int>(p.layers.size());
  const int n = p.micro_batches;
  if (L == 0 || n < 1 || p.steps < 1 || p.warmup_steps < 0 || p.warmup_steps >= p.steps)
    throw std::invalid_argument("run_events: need layers, micro_batches >= 1 and 0 <= warmup_steps < steps");
  // Stage s of a layer runs on resource_of[s].
  const std::array<int, 4> resource_of = p.shared_resources ? std::array<int, 4>{0, 1, 0, 1} : std::array<int, 4>{0, 1, 2, 3};
  const int R = p.shared_resources ? 2 : 4;
  // A micro-batch's tasks within a step, in order: (layer, stage) -> duration.
  const long tasks_per_step = 4L * L;
  std::vector<double> duration(tasks_per_step);
  for (int l = 0; l < L; ++l) {
    const StageTimes& s = p.layers[l];
    duration[4 * l] = s.attention_us, duration[4 * l + 1] = s.dispatch_us;
    duration[4 * l + 2] = s.ffn_us, duration[4 * l + 3] = s.combine_us;
  }
  const long last_task = tasks_per_step * p.steps;
  if (tasks) tasks->reserve(tasks->size() + n * last_task);

  // Each micro-batch is a chain of tasks (step, layer, stage); a resource serves its queue in
  // arrival order, one task at a time. Events are task completions.
  struct Event {
    double t;
    long seq;
    int mb;
    bool operator>(const Event& o) const { return t != o.t ? t > o.t : seq > o.seq; }
  };
  std::priority_queue<Event, std::vector<Event>, std::greater<Event>> events;
  // FIFO per resource; a micro-batch waits in at most one, so n slots each suffice.
  struct Fifo {
    std::vector<int> slot;
    int head = 0, size = 0;
  };
  std::vector<Fifo> queue(R, Fifo{std::vector<int>(n), 0, 0});
  std::vector<char> busy(R, 0);  // not vector<bool>: this is the inner loop
  std::vector<long> task(n, 0);  // the task each micro-batch waits for or runs
  std::vector<std::vector<double>> done(n, std::vector<double>(p.steps, 0.0));
  std::vector<double> started(tasks ? n : 0);  // when each micro-batch's running task began
  long seq = 0;
  EventRun run;

  auto finish = [&](int mb, double t) {  // task[mb] is complete at t
    if (++task[mb] % tasks_per_step == 0) done[mb][task[mb] / tasks_per_step - 1] = t;
  };
  // Zero-length stages (EP dense layers send nothing) take no turn on their resource.
  auto advance = [&](int mb, double t) {
    while (task[mb] < last_task && duration[task[mb] % tasks_per_step] <= 0) finish(mb, t);
    if (task[mb] == last_task) return;
    Fifo& q = queue[resource_of[task[mb] % 4]];
    q.slot[(q.head + q.size++) % n] = mb;
  };
  auto start = [&](int r, double t) {
    Fifo& q = queue[r];
    if (busy[r] || q.size == 0) return;
    const int mb = q.slot[q.head];
    q.head = (q.head + 1) % n, --q.size;
    busy[r] = 1;
    if (tasks) started[mb] = t;
    events.push({t + duration[task[mb] % tasks_per_step], seq++, mb});
  };

  for (int mb = 0; mb < n; ++mb) advance(mb, 0.0);
  for (int r = 0; r < R; ++r) start(r, 0.0);
  while (!events.empty()) {
    const Event e = events.top();
    events.pop();
    ++run.events;
    const int r = resource_of[task[e.mb] % 4];
    busy[r] = 0;
    if (tasks) {
      const long i = task[e.mb] % tasks_per_step;
      tasks->push_back({r, e.mb, static_cast<int>(task[e.mb] / tasks_per_step), static_cast<int>(i / 4),
                        static_cast<Stage>(i % 4), started[e.mb], e.t});
    }
    finish(e.mb, e.t);
    advance(e.mb, e.t);
    start(r, e.t);
    if (task[e.mb] < last_task) start(resource_of[task[e.mb] % 4], e.t);
  }

  const int W = p.warmup_steps;
  double sum = 0;
  for (int mb = 0; mb < n; ++mb) {
    const double begin = W == 0 ? 0.0 : done[mb][W - 1];
    sum += (done[mb][p.steps - 1] - begin) / (p.steps - W);
    for (int s = W; s < p.steps; ++s)
      run.tpot_max_us = std::max(run.tpot_max_us, done[mb][s] - (s == 0 ? 0.0 : done[mb][s - 1]));
  }
  run.tpot_mean_us = sum / n;
  for (int mb = 0; mb < n; ++mb) run.end_us = std::max(run.end_us, done[mb][p.steps - 1]);
  run.busy_us_per_step.assign(R, 0.0);
  for (long i = 0; i < tasks_per_step; ++i) run.busy_us_per_step[resource_of[i % 4]] += n * duration[i];
  return run;
}

// ---- Stage times -------------------------------------------------------------------------

namespace {

double expert_params(const FfnSpec& f, double H) { return 3.0 * H * f.expert_intermediate; }
double shared_width(const FfnSpec& f) { return double(f.shared_experts) * f.shared_intermediate; }

// Probability that none of a token's k distinct experts (of E) falls among `held` of them.
double miss_probability(double E, double held, int k) {
  double p = 1.0;
  for (int i = 0; i < k; ++i) p *= std::max(0.0, E - held - i) / (E - i);
  return p;
}

// Copies of a token's hidden state per direction: over the scale-out network, and (EP) over
// NVLink to the other GPUs of its own instance that hold one of its experts.
struct Copies {
  double network = 0, nvlink = 0;
};
Copies token_copies(const FfnSpec& f, const PipelineConfig& c) {
  const Deployment& d = c.deployment;
  const bool ep = d.kind == DeploymentKind::ep;
  if (f.kind == FfnKind::dense) return {ep ? 0.0 : 1.0, 0.0};  // EP runs dense layers where the token is
  if (c.fanout == Fanout::report) return {1.0, 0.0};
  const int inst = ep ? d.attention_instances : d.ffn_instances;
  const double E = f.routed_experts;
  const double instance_hit = 1.0 - miss_probability(E, E / inst, f.top_k);
  // AFD: every token reaches at least one FFN instance (the shared expert lives in each).
  if (!ep) return {std::max(1.0, inst * instance_hit), 0.0};
  const double gpu_hit = 1.0 - miss_probability(E, E / d.attention_gpus(), f.top_k);
  return {(inst - 1) * instance_hit, (d.gpus_per_instance - 1) * gpu_hit};
}

double nic_bytes_per_s(const Hardware& hw, const PipelineConfig& c) {
  const double bw = hw.net_bytes_per_s() * c.nic_efficiency;
  if (!(bw > 0)) throw InputError(fmt::format("{}: no scale-out NIC bandwidth (nic_count, nic_gbps)", hw.id));
  return bw;
}

// A GPU's bandwidth to other instances. Instances of one GPU are GPUs of one machine, as on a
// single NVLink node: each reaches the others over its intra-node link, which is then its "NIC".
double instance_link_bytes_per_s(const Hardware& hw, const PipelineConfig& c) {
  if (c.deployment.gpus_per_instance > 1) return nic_bytes_per_s(hw, c);
  if (!(hw.intra_node_bytes_per_s > 0)) throw InputError(fmt::format("{}: no intra-node bandwidth (intra_node_bytes_per_s)", hw.id));
  return hw.intra_node_bytes_per_s;
}

const OpTimer& timer_of(const Pool& p, std::unique_ptr<OpTimer>& own, const Model& m) {
  if (p.timer) return *p.timer;
  own = std::make_unique<RooflineTimer>(p.hw, m.quant.compute);
  return *own;
}

// Element-wise kernels of one layer per micro-batch, on the attention GPUs and on the FFN GPUs.
struct LayerKernels {
  int attention = 0, ffn = 0;
};
LayerKernels layer_kernels(const Model& m, int layer, const PipelineConfig& c) {
  if (!c.kernels.serving_stack) return {c.kernels.attention, c.kernels.ffn};
  const AttentionSpec& a = m.attention(layer);
  const FfnSpec& f = m.ffn(layer);
  const bool ep = c.deployment.kind == DeploymentKind::ep;
  const bool crosses = !ep || f.kind == FfnKind::moe;  // the layer's tokens leave for the FFN
  LayerKernels k;
  k.attention = 2;                                        // residual add + RMSNorm before attention and before the FFN
  if (a.kind != AttentionKind::linear) k.attention += 1;  // rotary embedding and the cache write
  if (a.q_lora_rank > 0) k.attention += 1;                // the low-rank query's RMSNorm
  if (a.kind == AttentionKind::mla) k.attention += 1;     // the latent's RMSNorm
  if (f.kind == FfnKind::moe) k.attention += 1;           // router softmax and top-k
  if (crosses) k.attention += 2, k.ffn += 2;              // pack (quantize) and combine; expand into expert order and reduce
  return k;
}

// The LM head, with sampling and the next token's embedding as two element-wise kernels. The head
// is a GEMM in the model's weight precision like every other (the timers know one GEMM precision
// per model); a checkpoint that keeps it in BF16, as DeepSeek-V3's FP8 one does, reads twice the bytes.
double head_us(const Model& m, const OpTimer& t, const PipelineConfig& c) {
  if (!c.kernels.lm_head) return 0;
  const double req = c.batch / c.micro_batches / c.deployment.attention_gpus();
  const double H = double(m.hidden_size), V = double(m.vocab_size);
  return t.time_us(gemm_op(req, H, V, dtype_bytes(m.quant.weights))) + t.time_us({OpClass::elementwise, 0, req * V * 2.0}) +
         t.time_us({OpClass::elementwise, 0, req * H * 2.0});
}

// An element-wise kernel that reads and writes `rows` BF16 hidden states once.
Op rows_op(double rows, double H) { return {OpClass::elementwise, 0, rows * H * 2.0 * 2.0}; }

StageTimes stage_times(const Model& m, int layer, const Pool& attn, const OpTimer& ta, const Pool& ffn, const OpTimer& tf,
                       const PipelineConfig& c) {
  const Deployment& d = c.deployment;
  const bool ep = d.kind == DeploymentKind::ep;
  const double H = double(m.hidden_size);
  const double wb = dtype_bytes(m.quant.weights);
  const double T = c.batch / c.micro_batches;   // tokens of one micro-batch, whole deployment
  const double req = T / d.attention_gpus();    // requests per attention GPU per micro-batch
  const FfnSpec& f = m.ffn(layer);
  StageTimes s;

  // Attention: data parallel, every GPU its own requests; the router runs here too.
  const AttentionLayerTime at = attention_layer_time(m, layer, c.context_tokens, {req, 1, 0}, ta);
  s.attention_us = at.layer_us() + at.router_us;
  const LayerKernels k = layer_kernels(m, layer, c);
  s.attention_us += k.attention * ta.time_us(rows_op(req, H));

  // Network: FP8 out, BF16 back, spread over every NIC on the slower side.
  const Copies copies = token_copies(f, c);
  const double out_bytes = H * dtype_bytes(m.quant.activations), back_bytes = H * dtype_bytes(m.quant.combine);
  if (ep) {
    // Every GPU sends its own tokens and receives as many; NIC and NVLink run side by side.
    const double nic = instance_link_bytes_per_s(attn.hw, c), nvlink = attn.hw.intra_node_bytes_per_s;
    auto link_us = [&](double bytes_per_copy) {
      const double over_nic = req * copies.network * bytes_per_copy / nic;
      const double over_nvlink = copies.nvlink > 0 && nvlink > 0 ? req * copies.nvlink * bytes_per_copy / nvlink : 0.0;
      return 1e6 * std::max(over_nic, over_nvlink);
    };
    s.dispatch_us = link_us(out_bytes);
    s.combine_us = link_us(back_bytes);
  } else {
    // Every GPU of each side has its own link: x*N attention links against y*N FFN links.
    const double bw = std::min(d.attention_gpus() * instance_link_bytes_per_s(attn.hw, c),
                               d.ffn_gpus() * instance_link_bytes_per_s(ffn.hw, c));
    s.dispatch_us = 1e6 * T * copies.network * out_bytes / bw;
    s.combine_us = 1e6 * T * copies.network * back_bytes / bw;
  }
  // Each transfer is a message per destination, sent side by side: one link latency each way,
  // the slower side's. Dense EP layers send nothing and pay nothing.
  const double latency_us = ep ? attn.hw.link_latency_us : std::max(attn.hw.link_latency_us, ffn.hw.link_latency_us);
  if (s.dispatch_us > 0) s.dispatch_us += latency_us;
  if (s.combine_us > 0) s.combine_us += latency_us;

  // FFN. Routed experts spread over all FFN GPUs (EP); dense layers and shared experts run
  // tensor-parallel over an instance on its share of the tokens (AFD) or locally (EP).
  const OpTimer& t = ep ? ta : tf;
  const int G = d.ffn_gpus();
  const double tp = ep ? 1.0 : d.gpus_per_instance;
  const double local_tokens = ep ? req : T / d.ffn_instances;
  auto mlp = [&](double width) {
    return t.time_us(gemm_op(local_tokens, H, 2.0 * width / tp, wb)) + t.time_us(gemm_op(local_tokens, width / tp, H, wb));
  };
  double ffn_rows = local_tokens;  // rows the FFN side's expand and reduce kernels touch
  if (f.kind == FfnKind::dense) {
    s.ffn_us = mlp(double(f.intermediate));
  } else {
    const double E = f.routed_experts;
    const double hit = 1.0 - std::pow(1.0 - f.top_k / E, T);  // an expert receives at least one token
    const double routed_tokens = T * f.top_k / G;
    const double weights = E / G * hit * expert_params(f, H) * wb;
    const Op moe{OpClass::moe_ffn, 2.0 * routed_tokens * expert_params(f, H), weights + routed_tokens * H * (wb + 2.0)};
    s.ffn_us = t.time_us(moe);
    if (f.shared_experts > 0) s.ffn_us += mlp(shared_width(f));
    ffn_rows = routed_tokens;
  }
  s.ffn_us += k.ffn * t.time_us(rows_op(ffn_rows, H));
  return s;
}

}  // namespace

StageTimes layer_stage_times(const Model& m, int layer, const Pool& attention, const Pool& ffn, const PipelineConfig& c) {
  std::unique_ptr<OpTimer> own_a, own_f;
  return stage_times(m, layer, attention, timer_of(attention, own_a, m), ffn, timer_of(ffn, own_f, m), c);
}

double step_head_us(const Model& m, const Pool& attention, const PipelineConfig& c) {
  std::unique_ptr<OpTimer> own;
  return head_us(m, timer_of(attention, own, m), c);
}

MemoryCheck memory_check(const Model& m, const Pool& attention, const Pool& ffn, const PipelineConfig& c) {
  const Deployment& d = c.deployment;
  const bool ep = d.kind == DeploymentKind::ep;
  const double H = double(m.hidden_size);
  const double wb = dtype_bytes(m.quant.weights);
  const double tp = d.gpus_per_instance;
  double attn_params = count_params(m).embedding, ffn_params = 0;
  for (int l = 0; l < m.num_layers(); ++l) {
    const LayerCensus lc = layer_census(m, l, 0);
    attn_params += lc.linear_params + lc.router_params;
    const FfnSpec& f = m.ffn(l);
    if (f.kind == FfnKind::dense) {
      ffn_params += ep ? lc.ffn_total_params : lc.ffn_total_params / tp;
    } else {
      const double shared = 3.0 * H * shared_width(f);
      ffn_params += (lc.ffn_total_params - shared) / d.ffn_gpus() + (ep ? shared : shared / tp);
    }
  }
  MemoryCheck mc;
  mc.attention_weight_bytes = (attn_params + (ep ? ffn_params : 0)) * wb;
  mc.attention_kv_bytes = c.batch / d.attention_gpus() * census(m, c.context_tokens).kv_resident_bytes;
  mc.attention_capacity_bytes = attention.hw.mem_capacity_bytes;
  mc.ffn_weight_bytes = ep ? 0 : ffn_params * wb;
  mc.ffn_capacity_bytes = ep ? attention.hw.mem_capacity_bytes : ffn.hw.mem_capacity_bytes;
  return mc;
}

PipelineResult simulate(const Model& m, const Pool& attention, const Pool& ffn, const PipelineConfig& c, Timeline* timeline) {
  const Deployment& d = c.deployment;
  const bool ep = d.kind == DeploymentKind::ep;
  if (!(c.batch > 0)) throw InputError("simulate: batch must be positive");
  if (c.micro_batches < 1) throw InputError("simulate: micro_batches must be at least 1");
  if (c.micro_batches > limits::kMicroBatchesPerLayer * m.num_layers())
    throw InputError(fmt::format("simulate: micro-batches: expected at most {} per layer ({} for the {} layers of {}), got {}",
                                 limits::kMicroBatchesPerLayer, limits::kMicroBatchesPerLayer * m.num_layers(), m.num_layers(),
                                 m.id, c.micro_batches));
  if (const double tasks = 4.0 * c.steps * m.num_layers() * c.micro_batches; tasks > double(limits::kMaxPipelineTasks))
    throw InputError(fmt::format("simulate: micro-batches: {} steps x {} layers x {} micro-batches x 4 stages is {:.0f} tasks per "
                                 "simulation, more than the {}; give fewer --micro-batches",
                                 c.steps, m.num_layers(), c.micro_batches, tasks, limits::kMaxPipelineTasks));
  if (d.attention_instances < 1 || (!ep && d.ffn_instances < 1) || d.gpus_per_instance < 1)
    throw InputError("simulate: a deployment needs at least one instance of each kind");
  if (c.warmup_steps < 0 || c.steps <= c.warmup_steps) throw InputError("simulate: steps must exceed warmup_steps");
  const Pool& fpool = ep ? attention : ffn;
  std::unique_ptr<OpTimer> own_a, own_f;
  const OpTimer& ta = timer_of(attention, own_a, m);
  const OpTimer& tf = timer_of(fpool, own_f, m);

  PipelineResult r;
  r.config = c;
  r.model = m.id;
  r.attention_hw = attention.hw.id;
  r.ffn_hw = fpool.hw.id;
  r.timing = timing_name(attention, fpool);
  r.requests_per_gpu_micro_batch = c.batch / c.micro_batches / d.attention_gpus();

  // Layers sharing both designs share their stage times: compute each pair once.
  const LayerKinds kinds = layer_kinds(m);
  EventPipeline p;
  p.micro_batches = c.micro_batches;
  p.steps = c.steps;
  p.warmup_steps = c.warmup_steps;
  p.shared_resources = ep;
  for (const LayerKinds::Group& g : kinds.groups)
    r.groups.push_back({m.attention(g.first_layer).name, m.ffn(g.first_layer).name, g.layers,
                        stage_times(m, g.first_layer, attention, ta, fpool, tf, c)});
  for (int group : kinds.group_of) p.layers.push_back(r.groups[group].stage);
  // The head comes once per step and micro-batch, between the last layer and the first.
  r.head_us = head_us(m, ta, c);
  p.layers.front().attention_us += r.head_us;
  if (timeline) timeline->tasks.clear();
  const EventRun run = run_events(p, timeline ? &timeline->tasks : nullptr);

  r.events = run.events;
  r.tpot_ms = run.tpot_mean_us * 1e-3;
  r.tpot_max_ms = run.tpot_max_us * 1e-3;
  r.tokens_per_s = c.batch / (run.tpot_mean_us * 1e-6);
  r.tgs = r.tokens_per_s / d.gpus();
  const double usd_per_s = (ep ? d.gpus() * attention.hw.usd_per_hour
                               : d.attention_gpus() * attention.hw.usd_per_hour + d.ffn_gpus() * ffn.hw.usd_per_hour) /
                           3600.0;
  r.usd_per_mtok = usd_per_s / r.tokens_per_s * 1e6;
  // A hair of slack so a TPOT equal to the SLA up to rounding counts as met.
  r.sla_met = r.tpot_max_ms <= c.tpot_sla_ms * (1 + 1e-12);
  r.memory = memory_check(m, attention, fpool, c);
  const std::vector<std::string> names = resource_names(ep);
  for (size_t i = 0; i < names.size(); ++i)
    r.resources.push_back({names[i], run.busy_us_per_step[i] * 1e-3, run.busy_us_per_step[i] / run.tpot_mean_us});
  if (timeline) {
    timeline->resources = names;
    timeline->title = fmt::format("{} {} ({} GPUs per instance), attention {}, FFN {}, batch {:g} in {} micro-batches, "
                                  "context {:g}, {} steps",
                                  m.id, d.name(), d.gpus_per_instance, r.attention_hw, r.ffn_hw, c.batch, c.micro_batches,
                                  c.context_tokens, c.steps);
  }
  return r;
}

// ---- Tables ------------------------------------------------------------------------------

namespace {
std::string yes_no(bool b) { return b ? "yes" : "no"; }
double use_of(const PipelineResult& r, const std::string& name) {
  for (const ResourceUse& u : r.resources)
    if (u.name == name) return u.utilisation;
  return 0;
}
}  // namespace

Table simulate_table(const std::vector<PipelineResult>& results) {
  Table t{"simulate", "Served decoding, discrete-event pipeline (steady state after warm-up steps)", {}, {}, {}};
  t.columns = {{"model", ""},
               {"deployment", ""},
               {"attention_hardware", ""},
               {"ffn_hardware", ""},
               {"timing", ""},
               {"context", "tokens"},
               {"batch", "requests"},
               {"micro_batches", ""},
               {"requests_per_gpu_mb", "requests"},
               {"gpus", ""},
               {"gpus_per_instance", ""},
               {"tpot_ms", "ms"},
               {"tpot_max_ms", "ms"},
               {"tpot_sla_ms", "ms"},
               {"sla_met", ""},
               {"tokens_per_s", "tok/s"},
               {"tgs", "tok/GPU/s"},
               {"usd_per_mtok", "USD/1M tok"},
               {"attention_util", ""},
               {"a2f_util", ""},
               {"ffn_util", ""},
               {"f2a_util", ""},
               {"attention_mem_bytes", "B"},
               {"attention_capacity_bytes", "B"},
               {"ffn_mem_bytes", "B"},
               {"memory_fits", ""}};
  bool any_ep = false;
  for (const PipelineResult& r : results) {
    const bool ep = r.config.deployment.kind == DeploymentKind::ep;
    any_ep = any_ep || ep;
    const double ua = use_of(r, ep ? "gpu" : "attention"), un = use_of(r, ep ? "network" : "a2f");
    t.add({r.model, r.config.deployment.name(), r.attention_hw, r.ffn_hw, r.timing, r.config.context_tokens, r.config.batch,
           double(r.config.micro_batches), r.requests_per_gpu_micro_batch, double(r.config.deployment.gpus()),
           double(r.config.deployment.gpus_per_instance), r.tpot_ms,
           r.tpot_max_ms, r.config.tpot_sla_ms, yes_no(r.sla_met), r.tokens_per_s, r.tgs, r.usd_per_mtok, ua, un,
           ep ? ua : use_of(r, "ffn"), ep ? un : use_of(r, "f2a"), r.memory.attention_weight_bytes + r.memory.attention_kv_bytes,
           r.memory.attention_capacity_bytes, r.memory.ffn_weight_bytes, yes_no(r.memory.fits())});
  }
  if (any_ep) t.notes.push_back("EP: attention_util = ffn_util is the GPUs' busy share, a2f_util = f2a_util the NICs'.");
  t.notes.push_back("Utilisation is busy time per step / TPOT; TGS counts every GPU of the deployment.");
  return t;
}

Table stage_table(const std::vector<PipelineResult>& results) {
  Table t{"simulate_stages", "Stage times per layer for one micro-batch, and each resource's busy time per decode step", {}, {}, {}};
  t.columns = {{"model", ""},          {"deployment", ""},   {"context", "tokens"},  {"attention_type", ""},
               {"ffn_type", ""},       {"layers", ""},       {"attention_us", "us"}, {"dispatch_us", "us"},
               {"ffn_us", "us"},       {"combine_us", "us"}};
  for (const PipelineResult& r : results) {
    for (const LayerGroup& g : r.groups)
      t.add({r.model, r.config.deployment.name(), r.config.context_tokens, g.attention_type, g.ffn_type, double(g.layers),
             g.stage.attention_us, g.stage.dispatch_us, g.stage.ffn_us, g.stage.combine_us});
    std::string busy;
    for (const ResourceUse& u : r.resources)
      busy += fmt::format("{}{} {:.3g} ms ({:.0f}%)", busy.empty() ? "" : ", ", u.name, u.busy_ms_per_step, 100 * u.utilisation);
    t.notes.push_back(fmt::format("{} {} at {:.0f} tokens, {:.4g} requests per attention GPU per micro-batch ({} timing): "
                                  "LM head, sampling and embedding {:.4g} us per micro-batch; busy per step {}; TPOT {:.4g} ms",
                                  r.model, r.config.deployment.name(), r.config.context_tokens, r.requests_per_gpu_micro_batch,
                                  r.timing, r.head_us, busy, r.tpot_ms));
  }
  return t;
}

}  // namespace decodesim
