#include "decodesim/plots.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <map>
#include <string_view>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include "decodesim/census.hpp"
#include "decodesim/cost.hpp"

namespace decodesim {

namespace {

// Text from an input file inside a gnuplot string: a quote would end the string and let the
// rest of the line run as gnuplot commands (system() among them), so only plain characters pass.
std::string gnuplot_text(const std::string& s) {
  std::string out;
  for (char ch : s)
    out += std::isalnum(static_cast<unsigned char>(ch)) || std::string_view(" ._,:()+/-").find(ch) != std::string_view::npos ? ch : '_';
  return out;
}

std::string quoted(const std::string& s) { return fmt::format("\"{}\"", gnuplot_text(s)); }

// Runs a program in `dir` with its output discarded, without a shell (the folder's name reaches
// it as it is); true when it ran and exited 0.
bool run_quietly(const std::string& dir, const std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const pid_t pid = fork();
  if (pid < 0) return false;
  if (pid == 0) {
    if (!dir.empty() && chdir(dir.c_str()) != 0) _exit(127);
    if (const int null = open("/dev/null", O_WRONLY); null >= 0) dup2(null, STDOUT_FILENO), dup2(null, STDERR_FILENO);
    execvp(argv[0], argv.data());
    _exit(127);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) return false;
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

// One figure: its data file and a script that renders it to PNG and SVG.
void add_figure(PlotSet& set, const std::string& stem, const std::string& data, const std::string& setup,
                const std::string& plot) {
  set.files.push_back({stem + ".dat", data});
  std::string gp = fmt::format("# {0}: rendered by `gnuplot {0}.gp` from {0}.dat\nset datafile separator whitespace\n", stem);
  for (const auto& [term, ext] : {std::pair{"pngcairo size 1100,700 font 'sans,11'", "png"},
                                  std::pair{"svg size 1100,700 font 'sans,11'", "svg"}}) {
    // noenhanced: ids and op classes hold underscores, which enhanced text would subscript.
    gp += fmt::format("set terminal {} noenhanced\nset output '{}.{}'\n{}\n{}\nunset multiplot\nreset\n", term, stem, ext, setup,
                      plot);
  }
  set.files.push_back({stem + ".gp", gp});
  set.scripts.push_back(stem + ".gp");
}

std::string ctx_label(double c) {
  if (c >= 1024 * 1024 && std::fmod(c, 1024 * 1024) == 0) return fmt::format("{}M", c / (1024 * 1024));
  if (c >= 1024 && std::fmod(c, 1024) == 0) return fmt::format("{}K", c / 1024);
  return fmt::format("{}", c);
}

}  // namespace

PlotSet report_plots(const std::vector<Model>& models, const std::vector<Hardware>& chips,
                     const std::vector<double>& contexts) {
  PlotSet set;
  std::vector<const Hardware*> ptrs;
  for (const Hardware& h : chips) ptrs.push_back(&h);

  // Fig. 2: total cost per chip and for the best AFD pairing, one figure per context.
  for (double c : contexts) {
    // First line is the column header gnuplot's columnhead() reads.
    std::string data = "model";
    for (const Hardware& h : chips) data += " " + h.id;
    data += " AFD(best)\n";
    for (const Model& m : models) {
      const Census k = census(m, c);
      data += quoted(m.id);
      for (const Hardware& h : chips) data += fmt::format(" {:.6g}", per_million(token_cost(k, unit_cost(h, m.quant.compute)).total_usd()));
      data += fmt::format(" {:.6g}\n", best_afd(m, c, ptrs).afd_usd_per_mtok);
    }
    const std::string stem = fmt::format("fig2-cost-{}", static_cast<long>(c));
    add_figure(set, stem, data,
               fmt::format("set title 'Theoretical decoding cost at {} context (chips at peak)'\n"
                           "set ylabel 'USD per 1M decoded tokens'\nset style data histograms\n"
                           "set style histogram clustered gap 1\nset style fill solid 0.85 border -1\n"
                           "set key outside right top\nset grid ytics\nset yrange [0:*]\nset xtics rotate by -20",
                           ctx_label(c)),
               fmt::format("plot for [i=2:{}] '{}.dat' using i:xtic(1) title columnhead(i)", chips.size() + 2, stem));
  }

  // Fig. 5: attention-core FLOPs vs KV bytes per token, with each chip's roofline slope.
  {
    std::string data = "# model context kv_bytes attention_flops\n";
    double xmax = 0;
    for (size_t i = 0; i < models.size(); ++i) {
      for (double c : contexts) {
        const Census k = census(models[i], c);
        data += fmt::format("{} {} {:.6g} {:.6g}\n", quoted(models[i].id), static_cast<long>(c), k.kv_bytes, k.attention_flops);
        xmax = std::max(xmax, k.kv_bytes);
      }
      data += "\n\n";  // one gnuplot index per model
    }
    std::string plot = "plot ";
    for (size_t i = 0; i < models.size(); ++i)
      plot += fmt::format("'fig5-intensity.dat' index {} using 3:4 with linespoints pt 7 ps 1.5 title {}, ", i, quoted(models[i].id));
    for (const Hardware& h : chips) {
      const double roofline = h.roofline_flops_per_byte(Dtype::fp8);  // the report's Fig. 5 slopes
      plot += fmt::format("{:.6g}*x with lines dt 2 title '{} roofline ({:.0f} FLOP/B)', ", roofline, h.id, roofline);
    }
    plot.resize(plot.size() - 2);
    add_figure(set, "fig5-intensity", data,
               fmt::format("set title 'Attention compute vs memory access per token (points: contexts)'\n"
                           "set logscale xy\nset xlabel 'KV bytes read per token'\nset ylabel 'attention-core FLOPs per token'\n"
                           "set key outside right top\nset grid\nset xrange [*:{:.3g}]",
                           xmax * 2),
               plot);
  }

  // Fig. 3: KV bytes per token and best-AFD cost against context (8K to 1M, plus the scenario's).
  {
    std::vector<double> sweep;
    for (double c = 4096; c <= 1048576; c *= 2) sweep.push_back(c);
    for (double c : contexts) sweep.push_back(c);
    std::sort(sweep.begin(), sweep.end());
    sweep.erase(std::unique(sweep.begin(), sweep.end()), sweep.end());
    std::string data = "# model context kv_bytes afd_usd_per_mtok\n";
    for (const Model& m : models) {
      for (double c : sweep)
        data += fmt::format("{} {} {:.6g} {:.6g}\n", quoted(m.id), static_cast<long>(c), census(m, c).kv_bytes,
                            best_afd(m, c, ptrs).afd_usd_per_mtok);
      data += "\n\n";
    }
    std::string kv = "plot ", cost = "plot ";
    for (size_t i = 0; i < models.size(); ++i) {
      kv += fmt::format("'fig3-context.dat' index {} using 2:3 with linespoints title {}, ", i, quoted(models[i].id));
      cost += fmt::format("'fig3-context.dat' index {} using 2:4 with linespoints title {}, ", i, quoted(models[i].id));
    }
    kv.resize(kv.size() - 2), cost.resize(cost.size() - 2);
    add_figure(set, "fig3-context", data,
               "set multiplot layout 1,2 title 'KV size and cost vs context'\nset logscale xy\n"
               "set xlabel 'context (tokens)'\nset grid\nset key top left",
               "set ylabel 'KV bytes per decoded token'\n" + kv +
                   "\nset ylabel 'USD per 1M tokens (best AFD pairing)'\n" + cost);
  }

  // Fig. 1: activated parameters vs cost at the first context, with the Pareto frontier.
  if (!contexts.empty()) {
    const double c = contexts.front();
    struct Point { double params, usd; std::string id; };
    std::vector<Point> pts;
    for (const Model& m : models) pts.push_back({count_params(m).activated, best_afd(m, c, ptrs).afd_usd_per_mtok, m.id});
    std::sort(pts.begin(), pts.end(), [](const Point& a, const Point& b) { return a.params < b.params; });
    std::string data = "# model activated_params usd_per_mtok\n";
    for (const Point& p : pts) data += fmt::format("{} {:.6g} {:.6g}\n", quoted(p.id), p.params, p.usd);
    data += "\n\n# pareto frontier: no other model is both smaller and cheaper\n";
    double best = INFINITY;
    for (const Point& p : pts)
      if (p.usd < best) best = p.usd, data += fmt::format("{} {:.6g} {:.6g}\n", quoted(p.id), p.params, p.usd);
    add_figure(set, "fig1-pareto", data,
               fmt::format("set title 'Activated parameters vs decoding cost at {} context (best AFD pairing)'\n"
                           "set xlabel 'activated parameters'\nset ylabel 'USD per 1M decoded tokens'\nset grid\n"
                           "set key top left\nset offsets graph 0.05, graph 0.15, graph 0.1, graph 0.1",
                           ctx_label(c)),
               "plot 'fig1-pareto.dat' index 0 using 2:3 with points pt 7 ps 1.5 title 'models', "
               "'' index 0 using 2:3:1 with labels offset 0,1 notitle, "
               "'' index 1 using 2:3 with lines lw 2 title 'Pareto frontier'");
  }
  return set;
}

PlotSet calibration_plots(const Calibration& c) {
  PlotSet set;
  std::map<std::string, std::vector<const Sample*>> groups;
  for (const Sample& s : c.samples)
    if (s.flops > 0 && s.bytes > 0 && s.time_us > 0) groups[s.op_class + "/" + s.dtype].push_back(&s);
  std::string data = "# op_class/dtype intensity_flop_per_byte achieved_flops_per_s time_us predicted_us\n";
  std::string roof = "plot ", scatter = "plot ";
  int index = 0;
  for (const auto& [name, group] : groups) {
    const size_t slash = name.find('/');
    const EfficiencyFit* f = c.find(name.substr(0, slash), name.substr(slash + 1));
    for (const Sample* s : group)
      data += fmt::format("{} {:.6g} {:.6g} {:.6g} {:.6g}\n", quoted(name), s->flops / s->bytes, s->flops / (s->time_us * 1e-6),
                          s->time_us, f ? f->predict_us(s->flops, s->bytes) : -1.0);
    data += "\n\n";
    const int pt = 4 + 2 * (index % 4) + (index / 4) % 2;  // filled and open squares, circles, triangles, diamonds
    roof += fmt::format("'calibration-roofline.dat' index {} using 2:3 with points pt {} title {}, ", index, pt, quoted(name));
    if (f)
      scatter += fmt::format("'calibration-roofline.dat' index {} using 4:5 with points pt {} title {}, ", index, pt, quoted(name));
    ++index;
  }
  const double peak = std::max(c.gemm_bf16_flops_per_s, c.gemm_fp8_flops_per_s);
  roof += fmt::format("(x*{0:.6g} < {1:.6g} ? x*{0:.6g} : {1:.6g}) with lines lw 2 dt 2 title 'roofline (copy bw, fp8 GEMM)', "
                      "(x*{0:.6g} < {2:.6g} ? x*{0:.6g} : {2:.6g}) with lines lw 1 dt 3 title 'roofline (copy bw, bf16 GEMM)'",
                      c.copy_bytes_per_s, peak, c.gemm_bf16_flops_per_s);
  scatter += "x with lines dt 2 title 'predicted = measured'";
  add_figure(set, "calibration-roofline", data,
             fmt::format("set multiplot layout 1,2 title 'Calibration of {} on {}'\nset logscale xy\nset grid\n"
                         "set key bottom right font ',8'",
                         gnuplot_text(c.hardware_id), gnuplot_text(c.device)),
             "set xlabel 'arithmetic intensity (FLOP/byte)'\nset ylabel 'achieved FLOP/s'\n" + roof +
                 "\nset xlabel 'measured time (us)'\nset ylabel 'predicted time (us)'\n" + scatter);
  return set;
}

PlotSet traffic_plots(const TrafficResult& r, double max_batch, double tpot_sla_ms) {
  PlotSet set;
  std::string data = "# time_s batch queue step_ms step_max_ms (nan: no step ended in the interval)\n";
  for (const TrafficSample& x : r.series)
    data += fmt::format("{:.6g} {:.6g} {:.6g} {:.6g} {:.6g}\n", x.time_s, x.batch, x.queue, x.step_ms, x.step_max_ms);
  add_figure(set, "traffic-timeseries", data,
             "set multiplot layout 3,1 title 'Served traffic over time'\nset datafile missing 'nan'\nset grid\n"
             "set key bottom right\nset xlabel 'time (s)'\nset offsets 0, 0, graph 0.1, 0",
             fmt::format("set ylabel 'running requests'\nset yrange [0:*]\n"
                         "plot 'traffic-timeseries.dat' using 1:2 with lines lw 2 title 'batch (mean)', {0:.6g} with lines dt 2 "
                         "title 'batch limit'\n"
                         "set ylabel 'step time (ms)'\n"
                         "plot 'traffic-timeseries.dat' using 1:4 with lines lw 2 title 'mean step', '' using 1:5 with lines "
                         "title 'worst step', {1:.6g} with lines dt 2 title 'TPOT SLA'\n"
                         "set ylabel 'waiting requests'\n"
                         "plot 'traffic-timeseries.dat' using 1:3 with lines lw 2 title 'queue (mean)'",
                         max_batch, tpot_sla_ms));
  return set;
}

std::string render_plots(const std::string& dir, const PlotSet& plots) {
  if (!run_quietly("", {"gnuplot", "--version"}))
    return "gnuplot not found: wrote plot data and .gp scripts to " + dir + "/ (install gnuplot-nox and run gnuplot on each .gp)";
  // One gnuplot process for all figures: its start-up dominates the rendering time.
  std::vector<std::string> all{"gnuplot"};
  all.insert(all.end(), plots.scripts.begin(), plots.scripts.end());
  if (run_quietly(dir, all)) return {};
  std::vector<std::string> failed;
  for (const std::string& gp : plots.scripts)
    if (!run_quietly(dir, {"gnuplot", gp})) failed.push_back(gp);
  if (failed.empty()) return {};
  std::string list;
  for (const std::string& f : failed) list += " " + f;
  return "gnuplot failed on:" + list + " (data and scripts are in " + dir + "/)";
}

}  // namespace decodesim
