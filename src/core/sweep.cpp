#include "decodesim/sweep.hpp"

#include <algorithm>
#include <random>

#include <fmt/format.h>

#include "decodesim/census.hpp"
#include "decodesim/gpu_measurement.hpp"
#include "decodesim/prefill.hpp"

namespace decodesim {

namespace {

// The first softmax-attention design of a model (the one the decode kernels measure).
const AttentionSpec* softmax_attention_of(const Model& m) {
  for (const AttentionSpec& a : m.attention_types)
    if (a.kind != AttentionKind::linear) return &a;
  return nullptr;
}

// That design as the attention kernel sees it.
bool attention_shape_of(const Model& m, gpu::AttentionShape& s) {
  const AttentionSpec* a = softmax_attention_of(m);
  if (!a) return false;
  s.model = m.id;
  s.q_heads = a->q_heads;
  if (a->kind == AttentionKind::mla) {
    s.design = "mla";
    s.kv_heads = 1;
    s.qk_dim = a->kv_lora_rank + a->qk_rope_head_dim;
    s.v_dim = a->kv_lora_rank;
  } else {
    s.design = a->kind == AttentionKind::mfa ? "mfa" : "gqa";
    s.kv_heads = a->kv_heads;
    s.qk_dim = s.v_dim = a->head_dim;
  }
  return true;
}

// Its prefill attention as the kernel sees it: MLA runs un-absorbed at prefill, multi-head attention
// with one KV head per query head at prefill_head_dims' widths.
bool prefill_attention_shape_of(const Model& m, gpu::AttentionShape& s) {
  const AttentionSpec* a = softmax_attention_of(m);
  if (!a || !attention_shape_of(m, s)) return false;
  if (a->kind == AttentionKind::mla) {
    const HeadDims h = prefill_head_dims(*a);
    s.design = "gqa";
    s.kv_heads = a->q_heads;
    s.qk_dim = static_cast<int>(h.qk), s.v_dim = static_cast<int>(h.v);
  }
  return true;
}

// Prompts (the whole context is query tokens), chunks (a chunk after a cached prefix) and a batch of
// prompts of unequal length, BF16 and FP8.
std::vector<gpu::AttentionShape> prefill_attention_shapes(const Model& m, bool quick) {
  std::vector<gpu::AttentionShape> out;
  gpu::AttentionShape base;
  if (!prefill_attention_shape_of(m, base)) return out;
  struct P {
    int batch, context, query_tokens;
  };
  const std::vector<P> ps = quick ? std::vector<P>{{1, 4096, 4096}}
                                  : std::vector<P>{{1, 1024, 1024}, {1, 4096, 4096}, {1, 8192, 8192}, {4, 2048, 2048}, {1, 8192, 2048}};
  for (bool fp8 : {false, true}) {
    for (const P& p : ps) {
      gpu::AttentionShape s = base;
      s.batch = p.batch, s.context = p.context, s.query_tokens = p.query_tokens, s.kv_bits = fp8 ? 8 : 16;
      out.push_back(s);
    }
    // prompts of unequal length in one launch (variable length), as a prefill batch is
    if (!quick) {
      gpu::AttentionShape s = base;
      s.batch = 4, s.context = s.query_tokens = 8192, s.kv_bits = fp8 ? 8 : 16;
      s.context_lens = {8192, 4096, 2048, 2048};
      out.push_back(s);
    }
  }
  return out;
}

// Its projections as GEMMs at decode batch m. MLA's kv_b is left out: the measured layer follows
// the serving kernels, which fold it into the attention's query and output products.
std::vector<gpu::GemmShape> projections_of(const Model& m, int batch, bool fp8) {
  std::vector<gpu::GemmShape> g;
  const AttentionSpec* a = softmax_attention_of(m);
  if (!a) return g;
  for (const Projection& p : attention_projections(*a, m.hidden_size)) {
    if (a->kind == AttentionKind::mla && std::string(p.name) == "kv_b") continue;
    const int k = static_cast<int>(p.k), n = static_cast<int>(p.n);
    g.push_back({fmt::format("{} {} m={} {}x{}", m.id, p.name, batch, k, n), batch, n, k, fp8});
  }
  return g;
}

const FfnSpec* moe_of(const Model& m) {
  for (const FfnSpec& f : m.ffn_types)
    if (f.kind == FfnKind::moe) return &f;
  return nullptr;
}

// The routed experts as a served layer runs them: one GPU's share of the experts (all of them, a
// quarter), with the tokens of a micro-batch routed top-k uniformly at random (fixed seed), so
// many experts get a few tokens and some none. The pipeline times exactly this launch (routed
// experts only; shared experts are GEMMs of their own); the dense shapes above, every token on 8
// experts, leave it to extrapolation, which timed served FFN steps 2-14% fast.
std::vector<gpu::GroupedGemmShape> served_moe_shapes(const Model& m, const FfnSpec& f, bool quick) {
  std::vector<gpu::GroupedGemmShape> out;
  const int E = f.routed_experts, k = f.top_k;
  if (E <= 8 || k <= 0 || k > E) return out;  // the dense shapes already hold every expert
  // Uniform routing, and skewed as real routing is (experts' popularity of CV 0.6, the default of
  // RoutingShape): fewer experts hold more of the tokens.
  for (double cv : {0.0, RoutingShape::kDefaultPopularityCv})
    for (int gpus : quick ? std::vector<int>{1} : std::vector<int>{1, 4})
      for (int tokens : quick ? std::vector<int>{64} : std::vector<int>{32, 128, 512}) {
        if (cv > 0 && tokens == 32) continue;
        gpu::GroupedGemmShape g;
        g.experts = E / gpus;
        g.label = fmt::format("{} {} of {} experts, {} tokens routed top-{}{} {}x{}", m.id, g.experts, E, tokens, k,
                              cv > 0 ? fmt::format(" (popularity CV {})", cv) : "", m.hidden_size, f.expert_intermediate);
        g.tokens = gpu::routed_token_counts(E, g.experts, tokens, k, 20261127u + unsigned(tokens * 8 + gpus), cv);
        g.hidden = static_cast<int>(m.hidden_size), g.intermediate = static_cast<int>(f.expert_intermediate);
        out.push_back(std::move(g));
      }
  return out;
}

// Every family's shapes for each model.
gpu::SweepPlan build_all(const std::vector<Model>& models, bool quick) {
  gpu::SweepPlan plan;
  const std::vector<int> batches = quick ? std::vector<int>{16, 64} : std::vector<int>{8, 32, 64, 128};
  const std::vector<int> contexts = quick ? std::vector<int>{2048, 8192} : std::vector<int>{1024, 4096, 8192, 16384, 32768};
  // GEMM rows: decode batches, and 16384 for a prefill chunk (the large-M shapes prefill makes).
  const std::vector<int> ms = quick ? std::vector<int>{16, 256} : std::vector<int>{1, 8, 32, 64, 128, 256, 512, 1024, 2048, 4096, 16384};
  const std::vector<int> tpe = quick ? std::vector<int>{4, 128} : std::vector<int>{1, 4, 16, 32, 64, 128, 256, 512, 1024, 2048};
  for (const Model& m : models) {
    gpu::AttentionShape base;
    if (attention_shape_of(m, base)) {
      for (bool fp8 : {false, true})
        for (int b : batches)
          for (int c : contexts) {
            gpu::AttentionShape s = base;
            s.batch = b, s.context = c, s.kv_bits = fp8 ? 8 : 16;
            plan.attention.push_back(s);
          }
      gpu::AttentionShape paged = base;
      paged.batch = 64, paged.context = 8192, paged.layout = gpu::KvLayout::paged;
      plan.attention.push_back(paged);
      // 4-bit caches (e2m1, multiplied at FP8): the report's low-bit storage, its own fit
      for (int b : quick ? std::vector<int>{64} : std::vector<int>{32, 64, 128})
        for (int c : quick ? std::vector<int>{8192} : std::vector<int>{4096, 8192, 32768}) {
          gpu::AttentionShape s = base;
          s.batch = b, s.context = c, s.kv_bits = 4;
          plan.attention.push_back(s);
        }
      // MTP verification: 1 + drafts query tokens per request, causal among themselves.
      for (int q : quick ? std::vector<int>{2} : std::vector<int>{2, 4})
        for (bool fp8 : {false, true})
          for (int b : quick ? std::vector<int>{64} : std::vector<int>{32, 64})
            for (int c : quick ? std::vector<int>{8192} : std::vector<int>{4096, 8192}) {
              gpu::AttentionShape s = base;
              s.batch = b, s.context = c, s.kv_bits = fp8 ? 8 : 16, s.query_tokens = q;
              plan.attention.push_back(s);
            }
      for (const gpu::AttentionShape& s : prefill_attention_shapes(m, quick)) plan.attention.push_back(s);
    }
    for (bool fp8 : {false, true})
      for (int b : ms)
        for (const gpu::GemmShape& g : projections_of(m, b, fp8)) plan.gemms.push_back(g);
    if (const FfnSpec* f = moe_of(m)) {
      const int experts = std::min(f->routed_experts, 8);
      for (bool fp8 : {false, true})
        for (int t : tpe)
          plan.moe.push_back({fmt::format("{} {} experts x {} tokens {}x{}", m.id, experts, t, m.hidden_size, f->expert_intermediate),
                              experts, t, static_cast<int>(m.hidden_size), static_cast<int>(f->expert_intermediate), fp8});
      for (bool fp8 : {false, true})
        for (gpu::GroupedGemmShape& g : served_moe_shapes(m, *f, quick)) {
          g.fp8 = fp8;
          plan.moe.push_back(std::move(g));
        }
    }
    // The report's measured point: one attention layer at 8K context, 64 requests per GPU,
    // BF16 attention core, FP8 projections.
    if (!base.design.empty()) {
      gpu::AttentionLayerShape layer;
      layer.attention = base;
      layer.attention.batch = 64, layer.attention.context = 8192, layer.attention.kv_bits = 16;
      layer.projections = projections_of(m, 64, true);
      plan.layers.push_back(layer);
    }
  }
  if (quick) plan.repeats = 10;
  return plan;
}

SweepFamily family_of(const gpu::AttentionShape& s) {
  if (s.query_tokens > gpu::kMaxDecodeQueryTokens) return SweepFamily::prefill;
  if (s.query_tokens > 1) return SweepFamily::mtp;
  return s.kv_bits == 4 ? SweepFamily::fp4 : SweepFamily::decode;
}

}  // namespace

std::vector<gpu::SweepPlan> one_shape_each(const gpu::SweepPlan& plan) {
  std::mt19937 rng(20260725);
  std::vector<std::vector<gpu::SweepPlan>> classes(4);
  auto single = [&](auto member, const auto& shape) {
    gpu::SweepPlan p;
    p.warmup = plan.warmup, p.repeats = plan.repeats, p.check = plan.check;
    (p.*member).push_back(shape);
    return p;
  };
  for (const auto& s : plan.attention) classes[0].push_back(single(&gpu::SweepPlan::attention, s));
  for (const auto& s : plan.gemms) classes[1].push_back(single(&gpu::SweepPlan::gemms, s));
  for (const auto& s : plan.moe) classes[2].push_back(single(&gpu::SweepPlan::moe, s));
  for (const auto& s : plan.layers) classes[3].push_back(single(&gpu::SweepPlan::layers, s));
  for (auto& c : classes) std::shuffle(c.begin(), c.end(), rng);
  std::vector<gpu::SweepPlan> out;
  for (size_t i = 0; out.size() < plan.attention.size() + plan.gemms.size() + plan.moe.size() + plan.layers.size(); ++i)
    for (const auto& c : classes)
      if (i < c.size()) out.push_back(c[i]);
  return out;
}

bool has_family(const std::vector<SweepFamily>& families, SweepFamily f) {
  return std::find(families.begin(), families.end(), f) != families.end();
}

const char* sweep_family_name(SweepFamily f) {
  switch (f) {
    case SweepFamily::decode: return "decode";
    case SweepFamily::fp4: return "fp4";
    case SweepFamily::mtp: return "mtp";
    case SweepFamily::prefill: return "prefill";
    case SweepFamily::gemm: return "gemm";
    case SweepFamily::moe: return "moe";
    case SweepFamily::layer: return "layer";
  }
  return "?";
}

gpu::SweepPlan build_sweep_plan(const std::vector<Model>& models, bool quick, const std::vector<SweepFamily>& families) {
  gpu::SweepPlan all = build_all(models, quick);
  gpu::SweepPlan plan = all;
  plan.attention.clear();
  for (const gpu::AttentionShape& s : all.attention)
    if (has_family(families, family_of(s))) plan.attention.push_back(s);
  if (!has_family(families, SweepFamily::gemm)) plan.gemms.clear();
  if (!has_family(families, SweepFamily::moe)) plan.moe.clear();
  if (!has_family(families, SweepFamily::layer)) plan.layers.clear();
  return plan;
}

Table sweep_table(const std::vector<gpu::SweepPlan>& shapes, const Calibration* fits) {
  Table t{"calibration_sweep", "The calibration sweep: one row per kernel shape, in the order it is measured", {}, {}, {}};
  t.columns = {{"family", ""}, {"op_class", ""}, {"dtype", ""}, {"label", ""}, {"flops", "FLOP"}, {"bytes", "B"}, {"predicted_us", "us"}};
  std::vector<int> per_family(std::size(kSweepFamilies), 0);
  auto row = [&](SweepFamily f, const gpu::Measurement& m) {
    const EfficiencyFit* fit = fits ? fits->find(m.op_class, m.dtype) : nullptr;
    t.add({sweep_family_name(f), m.op_class, m.dtype, m.label, m.flops, m.bytes, fit ? fit->predict_us(m.flops, m.bytes) : -1.0});
    ++per_family[static_cast<size_t>(f)];
  };
  for (const gpu::SweepPlan& p : shapes) {
    for (const gpu::AttentionShape& s : p.attention) row(family_of(s), gpu::attention_measurement(s));
    for (const gpu::GemmShape& g : p.gemms) row(SweepFamily::gemm, gpu::gemm_measurement(g));
    for (const gpu::GroupedGemmShape& g : p.moe) row(SweepFamily::moe, gpu::moe_measurement(g));
    for (const gpu::AttentionLayerShape& l : p.layers) row(SweepFamily::layer, gpu::attention_layer_measurement(l));
  }
  std::string counts;
  for (SweepFamily f : kSweepFamilies)
    if (per_family[static_cast<size_t>(f)] > 0)
      counts += fmt::format("{}{} {}", counts.empty() ? "" : ", ", per_family[static_cast<size_t>(f)], sweep_family_name(f));
  t.notes.push_back(fmt::format("{} shapes: {}", t.rows.size(), counts.empty() ? "none" : counts));
  t.notes.push_back(
      "predicted_us: the kernel alone as the calibration given predicts it (-1: no fit of its class); each shape also runs its "
      "variants, warm-up and repeats and a check against the CPU reference");
  return t;
}

}  // namespace decodesim
