#include "decodesim/plots.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <map>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "decodesim/census.hpp"
#include "decodesim/cost.hpp"
#include "decodesim/process.hpp"
#include "plot_layout.hpp"

namespace decodesim {

namespace {

using plot::Axis;
using plot::Frame;
using plot::gnuplot_datum;
using plot::gnuplot_string;

// The canvas every figure is laid out on (the label placement works in its pixels), at 'sans,11'.
constexpr double kWidthPx = 1100, kHeightPx = 700;
// The PNG is the canvas at 0.7 scale, its text and markers at 0.8 (8.8 pt): encoding it (libpng
// and zlib inside gnuplot's cairo terminal, 35-41% of gnuplot's time under perf) grows with its
// pixels and dominates a run's figures; the text stays readable. The SVG keeps the full canvas.
constexpr double kPngScale = 0.7, kPngTextScale = 0.8;

// A colour-blind-safe qualitative palette (Tableau 10), yellow last: it is hard to read on white.
std::string palette() {
  static const char* colours[] = {"#4e79a7", "#f28e2b", "#e15759", "#59a14f", "#b07aa1",
                                  "#76b7b2", "#9c755f", "#ff9da7", "#bab0ac", "#edc948"};
  std::string gp;
  for (int i = 0; i < 10; ++i) gp += fmt::format("set linetype {} lc rgb '{}' lw 1.5\n", i + 1, colours[i]);
  return gp + "set linetype cycle 10\n";
}

// One figure: its data file and a script that renders it to PNG and SVG.
void add_figure(PlotSet& set, const std::string& stem, const std::string& data, const std::string& body) {
  set.files.push_back({stem + ".dat", data});
  std::string gp = fmt::format("# {0}: rendered by `gnuplot {0}.gp` from {0}.dat\nset datafile separator whitespace\n", stem);
  const std::string terminals[][2] = {
      {fmt::format("pngcairo size {0:.0f},{1:.0f} font 'sans,11' fontscale {2} linewidth {2} pointscale {2}",
                   kWidthPx * kPngScale, kHeightPx * kPngScale, kPngTextScale),
       "png"},
      {fmt::format("svg size {:.0f},{:.0f} font 'sans,11'", kWidthPx, kHeightPx), "svg"}};
  for (const auto& [term, ext] : terminals) {
    // noenhanced: ids and op classes hold underscores, which enhanced text would subscript.
    gp += fmt::format("set terminal {} noenhanced\nset output '{}.{}'\n{}{}\nunset multiplot\nreset\n", term, stem, ext,
                      palette(), body);
  }
  set.files.push_back({stem + ".gp", gp});
  set.scripts.push_back(stem + ".gp");
}

// The key (legend) outside the plot area: at the right of it, top aligned, samples first.
std::string key_at(double x, double y) {
  return fmt::format("set key at screen {:.3f}, screen {:.3f} left top Left reverse samplen 2 spacing 1.1\n", x, y);
}

// The screen fraction a key at the right edge needs for these titles: sample, gap, text.
double key_width(const std::vector<std::string>& titles) {
  size_t longest = 0;
  for (const std::string& t : titles) longest = std::max(longest, t.size());
  return (60 + plot::kCharPx * static_cast<double>(longest)) / kWidthPx;
}

// Plot areas side by side, each with room at its left for its y axis's tick labels and label, and
// the key at the right (none when `key_titles` is empty).
struct Layout {
  std::vector<Frame> panels;
  double key_x = 1;
};
Layout side_by_side(const std::vector<Axis>& y_axes, const std::vector<std::string>& key_titles, double bottom, double top) {
  Layout l;
  l.key_x = key_titles.empty() ? 1.0 : 0.99 - key_width(key_titles);
  double rooms = 0;
  for (const Axis& y : y_axes) rooms += (plot::widest_label_px(y) + 50) / kWidthPx;  // ticks, gap, the y label
  const double panel = (l.key_x - 0.03 - rooms) / static_cast<double>(y_axes.size());
  double x = 0;
  for (const Axis& y : y_axes) {
    x += (plot::widest_label_px(y) + 50) / kWidthPx;
    l.panels.push_back({kWidthPx, kHeightPx, x, x + panel, bottom, top});
    x += panel;
  }
  return l;
}

// An x axis whose tick labels fit the panel's width.
Axis x_axis(const Frame& f, const std::function<Axis(int)>& make) {
  return plot::fitted(make, (f.right - f.left) * kWidthPx, true);
}

// A y axis whose tick labels fit the height of a panel from `bottom` to `top`.
Axis y_axis(double bottom, double top, const std::function<Axis(int)>& make) {
  return plot::fitted(make, (top - bottom) * kHeightPx, false);
}

struct Range {
  double lo = INFINITY, hi = -INFINITY;
  void add(double v) {
    if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
  }
};

// Panels stacked on one time axis (seconds) from `top` down to `bottom`, `gap` apart, each with its
// key at its right: the multiplot body from each panel's y axis and plot command; only the lowest
// panel labels the time ticks.
std::string stacked_time_panels(const std::vector<Axis>& ys, const std::vector<std::string>& plots,
                                const std::vector<std::string>& titles, const Range& time, double top, double gap, double height) {
  double room = 0;
  for (const Axis& y : ys) room = std::max(room, (plot::widest_label_px(y) + 50) / kWidthPx);
  const double key_x = 0.99 - key_width(titles);
  Frame frame{kWidthPx, kHeightPx, room, key_x - 0.02, 0, 0};
  const Axis x = x_axis(frame, [&](int n) {
    return plot::linear_axis(time.lo, time.hi, [](double t) { return plot::number(t) + " s"; }, false, n, 0);
  });
  Axis x_unlabelled = x;  // the upper panels share the bottom one's ticks
  for (plot::Tick& t : x_unlabelled.ticks) t.label.clear();
  std::string body;
  for (size_t i = 0; i < ys.size(); ++i) {
    frame.top = top - double(i) * (height + gap), frame.bottom = frame.top - height;
    body += frame.margins() + (i + 1 == ys.size() ? x : x_unlabelled).gnuplot("x") + ys[i].gnuplot("y") + key_at(key_x, frame.top) +
            plots[i] + "\n";
  }
  return body;
}

// Milliseconds as a step-time axis labels them.
std::string milliseconds(double ms) { return ms == 0 ? std::string("0") : plot::micros(ms * 1e3); }

}  // namespace

PlotSet report_plots(const Scenario& s) {
  const std::vector<Model>& models = s.models;
  const std::vector<Hardware>& chips = s.hardware;
  const std::vector<double>& contexts = s.contexts;
  PlotSet set;
  std::vector<const Hardware*> ptrs;
  for (const Hardware& h : chips) ptrs.push_back(&h);

  // Fig. 2: total cost per chip and for the best AFD pairing, one figure per context.
  for (double c : contexts) {
    // First line is the column header gnuplot's columnhead() reads.
    std::string data = "model";
    for (const Hardware& h : chips) (data += ' ') += gnuplot_datum(h.id);  // not " " + ...: GCC 12 warns falsely (-Wrestrict)
    data += " \"best AFD pairing\"\n";
    Range usd;
    for (const Model& m : models) {
      const Census k = census(m, c);
      data += gnuplot_datum(m.id);
      for (const Hardware& h : chips) {
        const double v = per_million(token_cost(k, unit_cost(h, m.quant.compute)).total_usd());
        data += fmt::format(" {:.6g}", v), usd.add(v);
      }
      const double afd = best_afd(m, c, ptrs).afd_usd_per_mtok;
      data += fmt::format(" {:.6g}\n", afd), usd.add(afd);
    }
    const std::string stem = fmt::format("fig2-cost-{}", static_cast<long>(c));
    const Axis y = plot::linear_axis(0, usd.hi, plot::usd, true, 9, 0.04);
    add_figure(set, stem, data,
               fmt::format("set title 'Theoretical decoding cost at {} context (chips at peak)'\n{}"
                           "set ylabel 'USD per 1M decoded tokens'\nset style data histograms\n"
                           "set style histogram clustered gap 1\nset style fill solid 0.9 border -1\n"
                           "set key outside right top Left reverse samplen 2\nset grid ytics\nset xtics scale 0{}\n"
                           "set xrange [-0.5:{}]\nplot for [i=2:{}] '{}.dat' using i:xtic(1) title columnhead(i)",
                           plot::tokens(c), y.gnuplot("y"), models.size() > 4 ? " rotate by -25" : "",
                           static_cast<double>(models.size()) - 0.5, chips.size() + 2, stem));
  }

  // Fig. 5: attention-core FLOPs vs KV bytes per token, with each chip's roofline slope.
  {
    std::string data = "# model context kv_bytes attention_flops\n";
    Range kv, fl;
    std::vector<std::vector<plot::Point>> model_lines;
    std::vector<plot::Point> ends;  // the first and last context of each model, labelled
    std::vector<std::string> end_texts;
    for (const Model& m : models) {
      model_lines.emplace_back();
      for (double c : contexts) {
        const Census k = census(m, c);
        data += fmt::format("{} {} {:.6g} {:.6g}\n", gnuplot_datum(m.id), static_cast<long>(c), k.kv_bytes, k.attention_flops);
        kv.add(k.kv_bytes), fl.add(k.attention_flops);
        model_lines.back().push_back({k.kv_bytes, k.attention_flops});
      }
      data += "\n\n";  // one gnuplot index per model
      for (size_t e : {size_t{0}, contexts.size() - 1}) {
        ends.push_back(model_lines.back()[e]);
        end_texts.push_back(plot::tokens(contexts[e]));
        if (contexts.size() == 1) break;
      }
    }
    std::vector<std::string> titles;
    for (const Model& m : models) titles.push_back(m.id);
    for (const Hardware& h : chips)  // the report's Fig. 5 slopes
      titles.push_back(fmt::format("{} roofline ({:.0f} FLOP/B)", h.id, h.roofline_flops_per_byte(Dtype::fp8)));
    const Axis y = y_axis(0.11, 0.9, [&](int n) { return plot::log_axis(fl.lo, fl.hi, plot::flop, n, 1.4); });
    const Layout layout = side_by_side({y}, titles, 0.11, 0.9);
    const Frame& frame = layout.panels[0];
    const Axis x = x_axis(frame, [&](int n) { return plot::log_axis(kv.lo, kv.hi, plot::bytes, n, 1.4); });
    std::vector<std::vector<plot::Point>> lines = model_lines;
    std::string plot = "plot ";
    for (size_t i = 0; i < models.size(); ++i)
      plot += fmt::format("'fig5-intensity.dat' index {} using 3:4 with linespoints lt {} pt 7 ps 1.2 title {}, ", i, i + 1,
                          gnuplot_string(titles[i]));
    for (size_t i = 0; i < chips.size(); ++i) {
      const double roofline = chips[i].roofline_flops_per_byte(Dtype::fp8);
      plot += fmt::format("{:.6g}*x with lines lt {} lw 2 dt 2 title {}, ", roofline, models.size() + i + 1,
                          gnuplot_string(titles[models.size() + i]));
      lines.push_back({{x.lo, roofline * x.lo}, {x.hi, roofline * x.hi}});
    }
    plot.resize(plot.size() - 2);
    const std::string labels =
        plot::gnuplot_labels(ends, end_texts, plot::place_labels(ends, end_texts, x, y, frame, lines));
    add_figure(set, "fig5-intensity", data,
               "set title 'Attention compute vs memory access per decoded token (labels: context)'\n" + frame.margins() +
                   x.gnuplot("x") + y.gnuplot("y") +
                   "set xlabel 'KV bytes read per token'\nset ylabel 'attention-core FLOPs per token'\nset grid\n" +
                   key_at(layout.key_x, 0.9) + "set samples 2\n" + labels + plot);
  }

  // Fig. 3: KV bytes per token and best-AFD cost against context (4K to 1M, plus the scenario's).
  {
    std::vector<double> sweep;
    for (double c = 4096; c <= 1048576; c *= 2) sweep.push_back(c);
    for (double c : contexts) sweep.push_back(c);
    std::sort(sweep.begin(), sweep.end());
    sweep.erase(std::unique(sweep.begin(), sweep.end()), sweep.end());
    std::string data = "# model context kv_bytes afd_usd_per_mtok\n";
    Range kv, usd;
    for (const Model& m : models) {
      for (double c : sweep) {
        const double kv_bytes = census(m, c).kv_bytes, cost = best_afd(m, c, ptrs).afd_usd_per_mtok;
        data += fmt::format("{} {} {:.6g} {:.6g}\n", gnuplot_datum(m.id), static_cast<long>(c), kv_bytes, cost);
        kv.add(kv_bytes), usd.add(cost);
      }
      data += "\n\n";
    }
    std::string kv_plot = "plot ", cost_plot = "plot ";
    for (size_t i = 0; i < models.size(); ++i) {
      kv_plot += fmt::format("'fig3-context.dat' index {} using 2:3 with linespoints lt {} pt 7 ps 0.8 notitle, ", i, i + 1);
      cost_plot += fmt::format("'fig3-context.dat' index {} using 2:4 with linespoints lt {} pt 7 ps 0.8 title {}, ", i, i + 1,
                               gnuplot_string(models[i].id));
    }
    kv_plot.resize(kv_plot.size() - 2), cost_plot.resize(cost_plot.size() - 2);
    std::vector<std::string> ids;
    for (const Model& m : models) ids.push_back(m.id);
    const Axis y_kv = y_axis(0.11, 0.88, [&](int n) { return plot::log_axis(kv.lo, kv.hi, plot::bytes, n, 1.15); });
    const Axis y_usd = y_axis(0.11, 0.88, [&](int n) { return plot::log_axis(usd.lo, usd.hi, plot::usd, n, 1.15); });
    const Layout layout = side_by_side({y_kv, y_usd}, ids, 0.11, 0.88);
    const Axis x = x_axis(layout.panels[0], [&](int n) {
      return plot::power_of_two_axis(sweep.front(), sweep.back(), plot::tokens, n, 1.15);
    });
    add_figure(set, "fig3-context", data,
               "set multiplot title 'KV cache read and cost per decoded token vs context'\nset grid\n"
               "set xlabel 'context (tokens)'\n" +
                   x.gnuplot("x") + layout.panels[0].margins() + y_kv.gnuplot("y") +
                   "set ylabel 'KV bytes per decoded token'\nunset key\n" + kv_plot + "\n" + layout.panels[1].margins() +
                   y_usd.gnuplot("y") + "set ylabel 'USD per 1M tokens (best AFD pairing)'\n" +
                   key_at(layout.key_x, 0.88) + cost_plot);
  }

  // Fig. 1: activated parameters vs cost at the first context, with the Pareto frontier.
  if (!contexts.empty()) {
    const double c = contexts.front();
    const std::vector<Model>& pareto = s.pareto_models.empty() ? models : s.pareto_models;
    struct Entry { double params, usd; std::string id; };
    std::vector<Entry> entries;
    Range params, usd;
    for (const Model& m : pareto) {
      entries.push_back({count_params(m).activated, best_afd(m, c, ptrs).afd_usd_per_mtok, m.id});
      params.add(entries.back().params), usd.add(entries.back().usd);
    }
    std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) { return a.params < b.params; });
    std::string data = "# model activated_params usd_per_mtok\n";
    std::vector<plot::Point> points;
    std::vector<std::string> ids;
    for (const Entry& e : entries) {
      data += fmt::format("{} {:.6g} {:.6g}\n", gnuplot_datum(e.id), e.params, e.usd);
      points.push_back({e.params, e.usd}), ids.push_back(e.id);
    }
    data += "\n\n# pareto frontier: no other model is both smaller and cheaper\n";
    std::vector<plot::Point> frontier;
    double best = INFINITY;
    for (const Entry& e : entries)
      if (e.usd < best) {
        best = e.usd;
        data += fmt::format("{} {:.6g} {:.6g}\n", gnuplot_datum(e.id), e.params, e.usd);
        frontier.push_back({e.params, e.usd});
      }
    const Axis y = y_axis(0.11, 0.84, [&](int n) { return plot::linear_axis(usd.lo, usd.hi, plot::usd, false, n, 0.1); });
    const Frame frame = side_by_side({y}, {}, 0.11, 0.84).panels[0];
    const Axis x = x_axis(frame, [&](int n) { return plot::linear_axis(params.lo, params.hi, plot::count, false, n, 0.08); });
    std::vector<std::string> chip_ids;
    for (const Hardware& h : chips) chip_ids.push_back(h.id);
    const std::string title = fmt::format("Activated parameters vs decoding cost at {} context (best AFD pairing of {})",
                                          plot::tokens(c), fmt::join(chip_ids, ", "));
    add_figure(set, "fig1-pareto", data,
               "set title " + gnuplot_string(title) + "\n" +
                   frame.margins() + x.gnuplot("x") + y.gnuplot("y") +
                   "set xlabel 'activated parameters per token'\nset ylabel 'USD per 1M decoded tokens'\nset grid\n"
                   "set key at screen 0.5, screen 0.955 center center samplen 2\n" +
                   plot::gnuplot_labels(points, ids, plot::place_labels(points, ids, x, y, frame, {frontier})) +
                   "plot 'fig1-pareto.dat' index 1 using 2:3 with lines lt 2 lw 2 title 'Pareto frontier: no other model "
                   "both smaller and cheaper', '' index 0 using 2:3 with points lt 1 pt 7 ps 1.5 notitle");
  }
  return set;
}

PlotSet what_if_plots(const WhatIfStudy& w) {
  PlotSet set;
  if (w.rows.empty()) return set;
  const double context = w.rows.front().context_tokens;
  // Columns: the variants in the study's order (every group has the same ones); rows: model and chip.
  std::vector<std::string> variants;
  std::vector<std::string> groups;
  std::map<std::pair<std::string, std::string>, double> gain;
  std::map<std::string, bool> baseline_feasible;
  for (const WhatIfRow& r : w.rows)
    if (r.context_tokens == context && r.variant == "baseline") baseline_feasible[r.model + " " + r.hardware] = r.feasible;
  for (const WhatIfRow& r : w.rows) {
    if (r.context_tokens != context || r.variant == "baseline") continue;
    const std::string v = r.variant == "mtp" ? fmt::format("MTP K={} a={:g}", r.mtp_draft_tokens, r.acceptance)
                                             : fmt::format("{} KV", dtype_name(r.kv_dtype));
    const std::string g = r.model + " " + r.hardware;
    if (std::find(variants.begin(), variants.end(), v) == variants.end()) variants.push_back(v);
    if (std::find(groups.begin(), groups.end(), g) == groups.end()) groups.push_back(g);
    // No bar where either side serves nothing inside the SLA and memory (a gain of 0 would read as "no change").
    gain[{g, v}] = r.feasible && baseline_feasible[g] ? 100 * r.tgs_gain : NAN;
  }
  std::string data = "group";
  for (const std::string& v : variants) (data += ' ') += gnuplot_datum(v);
  data += '\n';
  Range pct;
  pct.add(0);
  for (const std::string& g : groups) {
    data += gnuplot_datum(g);
    for (const std::string& v : variants) {
      const double x = gain.count({g, v}) ? gain[{g, v}] : NAN;
      data += fmt::format(" {:.6g}", x), pct.add(x);
    }
    data += '\n';
  }
  // The report's claims beside the bars: one line each under the title, with the verdict.
  // The title as a label of its own at the top, so that the claims fit between it and the plot.
  const std::string title = fmt::format("TGS gain over the baseline at {} context (roofline; best deployment of the scenario's)",
                                        plot::tokens(context));
  std::string claims = fmt::format("set label 1 {} at screen 0.5, screen 0.97 center front\n", gnuplot_string(title));
  for (size_t i = 0; i < w.claims.size(); ++i)
    claims += fmt::format("set label {} {} at screen 0.01, screen {:.4f} left front\n", i + 2,
                          gnuplot_string(fmt::format("Report: {} -- holds: {}", w.claims[i].claim, w.claims[i].holds)),
                          0.92 - 0.04 * static_cast<double>(i));
  const double lo = std::min(0.0, pct.lo), hi = std::max(1.0, pct.hi);
  const double top = 0.9 - 0.04 * static_cast<double>(w.claims.size());
  add_figure(set, "what-if-tgs", data,
             "set ylabel 'TGS gain (%)'\nset style data histograms\n"
             "set style histogram clustered gap 1\nset style fill solid 0.9 border -1\nset datafile missing 'nan'\n"
             "set key outside right top Left reverse samplen 2\nset grid ytics\nset xtics scale 0 rotate by -30\n" + claims +
                 fmt::format("set tmargin at screen {:.4f}\nset bmargin at screen 0.2\nset rmargin at screen 0.8\nset yrange [{:.6g}:{:.6g}]\n"
                             "set xrange [-0.5:{}]\n",
                             top, lo * 1.1, hi * 1.1, static_cast<double>(groups.size()) - 0.5) +
                 fmt::format("plot for [i=2:{}] 'what-if-tgs.dat' using i:xtic(1) title columnhead(i)", variants.size() + 1));
  return set;
}

PlotSet calibration_plots(const Calibration& c) {
  PlotSet set;
  std::map<std::string, std::vector<const Sample*>> groups;
  for (const Sample& s : c.samples)
    if (s.flops > 0 && s.bytes > 0 && s.time_us > 0) groups[s.op_class + "/" + s.dtype].push_back(&s);
  std::string data = "# op_class/dtype intensity_flop_per_byte achieved_flops_per_s time_us predicted_us\n";
  std::string roof = "plot ", scatter = "plot ";
  Range intensity, achieved, times;
  std::vector<std::string> titles;
  int index = 0;
  for (const auto& [name, group] : groups) {
    const size_t slash = name.find('/');
    const EfficiencyFit* f = c.find(name.substr(0, slash), name.substr(slash + 1));
    for (const Sample* s : group) {
      const double predicted = f ? f->predict_us(s->flops, s->bytes) : -1.0;
      data += fmt::format("{} {:.6g} {:.6g} {:.6g} {:.6g}\n", gnuplot_datum(name), s->flops / s->bytes,
                          s->flops / (s->time_us * 1e-6), s->time_us, predicted);
      intensity.add(s->flops / s->bytes), achieved.add(s->flops / (s->time_us * 1e-6));
      if (f) times.add(s->time_us), times.add(predicted);
    }
    data += "\n\n";
    // The same colour and marker for a class in both panels: open and filled squares, circles, triangles,
    // diamonds, pentagons (12 markers over 10 colours: no two classes alike up to 60).
    const std::string style = fmt::format("lt {} pt {}", index % 10 + 1, 4 + (index % 12));
    roof += fmt::format("'calibration-roofline.dat' index {} using 2:3 with points {} title {}, ", index, style,
                        gnuplot_string(name));
    titles.push_back(name);
    if (f) scatter += fmt::format("'calibration-roofline.dat' index {} using 4:5 with points {} notitle, ", index, style);
    ++index;
  }
  const double peak = std::max(c.gemm_bf16_flops_per_s, c.gemm_fp8_flops_per_s);
  achieved.add(peak);
  titles.push_back("roofline (copy bw, fp8 GEMM)");
  titles.push_back("roofline (copy bw, bf16 GEMM)");
  roof += fmt::format("(x*{0:.6g} < {1:.6g} ? x*{0:.6g} : {1:.6g}) with lines lc rgb '#404040' lw 2 dt 2 title {3}, "
                      "(x*{0:.6g} < {2:.6g} ? x*{0:.6g} : {2:.6g}) with lines lc rgb '#404040' lw 1 dt 3 title {4}",
                      c.copy_bytes_per_s, peak, c.gemm_bf16_flops_per_s, gnuplot_string(titles[titles.size() - 2]),
                      gnuplot_string(titles.back()));
  scatter += "x with lines lc rgb '#404040' dt 2 notitle";
  // A dozen classes: the key goes under the two panels, three to a row, so that the panels keep the width.
  const double key_rows = std::ceil(static_cast<double>(titles.size()) / 3);
  const double bottom = (key_rows * plot::kLinePx * 1.15 + 70) / kHeightPx;
  const Axis ya = y_axis(bottom, 0.9, [&](int n) { return plot::log_axis(achieved.lo, achieved.hi, plot::flop_per_s, n, 1.3); });
  const Axis ty = y_axis(bottom, 0.9, [&](int n) { return plot::log_axis(times.lo, times.hi, plot::micros, n, 1.2); });
  const Layout layout = side_by_side({ya, ty}, {}, bottom, 0.9);
  const Frame &left = layout.panels[0], &right = layout.panels[1];
  const Axis xi = x_axis(left, [&](int n) { return plot::log_axis(intensity.lo, intensity.hi, plot::plain, n, 1.3); });
  const Axis tx = x_axis(right, [&](int n) { return plot::log_axis(times.lo, times.hi, plot::micros, n, 1.2); });
  add_figure(set, "calibration-roofline", data,
             "set multiplot title " + gnuplot_string(fmt::format("Calibration of {} on {}: every kernel measured", c.hardware_id, c.device)) +
                 "\nset grid\nset samples 400\n" +
                 left.margins() + xi.gnuplot("x") + ya.gnuplot("y") +
                 fmt::format("set key at screen 0.5, screen 0.01 center bottom vertical maxrows {:.0f} Left reverse samplen 2\n", key_rows) +
                 "set xlabel 'arithmetic intensity (FLOP/byte)'\nset ylabel 'achieved FLOP/s'\n" + roof + "\n" +
                 right.margins() + tx.gnuplot("x") + ty.gnuplot("y") +
                 "set xlabel 'measured time'\nset ylabel 'predicted time (fit)'\n" + scatter);
  return set;
}

PlotSet traffic_plots(const TrafficResult& r, double max_batch, double tpot_sla_ms) {
  PlotSet set;
  std::string data = "# time_s batch queue step_ms step_max_ms (nan: no step ended in the interval)\n";
  Range time, batch, step, queue;
  for (const TrafficSample& x : r.series) {
    data += fmt::format("{:.6g} {:.6g} {:.6g} {:.6g} {:.6g}\n", x.time_s, x.batch, x.queue, x.step_ms, x.step_max_ms);
    time.add(x.time_s), batch.add(x.batch), queue.add(x.queue), step.add(x.step_ms), step.add(x.step_max_ms);
  }
  batch.add(max_batch), step.add(tpot_sla_ms);
  // Three panels stacked on one time axis, each with its key at its right.
  const std::vector<std::string> titles{"batch (mean)", "batch limit", "mean step", "worst step", "TPOT SLA", "queue (mean)"};
  const double top = 0.9, bottom = 0.09, gap = 0.05, height = (top - bottom - 2 * gap) / 3;
  const std::vector<Axis> ys{
      y_axis(0, height, [&](int n) { return plot::linear_axis(0, batch.hi, plot::count, true, n, 0.05); }),
      y_axis(0, height, [&](int n) { return plot::linear_axis(0, step.hi, milliseconds, true, n, 0.05); }),
      y_axis(0, height, [&](int n) { return plot::linear_axis(0, queue.hi, plot::count, true, n, 0.05); })};
  const std::vector<std::string> plots{
      fmt::format("set ylabel 'running requests'\nplot 'traffic-timeseries.dat' using 1:2 with lines lt 1 lw 2 title {}, "
                  "{:.6g} with lines lt 3 dt 2 title {}",
                  gnuplot_string(titles[0]), max_batch, gnuplot_string(titles[1])),
      fmt::format("set ylabel 'step time'\nplot 'traffic-timeseries.dat' using 1:4 with lines lt 1 lw 2 title {}, '' using 1:5 "
                  "with lines lt 2 title {}, {:.6g} with lines lt 3 dt 2 title {}",
                  gnuplot_string(titles[2]), gnuplot_string(titles[3]), tpot_sla_ms, gnuplot_string(titles[4])),
      fmt::format("set ylabel 'waiting requests'\nset xlabel 'time'\nplot 'traffic-timeseries.dat' using 1:3 with lines lt 1 "
                  "lw 2 title {}",
                  gnuplot_string(titles[5]))};
  const std::string body = "set multiplot title 'Served traffic over time'\nset datafile missing 'nan'\nset grid\n" +
                           stacked_time_panels(ys, plots, titles, time, top, gap, height);
  add_figure(set, "traffic-timeseries", data, body);
  return set;
}

PlotSet ttft_tpot_plots(const TrafficResult& r, double tpot_sla_ms, double ttft_sla_ms) {
  PlotSet set;
  std::string data = "# time_s ttft_ms ttft_max_ms step_ms step_max_ms (nan: none in the interval)\n";
  Range time, ttft, step;
  for (const TrafficSample& x : r.series) {
    data += fmt::format("{:.6g} {:.6g} {:.6g} {:.6g} {:.6g}\n", x.time_s, x.ttft_ms, x.ttft_max_ms, x.step_ms, x.step_max_ms);
    time.add(x.time_s), ttft.add(x.ttft_ms), ttft.add(x.ttft_max_ms), step.add(x.step_ms), step.add(x.step_max_ms);
  }
  step.add(tpot_sla_ms);
  if (ttft_sla_ms > 0) ttft.add(ttft_sla_ms);
  if (!(ttft.hi > 0)) ttft.add(1);  // no first token in the run: an empty panel, still drawable
  if (!(step.hi > 0)) step.add(1);
  // Two panels on one time axis: the first token's wait, then the time between tokens.
  const std::vector<std::string> titles{"TTFT (mean)", "TTFT (worst)", "TTFT SLA", "TPOT: mean step", "worst step", "TPOT SLA"};
  const double top = 0.9, bottom = 0.1, gap = 0.06, height = (top - bottom - gap) / 2;
  const std::vector<Axis> ys{
      y_axis(0, height, [&](int n) { return plot::linear_axis(0, ttft.hi, milliseconds, true, n, 0.05); }),
      y_axis(0, height, [&](int n) { return plot::linear_axis(0, step.hi, milliseconds, true, n, 0.05); })};
  const std::string ttft_sla = ttft_sla_ms > 0 ? fmt::format(", {:.6g} with lines lt 3 dt 2 title {}", ttft_sla_ms, gnuplot_string(titles[2])) : "";
  const std::vector<std::string> plots{
      fmt::format("set ylabel 'time to first token'\nplot 'traffic-ttft-tpot.dat' using 1:2 with lines lt 1 lw 2 title {}, '' using 1:3 "
                  "with lines lt 2 title {}{}",
                  gnuplot_string(titles[0]), gnuplot_string(titles[1]), ttft_sla),
      fmt::format("set ylabel 'time per output token'\nset xlabel 'time'\nplot 'traffic-ttft-tpot.dat' using 1:4 with lines lt 1 lw 2 "
                  "title {}, '' using 1:5 with lines lt 2 title {}, {:.6g} with lines lt 3 dt 2 title {}",
                  gnuplot_string(titles[3]), gnuplot_string(titles[4]), tpot_sla_ms, gnuplot_string(titles[5]))};
  const std::string body = "set multiplot title 'Time to first token and time per output token'\nset datafile missing 'nan'\nset grid\n" +
                           stacked_time_panels(ys, plots, titles, time, top, gap, height);
  add_figure(set, "traffic-ttft-tpot", data, body);
  return set;
}

PlotSet validation_plots(const std::vector<ServedCheck>& checks) {
  PlotSet set;
  std::map<std::string, std::vector<const ServedCheck*>> groups;
  for (const ServedCheck& c : checks)
    groups[c.run.model + (c.run.deployment.rfind("EP", 0) == 0 ? " EP" : " AFD")].push_back(&c);
  std::string data = "# group measured_tpot_ms simulated_tpot_ms deployment\n", plot = "plot ";
  Range t;
  int index = 0;
  std::vector<std::string> titles;
  for (const auto& [name, group] : groups) {
    for (const ServedCheck* c : group) {
      data += fmt::format("{} {:.6g} {:.6g} {}\n", gnuplot_datum(name), c->run.measured_tpot_ms, c->simulated_tpot_ms,
                          gnuplot_datum(c->run.deployment));
      t.add(c->run.measured_tpot_ms), t.add(c->simulated_tpot_ms);
    }
    data += "\n\n";
    plot += fmt::format("'pipeline-validation.dat' index {} using 2:3 with points lt {} pt {} ps 1.6 title {}, ", index,
                        index % 10 + 1, 5 + 2 * (index % 6), gnuplot_string(name));
    titles.push_back(name);
    ++index;
  }
  titles.insert(titles.end(), {"simulated = measured", "within 10%", "within 20%"});
  plot += fmt::format("x with lines lc rgb '#404040' lw 2 title {}, 1.1*x with lines lc rgb '#808080' dt 2 title {}, "
                      "0.9*x with lines lc rgb '#808080' dt 2 notitle, 1.2*x with lines lc rgb '#b0b0b0' dt 3 title {}, "
                      "0.8*x with lines lc rgb '#b0b0b0' dt 3 notitle",
                      gnuplot_string(titles[titles.size() - 3]), gnuplot_string(titles[titles.size() - 2]), gnuplot_string(titles.back()));
  const auto ms = [](double v) { return plot::micros(v * 1e3); };
  const Axis y = y_axis(0.12, 0.9, [&](int n) { return plot::log_axis(t.lo * 0.8, t.hi * 1.2, ms, n, 1.05); });
  const Layout layout = side_by_side({y}, titles, 0.12, 0.9);
  const Frame& f = layout.panels[0];
  const Axis x = x_axis(f, [&](int n) { return plot::log_axis(t.lo * 0.8, t.hi * 1.2, ms, n, 1.05); });
  add_figure(set, "pipeline-validation", data,
             "set title 'Decode step: simulated against measured on 2 and 4 H100s linked by NVLink'\nset grid\nset samples 200\n" +
                 f.margins() + x.gnuplot("x") + y.gnuplot("y") + key_at(layout.key_x, 0.9) +
                 "set xlabel 'measured decode step (TPOT)'\nset ylabel 'simulated decode step'\n" + plot);
  return set;
}

PlotSet published_plots(const std::vector<FigureCheck>& checks) {
  PlotSet set;
  std::map<std::string, std::vector<size_t>> groups;  // figure -> indices, markers numbered in order
  for (size_t i = 0; i < checks.size(); ++i) groups[checks[i].figure.figure].push_back(i);
  std::string data = "# figure case index error_percent\n", plot = "plot ";
  Range err;
  err.add(-25), err.add(25);
  int index = 0;
  std::vector<std::string> titles;
  for (const auto& [name, members] : groups) {
    for (size_t i : members) {
      data += fmt::format("{} {} {} {:.6g}\n", gnuplot_datum(name), gnuplot_datum(checks[i].figure.label), i + 1,
                          100 * checks[i].error());
      err.add(100 * checks[i].error());
    }
    data += "\n\n";
    plot += fmt::format("'validate.dat' index {} using 3:4 with points lt {} pt {} ps 1.6 title {}, ", index, index % 10 + 1,
                        5 + 2 * (index % 6), gnuplot_string(name));
    titles.push_back(name);
    ++index;
  }
  titles.insert(titles.end(), {"within 10%", "within 20%"});
  plot += fmt::format("10 with lines lc rgb '#808080' dt 2 title {}, -10 with lines lc rgb '#808080' dt 2 notitle, "
                      "20 with lines lc rgb '#b0b0b0' dt 3 title {}, -20 with lines lc rgb '#b0b0b0' dt 3 notitle, "
                      "0 with lines lc rgb '#404040' notitle",
                      gnuplot_string(titles[titles.size() - 2]), gnuplot_string(titles.back()));
  const auto percent = [](double v) { return plot::number(v) + "%"; };
  const Axis y = y_axis(0.12, 0.9, [&](int n) { return plot::linear_axis(err.lo, err.hi, percent, false, n, 0.05); });
  const Layout layout = side_by_side({y}, titles, 0.12, 0.9);
  const Frame& f = layout.panels[0];
  const double last = double(checks.size()) + 1;
  const Axis x = x_axis(f, [&](int n) { return plot::linear_axis(0, last, plot::plain, false, n, 0); });
  add_figure(set, "validate", data,
             "set title 'Published figures: simulated / measured - 1, each in its stated configuration'\nset grid\nset samples 200\n" +
                 f.margins() + x.gnuplot("x") + y.gnuplot("y") + key_at(layout.key_x, 0.9) +
                 "set xlabel 'figure (rows of the validate table)'\nset ylabel 'error'\n" + plot);
  return set;
}

PlotRenderer::PlotRenderer() {
  const char* path = std::getenv("PATH");
  gnuplot_ = find_on_path("gnuplot", path ? path : "");
  if (gnuplot_) child_ = std::make_unique<Child>(std::vector<std::string>{*gnuplot_});  // reads its commands from stdin
}

std::string PlotRenderer::render(const std::string& dir, const PlotSet& plots) {
  if (!gnuplot_)
    return "gnuplot not found: wrote plot data and .gp scripts to " + dir + "/ (install gnuplot-nox and run gnuplot on each .gp)";
  // The folder goes into a gnuplot command line, where a line break would start a command of its own.
  if (std::any_of(dir.begin(), dir.end(), [](char ch) { return static_cast<unsigned char>(ch) < 0x20; }))
    return "not rendered: the output folder's name holds control characters (data and scripts are written)";
  // The scripts name their files relative to the output folder; gnuplot's `cd` gets there.
  std::string cd = "cd '";
  for (char ch : dir) cd += ch == '\'' ? std::string("''") : std::string(1, ch);
  cd += "'";
  std::string commands = cd + "\n";
  for (const std::string& gp : plots.scripts) commands += "load '" + gp + "'\n";
  if (child_ && child_->finish(commands) == 0) return {};
  child_.reset();
  // Failed (or could not start): each script alone names the ones at fault.
  std::string failed;
  for (const std::string& gp : plots.scripts)
    if (run_quietly({*gnuplot_, "-e", cd, gp}).exit_code != 0) failed += " " + gp;
  return "gnuplot failed on:" + (failed.empty() ? std::string(" (all scripts together)") : failed) +
         " (data and scripts are in " + dir + "/)";
}

std::string render_plots(const std::string& dir, const PlotSet& plots) { return PlotRenderer().render(dir, plots); }

}  // namespace decodesim
