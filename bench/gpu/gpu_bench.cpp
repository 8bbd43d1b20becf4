// decodesim_gpu_bench: times the CUDA backend's kernels on the shapes of the Step-3 report and writes
// CSV. Depends on CUDA and the standard library only (no JSON/CLI/fmt), so it builds on a bare GPU box.
//   decodesim_gpu_bench [--quick] [--csv FILE] [--only probe,rates,peaks,attention,mtp,prefill,fp4,gemm,moe,layer] [--filter TEXT] [--variant NAME]
//   --filter keeps the attention shapes whose "model design ctx=N [q=T] bf16|fp8|fp4 [paged] [varlen]" contains TEXT (for profiling one kernel);
//   --variant times one attention kernel variant by name.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "../../src/cuda/internal.hpp"
#include "decodesim/gpu.hpp"

namespace g = decodesim::gpu;
namespace d = decodesim::gpu::detail;

namespace {

struct Row {
  g::Measurement m;
  std::string note;
};

double copy_bw = 0, read_bw = 0, peak_bf16 = 0, peak_fp8 = 0;

int failures = 0;
// Runs one measurement; an exception is reported and counted, and the sweep goes on.
template <class F>
void guarded(const std::string& what, F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    ++failures;
    std::printf("ERROR %s: %s\n", what.c_str(), e.what());
    std::fflush(stdout);
  }
}

double floor_us(const g::Measurement& m) {
  const double peak = m.dtype == "fp8" ? peak_fp8 : peak_bf16;
  const double mem = copy_bw > 0 ? m.bytes / copy_bw : 0;
  const double cmp = peak > 0 ? m.flops / peak : 0;
  return std::max(mem, cmp) * 1e6;
}

void csv_header(std::ostream& o) {
  o << "op_class,label,dtype,m,n,k,flops,bytes,time_us,rel_error,GB_per_s,pct_of_copy_bw,TFLOP_per_s,floor_us,time_over_floor,note\n";
}
void csv_row(std::ostream& o, const Row& r) {
  const g::Measurement& m = r.m;
  const double gbs = m.time_us > 0 ? m.bytes / (m.time_us * 1e-6) / 1e9 : 0;
  const double tf = m.time_us > 0 ? m.flops / (m.time_us * 1e-6) / 1e12 : 0;
  const double fl = floor_us(m);
  o << m.op_class << ",\"" << m.label << "\"," << m.dtype << "," << m.m << "," << m.n << "," << m.k << "," << m.flops << ","
    << m.bytes << "," << m.time_us << "," << m.rel_error << "," << gbs << "," << (copy_bw > 0 ? 100 * gbs * 1e9 / copy_bw : 0)
    << "," << tf << "," << fl << "," << (fl > 0 ? m.time_us / fl : 0) << ",\"" << r.note << "\"\n";
}

g::AttentionShape attn(const std::string& model, const std::string& design, int q, int kv, int dqk, int dv, int batch, int ctx,
                       int kv_bits, g::KvLayout lay) {
  g::AttentionShape s;
  s.model = model, s.design = design;
  s.q_heads = q, s.kv_heads = kv, s.qk_dim = dqk, s.v_dim = dv;
  s.batch = batch, s.context = ctx, s.kv_bits = kv_bits, s.layout = lay;
  return s;
}

std::vector<g::GemmShape> step3_projections(int m, bool fp8) {
  return {{"step3 q_a 7168->2048 m=" + std::to_string(m), m, 2048, 7168, fp8},
          {"step3 q_b 2048->64*256 m=" + std::to_string(m), m, 64 * 256, 2048, fp8},
          {"step3 kv 7168->512 m=" + std::to_string(m), m, 512, 7168, fp8},
          {"step3 o 64*256->7168 m=" + std::to_string(m), m, 7168, 64 * 256, fp8}};
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false;
  std::string csv_path = "gpu_bench.csv";
  std::set<std::string> only;
  std::string filter, variant;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--quick") quick = true;
    else if (a == "--filter" && i + 1 < argc) filter = argv[++i];
    else if (a == "--variant" && i + 1 < argc) variant = argv[++i];
    else if (a == "--csv" && i + 1 < argc) csv_path = argv[++i];
    else if (a == "--only" && i + 1 < argc) {
      std::stringstream ss(argv[++i]);
      for (std::string t; std::getline(ss, t, ',');) only.insert(t);
    } else {
      std::cerr << "usage: decodesim_gpu_bench [--quick] [--csv FILE] [--only probe,rates,peaks,attention,mtp,prefill,fp4,gemm,moe,layer] [--filter TEXT] [--variant NAME]\n";
      return 2;
    }
  }
  auto want = [&](const char* k) { return only.empty() || only.count(k); };
  std::string why;
  if (!g::available(&why)) {
    std::cerr << "no GPU: " << why << "\n";
    return 77;
  }
  const g::DeviceInfo dev = g::device_info();
  std::printf("device: %s, %d SMs, sm_%d%d, L2 %.0f MB, %.1f GB\n", dev.name.c_str(), dev.sm_count, dev.cc_major, dev.cc_minor,
              dev.l2_bytes / 1e6, dev.mem_bytes / 1e9);
  std::ofstream csv(csv_path);
  csv_header(csv);
  std::vector<Row> rows;
  auto add = [&](const g::Measurement& m, const std::string& note = "") {
    rows.push_back({m, note});
    csv_row(csv, rows.back());
    csv.flush();
    std::printf("%-16s %-90s %10.1f us %7.0f GB/s %7.1f TF/s err %.2g\n", m.op_class.c_str(), m.label.c_str(), m.time_us,
                m.bytes / (m.time_us * 1e-6) / 1e9, m.flops / (m.time_us * 1e-6) / 1e12, m.rel_error);
    std::fflush(stdout);
  };

  if (want("probe"))
    guarded("probe", [&] {
      for (const auto& [form, err] : d::wgmma_probe()) {
        const bool ok = err < 1e-6;
        failures += ok ? 0 : 1;
        std::printf("probe %-72s rel err %-10.3g %s\n", form.c_str(), err, ok ? "ok" : "WRONG");
      }
      std::fflush(stdout);
    });

  if (want("rates"))
    guarded("rates", [&] {
      for (const auto& r : d::wgmma_rates())
        std::printf("rate %-52s %7.1f TF/s %7.0f FLOP/clk/SM %6.1f operand B/clk/SM\n", r.form.c_str(), r.tflops, r.flops_per_clk_sm,
                    r.operand_bytes_per_clk_sm);
      std::fflush(stdout);
    });

  // ceilings (the floors and % columns below need them)
  if (want("peaks") || want("attention") || want("mtp") || want("prefill") || want("fp4") || want("gemm") || want("moe") || want("layer")) {
  guarded("copy", [&] {
    const g::Measurement c = g::measure_copy();
    copy_bw = c.bytes / (c.time_us * 1e-6);
    add(c);
  });
  guarded("read", [&] {
    const g::Measurement r = d::measure_read();
    read_bw = r.bytes / (r.time_us * 1e-6);
    add(r);
  });
  guarded("peak bf16", [&] {
    const g::Measurement b = g::measure_peak_gemm(false);
    peak_bf16 = b.flops / (b.time_us * 1e-6);
    add(b);
  });
  if (dev.cc_major * 10 + dev.cc_minor >= 89)
    guarded("peak fp8", [&] {
      const g::Measurement f = g::measure_peak_gemm(true);
      peak_fp8 = f.flops / (f.time_us * 1e-6);
      add(f);
    });
  }

  d::Options o;
  o.warmup = 5, o.repeats = quick ? 10 : 30;
  o.variant = variant;
  std::vector<std::pair<std::string, g::Measurement>> best_attn;  // summary
  using L = g::KvLayout;
  // Every variant of each shape timed and checked, the fastest marked; --filter matches the key.
  auto run_attention = [&](const std::vector<g::AttentionShape>& shapes) {
    for (const auto& s : shapes) {
      const std::string key = s.model + " " + s.design + " ctx=" + std::to_string(s.context) +
                              (s.query_tokens > 1 ? " q=" + std::to_string(s.query_tokens) : "") + " " + g::kv_dtype_name(s.kv_bits) +
                              (s.layout == L::paged ? " paged" : "") + (s.context_lens.empty() ? "" : " varlen");
      if (!filter.empty() && key.find(filter) == std::string::npos) continue;
      guarded(key, [&] {
        std::vector<g::Measurement> all;
        const g::Measurement best = d::measure_attention(s, o, &all);
        for (const auto& m : all) add(m, m.label == best.label ? "best" : "variant");
        best_attn.push_back({s.design, best});
      });
    }
  };
  if (want("attention")) {
    std::vector<g::AttentionShape> shapes;
    const std::vector<int> mfa_ctx = quick ? std::vector<int>{8192} : std::vector<int>{256, 2048, 4096, 8192, 16384, 32768};
    for (int c : mfa_ctx) shapes.push_back(attn("step3", "mfa", 64, 1, 256, 256, 64, c, 16, L::contiguous));
    shapes.push_back(attn("step3", "mfa", 64, 1, 256, 256, 64, 8192, 16, L::paged));
    shapes.push_back(attn("step3", "mfa", 64, 1, 256, 256, 64, 8192, 8, L::contiguous));
    shapes.push_back(attn("step3", "mfa", 64, 1, 256, 256, 64, 8192, 8, L::paged));
    if (!quick) shapes.push_back(attn("step3", "mfa", 64, 1, 256, 256, 64, 32768, 8, L::contiguous));
    for (int c : quick ? std::vector<int>{8192} : std::vector<int>{4096, 8192, 32768})
      shapes.push_back(attn("qwen3-235b-a22b", "gqa", 64, 4, 128, 128, 64, c, 16, L::contiguous));
    shapes.push_back(attn("qwen3-235b-a22b", "gqa", 64, 4, 128, 128, 64, 8192, 16, L::paged));
    shapes.push_back(attn("qwen3-235b-a22b", "gqa", 64, 4, 128, 128, 64, 8192, 8, L::contiguous));
    shapes.push_back(attn("qwen3-235b-a22b", "gqa", 64, 4, 128, 128, 64, 8192, 8, L::paged));
    if (!quick) shapes.push_back(attn("qwen3-235b-a22b", "gqa", 64, 4, 128, 128, 64, 32768, 8, L::contiguous));
    shapes.push_back(attn("qwen3-235b-a22b", "gqa", 64, 4, 128, 128, 8, 32768, 8, L::contiguous));  // splits and their merge
    for (int c : quick ? std::vector<int>{8192} : std::vector<int>{4096, 8192, 32768})
      shapes.push_back(attn("deepseek-v3", "mla", 128, 1, 576, 512, 64, c, 16, L::contiguous));
    shapes.push_back(attn("deepseek-v3", "mla", 128, 1, 576, 512, 64, 8192, 16, L::paged));
    shapes.push_back(attn("deepseek-v3", "mla", 128, 1, 576, 512, 64, 8192, 8, L::contiguous));
    shapes.push_back(attn("deepseek-v3", "mla", 128, 1, 576, 512, 64, 4096, 8, L::paged));
    // MLA with 64 heads (Kimi-K2's width; DeepSeek-V3 with its heads split two ways): 121 FLOP per
    // byte of BF16 latent, 242 of e4m3, under both of H100's ridges, so memory-bound
    for (int kv : {16, 8}) shapes.push_back(attn("kimi-k2", "mla", 64, 1, 576, 512, 64, 8192, kv, L::contiguous));
    // served shapes: Step-3 2A2F (128 requests per attention GPU per micro-batch, 4K, FP8 KV),
    // Qwen3 with TP4 attention (16 heads and 1 KV head per GPU, all 256 requests)
    shapes.push_back(attn("step3", "mfa", 64, 1, 256, 256, 128, 4096, 8, L::paged));
    shapes.push_back(attn("step3", "mfa", 64, 1, 256, 256, 8, 32768, 8, L::contiguous));  // few requests: splits and their merge
    shapes.push_back(attn("qwen3-235b-a22b-tp4", "gqa", 16, 1, 128, 128, 256, 8192, 16, L::contiguous));
    shapes.push_back(attn("qwen3-235b-a22b-tp4", "gqa", 16, 1, 128, 128, 256, 8192, 8, L::contiguous));
    // 4-bit caches (e2m1, computed in e4m3): the report's "low-bit storage, high-bit compute"
    shapes.push_back(attn("step3", "mfa", 64, 1, 256, 256, 64, 8192, 4, L::contiguous));
    shapes.push_back(attn("step3", "mfa", 64, 1, 256, 256, 64, 8192, 4, L::paged));
    shapes.push_back(attn("step3", "mfa", 64, 1, 256, 256, 64, 32768, 4, L::contiguous));
    shapes.push_back(attn("qwen3-235b-a22b", "gqa", 64, 4, 128, 128, 64, 8192, 4, L::contiguous));
    shapes.push_back(attn("qwen3-235b-a22b-tp4", "gqa", 16, 1, 128, 128, 256, 8192, 4, L::contiguous));
    shapes.push_back(attn("deepseek-v3", "mla", 128, 1, 576, 512, 64, 8192, 4, L::contiguous));
    shapes.push_back(attn("kimi-k2", "mla", 64, 1, 576, 512, 64, 8192, 4, L::contiguous));
    run_attention(shapes);
  }
  // Several query tokens per request: MTP verification at 1-4 tokens (the 1-token shape beside, for
  // the ratio) and prefill (whole prompts; MLA un-absorbed), every variant timed and checked.
  auto with_q = [](g::AttentionShape s, int q) {
    s.query_tokens = q;
    return s;
  };
  if (want("mtp")) {
    std::vector<g::AttentionShape> shapes;
    for (int kv : {16, 8})
      for (int q : {1, 2, 3, 4}) {
        shapes.push_back(with_q(attn("step3", "mfa", 64, 1, 256, 256, 64, 8192, kv, L::contiguous), q));
        shapes.push_back(with_q(attn("qwen3-235b-a22b", "gqa", 64, 4, 128, 128, 64, 8192, kv, L::contiguous), q));
        shapes.push_back(with_q(attn("deepseek-v3", "mla", 128, 1, 576, 512, 64, 8192, kv, L::contiguous), q));
      }
    run_attention(shapes);
  }
  // 4-bit caches over the calibration's decode grid (batches x contexts), for the fp4 fits.
  if (want("fp4")) {
    std::vector<g::AttentionShape> shapes;
    for (int b : {32, 64, 128})
      for (int c : {4096, 8192, 32768}) {
        shapes.push_back(attn("step3", "mfa", 64, 1, 256, 256, b, c, 4, L::contiguous));
        shapes.push_back(attn("qwen3-235b-a22b", "gqa", 64, 4, 128, 128, b, c, 4, L::contiguous));
        shapes.push_back(attn("qwen3-235b-a22b-tp4", "gqa", 16, 1, 128, 128, b, c, 4, L::contiguous));
        shapes.push_back(attn("deepseek-v3", "mla", 128, 1, 576, 512, b, c, 4, L::contiguous));
      }
    run_attention(shapes);
  }
  if (want("prefill")) {
    std::vector<g::AttentionShape> shapes;
    for (int kv : {16, 8}) {
      for (int t : {2048, 8192}) shapes.push_back(with_q(attn("qwen3-235b-a22b", "gqa", 64, 4, 128, 128, 1, t, kv, L::contiguous), t));
      shapes.push_back(with_q(attn("step3", "mfa", 64, 1, 256, 256, 1, 4096, kv, L::contiguous), 4096));
      shapes.push_back(with_q(attn("deepseek-v3-unabsorbed", "gqa", 128, 128, 192, 128, 1, 4096, kv, L::contiguous), 4096));
      // variable length: four prompts of 8K, 4K, 2K and 2K tokens (16K in all) in one launch, beside
      // the 8K prompt alone and the uniform batch of 4 x 4K
      g::AttentionShape v = with_q(attn("qwen3-235b-a22b", "gqa", 64, 4, 128, 128, 4, 8192, kv, L::contiguous), 8192);
      v.context_lens = {8192, 4096, 2048, 2048};
      shapes.push_back(v);
      shapes.push_back(with_q(attn("qwen3-235b-a22b", "gqa", 64, 4, 128, 128, 4, 4096, kv, L::contiguous), 4096));
    }
    run_attention(shapes);
  }
  if (want("gemm")) {
    for (bool fp8 : {true, false})
      for (int m : quick ? std::vector<int>{64} : std::vector<int>{64, 256})
        for (const auto& gs : step3_projections(m, fp8)) guarded(gs.label, [&] { add(d::measure_gemm(gs, o)); });
  }
  if (want("moe")) {
    auto moe = [&](const g::GroupedGemmShape& s) {
      guarded(s.label, [&] {
        std::vector<g::Measurement> all;
        const g::Measurement best = d::measure_moe(s, o, &all);
        for (const auto& m : all) add(m, m.label == best.label ? "best" : "variant");
      });
    };
    for (int t : quick ? std::vector<int>{64} : std::vector<int>{1, 16, 64, 128, 512})
      moe({"step3 8 experts x " + std::to_string(t) + " tokens 7168x5120", 8, t, 7168, 5120, true});
    moe({"step3 8 experts x 64 tokens 7168x5120", 8, 64, 7168, 5120, false});
    moe({"qwen3-235b-a22b 8 experts x 1 tokens 4096x1536", 8, 1, 4096, 1536, true});  // fewer tiles than a wave
    // DeepSeek-V3 EP decode: 2 experts per GPU of 128; uneven routing (empty and hot experts)
    moe({"deepseek-v3 2 experts x 128 tokens 7168x2048", 2, 128, 7168, 2048, true});
    moe({"deepseek-v3 2 experts x 8 tokens 7168x2048", 2, 8, 7168, 2048, true});
    g::GroupedGemmShape u{"deepseek-v3 8 experts, uneven tokens 0,1,3,17,64,2,0,40 7168x2048", 8, 0, 7168, 2048, true};
    u.tokens = {0, 1, 3, 17, 64, 2, 0, 40};
    moe(u);
    // Served FFN launches: a micro-batch's tokens routed top-k over one GPU's experts, and the same
    // with the shared expert run as one more expert taking every token (as the pipeline bench does).
    auto served = [&](const std::string& model, int experts, int local, int tokens, int top_k, int hidden, int inter) {
      for (bool shared : {false, true}) {
        g::GroupedGemmShape s{model + " " + std::to_string(local) + " of " + std::to_string(experts) + " experts" +
                                  (shared ? " + shared" : "") + ", " + std::to_string(tokens) + " tokens routed top-" +
                                  std::to_string(top_k) + " " + std::to_string(hidden) + "x" + std::to_string(inter),
                              local + shared, 0, hidden, inter, true};
        s.tokens = g::routed_token_counts(experts, local, tokens, top_k, 20261127u + unsigned(tokens));
        if (shared) s.tokens.push_back(tokens);
        moe(s);
      }
    };
    served("step3", 48, 48, 128, 3, 7168, 5120);          // the FFN GPU of 3A1F
    served("step3", 48, 48, 64, 3, 7168, 5120);           // the FFN GPU of 1A1F at 64 requests per micro-batch
    served("step3", 48, 24, 128, 3, 7168, 5120);          // an FFN GPU of 2A2F
    served("deepseek-v3", 256, 64, 128, 8, 7168, 2048);   // one GPU of EP4
  }
  std::vector<g::Measurement> layers;
  if (want("layer")) {
    struct LV {
      int kv_bits;
      bool fp8_proj;
    };
    // The report's Table 9 shapes: DeepSeek-V3 MLA (64 requests per GPU, kv_b as one GEMM of the same
    // weights and FLOPs as its two absorbed products) and Qwen3 GQA with TP4 attention.
    {
      g::AttentionLayerShape l;
      l.attention = attn("deepseek-v3", "mla", 128, 1, 576, 512, 64, 8192, 16, L::contiguous);
      l.projections = {{"dsv3 q_a 7168->1536", 64, 1536, 7168, true}, {"dsv3 q_b 1536->128*192", 64, 128 * 192, 1536, true},
                       {"dsv3 kv_a 7168->576", 64, 576, 7168, true},  {"dsv3 kv_b 512->128*256", 64, 128 * 256, 512, true},
                       {"dsv3 o 128*128->7168", 64, 7168, 128 * 128, true}};
      guarded("layer mla", [&] {
        std::vector<g::Measurement> parts;
        const g::Measurement m = d::measure_layer(l, o, &parts);
        for (const auto& p : parts) add(p, "layer part");
        add(m, "layer");
        layers.push_back(m);
      });
      g::AttentionLayerShape q;
      q.attention = attn("qwen3-235b-a22b-tp4", "gqa", 16, 1, 128, 128, 256, 8192, 16, L::contiguous);
      q.projections = {{"qwen3 q 4096->16*128", 256, 2048, 4096, true}, {"qwen3 kv 4096->2*128", 256, 256, 4096, true},
                       {"qwen3 o 16*128->4096", 256, 4096, 2048, true}};
      guarded("layer gqa", [&] {
        std::vector<g::Measurement> parts;
        const g::Measurement m = d::measure_layer(q, o, &parts);
        for (const auto& p : parts) add(p, "layer part");
        add(m, "layer");
        layers.push_back(m);
      });
    }
    for (LV lv : quick ? std::vector<LV>{{16, true}} : std::vector<LV>{{16, true}, {16, false}, {8, true}}) {
      g::AttentionLayerShape l;
      l.attention = attn("step3", "mfa", 64, 1, 256, 256, 64, 8192, lv.kv_bits, L::contiguous);
      l.projections = step3_projections(64, lv.fp8_proj);
      guarded("layer", [&] {
        std::vector<g::Measurement> parts;
        const g::Measurement m = d::measure_layer(l, o, &parts);
        for (const auto& p : parts) add(p, "layer part");
        add(m, "layer");
        layers.push_back(m);
      });
    }
  }

  // ---- summary (last, short)
  std::printf("\n==== summary: %s ====\n", dev.name.c_str());
  std::printf("copy %.0f GB/s (read+write), streaming read %.0f GB/s, bf16 GEMM %.0f TFLOP/s, fp8 GEMM %.0f TFLOP/s\n",
              copy_bw / 1e9, read_bw / 1e9, peak_bf16 / 1e12, peak_fp8 / 1e12);
  std::printf("%-88s %9s %7s %7s %6s %8s\n", "attention (best variant)", "us", "GB/s", "%copy", "TF/s", "err");
  for (const auto& [design, m] : best_attn)
    std::printf("%-88s %9.1f %7.0f %6.1f%% %6.1f %8.2g\n", m.label.substr(0, 88).c_str(), m.time_us, m.bytes / (m.time_us * 1e-6) / 1e9,
                100.0 * m.bytes / (m.time_us * 1e-6) / copy_bw, m.flops / (m.time_us * 1e-6) / 1e12, m.rel_error);
  for (const auto& m : layers) {
    const double fl = m.bytes / copy_bw * 1e6;
    std::printf("LAYER %s\n      %.1f us (report, H800: MFA 281, MLA 372, GQA 382 us) | bytes floor %.1f us (%.0f MB at copy bw) | time/floor %.2f | err %.2g\n",
                m.label.c_str(), m.time_us, fl, m.bytes / 1e6, m.time_us / fl, m.rel_error);
  }
  std::printf("csv: %s%s\n", csv_path.c_str(), failures ? ("   ERRORS: " + std::to_string(failures)).c_str() : "");
  return failures ? 1 : 0;
}
