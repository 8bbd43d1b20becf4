#include "decodesim/prefill.hpp"

#include <algorithm>
#include <cmath>
#include <string_view>

#include <fmt/format.h>

#include "decodesim/census.hpp"
#include "decodesim/errors.hpp"
#include "decodesim/limits.hpp"
#include "decodesim/served_traffic.hpp"

namespace decodesim {

// ---- Causal attention over the prompt -----------------------------------------------------

namespace {

// Score pairs of the queries at positions [0, x), keys from 0, under the layer's scope.
double scores_before(const AttentionSpec& a, double x) {
  if (x <= 0) return 0;
  const double W = double(a.window_tokens);
  switch (a.scope) {
    case AttentionScope::global: return x * (x + 1) / 2;
    case AttentionScope::sliding:  // query q sees min(q + 1, W) keys
      return x <= W ? x * (x + 1) / 2 : W * (W + 1) / 2 + (x - W) * W;
    case AttentionScope::chunked: {  // query q sees its chunk up to itself: (q mod W) + 1 keys
      const double whole = std::floor(x / W), r = x - whole * W;
      return whole * W * (W + 1) / 2 + r * (r + 1) / 2;
    }
  }
  return 0;
}

// Keys a query at the end of [0, x) can reach: what the kernel reads of K and V.
double keys_reached(const AttentionSpec& a, double x) {
  return a.scope == AttentionScope::global ? x : std::min(x, double(a.window_tokens));
}

}  // namespace

HeadDims prefill_head_dims(const AttentionSpec& a) {
  if (a.kind == AttentionKind::mla) return {double(a.qk_nope_head_dim + a.qk_rope_head_dim), double(a.v_head_dim)};
  return {double(a.head_dim), double(a.head_dim)};
}

PrefillConfig prefill_config(const PipelineConfig& decode) {
  PrefillConfig c;
  c.transport = decode.transport;
  return c;
}

double causal_scores(const AttentionSpec& a, double begin, double end) {
  if (a.kind == AttentionKind::linear || !(end > begin)) return 0;
  return scores_before(a, end) - scores_before(a, begin);
}

Op prefill_core_op(const Model& m, int layer, double prompts, double tokens, double prefix, int tp) {
  const AttentionSpec& a = m.attention(layer);
  const double per_prompt = prompts > 0 ? tokens / prompts : 0;
  const double q_heads = double(a.q_heads) / tp;
  if (a.kind == AttentionKind::linear) {
    // A linear layer updates and reads out its state once per token (the decode census's FLOPs per
    // token), and each prompt's state is read and written back once per forward. A chunked prompt
    // kernel (lightning attention) reaches earlier blocks through the state and computes the
    // causal pairs inside each block of block_tokens directly, Q K^T then times V (no softmax):
    // the pairs of a chunked scope of that length.
    const LayerCensus lc = layer_census(m, layer, 0);
    const double state_bytes = lc.kv_resident_bytes * kv_share(a, tp);
    double block_pairs = 0;
    if (a.block_tokens > 0) {
      AttentionSpec blocks = a;
      blocks.scope = AttentionScope::chunked, blocks.window_tokens = a.block_tokens;
      block_pairs = prompts * (scores_before(blocks, prefix + per_prompt) - scores_before(blocks, prefix));
    }
    return {OpClass::attention, tokens * lc.attention_flops / tp + 2.0 * (2.0 * a.head_dim) * q_heads * block_pairs,
            prompts * 2.0 * state_bytes + tokens * q_heads * a.head_dim * 2.0 * 4.0, a.kind, cache_dtype(a, m.quant)};
  }
  const HeadDims h = prefill_head_dims(a);
  const double scores = prompts * causal_scores(a, prefix, prefix + per_prompt);
  // K and V heads each GPU reads: MLA un-absorbed has one per query head; GQA and MFA their KV share.
  const double kv_heads = a.kind == AttentionKind::mla ? q_heads : kv_share(a, tp) * a.kv_heads;
  const double keys = prompts * keys_reached(a, prefix + per_prompt);
  const double bytes = 2.0 * (tokens * q_heads * (h.qk + h.v) + keys * kv_heads * (h.qk + h.v));
  // FlashAttention-style kernels run the products in BF16 whatever the cache holds.
  const AttentionKind fit = a.kind == AttentionKind::mla ? AttentionKind::gqa : a.kind;
  // Not padded to an M tile (a prompt's rows fill it); its query tokens pick the prefill fit.
  Op op{OpClass::attention, 2.0 * (h.qk + h.v) * q_heads * scores, bytes, fit, Dtype::bf16, 0, per_prompt};
  op.exps = q_heads * scores;
  return op;
}

// ---- One forward pass ------------------------------------------------------------------------

namespace {

// Forwards the timer's answers and adds up the FLOPs and bytes of what it timed.
class CountingTimer final : public OpTimer {
 public:
  explicit CountingTimer(const OpTimer& inner) : inner_(inner) {}
  double time_us(const Op& op) const override {
    flops += op.mean_flops > 0 ? op.mean_flops : op.flops, bytes += op.mean_bytes > 0 ? op.mean_bytes : op.bytes;
    return inner_.time_us(op);
  }
  std::string name() const override { return inner_.name(); }
  int attention_tile_rows() const override { return inner_.attention_tile_rows(); }
  mutable double flops = 0, bytes = 0;  // as counted (useful FLOPs; a skewed op's mean GPU's)

 private:
  const OpTimer& inner_;
};

// A shared_ptr that does not own: the counting timer lives on the stack of one forward's timing.
std::shared_ptr<const OpTimer> borrowed(const OpTimer& t) { return std::shared_ptr<const OpTimer>(&t, [](const OpTimer*) {}); }

PrefillForward time_forward(const Model& m, const Pool& attn, const Pool& ffn, const PrefillConfig& c, double prompts,
                            double prefix, double tokens) {
  const Deployment& d = c.deployment;
  const bool colocated = d.colocated();
  const Pool& fpool = colocated ? attn : ffn;
  std::unique_ptr<OpTimer> own_a, own_f;
  auto raw = [&](const Pool& p, std::unique_ptr<OpTimer>& own) -> const OpTimer& {
    if (p.timer) return *p.timer;
    own = std::make_unique<RooflineTimer>(p.hw, m.quant.compute);
    return *own;
  };
  const OpTimer& ra = raw(attn, own_a);
  const OpTimer& rf = colocated ? ra : raw(fpool, own_f);
  const CountingTimer ca(ra), cf(rf);
  const Pool counted_a{attn.hw, borrowed(ca)};
  const Pool counted_f = colocated ? counted_a : Pool{fpool.hw, borrowed(cf)};

  // The decode pipeline's configuration for a "batch" of this forward's tokens: every token is a row.
  PipelineConfig pc;
  pc.deployment = d;
  pc.kernels = c.kernels;
  pc.kernels.lm_head = false;  // the head runs on the prompts' last tokens only: below
  pc.micro_batches = c.micro_batches;
  pc.batch = tokens * d.attention_dp();
  pc.context_tokens = 0;
  pc.transport = c.transport;
  pc.a2a_mode = A2aMode::normal;  // prefill's dispatch and combine: DeepEP's high-throughput kernels
  const double mb_tokens = tokens / c.micro_batches, mb_prompts = prompts / c.micro_batches;
  const LinkProfile tp_link =
      d.attention_tp > 1 ? group_link(attn.hw, d.attention_tp, d.gpus_per_instance, c.transport.nic_efficiency) : LinkProfile{};

  PrefillForward fw;
  fw.prompts = prompts, fw.prefix_tokens = prefix, fw.new_tokens = tokens;
  const LayerKinds kinds = layer_kinds(m);
  EventPipeline p;
  p.micro_batches = c.micro_batches;
  p.shared_resources = colocated;
  double flops_a = 0, bytes_a = 0, flops_f = 0, bytes_f = 0;
  for (const LayerKinds::Group& g : kinds.groups) {
    const int l = g.first_layer;
    const AttentionSpec& a = m.attention(l);
    ca.flops = ca.bytes = cf.flops = cf.bytes = 0;
    // Dispatch, FFN and combine, and the attention side's projections, router, all-reduce and
    // element-wise kernels, are the decode pipeline's at this many rows; its attention core (at
    // context 0) is replaced by the core over the prompt.
    StageTimes s = layer_stage_times(m, l, counted_a, counted_f, pc);
    std::vector<LayerOp> ops;
    const AttentionLayerTime at0 = attention_layer_time(m, l, 0, {mb_tokens, d.attention_tp, tp_link}, ra, &ops);
    for (const LayerOp& op : ops)
      if (op.name == "core") ca.flops -= op.flops, ca.bytes -= op.bytes;
    s.attention_us -= at0.core_us;
    s.attention_us += ca.time_us(prefill_core_op(m, l, mb_prompts, mb_tokens, prefix, d.attention_tp));
    // MLA's chunked prefill expands the cached prefix's latent to per-head K and V again (kv_b).
    if (a.kind == AttentionKind::mla && prefix > 0) {
      const double heads = double(a.q_heads) / d.attention_tp;
      s.attention_us += ca.time_us(gemm_op(mb_prompts * prefix, a.kv_lora_rank, heads * (a.qk_nope_head_dim + a.v_head_dim),
                                           dtype_bytes(m.quant.weights)));
    }
    fw.groups.push_back({a.name, m.ffn(l).name, g.layers, s});
    if (colocated) flops_a += g.layers * ca.flops, bytes_a += g.layers * ca.bytes;
    else flops_a += g.layers * ca.flops, bytes_a += g.layers * ca.bytes, flops_f += g.layers * cf.flops, bytes_f += g.layers * cf.bytes;
  }
  for (int group : kinds.group_of) p.layers.push_back(fw.groups[group].stage);
  // The LM head on each finished prompt's last token (a chunk that does not end its prompt has none).
  const bool ends_prompt = prefix + tokens / std::max(prompts, 1e-300) >= c.input_tokens - 1e-9;
  if (c.kernels.lm_head && ends_prompt) {
    PipelineConfig head = pc;
    head.kernels.lm_head = true;
    head.batch = std::max(prompts, 1.0) * d.attention_dp();  // rows: the prompts' last tokens
    ca.flops = ca.bytes = 0;
    fw.head_us = step_head_us(m, counted_a, head);
    flops_a += ca.flops, bytes_a += ca.bytes;
    p.layers.front().attention_us += fw.head_us;
  }
  const double per_forward = c.micro_batches;  // the counts above are per micro-batch and GPU
  fw.flops = per_forward * (flops_a * d.attention_gpus() + (colocated ? 0.0 : flops_f * d.ffn_gpus()));
  fw.bytes = per_forward * (bytes_a * d.attention_gpus() + (colocated ? 0.0 : bytes_f * d.ffn_gpus()));

  p.steps = 1, p.warmup_steps = 0;
  fw.latency_us = run_events(p).end_us;
  p.steps = 3, p.warmup_steps = 1;
  const EventRun steady = run_events(p);
  fw.period_us = steady.tpot_mean_us;
  // The links: EP's one network resource, or AFD's two directions.
  const std::vector<std::string> names = resource_names(colocated);
  for (size_t i = 0; i < names.size(); ++i)
    if (names[i] == "network" || names[i] == "a2f" || names[i] == "f2a") fw.network_busy_us = std::max(fw.network_busy_us, steady.busy_us_per_step[i]);
  return fw;
}

}  // namespace

PrefillResult simulate_prefill(const Model& m, const Pool& attention, const Pool& ffn, const PrefillConfig& c) {
  const Deployment& d = c.deployment;
  const bool colocated = d.colocated();
  check_deployment(d, "prefill:");
  if (!(c.input_tokens >= 1) || c.input_tokens > limits::kTokens.hi)
    throw InputError(fmt::format("prefill: input tokens: expected {}, got {}", limits::to_string(limits::kTokens), c.input_tokens));
  if (!(c.batch_tokens >= 0) || c.batch_tokens > limits::kTokens.hi)
    throw InputError(fmt::format("prefill: batch tokens: expected 0 (a whole prompt) or {}, got {}", limits::to_string(limits::kTokens),
                                 c.batch_tokens));
  if (c.micro_batches < 1 || c.micro_batches > limits::kMicroBatchesPerLayer * m.num_layers())
    throw InputError(fmt::format("prefill: micro-batches: expected 1 to {}, got {}", limits::kMicroBatchesPerLayer * m.num_layers(),
                                 c.micro_batches));
  const Pool& fpool = colocated ? attention : ffn;
  const double N = c.input_tokens, T = c.batch_tokens > 0 ? c.batch_tokens : N;

  PrefillResult r;
  r.config = c;
  r.model = m.id;
  r.attention_hw = attention.hw.id;
  r.ffn_hw = fpool.hw.id;
  r.timing = timing_name(attention, fpool);
  double flops = 0, bytes = 0, net_busy = 0, period_sum = 0, latency_sum = 0, prompts_per_group = 0;
  if (T >= N) {
    // Whole prompts, T / N of them per forward (fractional: a share of the next).
    r.forwards.push_back(time_forward(m, attention, fpool, c, T / N, 0, T));
    const PrefillForward& f = r.forwards.front();
    period_sum = f.period_us, latency_sum = time_forward(m, attention, fpool, c, 1, 0, N).latency_us;
    flops = f.flops, bytes = f.bytes, net_busy = f.network_busy_us, prompts_per_group = T / N;
  } else {
    // Chunked: chunk j attends to the j chunks before it; a prompt's chunks run one after another.
    const long chunks = static_cast<long>(std::ceil(N / T));
    if (chunks > limits::kMaxPrefillChunks)
      throw InputError(fmt::format("prefill: {} tokens in chunks of {} make {} forwards, more than {}; give a larger --batch-tokens", N, T,
                                   chunks, limits::kMaxPrefillChunks));
    for (long j = 0; j < chunks; ++j) {
      const double prefix = double(j) * T;
      r.forwards.push_back(time_forward(m, attention, fpool, c, 1, prefix, std::min(T, N - prefix)));
      const PrefillForward& f = r.forwards.back();
      period_sum += f.period_us, latency_sum += f.latency_us;
      flops += f.flops, bytes += f.bytes, net_busy += f.network_busy_us;
    }
    prompts_per_group = 1;
  }
  // Each group finishes prompts_per_group prompts every period_sum; the groups run side by side.
  const double prompts_per_s = prompts_per_group * d.attention_dp() / (period_sum * 1e-6);
  r.input_tokens_per_s = prompts_per_s * N;
  r.input_tokens_per_s_per_gpu = r.input_tokens_per_s / d.gpus();
  r.ttft_ms = latency_sum * 1e-3;
  r.work_ms = 1e3 / prompts_per_s;
  const double usd_per_s = (colocated ? d.gpus() * attention.hw.usd_per_hour
                                      : d.attention_gpus() * attention.hw.usd_per_hour + d.ffn_gpus() * fpool.hw.usd_per_hour) /
                           3600.0;
  r.usd_per_mtok = usd_per_s / r.input_tokens_per_s * 1e6;
  auto sum_rate = [&](double per_gpu_attention, double per_gpu_ffn) {
    return colocated ? d.gpus() * per_gpu_attention : d.attention_gpus() * per_gpu_attention + d.ffn_gpus() * per_gpu_ffn;
  };
  const double seconds = period_sum * 1e-6;
  r.compute_util = flops / (seconds * sum_rate(attention.hw.peak_flops_per_s(m.quant.compute), fpool.hw.peak_flops_per_s(m.quant.compute)));
  r.memory_util = bytes / (seconds * sum_rate(attention.hw.mem_bytes_per_s, fpool.hw.mem_bytes_per_s));
  r.network_util = net_busy / period_sum;
  r.flops_per_token = flops / (prompts_per_group * d.attention_dp() * N);
  PipelineConfig mem;
  mem.deployment = d;
  mem.batch = std::max(prompts_per_group, 1.0) * d.attention_dp();
  mem.context_tokens = N;
  r.memory = memory_check(m, attention, fpool, mem);
  return r;
}

// ---- Table -----------------------------------------------------------------------------------

Table prefill_table(const std::vector<PrefillResult>& results) {
  Table t{"prefill", "Prefill: forward passes over the prompt on the event pipeline (two-micro-batch overlap by default)", {}, {}, {}};
  t.columns = {{"model", ""},
               {"deployment", ""},
               {"attention_hardware", ""},
               {"ffn_hardware", ""},
               {"timing", ""},
               {"input_tokens", "tokens"},
               {"batch_tokens", "tokens"},
               {"forwards_per_prompt", ""},
               {"micro_batches", ""},
               {"gpus", ""},
               {"attention_tp", ""},
               {"attention_dp", ""},
               {"ffn_tp", ""},
               {"expert_parallel", ""},
               {"input_tokens_per_s", "tok/s"},
               {"input_tokens_per_s_per_gpu", "tok/GPU/s"},
               {"ttft_ms", "ms"},
               {"usd_per_mtok", "USD/1M input tok"},
               {"compute_util", ""},
               {"memory_util", ""},
               {"network_util", ""},
               {"flops_per_token", "FLOP"},
               {"memory_fits", ""}};
  for (const PrefillResult& r : results) {
    const Deployment& d = r.config.deployment;
    const double T = r.config.batch_tokens > 0 ? r.config.batch_tokens : r.config.input_tokens;
    t.add({r.model, d.name(), r.attention_hw, r.ffn_hw, r.timing, r.config.input_tokens, T,
           double(T >= r.config.input_tokens ? 1 : r.forwards.size()), double(r.config.micro_batches), double(d.gpus()),
           double(d.attention_tp), double(d.attention_dp()), double(d.ffn_tp), double(d.expert_parallel()), r.input_tokens_per_s,
           r.input_tokens_per_s_per_gpu, r.ttft_ms, r.usd_per_mtok, r.compute_util, r.memory_util, r.network_util,
           r.flops_per_token, r.memory.fits() ? "yes" : "no"});
  }
  t.notes.push_back("batch_tokens: tokens per forward of one data-parallel attention group (all groups run in lockstep); "
                    "ttft_ms: one prompt alone (one in each group), its forwards one after another; utilisations over forwards run back to back.");
  t.notes.push_back("Attention over the prompt is causal (N (N + 1) / 2 scores per head), BF16 products; MLA un-absorbed "
                    "(per-head K and V from the latent); the LM head on each prompt's last token only.");
  return t;
}

// ---- Prefill in served traffic ---------------------------------------------------------------

KvLink kv_link(const Pool& prefill, const Deployment& pd, const Pool& decode, const Deployment& dd, double nic_efficiency) {
  const double p = prefill.hw.net_bytes_per_s() * pd.attention_tp, d = decode.hw.net_bytes_per_s() * dd.attention_tp;
  const double rate = std::min(p, d) * nic_efficiency;
  if (!(rate > 0))
    throw InputError(fmt::format("KV transfer: {} or {} has no scale-out NIC bandwidth (nic_count, nic_gbps)", prefill.hw.id, decode.hw.id));
  return {rate, 1e-6 * std::max(prefill.hw.link_latency_us, decode.hw.link_latency_us)};
}

double kv_transfer_bytes(const Model& m, double input_tokens) { return census(m, input_tokens).kv_resident_bytes; }

PrefillPromptTimer::PrefillPromptTimer(const Model& m, const Pool& attention, const Pool& ffn, const PrefillConfig& c, KvLink link)
    : model_(m), attention_(attention), ffn_(ffn), config_(c), link_(link) {}

PrefillResult PrefillPromptTimer::at(double input_tokens) const {
  PrefillConfig c = config_;
  c.input_tokens = input_tokens;
  ++simulations_;
  return simulate_prefill(model_, attention_, ffn_, c);
}

PromptTimes PrefillPromptTimer::node(long i) const {
  if (i >= long(nodes_.size())) nodes_.resize(i + 1), have_.resize(i + 1, 0);
  if (!have_[i]) {
    const PrefillResult r = at(PipelineStepTimer::grid_line(i));
    nodes_[i] = {r.work_ms * 1e-3, r.ttft_ms * 1e-3, 0};
    have_[i] = 1;
  }
  return nodes_[i];
}

PromptTimes PrefillPromptTimer::prompt(long input_tokens) const {
  const double n = double(std::max(input_tokens, 1L));
  const long i = PipelineStepTimer::grid_index(n);
  const double lo = PipelineStepTimer::grid_line(i), hi = PipelineStepTimer::grid_line(i + 1);
  const double u = (n - lo) / (hi - lo);
  const PromptTimes a = node(i);
  PromptTimes out;
  if (u > 0) {
    const PromptTimes b = node(i + 1);
    out.work_s = (1 - u) * a.work_s + u * b.work_s, out.alone_s = (1 - u) * a.alone_s + u * b.alone_s;
  } else {
    out = a;
  }
  out.transfer_s = link_.latency_s + kv_transfer_bytes(model_, n) / link_.bytes_per_s;
  return out;
}

std::function<double(double)> colocated_chunk_ms(const Model& m, const Pool& attention, const Pool& ffn, PrefillConfig c,
                                                 double mean_input_tokens, double chunk_tokens) {
  c.input_tokens = std::max(1.0, std::round(mean_input_tokens));
  c.batch_tokens = std::max(1.0, chunk_tokens / c.deployment.attention_dp());
  const PrefillResult r = simulate_prefill(m, attention, ffn, c);
  const double ms_per_token = 1e3 / r.input_tokens_per_s;
  return [ms_per_token](double tokens) { return tokens * ms_per_token; };
}

}  // namespace decodesim
