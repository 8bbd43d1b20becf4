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

// ---- One attention layer on one GPU --------------------------------------------------------

AttentionLayerTime attention_layer_time(const Model& m, int layer, double context_tokens, const AttentionShard& shard,
                                        const OpTimer& t, std::vector<LayerOp>* ops) {
  const AttentionSpec& a = m.attention(layer);
  const FfnSpec& f = m.ffn(layer);
  const double H = double(m.hidden_size);
  const double wb = dtype_bytes(m.quant.weights);
  const double req = shard.requests;
  const double rows = req * shard.query_tokens;  // every query token a row of the projections (MTP: K+1 per request)
  const double tp = shard.tp;
  AttentionLayerTime r;
  auto timed = [&](const char* name, const Op& op, double mm, double k, double n) {
    const double us = t.time_us(op);
    if (ops) ops->push_back({name, mm, k, n, op.flops, op.bytes, us, issued_flops(op, t.attention_tile_rows())});
    return us;
  };
  // Heads on this GPU: the KV heads and the projections as deployment.hpp shards them.
  r.q_heads = a.q_heads / tp;
  const double share = kv_share(a, shard.tp);
  r.kv_heads = a.kind == AttentionKind::mla ? 1.0 : share * a.kv_heads;

  // Projections as separate GEMMs, MLA un-absorbed (its absorbed decode form multiplies the same weights).
  for (const Projection& g : attention_projections(a, m.hidden_size)) {
    const double part = projection_share(a, g, shard.tp);
    const bool by_rows = std::string_view(g.name) == "o";
    const double k = by_rows ? g.k * part : g.k, n = by_rows ? g.n : g.n * part;
    r.projections_us += timed(g.name, gemm_op(rows, k, n, wb), rows, k, n);
  }
  // The core reads the KV and moves the BF16 query and output (the calibration's convention); K+1
  // query tokens of a request read its KV once and multiply it K+1 times.
  const LayerCensus lc = layer_census(m, layer, context_tokens);
  const double qk = a.kind == AttentionKind::mla ? a.kv_lora_rank + a.qk_rope_head_dim : a.head_dim;
  const double v = a.kind == AttentionKind::mla ? a.kv_lora_rank : a.head_dim;
  const double qo_bytes = a.kind == AttentionKind::linear ? 0.0 : 2.0 * r.q_heads * (qk + v);
  // The census counts MLA's 576-wide latent for the value product too (the report's convention);
  // the kernel, like the calibration's samples, multiplies only its 512 value columns.
  const double flops = a.kind == AttentionKind::mla ? lc.attention_flops * (qk + v) / (2.0 * qk) : lc.attention_flops;
  // The kernel packs the query rows that share a KV head (MLA: every head shares the one latent)
  // into its M tiles; a linear layer's state update is not tiled that way.
  const double rows_per_kv_head =
      a.kind == AttentionKind::linear ? 0.0 : r.q_heads / r.kv_heads * shard.query_tokens;
  r.core_us = timed("core",
                    {OpClass::attention, rows * flops / tp, req * lc.kv_bytes * share + rows * qo_bytes, a.kind,
                     cache_dtype(a, m.quant), rows_per_kv_head, double(shard.query_tokens)},
                    rows, 0, 0);
  if (shard.tp > 1) {
    const double bytes = rows * H * 2.0;  // o's BF16 output
    r.allreduce_us = collective_us(Collective::all_reduce, bytes, shard.tp, shard.link);
    if (ops) ops->push_back({"allreduce", req, 0, H, 0, bytes, r.allreduce_us, 0});
  }
  if (f.kind == FfnKind::moe) r.router_us = timed("router", gemm_op(rows, H, f.routed_experts, wb), rows, H, f.routed_experts);
  return r;
}

int default_micro_batches(DeploymentKind kind) {
  // Report section 3 (three stages: attention, communication, FFN); DeepSeek-V3 decode
  // (github.com/deepseek-ai/profile-data): two micro-batches, one computing while the other communicates.
  return kind == DeploymentKind::colocated ? 2 : 3;
}

// ---- Stage times -------------------------------------------------------------------------

namespace {

double expert_params(const FfnSpec& f, double H) { return 3.0 * H * f.expert_intermediate; }
double shared_width(const FfnSpec& f) { return double(f.shared_experts) * f.shared_intermediate; }

// The busiest expert-parallel GPU's routed (token, expert) pairs over the mean for one micro-batch
// of `tokens`: the user's measured figure, or the model of collectives.hpp.
double routed_imbalance(const FfnSpec& f, const PipelineConfig& c, double tokens) {
  RoutingShape r;
  r.tokens = tokens, r.top_k = f.top_k, r.experts = f.routed_experts;
  r.ep_gpus = c.deployment.expert_parallel();
  r.redundant_experts = c.transport.routing.redundant_experts;
  r.expert_popularity_cv = c.transport.routing.popularity_cv;
  r.override_ratio = c.transport.routing.imbalance;
  return r.ep_gpus > 1 || r.override_ratio ? expert_imbalance(r) : 1.0;
}

// Copies of a token's hidden state per direction: over the scale-out network, and (EP) over
// NVLink to the other GPUs of its own instance that hold one of its experts.
struct Copies {
  double network = 0, nvlink = 0;
};
Copies token_copies(const FfnSpec& f, const PipelineConfig& c) {
  const Deployment& d = c.deployment;
  const bool colocated = d.colocated();
  if (f.kind == FfnKind::dense) return {colocated ? 0.0 : 1.0, 0.0};  // colocated dense layers run where the token is
  if (c.transport.fanout == Fanout::report) return {1.0, 0.0};  // per_instance and library alike below
  const int nodes = colocated ? d.attention_nodes() : d.ffn_instances;
  const double E = f.routed_experts;
  const double node_hit = 1.0 - expert_miss_probability(E, E / nodes, f.top_k);
  // AFD: every token reaches at least one FFN instance (the shared expert lives in each).
  if (!colocated) return {std::max(1.0, nodes * node_hit), 0.0};
  const double gpu_hit = 1.0 - expert_miss_probability(E, E / d.expert_parallel(), f.top_k);
  const int node_gpus = std::min(d.colocated_gpus, d.gpus_per_instance);
  return {(nodes - 1) * node_hit, (node_gpus - 1) * gpu_hit};
}

double nic_bytes_per_s(const Hardware& hw, const PipelineConfig& c) {
  const double bw = hw.net_bytes_per_s() * c.transport.nic_efficiency;
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

}  // namespace

LayerKernels layer_kernels(const Model& m, int layer, const PipelineConfig& c) {
  if (!c.kernels.serving_stack) return {c.kernels.attention, c.kernels.ffn};
  const AttentionSpec& a = m.attention(layer);
  const FfnSpec& f = m.ffn(layer);
  const Deployment& d = c.deployment;
  // The layer's tokens leave for the FFN: AFD always, expert parallelism for routed experts; under
  // FFN tensor parallelism they stay (gathered by a collective, not packed).
  const bool crosses = !d.colocated() || (f.kind == FfnKind::moe && d.ffn_tp == 1);
  LayerKernels k;
  k.attention = 2;                                        // residual add + RMSNorm before attention and before the FFN
  if (a.kind != AttentionKind::linear) k.attention += 1;  // rotary embedding and the cache write
  if (a.q_lora_rank > 0) k.attention += 1;                // the low-rank query's RMSNorm
  if (a.kind == AttentionKind::mla) k.attention += 1;     // the latent's RMSNorm
  if (f.kind == FfnKind::moe) k.attention += 1;           // router softmax and top-k
  if (crosses) k.attention += 2, k.ffn += 2;              // pack (quantize) and combine; expand into expert order and reduce
  return k;
}

namespace {

// The LM head, the serving stack's sampler passes over the logits and the next token's embedding.
// The head is a GEMM in the model's weight precision like every other (the timers know one GEMM
// precision per model); a checkpoint that keeps it in BF16, as DeepSeek-V3's FP8 one does, reads
// twice the bytes. Each sampler pass is an element-wise kernel over the [rows x vocabulary] logits
// at the bytes its stack reads and writes (ServingStack::sampler), timed like every small kernel so
// the calibration's copy rate and fixed cost apply. Under attention TP the head is split by
// vocabulary and its logits gathered for sampling (vLLM's VocabParallelEmbedding and logits gather).
double head_us(const Model& m, const Pool& attn, const OpTimer& t, const PipelineConfig& c) {
  if (!c.kernels.lm_head) return 0;
  const Deployment& d = c.deployment;
  // MTP: verification samples at every query token, so the head takes K+1 rows per request.
  const double req = c.batch / c.micro_batches / d.attention_dp() * c.mtp.query_tokens();
  const double H = double(m.hidden_size), V = double(m.vocab_size), tp = d.attention_tp;
  double us = t.time_us(gemm_op(req, H, V / tp, dtype_bytes(m.quant.weights))) + t.time_us({OpClass::elementwise, 0, req * H * 2.0});
  for (const SamplerPass& pass : c.serving.sampler)
    us += t.time_us({OpClass::elementwise, 0, req * V * (pass.read_bytes_per_logit + pass.write_bytes_per_logit)});
  if (d.attention_tp > 1)
    us += collective_us(Collective::all_gather, req * V * 2.0, d.attention_tp, group_link(attn.hw, d.attention_tp, d.gpus_per_instance, c.transport.nic_efficiency));
  return us;
}

}  // namespace

Op rows_op(double rows, double H) { return {OpClass::elementwise, 0, rows * H * 2.0 * 2.0}; }

namespace {

StageTimes stage_times(const Model& m, int layer, const Pool& attn, const OpTimer& ta, const Pool& ffn, const OpTimer& tf,
                       const PipelineConfig& c) {
  const Deployment& d = c.deployment;
  const bool colocated = d.colocated();
  const double H = double(m.hidden_size);
  const double wb = dtype_bytes(m.quant.weights);
  const double requests = c.batch / c.micro_batches;  // requests of one micro-batch, whole deployment
  const double T = requests * c.mtp.query_tokens();   // its tokens (MTP: K+1 per request)
  const FfnSpec& f = m.ffn(layer);
  const LayerShard sh = layer_shard(d, f, requests, c.mtp.query_tokens());
  auto link = [&](const Pool& p, int gpus) { return group_link(p.hw, gpus, d.gpus_per_instance, c.transport.nic_efficiency); };
  StageTimes s;

  // Attention: each data-parallel group its own requests, heads split over its TP GPUs; the router runs here too.
  const LinkProfile attention_link = d.attention_tp > 1 ? link(attn, d.attention_tp) : LinkProfile{};
  const AttentionLayerTime at =
      attention_layer_time(m, layer, c.context_tokens, {sh.attention_requests, d.attention_tp, attention_link, sh.query_tokens}, ta);
  s.attention_us = at.layer_us() + at.router_us;
  const LayerKernels k = layer_kernels(m, layer, c);
  s.attention_us += k.attention * ta.time_us(rows_op(sh.attention_rows, H));

  // Network: FP8 out, BF16 back. The busiest GPU's routed load sets the MoE step (Routing).
  const double imbalance = f.kind == FfnKind::moe && !(colocated && d.ffn_tp > 1) ? routed_imbalance(f, c, T) : 1.0;
  const Copies copies = token_copies(f, c);
  const double out_bytes = H * dtype_bytes(m.quant.activations), back_bytes = H * dtype_bytes(m.quant.combine);
  const bool library = c.transport.fanout == Fanout::library;
  if (colocated && d.ffn_tp > 1) {
    // FFN tensor parallel: with data-parallel attention, each GPU gathers every token before the FFN
    // and gets its own rows' sums back (SGLang's DP attention with a TP MLP); with TP attention the
    // tokens are already everywhere.
    if (d.attention_tp < d.ffn_tp) {
      const LinkProfile l = link(attn, d.ffn_tp);
      s.dispatch_us = collective_us(Collective::all_gather, T * H * 2.0, d.ffn_tp, l);
      s.combine_us = collective_us(Collective::reduce_scatter, T * H * 2.0, d.ffn_tp, l);
    }
  } else if (colocated && library && f.kind == FfnKind::moe) {
    // Expert parallel through DeepEP's kernels (low-latency for decode).
    AllToAllShape a2a;
    a2a.tokens_per_gpu = sh.dispatch_rows;
    a2a.hidden = m.hidden_size, a2a.top_k = f.top_k;
    a2a.experts = f.routed_experts + c.transport.routing.redundant_experts;
    a2a.ep_gpus = d.expert_parallel(), a2a.gpus_per_node = d.gpus_per_instance;
    a2a.dispatch_elem_bytes = dtype_bytes(m.quant.activations), a2a.combine_elem_bytes = dtype_bytes(m.quant.combine);
    a2a.dispatch_scale_group = a2a.dispatch_elem_bytes <= 1 ? a2a.dispatch_scale_group : 0;  // scales come with 8-bit values
    a2a.recv_imbalance = imbalance;
    a2a.mode = c.a2a_mode;
    const AllToAllTime t = ep_all_to_all_us(link_profile(attn.hw), a2a);
    s.dispatch_us = t.dispatch_us, s.combine_us = t.combine_us;
  } else if (colocated) {
    // Expert parallel, ideal transport: every GPU sends its own rows and receives as many; NIC and NVLink side by side.
    const double nic = instance_link_bytes_per_s(attn.hw, c), nvlink = attn.hw.intra_node_bytes_per_s;
    auto link_us = [&](double bytes_per_copy) {
      const double over_nic = copies.network > 0 ? sh.dispatch_rows * copies.network * bytes_per_copy / nic : 0.0;
      const double over_nvlink = copies.nvlink > 0 && nvlink > 0 ? sh.dispatch_rows * copies.nvlink * bytes_per_copy / nvlink : 0.0;
      return 1e6 * std::max(over_nic, over_nvlink);
    };
    s.dispatch_us = link_us(out_bytes);
    s.combine_us = link_us(back_bytes);
  } else {
    // Every GPU of each side has its own link: x*N attention links against y*N FFN links; through
    // the libraries at the NICs' measured rate.
    auto side_bytes_per_s = [&](const Hardware& hw) {
      return library && d.gpus_per_instance > 1 ? link_profile(hw).rdma_bytes_per_s : instance_link_bytes_per_s(hw, c);
    };
    const double bw = std::min(d.attention_gpus() * side_bytes_per_s(attn.hw), d.ffn_gpus() * side_bytes_per_s(ffn.hw));
    s.dispatch_us = 1e6 * T * copies.network * out_bytes / bw;
    s.combine_us = 1e6 * T * copies.network * back_bytes / bw;
  }
  // Each transfer of the ideal transport is a message per destination, sent side by side: one link
  // latency each way, the slower side's; through the libraries, their kernels' fixed cost. Dense
  // layers sending nothing pay nothing.
  if (!(colocated && (d.ffn_tp > 1 || library))) {
    const double latency_us = library && d.gpus_per_instance > 1
                                  ? std::max(link_profile(attn.hw).a2a_fixed_us, link_profile(ffn.hw).a2a_fixed_us)
                              : colocated ? attn.hw.link_latency_us
                                          : std::max(attn.hw.link_latency_us, ffn.hw.link_latency_us);
    if (s.dispatch_us > 0) s.dispatch_us += latency_us;
    if (s.combine_us > 0) s.combine_us += latency_us;
  }

  // FFN, as the deployment shards it (layer_shard).
  const Pool& fp = colocated ? attn : ffn;
  const OpTimer& t = colocated ? ta : tf;
  auto mlp = [&](double width) {
    const double w = width / sh.dense_tp;
    return t.time_us(gemm_op(sh.dense_tokens, H, 2.0 * w, wb)) + t.time_us(gemm_op(sh.dense_tokens, w, H, wb));
  };
  double ffn_rows = sh.dense_tokens;  // rows the FFN side's expand and reduce kernels touch
  double partial_sums_rows = 0;       // rows whose partial sums a TP group reduces after the FFN
  if (f.kind == FfnKind::dense) {
    s.ffn_us = mlp(double(f.intermediate));
    if (colocated && d.ffn_tp > 1) partial_sums_rows = sh.dense_tokens;
  } else {
    const double E = f.routed_experts;
    const double hit = 1.0 - std::pow(1.0 - f.top_k / E, sh.group_tokens);  // an expert receives at least one token
    const double slice = 1.0 / sh.expert_tp;
    const double weights = sh.experts_held * hit * expert_params(f, H) * slice * wb;
    const double pairs = sh.routed_pairs * imbalance;  // the busiest GPU's
    auto moe_op = [&](double routed_pairs) {
      return Op{OpClass::moe_ffn, 2.0 * routed_pairs * expert_params(f, H) * slice, weights + routed_pairs * H * (wb + 2.0)};
    };
    Op moe = moe_op(pairs);
    const Op mean = moe_op(sh.routed_pairs);  // what the skew does not add: the deployment's work
    moe.mean_flops = mean.flops, moe.mean_bytes = mean.bytes;
    s.ffn_us = t.time_us(moe);
    if (f.shared_experts > 0) s.ffn_us += mlp(shared_width(f));
    ffn_rows = pairs;
    if (sh.expert_tp > 1) {
      if (colocated) {
        partial_sums_rows = sh.dense_tokens;
      } else {
        // An AFD expert group splits each expert's width: the tokens it receives are gathered over
        // its GPUs and the partial sums reduced back, over NVLink inside the instance.
        const LinkProfile l = link(fp, sh.expert_tp);
        s.ffn_us += collective_us(Collective::all_gather, pairs * out_bytes, sh.expert_tp, l) +
                    collective_us(Collective::reduce_scatter, pairs * H * 2.0, sh.expert_tp, l);
      }
    }
  }
  s.ffn_us += k.ffn * t.time_us(rows_op(ffn_rows, H));
  // Colocated TP with TP attention: the FFN's partial sums all-reduced in place, as vLLM and
  // TensorRT-LLM do after the MLP (with DP attention the reduce-scatter above does it).
  if (partial_sums_rows > 0 && d.attention_tp == d.ffn_tp)
    s.ffn_us += collective_us(Collective::all_reduce, partial_sums_rows * H * 2.0, d.ffn_tp, link(fp, d.ffn_tp));
  // DeepEP's normal kernels (prefill) hold SMs while they run, and with several micro-batches they
  // run beside another micro-batch's attention and FFN: that compute shares the GPU with them
  // (the low-latency kernels hand their SMs back once the RDMA writes are issued).
  if (colocated && library && c.a2a_mode == A2aMode::normal && c.micro_batches > 1) {
    const double compute_us = s.attention_us + s.ffn_us;
    const double shared_us =
        sm_shared_compute_us(compute_us, s.dispatch_us + s.combine_us, attn.hw.sm_count, attn.hw.network.a2a_normal_sms);
    if (compute_us > 0) s.attention_us *= shared_us / compute_us, s.ffn_us *= shared_us / compute_us;
  }
  // A stack that runs each stage task as its own CUDA graph (GraphScope::stage) pays a graph gap
  // before each, and waits on one event per GPU its tokens come back from (attention) or arrive
  // from (FFN): every GPU of the expert-parallel group, or of the other side.
  const bool crosses = s.dispatch_us > 0 || s.combine_us > 0;
  const int attention_waits = !crosses ? 0 : colocated ? d.expert_parallel() : d.ffn_gpus();
  const int ffn_waits = !crosses ? 0 : colocated ? d.expert_parallel() : d.attention_gpus();
  if (s.attention_us > 0) s.attention_us += stage_gap_us(c.serving, attention_waits);
  if (s.ffn_us > 0) s.ffn_us += stage_gap_us(c.serving, ffn_waits);
  return s;
}

}  // namespace

StageTimes layer_stage_times(const Model& m, int layer, const Pool& attention, const Pool& ffn, const PipelineConfig& c) {
  std::unique_ptr<OpTimer> own_a, own_f;
  return stage_times(m, layer, attention, timer_of(attention, own_a, m), ffn, timer_of(ffn, own_f, m), c);
}

double step_head_us(const Model& m, const Pool& attention, const PipelineConfig& c) {
  std::unique_ptr<OpTimer> own;
  return head_us(m, attention, timer_of(attention, own, m), c);
}

double Mtp::tokens_per_step() const {
  double run = 1, tokens = 1;
  for (int i = 0; i < draft_tokens; ++i) {
    run *= acceptance.empty() ? 0.0 : acceptance[std::min<size_t>(i, acceptance.size() - 1)];
    tokens += run;
  }
  return tokens;
}

void check_mtp(const Mtp& mtp, const char* option) {
  if (mtp.draft_tokens < limits::kMtpDraftTokens.lo || mtp.draft_tokens > limits::kMtpDraftTokens.hi)
    throw InputError(fmt::format("{}: expected draft tokens in {}, got {}", option, limits::to_string(limits::kMtpDraftTokens),
                                 mtp.draft_tokens));
  if (mtp.draft_tokens == 0) return;
  if (mtp.acceptance.size() != 1 && mtp.acceptance.size() != size_t(mtp.draft_tokens))
    throw InputError(fmt::format("{}-acceptance: expected one acceptance or {} (one per draft position), got {}", option,
                                 mtp.draft_tokens, mtp.acceptance.size()));
  for (double a : mtp.acceptance)
    if (!(a >= 0 && a <= 1)) throw InputError(fmt::format("{}-acceptance: expected acceptances in [0, 1], got {}", option, a));
}

int draft_layer(const Model& m) {
  for (int l = m.num_layers() - 1; l >= 0; --l)
    if (m.ffn(l).kind == FfnKind::moe) return l;
  return m.num_layers() - 1;
}

namespace {
StageTimes draft_pass(const Model& m, const Pool& attn, const OpTimer& ta, const Pool& ffn, const OpTimer& tf, const PipelineConfig& c) {
  if (c.mtp.draft_tokens == 0) return {};
  // A draft pass proposes one token per request: one query token through a layer of the model's own
  // design (DeepSeek-V3's MTP module: num_nextn_predict_layers 1, one more MoE decoder layer) and
  // the shared LM head, after projecting [RMSNorm(hidden); RMSNorm(embedding)] from 2H to H.
  PipelineConfig one = c;
  one.mtp = {};
  StageTimes s = stage_times(m, draft_layer(m), attn, ta, ffn, tf, one);
  const double req = c.batch / c.micro_batches / c.deployment.attention_dp(), H = double(m.hidden_size);
  s.attention_us += ta.time_us(gemm_op(req, 2.0 * H, H, dtype_bytes(m.quant.weights))) + 2 * ta.time_us(rows_op(req, H)) +
                    head_us(m, attn, ta, one);
  return s;
}
}  // namespace

StageTimes draft_pass_times(const Model& m, const Pool& attention, const Pool& ffn, const PipelineConfig& c) {
  std::unique_ptr<OpTimer> own_a, own_f;
  const Pool& fp = c.deployment.colocated() ? attention : ffn;
  return draft_pass(m, attention, timer_of(attention, own_a, m), fp, timer_of(fp, own_f, m), c);
}

MemoryCheck memory_check(const Model& m, const Pool& attention, const Pool& ffn, const PipelineConfig& c) {
  const Deployment& d = c.deployment;
  const double wb = dtype_bytes(m.quant.weights);
  // MTP: the draft module's layer is held beside the model's (its weights and its own KV).
  const int drafts = c.mtp.draft_tokens > 0 ? 1 : 0, dl = draft_layer(m);
  const ShardParams p = shard_params(m, d, drafts, dl);
  MemoryCheck mc;
  mc.attention_weight_bytes = (p.attention + (d.colocated() ? p.ffn : 0)) * wb;
  mc.attention_kv_bytes = c.batch / d.attention_dp() * kv_bytes_per_request(m, d, c.context_tokens, drafts, dl);
  mc.attention_capacity_bytes = attention.hw.mem_capacity_bytes;
  mc.ffn_weight_bytes = d.colocated() ? 0 : p.ffn * wb;
  mc.ffn_capacity_bytes = d.colocated() ? attention.hw.mem_capacity_bytes : ffn.hw.mem_capacity_bytes;
  return mc;
}

PipelineResult simulate(const Model& m, const Pool& attention, const Pool& ffn, const PipelineConfig& c, Timeline* timeline) {
  const Deployment& d = c.deployment;
  const bool colocated = d.colocated();
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
  if (d.gpus_per_instance < 1) throw InputError("simulate: a deployment needs GPUs per instance");
  check_deployment(d, "simulate:");
  if (c.warmup_steps < 0 || c.steps <= c.warmup_steps) throw InputError("simulate: steps must exceed warmup_steps");
  check_mtp(c.mtp, "simulate: --mtp");
  const Pool& fpool = colocated ? attention : ffn;
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
  p.shared_resources = colocated;
  for (const LayerKinds::Group& g : kinds.groups)
    r.groups.push_back({m.attention(g.first_layer).name, m.ffn(g.first_layer).name, g.layers,
                        stage_times(m, g.first_layer, attention, ta, fpool, tf, c)});
  for (int group : kinds.group_of) p.layers.push_back(r.groups[group].stage);
  // The head comes once per step and micro-batch, between the last layer and the first.
  r.head_us = head_us(m, attention, ta, c);
  p.layers.front().attention_us += r.head_us;
  // MTP: the draft module's K sequential passes follow the model's last layer.
  r.draft = draft_pass(m, attention, ta, fpool, tf, c);
  for (int i = 0; i < c.mtp.draft_tokens; ++i) p.layers.push_back(r.draft);
  if (timeline) timeline->tasks.clear();
  const EventRun run = run_events(p, timeline ? &timeline->tasks : nullptr);

  r.events = run.events;
  // Each step gains tokens_per_step tokens per request on average: TPOT is per accepted token.
  r.tokens_per_step = c.mtp.tokens_per_step();
  // The one place a step's time is formed: the GPUs' schedule, then the serving stack's per-step
  // graph gap and host time (served_step_us).
  r.gpu_step_ms = run.tpot_mean_us * 1e-3;
  const double step_us = served_step_us(run.tpot_mean_us, c.serving);
  r.step_ms = step_us * 1e-3;
  r.tpot_ms = r.step_ms / r.tokens_per_step;
  r.tpot_max_ms = served_step_us(run.tpot_max_us, c.serving) * 1e-3 / r.tokens_per_step;
  r.tokens_per_s = c.batch * r.tokens_per_step / (step_us * 1e-6);
  r.tgs = r.tokens_per_s / d.gpus();
  const double usd_per_s = (colocated ? d.gpus() * attention.hw.usd_per_hour
                               : d.attention_gpus() * attention.hw.usd_per_hour + d.ffn_gpus() * ffn.hw.usd_per_hour) /
                           3600.0;
  r.usd_per_mtok = usd_per_s / r.tokens_per_s * 1e6;
  // A hair of slack so a TPOT equal to the SLA up to rounding counts as met.
  r.sla_met = r.tpot_max_ms <= c.tpot_sla_ms * (1 + 1e-12);
  r.memory = memory_check(m, attention, fpool, c);
  const std::vector<std::string> names = resource_names(colocated);
  for (size_t i = 0; i < names.size(); ++i)
    r.resources.push_back({names[i], run.busy_us_per_step[i] * 1e-3, run.busy_us_per_step[i] / step_us});
  if (timeline) {
    timeline->resources = names;
    timeline->title = fmt::format("{} {} ({}; {} GPUs per node), attention {}, FFN {}, batch {:g} in {} micro-batches, "
                                  "context {:g}, {} steps",
                                  m.id, d.name(), d.parallelism(), d.gpus_per_instance, r.attention_hw, r.ffn_hw, c.batch, c.micro_batches,
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
               {"attention_tp", ""},
               {"attention_dp", ""},
               {"ffn_tp", ""},
               {"expert_parallel", ""},
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
               {"memory_fits", ""},
               {"mtp_draft_tokens", ""},
               {"tokens_per_step", "tok"},
               {"step_ms", "ms"}};
  bool any_colocated = false, any_mtp = false;
  for (const PipelineResult& r : results) {
    const bool colocated = r.config.deployment.colocated();
    any_colocated = any_colocated || colocated;
    const double ua = use_of(r, colocated ? "gpu" : "attention"), un = use_of(r, colocated ? "network" : "a2f");
    t.add({r.model, r.config.deployment.name(), r.attention_hw, r.ffn_hw, r.timing, r.config.context_tokens, r.config.batch,
           double(r.config.micro_batches), r.requests_per_gpu_micro_batch, double(r.config.deployment.gpus()),
           double(r.config.deployment.gpus_per_instance), double(r.config.deployment.attention_tp),
           double(r.config.deployment.attention_dp()), double(r.config.deployment.ffn_tp),
           double(r.config.deployment.expert_parallel()), r.tpot_ms,
           r.tpot_max_ms, r.config.tpot_sla_ms, yes_no(r.sla_met), r.tokens_per_s, r.tgs, r.usd_per_mtok, ua, un,
           colocated ? ua : use_of(r, "ffn"), colocated ? un : use_of(r, "f2a"), r.memory.attention_weight_bytes + r.memory.attention_kv_bytes,
           r.memory.attention_capacity_bytes, r.memory.ffn_weight_bytes, yes_no(r.memory.fits()),
           double(r.config.mtp.draft_tokens), r.tokens_per_step, r.step_ms});
    any_mtp = any_mtp || r.config.mtp.draft_tokens > 0;
  }
  if (any_mtp)
    t.notes.push_back("MTP: a step verifies K+1 query tokens per request and runs the draft module K times; tokens_per_step = "
                      "1 + a_1 + a_1 a_2 + ... accepted; tpot_ms = step_ms / tokens_per_step (the SLA applies to it), TGS "
                      "counts accepted tokens. The draft module is one decoder layer of the model's last MoE layer's design "
                      "and its LM head: DeepSeek-V3's own MTP module (num_nextn_predict_layers 1); for models without one, a "
                      "stated draft layer of that shape.");
  if (any_colocated) t.notes.push_back("Colocated (EP, TP): attention_util = ffn_util is the GPUs' busy share, a2f_util = f2a_util the NICs'.");
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
    if (r.config.mtp.draft_tokens > 0)  // one row per draft pass design, run K times per step
      t.add({r.model, r.config.deployment.name(), r.config.context_tokens, "mtp_draft", "mtp_draft",
             double(r.config.mtp.draft_tokens), r.draft.attention_us, r.draft.dispatch_us, r.draft.ffn_us, r.draft.combine_us});
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
