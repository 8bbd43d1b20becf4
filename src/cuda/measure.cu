// The attention layer (projections + decode attention in one CUDA graph) and the sweep driver.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <sstream>
#include <stdexcept>

#include "attention_host.hpp"
#include "gemm_host.hpp"

namespace decodesim::gpu::detail {

namespace {

std::string best_variant_of(const Measurement& m) {
  const size_t a = m.label.rfind('['), b = m.label.find(' ', a == std::string::npos ? 0 : a);
  if (a == std::string::npos || b == std::string::npos) return "";
  return m.label.substr(a + 1, b - a - 1);
}

}  // namespace

Measurement measure_layer(const AttentionLayerShape& l, const Options& o, std::vector<Measurement>* parts) {
  const AttentionShape& as = l.attention;
  // 1. the attention core alone: picks (and checks) the fastest variant
  Options ao = o;
  const Measurement am = measure_attention(as, ao);
  ao.variant = best_variant_of(am);
  if (parts) parts->push_back(am);

  // 2. device data for the chain
  AttnData d(as);
  const AttnVariant* v = nullptr;
  for (auto* x : matching_variants(as))
    if (x->name == ao.variant) v = x;
  if (!v) v = matching_variants(as).front();
  const AttnLaunch L = plan_launch(as, *v);
  d.ensure_partials(L.splits);

  struct Proj {
    GemmShape shape;
    std::unique_ptr<GemmData> data;
    std::unique_ptr<LtMatmul> mm;
  };
  // Data flow and fusion of the projections: layer_gemms (gpu_measurement.hpp).
  const LayerGemms lg = layer_gemms(l);
  const std::vector<GemmShape>& fused = lg.gemms;
  const int q_src = lg.q_src, o_dst = lg.o_dst;
  std::vector<Proj> proj;
  for (const GemmShape& g : fused) {
    Proj p;
    p.shape = g;
    p.data = std::make_unique<GemmData>(g.m, g.n, g.k, g.fp8);
    p.mm = std::make_unique<LtMatmul>(g.m, g.n, g.k, g.fp8, p.data->w_scale_dev(), p.data->x_scale_dev());
    proj.push_back(std::move(p));
  }
  const int sets = std::max(d.sets, 1);
  const float out_scale = 1.f / 256.f;
  auto run_layer = [&](int s) {
    for (int i = 0; i < int(proj.size()); ++i) {
      if (i == o_dst) continue;
      GemmData& gd = *proj[i].data;
      const int gs = s % gd.sets;
      proj[i].mm->run(gd.w[gs].get(), gd.x[gs].get(), gd.y[gs].get(), stream());
    }
    AttnParams p = d.params(L, s % d.sets);
    if (q_src >= 0) p.q = proj[q_src].data->y[s % proj[q_src].data->sets].get<__nv_bfloat16>();
    if (o_dst >= 0) {
      GemmData& gd = *proj[o_dst].data;
      p.out = gd.x[s % gd.sets].get();
      p.out_fp8 = gd.fp8 ? 1 : 0;
      p.out_scale_inv = gd.fp8 ? 1.f / out_scale : 1.f;
    }
    v->launch(p, L.grid, stream());
    if (o_dst >= 0) {
      GemmData& gd = *proj[o_dst].data;
      const int gs = s % gd.sets;
      proj[o_dst].mm->run(gd.w[gs].get(), gd.x[gs].get(), gd.y[gs].get(), stream());
    }
  };

  // 3. each projection alone: tune, check, time
  double worst = am.rel_error;
  double sum_parts = am.time_us;
  Measurement r = attention_layer_measurement(l);
  for (Proj& p : proj) {
    GemmData& gd = *p.data;
    auto run = [&](int i) {
      const int s = i % gd.sets;
      p.mm->run(gd.w[s].get(), gd.x[s].get(), gd.y[s].get(), stream());
    };
    if (o.autotune) p.mm->tune(run);
    Measurement gm = gemm_measurement(p.shape);
    if (o.check) {
      poison(gd.y[0].get(), gd.y[0].bytes(), stream());
      run(0);
      DS_CUDA(cudaStreamSynchronize(stream()));
      gm.rel_error = check_gemm(gd);
      worst = (std::isfinite(worst) && std::isfinite(gm.rel_error)) ? std::max(worst, gm.rel_error) : INFINITY;
    }
    gm.time_us = median(time_runs(o.warmup, o.repeats, run));
    sum_parts += gm.time_us;
    if (parts) parts->push_back(gm);
  }

  // 4. the whole layer as one graph per input set
  GraphSet gs;
  for (int s = 0; s < sets; ++s) capture(gs, [&] { run_layer(s); });
  r.time_us = median(time_runs(o.warmup, o.repeats, [&](int i) { DS_CUDA(cudaGraphLaunch(gs.g[i % gs.g.size()], stream())); }));
  r.rel_error = o.check ? worst : -1;
  std::ostringstream lab;
  lab << " [" << v->name << ", " << proj.size() << " GEMMs (" << l.projections.size()
      << " projections) + attention in one graph; parts alone sum to " << std::lround(sum_parts) << " us]";
  r.label += lab.str();
  return r;
}

}  // namespace decodesim::gpu::detail

namespace decodesim::gpu {

std::vector<Measurement> measure(const SweepPlan& plan, const Progress& progress) {
  using namespace detail;
  const Options o = options_of(plan);
  std::vector<Measurement> out;
  auto report = [&](const Measurement& m) {
    out.push_back(m);
    if (progress) {
      char buf[160];
      std::snprintf(buf, sizeof(buf), ": %.1f us, %.0f GB/s, %.1f TFLOP/s, rel err %.2g", m.time_us,
                    m.bytes / (m.time_us * 1e-6) / 1e9, m.flops / (m.time_us * 1e-6) / 1e12, m.rel_error);
      progress(m.op_class + " " + m.label + buf);
    }
  };
  for (const AttentionShape& s : plan.attention) report(measure_attention(s, o));
  for (const GemmShape& g : plan.gemms) report(measure_gemm(g, o));
  for (const GroupedGemmShape& g : plan.moe) report(measure_moe(g, o));
  for (const AttentionLayerShape& l : plan.layers) report(measure_layer(l, o));
  return out;
}

}  // namespace decodesim::gpu
