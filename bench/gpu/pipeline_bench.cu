// decodesim_pipeline_bench: served decoding on the GPUs of one machine, to check the simulator's
// pipeline against a real run. Model-shaped layers (Step-3 or DeepSeek-V3 attention and MoE shapes,
// random weights; every layer reuses one layer's weights and KV, which are far larger than L2, so a
// layer costs what a distinct layer would) run as
//   AFD: attention GPUs and FFN GPUs; per layer and micro-batch the attention GPU runs the projections,
//        the router and the attention core, packs its tokens as e4m3 for each FFN GPU holding one of
//        their experts (or their shared expert), and copies them over NVLink; the FFN GPU expands them
//        into expert order, runs the grouped expert FFN (the shared expert as one more expert), reduces
//        each token's expert outputs and copies bf16 rows back; the attention GPU combines them.
//   EP:  every GPU runs attention for its own requests and the experts it holds, with the same packing
//        and copies between all GPUs (all-to-all).
// Micro-batches are pipelined: each GPU has a compute stream and a copy stream, one host thread
// issues each GPU's work in order, and cross-GPU dependencies are CUDA events. The decode step time
// (TPOT) is measured on GPU 0 between steps after warm-up.
//
//   decodesim_pipeline_bench [--configs NAME,...] [--layers N] [--steps N] [--csv FILE]
//                            [--trace NAME:FILE] [--link-profile FILE]
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <numeric>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "../../src/cuda/attention_host.hpp"
#include "../../src/cuda/gemm_host.hpp"
#include "../../src/cuda/moe_host.hpp"
#include "../../src/cuda/rows.hpp"

namespace d = decodesim::gpu::detail;
using decodesim::gpu::AttentionShape;
using decodesim::gpu::KvLayout;

namespace {

// ---- model shapes (public configs; see models/step3.json and models/deepseek-v3.json) --------------

struct Shape {
  std::string name;
  int hidden;
  std::string design;
  int q_heads, kv_heads, qk_dim, v_dim;
  std::vector<std::pair<int, int>> projections;  // (k, n) of each attention projection, in order
  int experts, top_k, inter;                     // routed experts; the shared expert has width `inter` too
};

const Shape kStep3{"step3", 7168, "mfa", 64, 1, 256, 256, {{7168, 2048}, {2048, 64 * 256}, {7168, 512}, {64 * 256, 7168}}, 48, 3, 5120};
const Shape kDeepSeek{"deepseek-v3", 7168, "mla", 128, 1, 576, 512,
                      {{7168, 1536}, {1536, 128 * 192}, {7168, 576}, {512, 128 * 256}, {128 * 128, 7168}}, 256, 8, 2048};

struct Config {
  std::string name;
  const Shape* shape;
  bool ep;
  int attn_gpus, ffn_gpus;  // EP: attn_gpus GPUs doing both
  int context, batch, micro_batches;
  bool fp8_kv = true;
  int gpus() const { return ep ? attn_gpus : attn_gpus + ffn_gpus; }
  std::string deployment() const {
    return ep ? "EP" + std::to_string(attn_gpus) : std::to_string(attn_gpus) + "A" + std::to_string(ffn_gpus) + "F";
  }
};

std::vector<Config> all_configs() {
  std::vector<Config> c;
  auto afd = [&](const Shape& s, int a, int f, int ctx, int batch, int mb) {
    c.push_back({s.name + "-" + std::to_string(a) + "A" + std::to_string(f) + "F-c" + std::to_string(ctx) + "-b" + std::to_string(batch) + "-m" +
                     std::to_string(mb),
                 &s, false, a, f, ctx, batch, mb});
  };
  auto ep = [&](const Shape& s, int g, int ctx, int batch, int mb) {
    c.push_back({s.name + "-EP" + std::to_string(g) + "-c" + std::to_string(ctx) + "-b" + std::to_string(batch) + "-m" + std::to_string(mb), &s, true,
                 g, g, ctx, batch, mb});
  };
  afd(kStep3, 1, 1, 4096, 96, 3);
  afd(kStep3, 1, 1, 4096, 192, 3);
  afd(kStep3, 1, 1, 8192, 96, 3);
  afd(kStep3, 1, 1, 4096, 128, 2);
  afd(kStep3, 2, 2, 4096, 384, 3);
  afd(kStep3, 3, 1, 4096, 384, 3);
  afd(kStep3, 1, 3, 4096, 192, 3);
  ep(kStep3, 2, 4096, 128, 2);
  ep(kStep3, 4, 4096, 256, 2);
  ep(kDeepSeek, 2, 4096, 128, 2);
  ep(kDeepSeek, 4, 4096, 256, 2);
  ep(kDeepSeek, 4, 8192, 128, 2);
  afd(kDeepSeek, 1, 1, 4096, 96, 3);
  afd(kDeepSeek, 2, 2, 4096, 256, 3);
  return c;
}

// ---- cross-GPU events, each recorded once and waited by other host threads ---------------------------

struct Signal {
  cudaEvent_t ev = nullptr;
  std::atomic<int> set{0};
};

class Signals {
 public:
  // One signal per (kind, step, layer, micro-batch, gpu).
  Signals(int kinds, int steps, int layers, int mbs, int gpus) : dims_{kinds, steps, layers, mbs, gpus} {
    v_ = std::vector<Signal>(size_t(kinds) * steps * layers * mbs * gpus);
  }
  Signal& at(int kind, int step, int layer, int mb, int gpu) {
    return v_[((((size_t(kind) * dims_[1] + step) * dims_[2] + layer) * dims_[3] + mb) * dims_[4]) + gpu];
  }
  void record(Signal& s, cudaStream_t st) {
    if (!s.ev) DS_CUDA(cudaEventCreateWithFlags(&s.ev, cudaEventDisableTiming));
    DS_CUDA(cudaEventRecord(s.ev, st));
    s.set.store(1, std::memory_order_release);
  }
  static void wait(Signal& s, cudaStream_t st) {
    while (!s.set.load(std::memory_order_acquire)) std::this_thread::yield();
    DS_CUDA(cudaStreamWaitEvent(st, s.ev, 0));
  }
  ~Signals() {
    for (Signal& s : v_)
      if (s.ev) cudaEventDestroy(s.ev);
  }

 private:
  int dims_[5];
  std::vector<Signal> v_;
};
enum SignalKind { kPacked, kSent, kFfnDone, kReturned, kSignalKinds };

// ---- device arrays of a row gather -----------------------------------------------------------------

struct GatherPlan {
  std::vector<const void*> src;
  std::vector<float> weight;
  std::vector<int> start{0};
  std::vector<void*> out;
  d::DeviceBuffer dsrc, dw, dstart, dout;
  d::RowGather g;
  void add_row(void* out_row) { out.push_back(out_row), start.push_back(int(src.size())); }
  void term(const void* row, float w) { src.push_back(row), weight.push_back(w); }
  // Finish: call add_row after its terms.
  void upload(int width, d::RowType in, d::RowType out_type, float in_scale, float out_inv_scale) {
    auto put = [](d::DeviceBuffer& b, const void* p, size_t bytes) {
      b.alloc(std::max<size_t>(bytes, 16));
      if (bytes) DS_CUDA(cudaMemcpy(b.get(), p, bytes, cudaMemcpyHostToDevice));
    };
    put(dsrc, src.data(), src.size() * sizeof(void*));
    put(dw, weight.data(), weight.size() * sizeof(float));
    put(dstart, start.data(), start.size() * sizeof(int));
    put(dout, out.data(), out.size() * sizeof(void*));
    g.src = dsrc.get<const void* const>(), g.weight = dw.get<float>(), g.start = dstart.get<int>(), g.out = dout.get<void* const>();
    g.rows = int(out.size()), g.width = width, g.in = in, g.out_type = out_type, g.in_scale = in_scale, g.out_inv_scale = out_inv_scale;
  }
};

constexpr float kDispatchScale = 1.f / 16.f;  // static per-tensor scale of the e4m3 hidden states

// ---- one GPU's part of a configuration ----------------------------------------------------------------

struct MicroBatch {
  // attention side
  int tokens = 0;
  std::unique_ptr<d::AttnData> attn;
  d::DeviceBuffer h;       // [tokens][H] bf16: the layer input (combine writes it)
  d::DeviceBuffer send;    // packed e4m3 rows for other GPUs, grouped by destination
  d::DeviceBuffer ret;     // bf16 rows returned by each FFN GPU, grouped by source
  std::vector<size_t> send_off, send_rows;  // per destination GPU: first packed row, rows
  std::vector<size_t> ret_off;              // per FFN GPU: first returned row
  GatherPlan pack, combine;
  // FFN side
  d::DeviceBuffer recv;    // e4m3 rows from each attention GPU, grouped by source
  std::vector<size_t> recv_off, recv_rows;  // per source GPU
  d::DeviceBuffer x, act, y, counts, offsets, ret_send;
  std::vector<int> expert_counts;
  std::vector<size_t> ret_send_off;  // per source GPU
  GatherPlan expand, reduce;
  cudaGraphExec_t attn_graph = nullptr, ffn_graph = nullptr;
};

struct Gpu {
  int dev = 0;
  bool attention = false, ffn = false;
  cudaStream_t compute = nullptr, copy = nullptr;
  // attention weights: one GEMM per projection + router, shared by the micro-batches
  std::vector<std::unique_ptr<d::GemmData>> gemm;
  std::vector<std::unique_ptr<d::LtMatmul>> mm;
  const d::AttnVariant* variant = nullptr;
  std::vector<d::AttnLaunch> launch;  // per micro-batch
  // FFN weights: local routed experts + the shared expert, as one grouped FFN
  int local_experts = 0;
  d::DeviceBuffer w1, w2;
  std::vector<MicroBatch> mb;
  std::vector<cudaEvent_t> trace_events;
};

struct Routing {
  // per micro-batch, per token (global index over the attention GPUs' tokens): its routed experts
  std::vector<std::vector<std::vector<int>>> experts;
};

int expert_owner(int e, int experts, int ffn_gpus) { return int((long long)e * ffn_gpus / experts); }
int first_expert(int g, int experts, int ffn_gpus) { return int(((long long)g * experts + ffn_gpus - 1) / ffn_gpus); }

struct Timing {
  double tpot_ms = 0;
  double attention_us = 0, ffn_us = 0;  // one micro-batch's graph alone, GPU 0 / first FFN GPU
  std::string trace_json;
};

// ---- the run ---------------------------------------------------------------------------------------

class Run {
 public:
  Run(const Config& c, int layers, int steps, bool trace) : c_(c), L_(layers), S_(steps), trace_(trace) {}

  Timing go() {
    setup();
    Timing t;
    t.tpot_ms = run_steps();
    measure_parts(t);
    if (trace_) t.trace_json = trace_json();
    return t;
  }

  ~Run() {
    for (Gpu& g : gpus_) {
      cudaSetDevice(g.dev);
      for (MicroBatch& m : g.mb) {
        if (m.attn_graph) cudaGraphExecDestroy(m.attn_graph);
        if (m.ffn_graph) cudaGraphExecDestroy(m.ffn_graph);
      }
      for (cudaEvent_t e : g.trace_events) cudaEventDestroy(e);
      if (g.compute) cudaStreamDestroy(g.compute);
      if (g.copy) cudaStreamDestroy(g.copy);
    }
  }

 private:
  const Config& c_;
  int L_, S_;
  bool trace_;
  std::vector<Gpu> gpus_;
  Routing route_;
  std::vector<std::vector<int>> tokens_of_;  // per micro-batch, per attention GPU: its token count
  std::vector<cudaEvent_t> step_events_;
  // trace: per GPU, (stream name, label, start event index, end event index)
  struct TraceItem {
    int gpu;
    const char* lane;
    std::string label;
    int e0, e1;
  };
  std::vector<TraceItem> trace_items_;

  int G() const { return c_.gpus(); }
  int n_attn() const { return c_.attn_gpus; }
  int n_ffn() const { return c_.ep ? c_.attn_gpus : c_.ffn_gpus; }
  int attn_gpu(int i) const { return i; }                          // index in gpus_
  int ffn_gpu(int j) const { return c_.ep ? j : c_.attn_gpus + j; }

  void setup() {
    const Shape& s = *c_.shape;
    gpus_.resize(G());
    for (int i = 0; i < G(); ++i) {
      Gpu& g = gpus_[i];
      g.dev = i;
      g.attention = c_.ep || i < c_.attn_gpus;
      g.ffn = c_.ep || i >= c_.attn_gpus;
      DS_CUDA(cudaSetDevice(i));
      for (int j = 0; j < G(); ++j)
        if (j != i) {
          const cudaError_t e = cudaDeviceEnablePeerAccess(j, 0);
          if (e != cudaSuccess && e != cudaErrorPeerAccessAlreadyEnabled) DS_CUDA(e);
          cudaGetLastError();
        }
      DS_CUDA(cudaStreamCreateWithFlags(&g.compute, cudaStreamNonBlocking));
      DS_CUDA(cudaStreamCreateWithFlags(&g.copy, cudaStreamNonBlocking));
      g.mb.resize(c_.micro_batches);
    }
    // tokens per micro-batch per attention GPU (the batch split as evenly as whole requests allow)
    tokens_of_.assign(c_.micro_batches, std::vector<int>(n_attn(), 0));
    for (int r = 0; r < c_.batch; ++r) ++tokens_of_[r % c_.micro_batches][(r / c_.micro_batches) % n_attn()];
    // routing: top-k distinct experts per token, uniform (balanced routing, as the simulator assumes)
    std::mt19937 rng(20261126);
    route_.experts.resize(c_.micro_batches);
    for (int m = 0; m < c_.micro_batches; ++m) {
      const int T = std::accumulate(tokens_of_[m].begin(), tokens_of_[m].end(), 0);
      route_.experts[m].resize(T);
      std::vector<int> ids(s.experts);
      std::iota(ids.begin(), ids.end(), 0);
      for (int t = 0; t < T; ++t) {
        for (int k = 0; k < s.top_k; ++k) std::swap(ids[k], ids[k + rng() % (s.experts - k)]);
        route_.experts[m][t].assign(ids.begin(), ids.begin() + s.top_k);
      }
    }
    for (int i = 0; i < G(); ++i) setup_weights(i);
    for (int m = 0; m < c_.micro_batches; ++m) setup_traffic(m);
    for (int i = 0; i < G(); ++i) {
      DS_CUDA(cudaSetDevice(gpus_[i].dev));
      for (int m = 0; m < c_.micro_batches; ++m) capture_graphs(i, m);
    }
  }

  void setup_weights(int i) {
    const Shape& s = *c_.shape;
    Gpu& g = gpus_[i];
    DS_CUDA(cudaSetDevice(g.dev));
    if (g.attention) {
      const int ai = i;  // attention GPUs come first
      int most = 0;
      for (int m = 0; m < c_.micro_batches; ++m) most = std::max(most, tokens_of_[m][ai]);
      // one GEMM set per micro-batch (its activations), tuned once at the largest micro-batch
      std::vector<std::pair<int, int>> proj = s.projections;
      proj.push_back({s.hidden, s.experts});  // router
      for (auto [k, n] : proj) {
        g.gemm.push_back(std::make_unique<d::GemmData>(std::max(most, 1), n, k, true, c_.micro_batches));
        g.mm.push_back(std::make_unique<d::LtMatmul>(std::max(most, 1), n, k, true, g.gemm.back()->w_scale_dev(), g.gemm.back()->x_scale_dev()));
        d::GemmData& gd = *g.gemm.back();
        d::LtMatmul& mm = *g.mm.back();
        // the algorithm choice of a shape is the same on every GPU of the machine: search it once
        static std::map<std::tuple<int, int, int>, int> chosen;
        const auto key = std::make_tuple(std::max(most, 1), n, k);
        mm.run(gd.w[0].get(), gd.x[0].get(), gd.y[0].get(), d::stream());  // sets up the device's workspace outside any capture
        if (auto it = chosen.find(key); it != chosen.end()) mm.pick(it->second);
        else {
          mm.tune([&](int r) { mm.run(gd.w[r % gd.sets].get(), gd.x[r % gd.sets].get(), gd.y[r % gd.sets].get(), d::stream()); }, 4);
          chosen[key] = mm.chosen();
        }
      }
      AttentionShape as;
      as.model = s.name, as.design = s.design, as.q_heads = s.q_heads, as.kv_heads = s.kv_heads, as.qk_dim = s.qk_dim, as.v_dim = s.v_dim;
      as.context = c_.context, as.kv_bits = c_.fp8_kv ? 8 : 16, as.layout = KvLayout::paged;
      for (int m = 0; m < c_.micro_batches; ++m) {
        as.batch = std::max(tokens_of_[m][ai], 1);
        g.mb[m].attn = std::make_unique<d::AttnData>(as, 1);
        g.mb[m].tokens = tokens_of_[m][ai];
      }
      // the fastest warpgroup/mma variant on this shape (timed, not checked: the kernels' checks are the GPU tests)
      as.batch = std::max(tokens_of_[0][ai], 1);
      double best = 1e30;
      for (const d::AttnVariant* v : d::matching_variants(as)) {
        const d::AttnLaunch L = d::plan_launch(as, *v);
        d::AttnData& ad = *g.mb[0].attn;
        const double t = d::median(d::time_runs(2, 5, [&](int) { ad.launch(L, 0, d::stream()); }));
        if (t < best) best = t, g.variant = v;
      }
      for (int m = 0; m < c_.micro_batches; ++m) {
        AttentionShape sm = as;
        sm.batch = std::max(tokens_of_[m][ai], 1);
        g.launch.push_back(d::plan_launch(sm, *g.variant));
        g.mb[m].attn->ensure_partials(g.launch.back().splits);  // allocated now, not while a graph is captured
        g.mb[m].h.alloc(size_t(std::max(g.mb[m].tokens, 1)) * s.hidden * 2);
        d::fill_bf16(g.mb[m].h.get(), size_t(std::max(g.mb[m].tokens, 1)) * s.hidden, d::next_seed(), -1.f, 1.f, d::stream());
      }
    }
    if (g.ffn) {
      const int fi = c_.ep ? i : i - c_.attn_gpus;
      const int e0 = first_expert(fi, s.experts, n_ffn()), e1 = first_expert(fi + 1, s.experts, n_ffn());
      g.local_experts = e1 - e0 + 1;  // + the shared expert
      const size_t n1 = size_t(g.local_experts) * 2 * s.inter * s.hidden, n2 = size_t(g.local_experts) * s.hidden * s.inter;
      g.w1.alloc(n1), g.w2.alloc(n2);
      d::fill_fp8(g.w1.get(), n1, d::next_seed(), 16.f, d::stream());
      d::fill_fp8(g.w2.get(), n2, d::next_seed(), 16.f, d::stream());
    }
    DS_CUDA(cudaStreamSynchronize(d::stream()));
  }

  // Which tokens each attention GPU sends to each FFN GPU, the expert order there, and the way back.
  void setup_traffic(int m) {
    const Shape& s = *c_.shape;
    const int H = s.hidden;
    const int A = n_attn(), F = n_ffn();
    // token ranges of the attention GPUs in this micro-batch's global token order
    std::vector<int> first(A + 1, 0);
    for (int a = 0; a < A; ++a) first[a + 1] = first[a] + tokens_of_[m][a];
    // per (source a, destination f): the tokens sent, and for each its local experts (routed, shared)
    struct Sent {
      int token;
      std::vector<int> local;  // local expert index on f (the shared expert is the last)
    };
    std::vector<std::vector<std::vector<Sent>>> sent(A, std::vector<std::vector<Sent>>(F));
    for (int a = 0; a < A; ++a)
      for (int t = first[a]; t < first[a + 1]; ++t) {
        std::map<int, std::vector<int>> by_gpu;
        for (int e : route_.experts[m][t]) {
          const int f = expert_owner(e, s.experts, F);
          by_gpu[f].push_back(e - first_expert(f, s.experts, F));
        }
        // the shared expert: EP runs it where the token is; AFD on one FFN GPU chosen by token
        const int fs = c_.ep ? a : t % F;
        by_gpu[fs].push_back(first_expert(fs + 1, s.experts, F) - first_expert(fs, s.experts, F));
        for (auto& [f, local] : by_gpu) sent[a][f].push_back({t - first[a], local});
      }
    // buffers and row offsets
    for (int a = 0; a < A; ++a) {
      MicroBatch& mb = gpus_[attn_gpu(a)].mb[m];
      mb.send_off.assign(F, 0), mb.send_rows.assign(F, 0), mb.ret_off.assign(F, 0);
      size_t rows = 0;
      for (int f = 0; f < F; ++f) mb.send_off[f] = rows, mb.send_rows[f] = sent[a][f].size(), rows += sent[a][f].size();
      DS_CUDA(cudaSetDevice(gpus_[attn_gpu(a)].dev));
      mb.send.alloc(std::max<size_t>(rows, 1) * H);
      mb.ret.alloc(std::max<size_t>(rows, 1) * H * 2);
      for (int f = 0; f < F; ++f) mb.ret_off[f] = mb.send_off[f];  // returned rows mirror the sent ones
    }
    for (int f = 0; f < F; ++f) {
      Gpu& fg = gpus_[ffn_gpu(f)];
      MicroBatch& mb = fg.mb[m];
      mb.recv_off.assign(A, 0), mb.recv_rows.assign(A, 0), mb.ret_send_off.assign(A, 0);
      size_t rows = 0;
      for (int a = 0; a < A; ++a) mb.recv_off[a] = rows, mb.recv_rows[a] = sent[a][f].size(), rows += sent[a][f].size();
      DS_CUDA(cudaSetDevice(fg.dev));
      mb.recv.alloc(std::max<size_t>(rows, 1) * H);
      d::fill_fp8(mb.recv.get(), std::max<size_t>(rows, 1) * H, d::next_seed(), 16.f, d::stream());
      mb.ret_send.alloc(std::max<size_t>(rows, 1) * H * 2);
      for (int a = 0; a < A; ++a) mb.ret_send_off[a] = mb.recv_off[a];
      // expanded rows in local expert order
      std::vector<std::vector<std::pair<int, size_t>>> per_expert(fg.local_experts);  // (expanded row's source row)
      for (int a = 0; a < A; ++a)
        for (size_t j = 0; j < sent[a][f].size(); ++j)
          for (int le : sent[a][f][j].local) per_expert[le].push_back({a, mb.recv_off[a] + j});
      mb.expert_counts.assign(fg.local_experts, 0);
      std::vector<int> offs(fg.local_experts, 0);
      size_t total = 0;
      for (int le = 0; le < fg.local_experts; ++le) offs[le] = int(total), mb.expert_counts[le] = int(per_expert[le].size()), total += per_expert[le].size();
      mb.x.alloc(std::max<size_t>(total, 1) * H);
      mb.act.alloc(std::max<size_t>(total, 1) * s.inter);
      mb.y.alloc(std::max<size_t>(total, 1) * H * 2);
      mb.counts.alloc(fg.local_experts * sizeof(int));
      mb.offsets.alloc(fg.local_experts * sizeof(int));
      DS_CUDA(cudaMemcpy(mb.counts.get(), mb.expert_counts.data(), fg.local_experts * sizeof(int), cudaMemcpyHostToDevice));
      DS_CUDA(cudaMemcpy(mb.offsets.get(), offs.data(), fg.local_experts * sizeof(int), cudaMemcpyHostToDevice));
      // expand: expanded row i <- received row; reduce: received row <- mean of its expanded rows
      std::vector<std::vector<size_t>> expanded_of(rows);
      size_t i = 0;
      for (int le = 0; le < fg.local_experts; ++le)
        for (auto [a, r] : per_expert[le]) {
          mb.expand.term(mb.recv.get<unsigned char>() + r * H, 1.f);
          mb.expand.add_row(mb.x.get<unsigned char>() + i * H);
          expanded_of[r].push_back(i++);
        }
      mb.expand.upload(H, d::RowType::e4m3, d::RowType::e4m3, 1.f, 1.f);
      for (int a = 0; a < A; ++a)
        for (size_t j = 0; j < sent[a][f].size(); ++j) {
          const size_t r = mb.recv_off[a] + j;
          for (size_t e : expanded_of[r]) mb.reduce.term(mb.y.get<unsigned char>() + e * H * 2, 1.f / expanded_of[r].size());
          // EP: rows for this GPU's own tokens go straight into its return buffer
          void* out = (c_.ep && a == f) ? static_cast<void*>(gpus_[attn_gpu(a)].mb[m].ret.get<unsigned char>() + (gpus_[attn_gpu(a)].mb[m].ret_off[f] + j) * H * 2)
                                        : static_cast<void*>(mb.ret_send.get<unsigned char>() + r * H * 2);
          mb.reduce.add_row(out);
        }
      mb.reduce.upload(H, d::RowType::bf16, d::RowType::bf16, 1.f, 1.f);
    }
    // pack (attention side): token rows, quantized, into the send buffer (EP: own rows straight into recv)
    for (int a = 0; a < A; ++a) {
      Gpu& ag = gpus_[attn_gpu(a)];
      MicroBatch& mb = ag.mb[m];
      DS_CUDA(cudaSetDevice(ag.dev));
      std::vector<std::vector<std::pair<int, size_t>>> returned_rows(std::max(mb.tokens, 1));
      for (int f = 0; f < F; ++f)
        for (size_t j = 0; j < sent[a][f].size(); ++j) {
          const int t = sent[a][f][j].token;
          mb.pack.term(mb.h.get<unsigned char>() + size_t(t) * H * 2, 1.f);
          MicroBatch& fm = gpus_[ffn_gpu(f)].mb[m];
          void* out = (c_.ep && a == f) ? static_cast<void*>(fm.recv.get<unsigned char>() + (fm.recv_off[a] + j) * H)
                                        : static_cast<void*>(mb.send.get<unsigned char>() + (mb.send_off[f] + j) * H);
          mb.pack.add_row(out);
          returned_rows[t].push_back({f, mb.ret_off[f] + j});
        }
      mb.pack.upload(H, d::RowType::bf16, d::RowType::e4m3, 1.f, 1.f / kDispatchScale);
      for (int t = 0; t < mb.tokens; ++t) {
        for (auto [f, r] : returned_rows[t]) mb.combine.term(mb.ret.get<unsigned char>() + r * H * 2, 1.f / returned_rows[t].size());
        mb.combine.add_row(mb.h.get<unsigned char>() + size_t(t) * H * 2);
      }
      mb.combine.upload(H, d::RowType::bf16, d::RowType::bf16, 1.f, 1.f);
      DS_CUDA(cudaMemset(mb.ret.get(), 0, mb.ret.bytes()));
    }
  }

  void capture_graphs(int i, int m) {
    Gpu& g = gpus_[i];
    MicroBatch& mb = g.mb[m];
    const Shape& s = *c_.shape;
    auto capture = [&](cudaGraphExec_t& exec, const std::function<void()>& body) {
      body();  // once eagerly: lazy set-up (kernel attributes, workspaces) must not happen inside a capture
      DS_CUDA(cudaStreamSynchronize(g.compute));
      cudaGraph_t gr = nullptr;
      DS_CUDA(cudaStreamBeginCapture(g.compute, cudaStreamCaptureModeThreadLocal));
      body();
      DS_CUDA(cudaStreamEndCapture(g.compute, &gr));
      DS_CUDA(cudaGraphInstantiate(&exec, gr, 0));
      DS_CUDA(cudaGraphDestroy(gr));
    };
    if (g.attention && mb.tokens > 0)
      capture(mb.attn_graph, [&] {
        d::gather_rows(mb.combine.g, g.compute);  // the previous layer's FFN outputs into h
        for (size_t p = 0; p + 1 < g.mm.size(); ++p) g.mm[p]->run(g.gemm[p]->w[m].get(), g.gemm[p]->x[m].get(), g.gemm[p]->y[m].get(), g.compute);
        mb.attn->launch(g.launch[m], 0, g.compute);
        const size_t r = g.mm.size() - 1;  // router
        g.mm[r]->run(g.gemm[r]->w[m].get(), g.gemm[r]->x[m].get(), g.gemm[r]->y[m].get(), g.compute);
        d::gather_rows(mb.pack.g, g.compute);
      });
    if (g.ffn)
      capture(mb.ffn_graph, [&] {
        d::gather_rows(mb.expand.g, g.compute);
        d::MoeParams p{};
        p.counts = mb.counts.get<int>(), p.offsets = mb.offsets.get<int>();
        p.experts = g.local_experts, p.hidden = s.hidden, p.inter = s.inter;
        p.x = mb.x.get(), p.w1 = g.w1.get(), p.w2 = g.w2.get(), p.act = mb.act.get(), p.y = mb.y.get<__nv_bfloat16>();
        const float wsc1 = float(std::sqrt(3.0 / s.hidden)) / 16.f, wsc2 = float(std::sqrt(3.0 / s.inter)) / 16.f;
        p.gate_up_scale = wsc1 * kDispatchScale;
        p.down_scale = wsc2 * d::moe_act_scale();
        p.act_inv_scale = 1.f / d::moe_act_scale();
        d::grouped_moe_forward(p, mb.expert_counts, true, g.compute);
        d::gather_rows(mb.reduce.g, g.compute);
      });
  }

  int trace_event(Gpu& g, cudaStream_t st) {
    cudaEvent_t e;
    DS_CUDA(cudaEventCreate(&e));
    DS_CUDA(cudaEventRecord(e, st));
    g.trace_events.push_back(e);
    return int(g.trace_events.size()) - 1;
  }

  // One host thread per GPU issues its work in order; returns the mean step time after warm-up.
  double run_steps() {
    const int M = c_.micro_batches, A = n_attn(), F = n_ffn();
    Signals sig(kSignalKinds, S_, L_, M, G());
    step_events_.assign(S_, nullptr);
    for (Gpu& g : gpus_) {
      DS_CUDA(cudaSetDevice(g.dev));
      DS_CUDA(cudaDeviceSynchronize());
      if (trace_) trace_event(g, g.compute);  // t0 of this GPU
    }
    DS_CUDA(cudaSetDevice(gpus_[0].dev));
    for (auto& e : step_events_) DS_CUDA(cudaEventCreate(&e));
    std::mutex trace_mu;
    auto note = [&](int gi, const char* lane, std::string label, int e0, int e1) {
      std::lock_guard<std::mutex> lk(trace_mu);
      trace_items_.push_back({gi, lane, std::move(label), e0, e1});
    };

    auto attention_part = [&](int gi, int step, int l, int m) {
      Gpu& g = gpus_[gi];
      MicroBatch& mb = g.mb[m];
      const int a = gi;
      // the previous layer's returns from every FFN GPU (layer -1: the previous step's last layer)
      const int ps = l == 0 ? step - 1 : step, pl = l == 0 ? L_ - 1 : l - 1;
      if (ps >= 0)
        for (int f = 0; f < F; ++f)
          if (mb.send_rows[f] > 0) Signals::wait(sig.at(kReturned, ps, pl, m, ffn_gpu(f)), g.compute);
      if (gi == 0 && l == 0 && m == 0) DS_CUDA(cudaEventRecord(step_events_[step], g.compute));
      int e0 = trace_ ? trace_event(g, g.compute) : -1;
      if (mb.attn_graph) DS_CUDA(cudaGraphLaunch(mb.attn_graph, g.compute));
      if (trace_) note(gi, "compute", "attention L" + std::to_string(l) + " mb" + std::to_string(m), e0, trace_event(g, g.compute));
      sig.record(sig.at(kPacked, step, l, m, gi), g.compute);
      Signals::wait(sig.at(kPacked, step, l, m, gi), g.copy);
      e0 = trace_ ? trace_event(g, g.copy) : -1;
      for (int f = 0; f < F; ++f) {
        if (c_.ep && ffn_gpu(f) == gi) continue;  // own tokens were packed in place
        if (mb.send_rows[f] == 0) continue;
        Gpu& fg = gpus_[ffn_gpu(f)];
        DS_CUDA(cudaMemcpyPeerAsync(fg.mb[m].recv.get<unsigned char>() + fg.mb[m].recv_off[a] * c_.shape->hidden, fg.dev,
                                    mb.send.get<unsigned char>() + mb.send_off[f] * c_.shape->hidden, g.dev,
                                    mb.send_rows[f] * c_.shape->hidden, g.copy));
      }
      if (trace_) note(gi, "copy", "dispatch L" + std::to_string(l) + " mb" + std::to_string(m), e0, trace_event(g, g.copy));
      sig.record(sig.at(kSent, step, l, m, gi), g.copy);
    };
    auto ffn_part = [&](int gi, int step, int l, int m) {
      Gpu& g = gpus_[gi];
      MicroBatch& mb = g.mb[m];
      const int f = c_.ep ? gi : gi - c_.attn_gpus;
      for (int a = 0; a < A; ++a)
        if (mb.recv_rows[a] > 0) Signals::wait(sig.at(kSent, step, l, m, attn_gpu(a)), g.compute);
      int e0 = trace_ ? trace_event(g, g.compute) : -1;
      DS_CUDA(cudaGraphLaunch(mb.ffn_graph, g.compute));
      if (trace_) note(gi, "compute", "ffn L" + std::to_string(l) + " mb" + std::to_string(m), e0, trace_event(g, g.compute));
      sig.record(sig.at(kFfnDone, step, l, m, gi), g.compute);
      Signals::wait(sig.at(kFfnDone, step, l, m, gi), g.copy);
      e0 = trace_ ? trace_event(g, g.copy) : -1;
      for (int a = 0; a < A; ++a) {
        if (c_.ep && attn_gpu(a) == gi) continue;
        if (mb.recv_rows[a] == 0) continue;
        Gpu& ag = gpus_[attn_gpu(a)];
        DS_CUDA(cudaMemcpyPeerAsync(ag.mb[m].ret.get<unsigned char>() + ag.mb[m].ret_off[f] * c_.shape->hidden * 2, ag.dev,
                                    mb.ret_send.get<unsigned char>() + mb.ret_send_off[a] * c_.shape->hidden * 2, g.dev,
                                    mb.recv_rows[a] * c_.shape->hidden * 2, g.copy));
      }
      if (trace_) note(gi, "copy", "combine L" + std::to_string(l) + " mb" + std::to_string(m), e0, trace_event(g, g.copy));
      sig.record(sig.at(kReturned, step, l, m, gi), g.copy);
    };

    std::vector<std::thread> threads;
    std::exception_ptr err;
    std::mutex err_mu;
    for (int gi = 0; gi < G(); ++gi)
      threads.emplace_back([&, gi] {
        try {
          DS_CUDA(cudaSetDevice(gpus_[gi].dev));
          for (int step = 0; step < S_; ++step)
            for (int l = 0; l < L_; ++l) {
              if (c_.ep) {
                for (int m = 0; m < M; ++m) attention_part(gi, step, l, m);
                for (int m = 0; m < M; ++m) ffn_part(gi, step, l, m);
              } else {
                for (int m = 0; m < M; ++m) {
                  if (gpus_[gi].attention) attention_part(gi, step, l, m);
                  else ffn_part(gi, step, l, m);
                }
              }
            }
        } catch (...) {
          std::lock_guard<std::mutex> lk(err_mu);
          if (!err) err = std::current_exception();
        }
      });
    for (auto& t : threads) t.join();
    if (err) std::rethrow_exception(err);
    for (Gpu& g : gpus_) {
      DS_CUDA(cudaSetDevice(g.dev));
      DS_CUDA(cudaDeviceSynchronize());
    }
    // the step starts after warm-up (the first two fill and settle the pipeline)
    DS_CUDA(cudaSetDevice(gpus_[0].dev));
    const int W = std::min(2, S_ - 2);
    float ms = 0;
    DS_CUDA(cudaEventElapsedTime(&ms, step_events_[W], step_events_[S_ - 1]));
    for (auto e : step_events_) cudaEventDestroy(e);
    return ms / (S_ - 1 - W);
  }

  // Each GPU's graphs alone (no other GPU running): what the simulator's stage times stand for.
  void measure_parts(Timing& t) {
    for (Gpu& g : gpus_) {
      DS_CUDA(cudaSetDevice(g.dev));
      if (g.attention && t.attention_us == 0 && g.mb[0].attn_graph)
        t.attention_us = d::median(d::time_runs(3, 10, [&](int) { DS_CUDA(cudaGraphLaunch(g.mb[0].attn_graph, d::stream())); }));
      if (g.ffn && t.ffn_us == 0)
        t.ffn_us = d::median(d::time_runs(3, 10, [&](int) { DS_CUDA(cudaGraphLaunch(g.mb[0].ffn_graph, d::stream())); }));
    }
  }

  std::string trace_json() {
    std::ostringstream o;
    o << "{\"traceEvents\":[\n";
    bool first = true;
    for (size_t gi = 0; gi < gpus_.size(); ++gi)
      for (int lane = 0; lane < 2; ++lane) {
        o << (first ? "" : ",\n") << "{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":" << gi * 2 + lane << ",\"args\":{\"name\":\"GPU" << gi
          << (lane ? " copy" : " compute") << "\"}}";
        first = false;
      }
    for (const TraceItem& it : trace_items_) {
      Gpu& g = gpus_[it.gpu];
      DS_CUDA(cudaSetDevice(g.dev));
      float a = 0, b = 0;
      DS_CUDA(cudaEventElapsedTime(&a, g.trace_events[0], g.trace_events[it.e0]));
      DS_CUDA(cudaEventElapsedTime(&b, g.trace_events[0], g.trace_events[it.e1]));
      const int pid = it.gpu * 2 + (std::string(it.lane) == "copy" ? 1 : 0);
      o << ",\n{\"name\":\"" << it.label << "\",\"ph\":\"X\",\"ts\":" << a * 1e3 << ",\"dur\":" << (b - a) * 1e3 << ",\"pid\":" << pid
        << ",\"tid\":0}";
    }
    o << "\n]}\n";
    return o.str();
  }
};

// ---- NVLink: one peer copy's time against its size ------------------------------------------------

struct LinkFit {
  double latency_us = 0, bytes_per_s = 0, worst_rel = 0;
  int gpus = 0;
};

LinkFit measure_link(std::ostream& log) {
  int n = 0;
  DS_CUDA(cudaGetDeviceCount(&n));
  LinkFit fit;
  fit.gpus = n;
  if (n < 2) return fit;
  const size_t maxb = size_t(256) << 20;
  d::DeviceBuffer src, dst;
  DS_CUDA(cudaSetDevice(0));
  src.alloc(maxb);
  d::fill_f32(src.get(), maxb / 4, d::next_seed(), -1.f, 1.f, d::stream());
  DS_CUDA(cudaStreamSynchronize(d::stream()));
  DS_CUDA(cudaSetDevice(1));
  dst.alloc(maxb);
  DS_CUDA(cudaSetDevice(0));
  const cudaError_t pe = cudaDeviceEnablePeerAccess(1, 0);
  if (pe != cudaSuccess && pe != cudaErrorPeerAccessAlreadyEnabled) DS_CUDA(pe);
  cudaGetLastError();
  // (bytes, median time) for sizes from 4 KB to 256 MB; the fit time = latency + bytes / bandwidth
  // by least squares on relative error (small copies weigh as much as large ones)
  std::vector<std::pair<double, double>> pts;
  for (size_t b = 4096; b <= maxb; b *= 4) {
    const std::vector<double> t = d::time_runs(5, 25, [&](int) { DS_CUDA(cudaMemcpyPeerAsync(dst.get(), 1, src.get(), 0, b, d::stream())); });
    pts.push_back({double(b), d::median(t)});
    log << "link 0->1 " << b << " bytes: " << d::median(t) << " us\n";
  }
  double best = 1e30;
  for (double lat = 0.5; lat < 40; lat *= 1.02)
    for (double bw = 50e9; bw < 1000e9; bw *= 1.01) {
      double worst = 0;
      for (auto [b, t] : pts) worst = std::max(worst, std::abs(lat + b / bw * 1e6 - t) / t);
      if (worst < best) best = worst, fit.latency_us = lat, fit.bytes_per_s = bw;
    }
  fit.worst_rel = best;
  return fit;
}

void write_profile(const std::string& path, const LinkFit& f, const std::string& device) {
  std::ofstream o(path);
  char buf[4096];
  std::snprintf(buf, sizeof(buf),
                "{\n"
                "  \"id\": \"h100-nvlink\",\n"
                "  \"name\": \"%s, GPUs of one machine linked by NVLink\",\n"
                "  \"source\": \"Chip figures: NVIDIA H100 SXM5 data sheet (as hardware/h100.json). Link: measured by decodesim_pipeline_bench "
                "--link-profile on a machine of %d such GPUs: cudaMemcpyPeerAsync GPU 0 -> GPU 1, 4 KB to 256 MB, median of 25, fitted as "
                "time = latency + bytes / bandwidth (worst relative error %.1f%%)\",\n"
                "  \"_note\": \"For simulating deployments at GPU granularity on this machine (--gpus-per-instance 1, or one instance of all its "
                "GPUs for EP): each GPU's link to the others stands as its NIC and its NVLink.\",\n"
                "  \"usd_per_hour\": 3.20,\n"
                "  \"price_source\": \"as hardware/h100.json (an estimate)\",\n"
                "  \"peak_flops_per_s\": {\"bf16\": 9.89e14, \"fp8\": 1.979e15, \"int8\": 1.979e15},\n"
                "  \"fp32_flops_per_s\": 6.7e13,\n"
                "  \"attention_tile\": {\"rows\": 64, \"source\": \"as hardware/h100.json\"},\n"
                "  \"mem_bytes_per_s\": 3.35e12,\n"
                "  \"mem_capacity_bytes\": 8.0e10,\n"
                "  \"nic_count\": 1,\n"
                "  \"nic_gbps\": %.1f,\n"
                "  \"intra_node_bytes_per_s\": %.4g,\n"
                "  \"link_latency_us\": %.2f\n"
                "}\n",
                device.c_str(), f.gpus, 100 * f.worst_rel, f.bytes_per_s * 8 / 1e9, f.bytes_per_s, f.latency_us);
  o << buf;
}

}  // namespace

int main(int argc, char** argv) {
  std::set<std::string> only;
  int layers = 8, steps = 6;
  std::string csv_path = "pipeline_bench.csv", trace_spec, link_path;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) throw std::runtime_error(a + " needs a value");
      return argv[++i];
    };
    if (a == "--configs") {
      std::stringstream ss(next());
      for (std::string t; std::getline(ss, t, ',');) only.insert(t);
    } else if (a == "--layers") layers = std::stoi(next());
    else if (a == "--steps") steps = std::stoi(next());
    else if (a == "--csv") csv_path = next();
    else if (a == "--trace") trace_spec = next();
    else if (a == "--link-profile") link_path = next();
    else {
      std::fprintf(stderr, "usage: decodesim_pipeline_bench [--configs NAME,...] [--layers N] [--steps N] [--csv FILE] [--trace NAME:FILE] [--link-profile FILE]\n");
      return 2;
    }
  }
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0) {
    std::fprintf(stderr, "no GPU\n");
    return 77;
  }
  cudaDeviceProp p{};
  DS_CUDA(cudaGetDeviceProperties(&p, 0));
  std::printf("%d x %s\n", n, p.name);
  if (!link_path.empty()) {
    const LinkFit f = measure_link(std::cout);
    std::printf("link: latency %.2f us, %.1f GB/s (worst fit error %.1f%%)\n", f.latency_us, f.bytes_per_s / 1e9, 100 * f.worst_rel);
    if (f.gpus >= 2) write_profile(link_path, f, p.name);
  }
  std::string trace_name, trace_file;
  if (const size_t c = trace_spec.find(':'); c != std::string::npos) trace_name = trace_spec.substr(0, c), trace_file = trace_spec.substr(c + 1);
  std::ofstream csv(csv_path);
  csv << "deployment,model,gpus,context,batch,micro_batches,layers,kv_dtype,measured_tpot_ms,tgs,attention_graph_us,ffn_graph_us,config\n";
  int failures = 0;
  for (const Config& c : all_configs()) {
    if (!only.empty() && !only.count(c.name)) continue;
    if (c.gpus() > n) {
      std::printf("%-40s skipped: needs %d GPUs\n", c.name.c_str(), c.gpus());
      continue;
    }
    try {
      Timing t;
      {
        Run r(c, layers, steps, c.name == trace_name);
        t = r.go();
      }
      const double tgs = c.batch / (t.tpot_ms * 1e-3) / c.gpus();
      std::printf("%-40s %-6s %d GPUs ctx %5d batch %4d mb %d: TPOT %8.3f ms (%d layers), %7.0f tok/GPU/s | attention graph %6.1f us, FFN graph %6.1f us\n",
                  c.name.c_str(), c.deployment().c_str(), c.gpus(), c.context, c.batch, c.micro_batches, t.tpot_ms, layers, tgs,
                  t.attention_us, t.ffn_us);
      std::fflush(stdout);
      csv << c.deployment() << "," << c.shape->name << "," << c.gpus() << "," << c.context << "," << c.batch << "," << c.micro_batches << ","
          << layers << "," << (c.fp8_kv ? "fp8" : "bf16") << "," << t.tpot_ms << "," << tgs << "," << t.attention_us << "," << t.ffn_us
          << "," << c.name << "\n";
      csv.flush();
      if (!t.trace_json.empty()) std::ofstream(trace_file) << t.trace_json;
    } catch (const std::exception& e) {
      ++failures;
      std::printf("ERROR %s: %s\n", c.name.c_str(), e.what());
      for (int i = 0; i < n; ++i) {
        cudaSetDevice(i);
        cudaDeviceSynchronize();
      }
      cudaGetLastError();
    }
  }
  return failures ? 1 : 0;
}
