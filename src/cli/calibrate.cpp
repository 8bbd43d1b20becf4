#include <algorithm>
#include <chrono>
#include <filesystem>
#include <random>

#include <fmt/format.h>

#include "cli/commands.hpp"
#include "decodesim/calibration.hpp"
#include "decodesim/census.hpp"
#include "decodesim/collectives.hpp"
#include "decodesim/gpu.hpp"
#include "decodesim/limits.hpp"
#include "decodesim/loader.hpp"
#include "decodesim/plots.hpp"
#include "decodesim/prefill.hpp"
#include "decodesim/writers.hpp"

namespace decodesim::cli {

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

gpu::SweepPlan build_plan(const std::vector<Model>& models, bool quick) {
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

// One shape per plan, each class in a fixed pseudo-random order and the classes taken in turn,
// so a sweep stopped by its time limit still covers every class and every size range.
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

Sample to_sample(const gpu::Measurement& x) {
  return {x.op_class, x.dtype, x.label, x.m, x.n, x.k, x.flops, x.bytes, x.time_us, x.rel_error};
}

// Fit, print the summary and write the calibrated file, its CSV and plot data: all or nothing.
void fit_and_write(Calibration& c, const CalibrateOptions& o, std::ostream& out) {
  const std::filesystem::path out_file = o.out_file;
  if (!out_file.has_filename()) throw InputError(fmt::format("--out: '{}': expected a file name", printable(o.out_file)));
  c.fits = fit_all(c.samples, c.copy_bytes_per_s, c.gemm_bf16_flops_per_s, c.gemm_fp8_flops_per_s, 4);
  // A file without fits is one no analysis can use (and the loader refuses).
  if (c.fits.empty())
    throw InputError(fmt::format("calibrate: no op class has the {} measurements a fit needs; nothing written", kMinFitSamples));
  const Table fits = calibration_fits_table(c);
  // What is written must load: checked by the loader itself before anything is written.
  const std::string text = calibration_json(c);
  try {
    parse_calibration(text, out_file.string());
  } catch (const InputError& e) {
    throw InputError(fmt::format("calibrate: the fitted file would not load back, nothing written: {}", e.what()));
  }
  std::vector<OutputFile> files{{out_file, text}};
  PlotSet plots;
  if (!o.csv_dir.empty()) {
    const std::filesystem::path csv = o.csv_dir;
    plots = calibration_plots(c);
    files.push_back({csv / "calibration_fits.csv", render_csv(fits)});
    files.push_back({csv / "calibration_samples.csv", render_csv(calibration_samples_table(c))});
    for (const OutputFile& f : plots.files) files.push_back({csv / f.path, f.content});
    // gnuplot then writes each figure's PNG and SVG beside its script (src/io/plots.cpp): --out may
    // not be one of them either, however spelt.
    std::error_code ec;
    const std::filesystem::path out_resolved = std::filesystem::weakly_canonical(std::filesystem::absolute(out_file, ec), ec);
    for (const std::string& script : plots.scripts)
      for (const char* extension : {".png", ".svg"}) {
        const std::filesystem::path image = csv / std::filesystem::path(script).replace_extension(extension);
        if (!ec && std::filesystem::weakly_canonical(std::filesystem::absolute(image, ec), ec) == out_resolved)
          throw InputError(fmt::format("{}: two outputs of this name (also the figure {})", printable(o.out_file, 256),
                                       printable(image.string(), 256)));
      }
  }
  write_files({}, files);
  out << "\n" << render_table(fits) << "wrote " << printable(o.out_file, 256) << "\n";
  if (!o.csv_dir.empty())
    if (const std::string note = render_plots(o.csv_dir, plots); !note.empty()) out << note << "\n";
}

}  // namespace

int calibrate_command(const CalibrateOptions& o, std::ostream& out, std::ostream& err) {
  if (!o.refit.empty()) {
    // Several runs on one chip refit as one: their measurements pooled, their ceilings averaged.
    Calibration c;
    const std::vector<std::string> files = split_list(o.refit);
    if (files.empty()) throw InputError("--refit: no calibration file given");
    int fp8_runs = 0;  // a run on a chip without FP8 (or its measurement) has no FP8 ceiling to average
    for (const std::string& f : files) {
      const Calibration run = load_calibration(f);
      if (run.samples.empty())
        throw InputError(fmt::format("{}: $.measurements: no measurements to refit (the file holds fits only)", printable(f, 256)));
      if (c.samples.size() + run.samples.size() > static_cast<size_t>(limits::kMaxMeasurements))
        throw InputError(fmt::format("--refit: expected at most {} measurements in all", limits::kMaxMeasurements));
      if (c.hardware_id.empty()) c.hardware_id = run.hardware_id, c.device = run.device;
      if (run.hardware_id != c.hardware_id)
        throw InputError(fmt::format("{}: $.hardware: calibration is for '{}', not '{}' like {}", printable(f, 256), run.hardware_id,
                                     c.hardware_id, printable(files.front(), 256)));
      c.copy_bytes_per_s += run.copy_bytes_per_s / files.size();
      c.gemm_bf16_flops_per_s += run.gemm_bf16_flops_per_s / files.size();
      c.gemm_fp8_flops_per_s += run.gemm_fp8_flops_per_s;
      fp8_runs += run.gemm_fp8_flops_per_s > 0;
      c.samples.insert(c.samples.end(), run.samples.begin(), run.samples.end());
    }
    if (fp8_runs > 0) c.gemm_fp8_flops_per_s /= fp8_runs;
    if (!o.hardware.empty() && o.hardware != c.hardware_id)
      throw InputError(fmt::format("{}: $.hardware: calibration is for '{}', not '{}'", printable(files.front(), 256), c.hardware_id,
                                   printable(o.hardware)));
    fit_and_write(c, o, out);
    return 0;
  }
  if (o.hardware.empty()) throw InputError("calibrate: --hardware is required (or --refit FILE)");
  const Hardware hw = load_hardware(o.hardware);
  const std::vector<Model> models = load_models(o.models);
  std::string why;
  if (!gpu::available(&why)) {
    err << "decodesim: calibrate needs a GPU: " << why << "\n";
    return 1;
  }
  const gpu::DeviceInfo dev = gpu::device_info();
  out << fmt::format("calibrating {} on {} ({} SMs, {:.0f} MB L2, {:.1f} GB)\n", hw.id, dev.name, dev.sm_count,
                     dev.l2_bytes / 1e6, dev.mem_bytes / 1e9)
      << std::flush;

  Calibration c;
  c.hardware_id = hw.id;
  c.device = dev.name;
  // The chip's two ceilings, measured: the starting point of every fit.
  auto ceiling = [&](const gpu::Measurement& m, const char* what, bool bandwidth, double datasheet) {
    c.samples.push_back(to_sample(m));
    const double rate = (bandwidth ? m.bytes : m.flops) / (m.time_us * 1e-6);
    const double scale = bandwidth ? 1e9 : 1e12;
    out << fmt::format("{}: {:.0f} {} (datasheet {:.0f})\n", what, rate / scale, bandwidth ? "GB/s" : "TFLOP/s",
                       datasheet / scale)
        << std::flush;
    return rate;
  };
  c.copy_bytes_per_s = ceiling(gpu::measure_copy(), "copy bandwidth", true, hw.mem_bytes_per_s);
  c.gemm_bf16_flops_per_s = ceiling(gpu::measure_peak_gemm(false), "bf16 GEMM", false, hw.bf16_flops_per_s.value_or(0));
  if (dev.cc_major * 10 + dev.cc_minor >= 89)
    c.gemm_fp8_flops_per_s = ceiling(gpu::measure_peak_gemm(true), "fp8 GEMM", false, hw.fp8_flops_per_s.value_or(0));

  const std::vector<gpu::SweepPlan> shapes = one_shape_each(build_plan(models, o.quick));
  const auto t0 = std::chrono::steady_clock::now();
  size_t done = 0;
  for (const gpu::SweepPlan& one : shapes) {
    const double elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (o.max_seconds > 0 && elapsed_s > o.max_seconds) {
      out << fmt::format("time limit ({} s) reached: measured {} of {} shapes\n", o.max_seconds, done, shapes.size());
      break;
    }
    for (const gpu::Measurement& m : gpu::measure(one, [&](const std::string& line) {
           out << fmt::format("[{}/{}] {}\n", done + 1, shapes.size(), line) << std::flush;
         }))
      c.samples.push_back(to_sample(m));
    ++done;
  }
  for (const Sample& s : c.samples)
    if (s.rel_error > 0.1)
      throw std::runtime_error(fmt::format("kernel check failed: {} relative error {:.3g}", s.label, s.rel_error));
  fit_and_write(c, o, out);
  return 0;
}

}  // namespace decodesim::cli
